// The production preset: PostgreSQL for strongly consistent state and delivery state, Redis for
// hot state (quota counters, stream slots, presence, cross-node notifications), Kafka for the
// message log.
// Several hub processes configured alike act as one hub. See docs/architecture.md for which store
// lives where and why.

import {
  createKafkaLog,
  createKafkaLoggedMessageStore,
  type KafkaLogOptions,
  logChangeEvents,
} from "./kafka/kafka-log.js";
import { createPostgresBackend, type PostgresBackendOptions } from "./postgres/postgres-backend.js";
import { createPresenceRegistry } from "./redis/presence-registry.js";
import { createRedisStores, type RedisStoresOptions } from "./redis/redis-stores.js";
import type { Backend } from "./types.js";

export interface ProductionBackendOptions {
  postgres: PostgresBackendOptions;
  redis: RedisStoresOptions;
  kafka: KafkaLogOptions;
}

export type ProductionBackend = Backend & {
  isAvailable(): boolean;
  /** Resolves once the Redis connections are ready again (at once when they are). */
  whenRedisAvailable(): Promise<void>;
  /** The Kafka topic of a tenant's stream of one type. */
  topic(tenantId: string, type: string): string;
  /** The Redis keys of a tenant (for checks). */
  redisKeys(tenantId: string): Promise<string[]>;
};

/** Opens PostgreSQL (migrating it), Redis and Kafka, and composes them into one backend. */
export async function createProductionBackend(
  options: ProductionBackendOptions,
): Promise<ProductionBackend> {
  // Receivers are woken through Redis here: PostgreSQL's NOTIFY would reach nobody.
  const sql = await createPostgresBackend({ ...options.postgres, wakeWithWrites: false });
  let redis: Awaited<ReturnType<typeof createRedisStores>> | undefined;
  let log: Awaited<ReturnType<typeof createKafkaLog>> | undefined;
  try {
    redis = await createRedisStores(options.redis);
    log = await createKafkaLog(options.kafka);
  } catch (err) {
    await redis?.close();
    await sql.close();
    throw err;
  }
  const hot = redis;
  const messageLog = log;
  const logged = logChangeEvents(messageLog, sql);
  return {
    ...sql,
    capabilities: { name: "production", durable: true, multiNode: true },
    notifier: hot.notifier,
    rateLimits: hot.rateLimits,
    streamSlots: hot.streamSlots,
    messages: createKafkaLoggedMessageStore(messageLog, sql.messages),
    ...logged,
    // Heartbeats land in Redis; PostgreSQL's agent rows change when presence does.
    registry: createPresenceRegistry({
      registry: logged.registry,
      sql: sql.registry,
      events: logged.events,
      keys: hot.presence,
    }),
    async deleteTenant(tenantId) {
      // PostgreSQL holds the tenant record and decides; Redis then forgets the tenant's hot
      // state. Its Kafka topics stay (see docs/architecture.md).
      if (!(await sql.deleteTenant(tenantId))) return false;
      await hot.deleteTenant(tenantId);
      return true;
    },
    isAvailable: () => sql.isAvailable() && hot.isAvailable() && messageLog.isAvailable(),
    redisKeys: (tenantId) => hot.tenantKeys(tenantId),
    topic: (tenantId, type) => messageLog.topic(tenantId, type),
    whenRedisAvailable: () => hot.whenAvailable(),
    async close() {
      await messageLog.close();
      await hot.close();
      await sql.close();
    },
  };
}
