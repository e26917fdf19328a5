// PostgreSQL-specific guarantees: row-level security isolates tenants even from a query that
// forgets the tenant, the schema version is checked at start, and a database that goes away is
// retried and reported through the hub's health service.

import { EventEmitter, once } from "node:events";
import {
  Health,
  HealthCheckResponse_ServingStatus as Serving,
} from "@acb/gen/grpc/health/v1/health_pb";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createHub } from "../../hub.js";
import { silentLogger } from "../../logger.js";
import { latestVersion, migrate, migrations } from "./migrations.js";
import { createPostgresBackend } from "./postgres-backend.js";
import { createTestSchema, startRelay, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

async function schemaForTest(base: string) {
  const s = await createTestSchema(base);
  drops.push(s.drop);
  return s;
}

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

describe.skipIf(!url)("postgres backend guarantees", () => {
  const base = url ?? "";

  it("row-level security: a query without the tenant setting sees nothing", async () => {
    const { schema, role } = await schemaForTest(base);
    const backend = await createPostgresBackend({ url: base, schema, role, poolSize: 2 });
    try {
      expect(await backend.contexts.create(context("ta", "c-1"), new Uint8Array([1]))).toBe(true);
      expect(await backend.contexts.create(context("tb", "c-2"), new Uint8Array([1]))).toBe(true);
      // The tenant travels as a literal beside BEGIN: quotes and backslashes stay data.
      const odd = "o'b\\r";
      expect(await backend.contexts.create(context(odd, "c-3"), new Uint8Array([1]))).toBe(true);
      expect((await backend.contexts.get(odd, "c-3"))?.tenantId).toBe(odd);
      expect(await backend.contexts.get("ta", "c-3")).toBeUndefined();
      const c = new pg.Client({ connectionString: base, options: `-c search_path=${schema}` });
      await c.connect();
      try {
        await c.query(`SET ROLE ${role}`);
        const count = async () =>
          Number((await c.query("SELECT count(*) AS n FROM acb_contexts")).rows[0].n);
        expect(await count()).toBe(0); // no tenant set: nothing
        await c.query("SELECT set_config('acb.tenant_id', 'ta', false)");
        expect(await count()).toBe(1);
        expect((await c.query("SELECT id FROM acb_contexts")).rows).toEqual([{ id: "c-1" }]);
        // Writing another tenant's row is refused too.
        await expect(
          c.query(
            "INSERT INTO acb_contexts (tenant_id, id, doc, revision) VALUES ('tb', 'x', '{}', 1)",
          ),
        ).rejects.toThrow(/row-level security/);
      } finally {
        await c.end();
      }
    } finally {
      await backend.close();
    }
  });

  it("applies missing migrations in order, each once, and refuses a newer schema", async () => {
    const { schema } = await schemaForTest(base);
    const pool = new pg.Pool({
      connectionString: base,
      options: `-c search_path=${schema}`,
      max: 1,
    });
    const session = async <T>(
      fn: (c: { query: pg.Pool["query"]; exec: (s: string) => Promise<void> }) => Promise<T>,
    ) => {
      const client = await pool.connect();
      try {
        return await fn({
          query: client.query.bind(client) as pg.Pool["query"],
          exec: async (s: string) => {
            await client.query(s);
          },
        });
      } finally {
        client.release();
      }
    };
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the test drives migrate() with a bare pool
      expect(await migrate(session as any, migrations.slice(0, 1))).toEqual({ from: 0, to: 1 });
      // A newer hub applies what the database lacks, in order.
      // biome-ignore lint/suspicious/noExplicitAny: as above
      expect(await migrate(session as any)).toEqual({ from: 1, to: latestVersion });
      // biome-ignore lint/suspicious/noExplicitAny: as above
      expect(await migrate(session as any)).toEqual({ from: latestVersion, to: latestVersion });
      await pool.query("INSERT INTO acb_schema_migrations (version, name) VALUES (999, 'future')");
      await expect(createPostgresBackend({ url: base, schema, poolSize: 1 })).rejects.toThrow(
        `the database schema is at version 999, newer than this hub knows (${latestVersion}): refusing to start; run a newer hub`,
      );
    } finally {
      await pool.end();
    }
  });

  it("answers UNAVAILABLE, not UNKNOWN, once closed (a call still running at shutdown)", async () => {
    const { schema } = await schemaForTest(base);
    const backend = await createPostgresBackend({ url: base, schema, poolSize: 1 });
    await backend.close();
    await expect(backend.tenants.get("t")).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the hub is shutting down: its database connections are closed",
    });
  });

  it("retries a lost database, and the hub's health says NOT_SERVING while it is away", async () => {
    const { schema, role } = await schemaForTest(base);
    const relay = await startRelay(new URL(base));
    const availability = new EventEmitter();
    const backend = await createPostgresBackend({
      url: relay.url,
      schema,
      role,
      poolSize: 2,
      retryForMs: 60_000,
      onAvailabilityChange: (up) => availability.emit(up ? "up" : "down"),
    });
    const hub = await createHub({ backend, logger: silentLogger });
    try {
      const listener = await hub.listen({ port: 0 });
      const health = createClient(
        Health,
        createConnectTransport({ baseUrl: listener.url, httpVersion: "1.1" }),
      );
      expect((await health.check({})).status).toBe(Serving.SERVING);

      const down = once(availability, "down");
      relay.cut();
      // Started while the database is away: retried until it is back.
      const write = backend.contexts.create(context("tr", "c-1"), new Uint8Array([1]));
      await down;
      expect(backend.isAvailable?.()).toBe(false);
      expect((await health.check({})).status).toBe(Serving.NOT_SERVING);
      // The HTTP readiness probe follows the database too; liveness does not.
      expect((await fetch(`${listener.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${listener.url}/healthz`)).status).toBe(200);

      const up = once(availability, "up");
      relay.restore();
      expect(await write).toBe(true);
      await up;
      expect(backend.isAvailable?.()).toBe(true);
      expect((await health.check({})).status).toBe(Serving.SERVING);
      expect((await fetch(`${listener.url}/readyz`)).status).toBe(200);
      expect((await backend.contexts.get("tr", "c-1"))?.id).toBe("c-1");
    } finally {
      await hub.close();
      await relay.close();
    }
  });
});

describe.skipIf(url)("postgres backend guarantees", () => {
  it.skip("need ACB_TEST_POSTGRES_URL", () => {});
});
