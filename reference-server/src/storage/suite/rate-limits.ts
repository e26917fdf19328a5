// The RateLimiter part of the shared backend suite.

import { describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { deleteTenant, fresh } from "./helpers.js";

export function rateLimiterTests(get: () => Backend): void {
  describe("rate limits", () => {
    it("charges all counters or none, per window", async () => {
      const limiter = get().rateLimits;
      const t = fresh();
      const w = { windowStart: 0, windowEnd: 60_000 };
      const a = { key: `tenant:${t}:a`, amount: 2, limit: 3, ...w };
      const b = { key: `tenant:${t}:b`, amount: 2, limit: 10, ...w };
      expect(await limiter.consume([a, b])).toEqual({ ok: true });
      const refused = await limiter.consume([b, a]);
      expect(refused).toEqual({ ok: false, refused: a, used: 2 });
      // b was not charged by the refused call: 2 + 8 fits its limit of 10 exactly.
      expect(await limiter.consume([{ ...b, amount: 8 }])).toEqual({ ok: true });
      // A new window starts from zero.
      const next = { windowStart: 60_000, windowEnd: 120_000 };
      expect(await limiter.consume([{ ...a, ...next, amount: 3 }])).toEqual({ ok: true });
      await deleteTenant(get(), t);
      expect(await limiter.consume([{ ...a, ...next, amount: 3 }])).toEqual({ ok: true });
    });
  });
}
