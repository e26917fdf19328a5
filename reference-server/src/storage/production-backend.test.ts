import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { backendTestSuite } from "./backend-test-suite.js";
import {
  createProductionBackend,
  type ProductionBackend,
  type ProductionBackendOptions,
} from "./production-backend.js";
import { isolatedProductionOptions, testServices } from "./production-test-services.js";
import {
  agentRecord,
  contextRecord,
  ev,
  fresh,
  messageRecord,
  tenantRecord,
  unev,
} from "./suite/helpers.js";

const services = testServices();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

if (services) {
  let options: ProductionBackendOptions | undefined;
  backendTestSuite(
    "production backend (PostgreSQL + Redis + Kafka)",
    async () => {
      const isolated = await isolatedProductionOptions(services);
      drops.push(isolated.drop);
      options = isolated.options;
      return createProductionBackend(options);
    },
    {
      reopen: () =>
        createProductionBackend({
          ...(options as ProductionBackendOptions),
          postgres: { ...(options as ProductionBackendOptions).postgres, poolSize: 2 },
        }),
    },
  );

  describe("production backend keys", () => {
    it("keeps every Redis key of a tenant under tenant:{<tenant>}:, and forgets them with the tenant", async () => {
      const isolated = await isolatedProductionOptions(services);
      drops.push(isolated.drop);
      const backend: ProductionBackend = await createProductionBackend(isolated.options);
      try {
        const t = fresh();
        await backend.tenants.create(tenantRecord(t));
        const w = { windowStart: 0, windowEnd: Date.now() + 60_000 };
        await backend.rateLimits.consume([
          { key: `tenant:${t}:messages`, amount: 1, limit: 10, ...w },
          { key: `tenant:${t}:agent:a:bytes`, amount: 5, limit: 0, ...w },
        ]);
        await backend.streamSlots.acquire(t, "a", "h1", 2, Date.now() + 60_000, Date.now());
        const keys = await backend.redisKeys(t);
        expect(keys.length).toBe(3);
        for (const k of keys) expect(k.startsWith(`tenant:{${t}}:`)).toBe(true);
        // A send and a context write make the tenant's topics.
        await backend.messages.enqueue(messageRecord(t, "m-1"), ["b"]);
        await backend.contexts.create(contextRecord(t, "c-1"), new Uint8Array([1]));
        const kafka = new Kafka({ brokers: services.kafkaBrokers, logLevel: logLevel.NOTHING });
        const admin = kafka.admin();
        await admin.connect();
        try {
          const mine = [backend.topic(t, "messages"), backend.topic(t, "contexts")];
          expect((await admin.listTopics()).filter((x) => mine.includes(x)).sort()).toEqual(
            mine.sort(),
          );
          expect(await backend.deleteTenant(t)).toBe(true);
          expect(await backend.redisKeys(t)).toEqual([]);
        } finally {
          await admin.disconnect();
        }
      } finally {
        await backend.close();
      }
    });
  });
  describe("production backend presence", () => {
    it("absorbs heartbeats in Redis: PostgreSQL's row stays, reads and the sweep follow them", async () => {
      const isolated = await isolatedProductionOptions(services);
      drops.push(isolated.drop);
      const backend: ProductionBackend = await createProductionBackend(isolated.options);
      const raw = new pg.Client({ connectionString: services.postgresUrl });
      await raw.connect();
      const t = fresh();
      // The agent's row as PostgreSQL holds it, with the row version (xmin) every update changes.
      const row = async (id: string) =>
        (
          await raw.query(
            `SELECT xmin::text AS version, offline_at::text AS offline_at, doc
             FROM ${isolated.options.postgres.schema}.acb_agents WHERE tenant_id = $1 AND id = $2`,
            [t, id],
          )
        ).rows[0] as { version: string; offline_at: string | null; doc: { lastSeen: number } };
      try {
        const T = 30_000;
        const t0 = Date.now();
        await backend.tenants.create(tenantRecord(t));
        for (const id of ["a", "b"])
          await backend.registry.put(
            agentRecord(t, id, { lastSeen: t0, offlineAt: t0 + T }),
            ev(`registered ${id}`),
          );
        // The first heartbeat after registering reaches PostgreSQL (and fills the presence key).
        await backend.registry.touch(t, "a", t0 + 1_000, undefined, T);
        const stored = await row("a");
        expect(stored).toMatchObject({ offline_at: String(t0 + 31_000) });
        // Heartbeats while the stored moment is at least half the timeout away: Redis only.
        for (let s = 2; s <= 16; s++) {
          const touched = await backend.registry.touch(t, "a", t0 + s * 1_000, undefined, T);
          expect(touched).toMatchObject({
            lastSeen: t0 + s * 1_000,
            offlineAt: t0 + s * 1_000 + T,
          });
        }
        expect(await row("a")).toEqual(stored);
        expect(await backend.registry.get(t, "a")).toMatchObject({
          lastSeen: t0 + 16_000,
          offlineAt: t0 + 46_000,
        });
        const online = await backend.registry.list(t, { seenSince: t0 + 10_000 }, "", 10);
        expect(online.map((x) => `${x.id}@${x.lastSeen - t0}`)).toEqual(["a@16000"]);
        const offline = await backend.registry.list(t, { seenBefore: t0 + 10_000 }, "", 10);
        expect(offline.map((x) => `${x.id}@${x.lastSeen - t0}`)).toEqual(["b@0"]);
        // Less than half the timeout before the stored moment: the heartbeat moves it.
        await backend.registry.touch(t, "a", t0 + 16_001, undefined, T);
        expect(await row("a")).toMatchObject({
          offline_at: String(t0 + 46_001),
          doc: { lastSeen: t0 + 16_001 },
        });

        // The sweep at a's stored moment: b is announced; a, heard from through Redis only since,
        // is not: its stored moment moves to the precise one instead.
        const movedRow = await row("a");
        for (let s = 17; s <= 30; s++)
          await backend.registry.touch(t, "a", t0 + s * 1_000, undefined, T);
        expect(await row("a")).toEqual(movedRow);
        const dueBy = t0 + 46_001;
        const due = (await backend.registry.listOfflineDue(dueBy, 10_000)).filter(
          (x) => x.tenantId === t,
        );
        expect(due.map((x) => x.id)).toEqual(["b"]);
        for (const x of due)
          await backend.registry.markOffline(t, x.id, x.offlineAt ?? 0, ev(`offline ${x.id}`));
        expect(await row("a")).toMatchObject({
          offline_at: String(t0 + 60_000),
          doc: { lastSeen: t0 + 30_000 },
        });
        const stream = await backend.events.read(t, "agents", 0, 100);
        expect(stream.map((e) => unev(e.data))).toEqual([
          "registered a",
          "registered b",
          "offline b",
        ]);

        const keys = await backend.redisKeys(t);
        expect(keys.sort()).toEqual([`tenant:{${t}}:presence:a`, `tenant:{${t}}:presence:b`]);
        expect(await backend.deleteTenant(t)).toBe(true);
        expect(await backend.redisKeys(t)).toEqual([]);
      } finally {
        await raw.end();
        await backend.close();
      }
    });
  });
} else {
  it.skip("production backend (ACB_TEST_POSTGRES_URL, ACB_TEST_REDIS_URL or ACB_TEST_KAFKA_BROKERS is not set)", () => {});
}
