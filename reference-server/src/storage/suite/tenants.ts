// The TenantStore part of the shared backend suite.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { attemptMutation, fresh, tenantRecord } from "./helpers.js";

export function tenantStoreTests(get: () => Backend): void {
  describe("tenants", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("creates a tenant once and refuses a duplicate id", async () => {
      const t = tenantRecord(fresh());
      expect(await backend.tenants.create(t)).toBe(true);
      expect(await backend.tenants.create({ ...t, displayName: "imposter" })).toBe(false);
      expect(await backend.tenants.get(t.id)).toEqual(t);
    });

    it("answers undefined for an unknown tenant", async () => {
      expect(await backend.tenants.get(fresh())).toBeUndefined();
    });

    it("returns copies or frozen records: changing a returned record does not change the stored one", async () => {
      const t = tenantRecord(fresh());
      await backend.tenants.create(t);
      const got = await backend.tenants.get(t.id);
      if (!got) throw new Error("tenant not stored");
      attemptMutation(() => {
        got.displayName = "changed";
      });
      attemptMutation(() => {
        got.settings.presenceTimeoutMs = 1;
      });
      expect(await backend.tenants.get(t.id)).toEqual(t);
    });

    it("lists tenants ordered by id, strictly after afterId, in pages", async () => {
      // Ids sharing a fresh prefix sort together and after the prefix itself, before any other id.
      const prefix = fresh("p");
      const ids = ["e", "a", "d", "b", "c"].map((s) => `${prefix}-${s}`);
      for (const id of ids) expect(await backend.tenants.create(tenantRecord(id))).toBe(true);
      const sorted = [...ids].sort();

      const first = await backend.tenants.list(prefix, 2);
      expect(first.map((t) => t.id)).toEqual(sorted.slice(0, 2));
      const second = await backend.tenants.list(first[1]?.id ?? "", 2);
      expect(second.map((t) => t.id)).toEqual(sorted.slice(2, 4));
      const third = await backend.tenants.list(second[1]?.id ?? "", 2);
      expect(third[0]?.id).toBe(sorted[4]);
      // Whatever follows belongs to other tests: never one of ours again.
      expect(third.slice(1).some((t) => ids.includes(t.id))).toBe(false);
      expect(first[0]).toEqual(tenantRecord(sorted[0] ?? ""));
    });

    it("updates only an existing tenant", async () => {
      const t = tenantRecord(fresh());
      expect(await backend.tenants.update(t)).toBe(false);
      expect(await backend.tenants.get(t.id)).toBeUndefined();
      await backend.tenants.create(t);
      const next = {
        ...t,
        displayName: "renamed",
        tier: 5,
        settings: { ...t.settings, presenceTimeoutMs: 500 },
      };
      expect(await backend.tenants.update(next)).toBe(true);
      expect(await backend.tenants.get(t.id)).toEqual(next);
    });

    it("deletes a tenant (Backend.deleteTenant) and reports whether it existed", async () => {
      const t = tenantRecord(fresh());
      const other = tenantRecord(fresh());
      await backend.tenants.create(t);
      await backend.tenants.create(other);
      expect(await backend.deleteTenant(t.id)).toBe(true);
      expect(await backend.tenants.get(t.id)).toBeUndefined();
      expect(await backend.deleteTenant(t.id)).toBe(false);
      expect(await backend.tenants.get(other.id)).toEqual(other);
      // The id is free again.
      expect(await backend.tenants.create(t)).toBe(true);
    });
  });
}
