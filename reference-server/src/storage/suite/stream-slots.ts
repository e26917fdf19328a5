// The StreamSlotStore part of the shared backend suite: leased slots counted per agent.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { fresh } from "./helpers.js";

export function streamSlotStoreTests(get: () => Backend): void {
  describe("stream slots", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("grants up to the limit per agent; a holder's second acquire renews its slot", async () => {
      const t = fresh();
      const slots = backend.streamSlots;
      expect(await slots.acquire(t, "a", "h1", 2, 10_000, 1_000)).toEqual({ ok: true });
      expect(await slots.acquire(t, "a", "h1", 2, 10_000, 1_000)).toEqual({ ok: true });
      expect(await slots.acquire(t, "a", "h2", 2, 10_000, 1_000)).toEqual({ ok: true });
      expect(await slots.acquire(t, "a", "h3", 2, 10_000, 1_000)).toEqual({ ok: false, held: 2 });
      // Another agent, another tenant: their own counts.
      expect(await slots.acquire(t, "b", "h3", 2, 10_000, 1_000)).toEqual({ ok: true });
      expect(await slots.acquire(fresh(), "a", "h3", 2, 10_000, 1_000)).toEqual({ ok: true });
      await slots.release(t, "a", "h1");
      await slots.release(t, "a", "h1");
      expect(await slots.acquire(t, "a", "h3", 2, 10_000, 1_000)).toEqual({ ok: true });
    });

    it("an expired lease frees its slot; renewing keeps it", async () => {
      const t = fresh();
      const slots = backend.streamSlots;
      await slots.acquire(t, "a", "kept", 2, 5_000, 1_000);
      await slots.acquire(t, "a", "lost", 2, 5_000, 1_000);
      await slots.renew(t, "a", "kept", 20_000);
      await slots.renew(t, "a", "never-held", 20_000);
      expect(await slots.acquire(t, "a", "new", 2, 30_000, 4_999)).toEqual({ ok: false, held: 2 });
      expect(await slots.acquire(t, "a", "new", 2, 30_000, 5_000)).toEqual({ ok: true });
      expect(await slots.acquire(t, "a", "more", 2, 30_000, 5_000)).toEqual({ ok: false, held: 2 });
    });
  });
}
