// The services a production-preset test needs, from ACB_TEST_POSTGRES_URL, ACB_TEST_REDIS_URL and
// ACB_TEST_KAFKA_BROKERS. Without them the tests skip with a visible message, except under
// ACB_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.

import { randomUUID } from "node:crypto";
import { createTestSchema, testPostgresUrl } from "./postgres/postgres-test-db.js";
import type { ProductionBackendOptions } from "./production-backend.js";

export interface TestServices {
  postgresUrl: string;
  redisUrl: string;
  kafkaBrokers: string[];
}

/** The services, or undefined (after saying why) when the tests should skip. */
export function testServices(): TestServices | undefined {
  const postgresUrl = testPostgresUrl();
  const redisUrl = process.env.ACB_TEST_REDIS_URL;
  const brokers = process.env.ACB_TEST_KAFKA_BROKERS;
  const missing = [
    ...(redisUrl ? [] : ["ACB_TEST_REDIS_URL"]),
    ...(brokers ? [] : ["ACB_TEST_KAFKA_BROKERS"]),
  ];
  if (missing.length > 0) {
    const message = `${missing.join(" and ")} not set: skipping the production-preset tests`;
    if (process.env.ACB_REQUIRE_SERVICES === "1")
      throw new Error(`${message} is not allowed with ACB_REQUIRE_SERVICES=1`);
    console.warn(message);
    return undefined;
  }
  if (!postgresUrl || !redisUrl || !brokers) return undefined;
  return { postgresUrl, redisUrl, kafkaBrokers: brokers.split(",") };
}

/**
 * Options of a production backend on a fresh PostgreSQL schema, Redis key prefix and Kafka topic
 * prefix, so runs never collide; `drop` removes the schema.
 */
export async function isolatedProductionOptions(
  services: TestServices,
): Promise<{ options: ProductionBackendOptions; drop(): Promise<void> }> {
  const { schema, role, drop } = await createTestSchema(services.postgresUrl);
  const run = randomUUID().replaceAll("-", "").slice(0, 12);
  return {
    options: {
      postgres: { url: services.postgresUrl, schema, role, poolSize: 4, pollIntervalMs: 200 },
      redis: { url: services.redisUrl, keyPrefix: `acbtest${run}:` },
      kafka: { brokers: services.kafkaBrokers, topicPrefix: `acbtest${run}`, partitions: 3 },
    },
    drop,
  };
}
