// The RateLimiter part of the shared backend suite.

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createAuthFailureLimiter } from "../../auth/auth-failure-limiter.js";
import { ManualClock } from "../../clock.js";
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

    it("never lets concurrent first charges of a new counter pass its limit", async () => {
      const limiter = get().rateLimits;
      const t = fresh();
      const charge = {
        key: `tenant:${t}:burst`,
        amount: 1,
        limit: 2,
        windowStart: 0,
        windowEnd: 1_000,
      };
      const results = await Promise.all(Array.from({ length: 5 }, () => limiter.consume([charge])));
      expect(results.filter((r) => r.ok)).toHaveLength(2);
      await deleteTenant(get(), t);
    });

    it("keeps the counters of failed authentication, per address and per claimed tenant", async () => {
      const events: string[] = [];
      const failures = createAuthFailureLimiter({
        limiter: get().rateLimits,
        clock: new ManualClock(Date.UTC(2026, 0, 1)),
        aggregate: async (_key, event) => void events.push(event.action),
        perPeerPerMinute: 2,
        perTenantPerMinute: 0,
      });
      // An IPv6-like address, colons and all, fresh so runs do not share counters.
      const peer = `fd00::${fresh()}`;
      const attempt = { peer, credential: undefined, procedure: "acb.v1.X/Y", markAudited() {} };
      const refuse = () =>
        failures.guard(attempt, async () => {
          throw new ConnectError("bad credential", Code.Unauthenticated);
        });
      for (let i = 0; i < 2; i++)
        await expect(refuse()).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(refuse()).rejects.toMatchObject({ code: Code.ResourceExhausted });
      expect(events).toContain("auth.rate_limited");
    });
  });
}
