import { describe, expect, it } from "vitest";
import { backendTestSuite } from "../backend-test-suite.js";
import { createPgliteBackend } from "./postgres-backend.js";

// PGlite in memory: the same schema and SQL as the PostgreSQL backend, in process.
backendTestSuite("pglite backend", () => createPgliteBackend({ pollIntervalMs: 200 }));

const context = (tenantId: string, id: string) => ({
  tenantId,
  id,
  type: "note",
  ownerId: "a-1",
  contentType: "text/plain",
  data: new Uint8Array([1]),
  metadata: {},
  revision: 1,
  schemaVersion: "",
  scope: 1,
  allowedIds: [],
  sha256: new Uint8Array(32),
  size: 1,
  createdAt: 1,
  updatedAt: 1,
});

describe("pglite backend guarantees", () => {
  it("row-level security: the hub's role, without the tenant setting, sees nothing", async () => {
    const backend = await createPgliteBackend();
    try {
      expect(await backend.contexts.create(context("ta", "c-1"), new Uint8Array([1]))).toBe(true);
      expect(await backend.contexts.create(context("tb", "c-2"), new Uint8Array([1]))).toBe(true);
      expect(await backend.contexts.get("ta", "c-2")).toBeUndefined();
      // The hub's transactions run as its role, not as PGlite's superuser.
      const who = await backend.db.tx("ta", (c) =>
        c.query<{ u: string }>("SELECT current_user AS u"),
      );
      expect(who.rows).toEqual([{ u: "acb_hub" }]);
      await backend.db.driver.transaction(async (c) => {
        await c.exec("SET LOCAL ROLE acb_hub");
        const count = async () =>
          Number(
            (await c.query<{ n: unknown }>("SELECT count(*) AS n FROM acb_contexts")).rows[0]?.n,
          );
        expect(await count()).toBe(0); // no tenant set: nothing
        await c.query("SELECT set_config('acb.tenant_id', 'ta', true)");
        expect(await count()).toBe(1);
        expect((await c.query("SELECT id FROM acb_contexts")).rows).toEqual([{ id: "c-1" }]);
      });
      // Writing another tenant's row is refused too.
      await expect(
        backend.db.driver.transaction(async (c) => {
          await c.exec("SET LOCAL ROLE acb_hub; SET LOCAL acb.tenant_id = 'ta'");
          await c.query(
            "INSERT INTO acb_contexts (tenant_id, id, doc, revision) VALUES ('tb', 'x', '{}', 1)",
          );
        }),
      ).rejects.toThrow(/row-level security/);
    } finally {
      await backend.close();
    }
  });
});
