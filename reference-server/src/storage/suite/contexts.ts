// The ContextStore part of the shared backend suite: compare-and-set writes, each with its event.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { comparable, contextRecord, deleteTenant, ev, fresh, unev } from "./helpers.js";

export function contextStoreTests(get: () => Backend): void {
  describe("contexts", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("creates a context once; a duplicate id answers false and changes nothing", async () => {
      const tenant = fresh();
      const c = contextRecord(tenant, "c-1", { metadata: { k: "v" }, allowedIds: [] });
      expect(await backend.contexts.create(c, ev())).toBe(true);
      expect(await backend.contexts.create({ ...c, type: "other", revision: 9 }, ev())).toBe(false);
      expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(c));
    });

    it("round-trips every field, including bytes, storageRef and expiresAt", async () => {
      const tenant = fresh();
      const inline = contextRecord(tenant, "inline", {
        data: new Uint8Array([0, 1, 2, 255]),
        size: 4,
        scope: 4,
        allowedIds: ["a-1", "a-2"],
        expiresAt: 99_000,
      });
      const large = contextRecord(tenant, "large", {
        data: new Uint8Array(),
        size: 5_000_000,
        storageRef: { backend: "fs", bucket: "b", key: "k/1", size: 5_000_000 },
      });
      await backend.contexts.create(inline, ev());
      await backend.contexts.create(large, ev());
      expect(comparable(await backend.contexts.get(tenant, "inline"))).toEqual(comparable(inline));
      expect(comparable(await backend.contexts.get(tenant, "large"))).toEqual(comparable(large));
      expect(await backend.contexts.get(tenant, "missing")).toBeUndefined();
      await deleteTenant(backend, tenant);
    });

    it("returns copies of contexts", async () => {
      const tenant = fresh();
      const c = contextRecord(tenant, "c-1", { metadata: { k: "v" } });
      await backend.contexts.create(c, ev());
      const got = await backend.contexts.get(tenant, "c-1");
      if (!got) throw new Error("context not stored");
      got.metadata["k"] = "changed";
      got.revision = 42;
      got.data[0] = 0;
      expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(c));
    });

    it("replace succeeds at the expected revision and answers the current record on a conflict", async () => {
      const tenant = fresh();
      const v1 = contextRecord(tenant, "c-1");
      await backend.contexts.create(v1, ev());
      const v2 = { ...v1, revision: 2, data: new Uint8Array([9]), size: 1, updatedAt: 2_000 };
      expect(await backend.contexts.replace(v2, 1, ev())).toEqual({ ok: true });
      expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(v2));

      // A writer that still believes revision 1 loses and learns revision 2.
      const stale = { ...v1, revision: 2, type: "lost-update" };
      const conflict = await backend.contexts.replace(stale, 1, ev());
      expect(conflict.ok).toBe(false);
      if (conflict.ok) throw new Error("unreachable");
      expect(comparable(conflict.current)).toEqual(comparable(v2));
      expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(v2));
    });

    it("replace of a missing context is a conflict with no current record", async () => {
      const tenant = fresh();
      const result = await backend.contexts.replace(
        contextRecord(tenant, "ghost", { revision: 2 }),
        1,
        ev(),
      );
      expect(result).toEqual({ ok: false, current: undefined });
      expect(await backend.contexts.get(tenant, "ghost")).toBeUndefined();
    });

    it("delete is a compare-and-set too", async () => {
      const tenant = fresh();
      const c = contextRecord(tenant, "c-1", { revision: 3 });
      await backend.contexts.create(c, ev());
      const conflict = await backend.contexts.delete(tenant, "c-1", 2, ev());
      expect(conflict.ok).toBe(false);
      if (conflict.ok) throw new Error("unreachable");
      expect(conflict.current?.revision).toBe(3);
      expect(await backend.contexts.get(tenant, "c-1")).toBeDefined();

      expect(await backend.contexts.delete(tenant, "c-1", 3, ev())).toEqual({ ok: true });
      expect(await backend.contexts.get(tenant, "c-1")).toBeUndefined();
      expect(await backend.contexts.delete(tenant, "c-1", 3, ev())).toEqual({
        ok: false,
        current: undefined,
      });
      // The id is free again.
      expect(await backend.contexts.create(c, ev())).toBe(true);
    });

    it("lists contexts by type, owner and metadata, ordered by id, in pages", async () => {
      const tenant = fresh();
      const specs: [string, string, string, Record<string, string>][] = [
        ["c5", "note", "alice", { env: "prod", team: "x" }],
        ["c1", "note", "bob", { env: "prod" }],
        ["c3", "plan", "alice", { env: "dev" }],
        ["c2", "note", "alice", { env: "prod", team: "y" }],
        ["c4", "plan", "bob", {}],
      ];
      for (const [id, type, ownerId, metadata] of specs) {
        await backend.contexts.create(contextRecord(tenant, id, { type, ownerId, metadata }), ev());
      }
      const ids = async (q: Parameters<Backend["contexts"]["list"]>[1], after = "", limit = 100) =>
        (await backend.contexts.list(tenant, q, after, limit)).map((c) => c.id);

      expect(await ids({})).toEqual(["c1", "c2", "c3", "c4", "c5"]);
      expect(await ids({ type: "note" })).toEqual(["c1", "c2", "c5"]);
      expect(await ids({ ownerId: "alice" })).toEqual(["c2", "c3", "c5"]);
      expect(await ids({ metadata: { env: "prod" } })).toEqual(["c1", "c2", "c5"]);
      expect(await ids({ metadata: { env: "prod", team: "x" } })).toEqual(["c5"]);
      expect(await ids({ type: "note", ownerId: "alice" })).toEqual(["c2", "c5"]);
      expect(await ids({ type: "plan", ownerId: "alice", metadata: { env: "prod" } })).toEqual([]);

      expect(await ids({}, "", 2)).toEqual(["c1", "c2"]);
      expect(await ids({}, "c2", 2)).toEqual(["c3", "c4"]);
      expect(await ids({}, "c4", 2)).toEqual(["c5"]);
      expect(await ids({ type: "note" }, "c1", 1)).toEqual(["c2"]);
      expect(await ids({ type: "note" }, "c5", 1)).toEqual([]);
    });

    it("listExpired and nextExpiry see contexts whose TTL has passed", async () => {
      const tenant = fresh();
      // Expiry times unlikely to collide with other tests' data; assertions only look at ours.
      const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
      await backend.contexts.create(contextRecord(tenant, "e1", { expiresAt: base + 1 }), ev());
      await backend.contexts.create(contextRecord(tenant, "e2", { expiresAt: base + 2 }), ev());
      await backend.contexts.create(contextRecord(tenant, "e3", { expiresAt: base + 5 }), ev());
      await backend.contexts.create(contextRecord(tenant, "forever"), ev());

      const next = await backend.contexts.nextExpiry();
      expect(next).toBeDefined();
      expect(next).toBeLessThanOrEqual(base + 1);

      const ours = async (now: number) =>
        (await backend.contexts.listExpired(now, 100_000))
          .filter((c) => c.tenantId === tenant)
          .map((c) => c.id)
          .sort();
      expect(await ours(base)).toEqual([]);
      expect(await ours(base + 1)).toEqual(["e1"]);
      expect(await ours(base + 4)).toEqual(["e1", "e2"]);
      expect(await ours(base + 1_000_000_000)).toEqual(["e1", "e2", "e3"]);

      // The limit caps the answer.
      expect((await backend.contexts.listExpired(base + 5, 1)).length).toBe(1);

      // Expired contexts stay until deleted (the hub's sweeper does that).
      expect(await backend.contexts.get(tenant, "e1")).toBeDefined();
      await backend.contexts.delete(tenant, "e1", 1, ev());
      await backend.contexts.delete(tenant, "e2", 1, ev());
      expect(await ours(base + 4)).toEqual([]);
      await backend.contexts.delete(tenant, "e3", 1, ev());
      expect(await ours(base + 1_000_000_000)).toEqual([]);
    });

    it("nextExpiry follows the earliest expiry as contexts come and go", async () => {
      // Expiry times of a few milliseconds after the epoch come before any other test's, so the
      // answers are exact even in a shared store (cleaned up at the end).
      const tenant = fresh();
      const before = await backend.contexts.nextExpiry();
      const isOurs = (n: number | undefined) => n !== undefined && n <= 9;
      expect(isOurs(before)).toBe(false);
      await backend.contexts.create(contextRecord(tenant, "late", { expiresAt: 9 }), ev());
      expect(await backend.contexts.nextExpiry()).toBe(9);
      await backend.contexts.create(contextRecord(tenant, "early", { expiresAt: 3 }), ev());
      expect(await backend.contexts.nextExpiry()).toBe(3);
      await backend.contexts.delete(tenant, "early", 1, ev());
      expect(await backend.contexts.nextExpiry()).toBe(9);
      const late = await backend.contexts.get(tenant, "late");
      if (!late) throw new Error("context not stored");
      await backend.contexts.replace({ ...late, revision: 2, expiresAt: 4 }, 1, ev());
      expect(await backend.contexts.nextExpiry()).toBe(4);
      // Replacing with a record without expiresAt removes the TTL.
      const { expiresAt: _dropped, ...noTtl } = late;
      await backend.contexts.replace({ ...noTtl, revision: 3 }, 2, ev());
      expect(isOurs(await backend.contexts.nextExpiry())).toBe(false);
      expect((await backend.contexts.get(tenant, "late"))?.expiresAt).toBeUndefined();
      expect(await backend.contexts.listExpired(9, 100_000)).toEqual([]);
      await backend.contexts.delete(tenant, "late", 3, ev());
    });

    it("appends each write's event to the tenant's contexts stream in the same step, and none for a refused write", async () => {
      const tenant = fresh();
      const seqs = async () =>
        (await backend.events.read(tenant, "contexts", 0, 100)).map((e) => unev(e.data));
      const c = contextRecord(tenant, "c-1");
      expect(await backend.contexts.create(c, ev("created"))).toBe(true);
      expect(await backend.contexts.create(c, ev("dup"))).toBe(false);
      expect((await backend.contexts.replace({ ...c, revision: 2 }, 1, ev("updated"))).ok).toBe(
        true,
      );
      expect((await backend.contexts.replace({ ...c, revision: 3 }, 1, ev("stale"))).ok).toBe(
        false,
      );
      expect((await backend.contexts.delete(tenant, "c-1", 1, ev("stale-delete"))).ok).toBe(false);
      expect((await backend.contexts.delete(tenant, "c-1", 2, ev("deleted"))).ok).toBe(true);
      expect(await seqs()).toEqual(["created", "updated", "deleted"]);
      expect(await backend.events.read(tenant, "agents", 0, 10)).toEqual([]);
    });

    it("deleteTenant removes that tenant's contexts only", async () => {
      const a = fresh();
      const b = fresh();
      await backend.contexts.create(contextRecord(a, "c-1", { expiresAt: 5_000 }), ev());
      await backend.contexts.create(contextRecord(a, "c-2"), ev());
      await backend.contexts.create(contextRecord(b, "c-1"), ev());
      await deleteTenant(backend, a);
      expect(await backend.contexts.get(a, "c-1")).toBeUndefined();
      expect(await backend.contexts.list(a, {}, "", 10)).toEqual([]);
      const expired = await backend.contexts.listExpired(1_000_000_000_000, 100_000);
      expect(expired.some((c) => c.tenantId === a)).toBe(false);
      expect(comparable(await backend.contexts.get(b, "c-1"))).toEqual(
        comparable(contextRecord(b, "c-1")),
      );
    });
  });
}
