// Tenant isolation across the stores of the shared backend suite.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { agentRecord, contextRecord, deleteTenant, ev, fresh } from "./helpers.js";

export function tenantIsolationTests(get: () => Backend): void {
  describe("tenant isolation", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("finds the tenants holding an id (for probe reports), in sorted order, up to a limit", async () => {
      const [a, b, c] = [fresh(), fresh(), fresh()].sort() as [string, string, string];
      const id = fresh("probe-");
      await backend.registry.put(agentRecord(b, id), ev());
      await backend.registry.put(agentRecord(a, id), ev());
      await backend.contexts.create(contextRecord(c, id), ev());
      await backend.contexts.create(contextRecord(a, id), ev());
      expect(await backend.registry.tenantsHolding(id, 10)).toEqual([a, b]);
      expect(await backend.registry.tenantsHolding(id, 1)).toEqual([a]);
      expect(await backend.contexts.tenantsHolding(id, 10)).toEqual([a, c]);
      expect(await backend.contexts.tenantsHolding(fresh("none-"), 10)).toEqual([]);
    });

    it("never answers tenant A's data for tenant B, in any store", async () => {
      const a = fresh();
      const b = fresh();
      // The same object ids in both tenants must not collide either.
      await backend.registry.put(
        agentRecord(a, "shared-id", { capabilities: ["x"], metadata: { k: "v" } }),
        ev(),
      );
      await backend.contexts.create(contextRecord(a, "shared-id", { metadata: { k: "v" } }), ev());
      await backend.events.append(a, "contexts", ev({ from: "a" }));
      await backend.events.append(a, "agents", ev({ from: "a" }));

      expect(await backend.registry.get(b, "shared-id")).toBeUndefined();
      expect(await backend.registry.touch(b, "shared-id", 9_999)).toBeUndefined();
      expect(await backend.registry.delete(b, "shared-id", () => ev())).toBeUndefined();
      expect(await backend.registry.list(b, {}, "", 100)).toEqual([]);
      expect(
        await backend.registry.list(b, { capabilities: ["x"], metadata: { k: "v" } }, "", 100),
      ).toEqual([]);
      expect(await backend.registry.count(b)).toBe(0);

      expect(await backend.contexts.get(b, "shared-id")).toBeUndefined();
      expect(await backend.contexts.list(b, {}, "", 100)).toEqual([]);
      expect(await backend.contexts.list(b, { metadata: { k: "v" } }, "", 100)).toEqual([]);
      expect(
        await backend.contexts.replace(contextRecord(b, "shared-id", { revision: 2 }), 1, ev()),
      ).toEqual({
        ok: false,
        current: undefined,
      });
      expect(await backend.contexts.delete(b, "shared-id", 1, ev())).toEqual({
        ok: false,
        current: undefined,
      });

      expect(await backend.events.read(b, "contexts", 0, 100)).toEqual([]);
      expect(await backend.events.read(b, "agents", 0, 100)).toEqual([]);
      expect(await backend.events.bounds(b, "contexts")).toEqual({ head: 0, oldest: 1 });

      // B writes objects with the same ids; A's stay as they were.
      await backend.registry.put(agentRecord(b, "shared-id", { type: "b-type" }), ev());
      expect(
        await backend.contexts.create(contextRecord(b, "shared-id", { type: "b-type" }), ev()),
      ).toBe(true);
      expect((await backend.registry.get(a, "shared-id"))?.type).toBe("ml");
      expect((await backend.contexts.get(a, "shared-id"))?.type).toBe("note");
      expect((await backend.registry.touch(a, "shared-id", 7_000))?.type).toBe("ml");
      expect((await backend.registry.get(b, "shared-id"))?.lastSeen).toBe(1_000);

      // Deleting tenant B everywhere leaves A intact.
      await deleteTenant(backend, b);
      expect(await backend.registry.count(a)).toBe(1);
      expect(await backend.contexts.get(a, "shared-id")).toBeDefined();
      expect((await backend.events.bounds(a, "contexts")).head).toBe(2); // the create's event and the appended one
    });
  });
}
