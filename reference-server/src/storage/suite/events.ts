// The EventLog part of the shared backend suite. Events are opaque bytes to a backend; the cases
// encode JSON to compare what comes back.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend, EventStreamName } from "../types.js";
import { deleteTenant, ev, fresh, unev } from "./helpers.js";

export function eventLogTests(get: () => Backend, options: { retainEvents?: number }): void {
  describe("events", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });
    const readJson = async (
      tenantId: string,
      stream: EventStreamName,
      afterSeq: number,
      limit: number,
    ) =>
      (await backend.events.read(tenantId, stream, afterSeq, limit)).map((e) => ({
        seq: e.seq,
        event: unev(e.data) as { n?: number },
      }));

    it("appends with strictly increasing sequence numbers from 1 and reads them back", async () => {
      const tenant = fresh();
      expect(await backend.events.bounds(tenant, "contexts")).toEqual({ head: 0, oldest: 1 });
      expect(await readJson(tenant, "contexts", 0, 10)).toEqual([]);
      for (let i = 1; i <= 5; i++) {
        expect(await backend.events.append(tenant, "contexts", ev({ n: i }))).toBe(i);
      }
      expect(await backend.events.bounds(tenant, "contexts")).toEqual({ head: 5, oldest: 1 });
      expect(await readJson(tenant, "contexts", 0, 10)).toEqual(
        [1, 2, 3, 4, 5].map((n) => ({ seq: n, event: { n } })),
      );
      expect(await readJson(tenant, "contexts", 2, 2)).toEqual([
        { seq: 3, event: { n: 3 } },
        { seq: 4, event: { n: 4 } },
      ]);
      expect(await readJson(tenant, "contexts", 5, 10)).toEqual([]);
    });

    it("keeps each tenant's streams apart", async () => {
      const a = fresh();
      const b = fresh();
      await backend.events.append(a, "contexts", ev({ who: "a-ctx" }));
      await backend.events.append(a, "agents", ev({ who: "a-agent-1" }));
      await backend.events.append(a, "agents", ev({ who: "a-agent-2" }));
      expect(await backend.events.append(b, "contexts", ev({ who: "b-ctx" }))).toBe(1);
      expect(await readJson(a, "contexts", 0, 10)).toEqual([{ seq: 1, event: { who: "a-ctx" } }]);
      expect(await readJson(b, "contexts", 0, 10)).toEqual([{ seq: 1, event: { who: "b-ctx" } }]);
      expect(await readJson(b, "agents", 0, 10)).toEqual([]);
      expect(await backend.events.bounds(a, "agents")).toEqual({ head: 2, oldest: 1 });
    });

    it("stores a copy of the appended bytes and hands out copies", async () => {
      const tenant = fresh();
      const data = new Uint8Array([1, 2, 3]);
      await backend.events.append(tenant, "contexts", data);
      data[0] = 9;
      const [stored] = await backend.events.read(tenant, "contexts", 0, 1);
      expect(Array.from(stored?.data ?? [])).toEqual([1, 2, 3]);
      if (stored) stored.data[1] = 9;
      const [again] = await backend.events.read(tenant, "contexts", 0, 1);
      expect(Array.from(again?.data ?? [])).toEqual([1, 2, 3]);
    });

    it("waitFor resolves at once when an event after afterSeq already exists", async () => {
      const tenant = fresh();
      await backend.events.append(tenant, "agents", ev({ n: 1 }));
      await backend.events.append(tenant, "agents", ev({ n: 2 }));
      await expect(
        backend.events.waitFor(tenant, "agents", 1, new AbortController().signal),
      ).resolves.toBeUndefined();
    });

    it("waitFor resolves when a matching event is appended, not for other streams", async () => {
      const tenant = fresh();
      await backend.events.append(tenant, "contexts", ev({ n: 1 }));
      let resolved = false;
      const waiting = backend.events
        .waitFor(tenant, "contexts", 1, new AbortController().signal)
        .then(() => {
          resolved = true;
        });
      // Appends elsewhere must not wake this waiter. (Checking "not yet" can only look after the
      // other appends have completed and pending callbacks have run; it does not wait for time.)
      await backend.events.append(tenant, "agents", ev({ n: 1 }));
      await backend.events.append(fresh(), "contexts", ev({ n: 1 }));
      await new Promise<void>((r) => setImmediate(r));
      expect(resolved).toBe(false);
      await backend.events.append(tenant, "contexts", ev({ n: 2 }));
      await waiting;
      expect(resolved).toBe(true);
    });

    it("waitFor resolves when its signal aborts, or at once when already aborted", async () => {
      const tenant = fresh();
      const ac = new AbortController();
      let resolved = false;
      const waiting = backend.events.waitFor(tenant, "agents", 0, ac.signal).then(() => {
        resolved = true;
      });
      await new Promise<void>((r) => setImmediate(r));
      expect(resolved).toBe(false);
      ac.abort();
      await waiting;
      expect(resolved).toBe(true);
      await expect(backend.events.waitFor(tenant, "agents", 0, ac.signal)).resolves.toBeUndefined();
      expect(await backend.events.bounds(tenant, "agents")).toEqual({ head: 0, oldest: 1 });
    });

    it("deleteTenant drops that tenant's events only and wakes its waiters", async () => {
      const a = fresh();
      const b = fresh();
      await backend.events.append(a, "contexts", ev({ n: 1 }));
      await backend.events.append(a, "agents", ev({ n: 1 }));
      await backend.events.append(b, "contexts", ev({ n: 1 }));
      const waiting = backend.events.waitFor(a, "contexts", 1, new AbortController().signal);
      await deleteTenant(backend, a);
      await waiting;
      expect(await readJson(a, "contexts", 0, 10)).toEqual([]);
      expect(await readJson(a, "agents", 0, 10)).toEqual([]);
      expect(await readJson(b, "contexts", 0, 10)).toEqual([{ seq: 1, event: { n: 1 } }]);
    });

    const retain = options.retainEvents;
    it.runIf(retain !== undefined)("trims events beyond its retention, oldest first", async () => {
      const keep = retain ?? 0;
      const tenant = fresh();
      const total = keep * 3 + 7;
      for (let i = 1; i <= total; i++)
        await backend.events.append(tenant, "contexts", ev({ n: i }));
      const { head, oldest } = await backend.events.bounds(tenant, "contexts");
      expect(head).toBe(total);
      // At least `keep` events remain, but not all of them: the oldest ones are gone.
      expect(oldest).toBeGreaterThan(1);
      expect(head - oldest + 1).toBeGreaterThanOrEqual(keep);
      // Reading from before the retained range starts at the oldest retained event, contiguously.
      const all = await readJson(tenant, "contexts", 0, total);
      expect(all[0]?.seq).toBe(oldest);
      expect(all.map((e) => e.seq)).toEqual(
        Array.from({ length: head - oldest + 1 }, (_, i) => oldest + i),
      );
      expect(all.every((e) => e.event.n === e.seq)).toBe(true);
      // Another tenant's stream is unaffected by this one's volume.
      const other = fresh();
      await backend.events.append(other, "contexts", ev({ n: 1 }));
      expect(await backend.events.bounds(other, "contexts")).toEqual({ head: 1, oldest: 1 });
    });
  });
}
