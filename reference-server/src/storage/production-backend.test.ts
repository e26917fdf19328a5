import { Kafka, logLevel } from "kafkajs";
import { afterAll, describe, expect, it } from "vitest";
import { backendTestSuite } from "./backend-test-suite.js";
import {
  createProductionBackend,
  type ProductionBackend,
  type ProductionBackendOptions,
} from "./production-backend.js";
import { isolatedProductionOptions, testServices } from "./production-test-services.js";
import { contextRecord, fresh, messageRecord, tenantRecord } from "./suite/helpers.js";

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
} else {
  it.skip("production backend (ACB_TEST_POSTGRES_URL, ACB_TEST_REDIS_URL or ACB_TEST_KAFKA_BROKERS is not set)", () => {});
}
