// Which backend the hub runs on, from one configuration: a JSON file, environment variables and
// command-line flags (later ones win). This is the one place where backends are chosen and built.

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BackendMetricsHook } from "./backend-metrics.js";
import { createMemoryBackend } from "./memory/memory-backend.js";
import { createPgliteBackend, createPostgresBackend } from "./postgres/postgres-backend.js";
import { createProductionBackend } from "./production-backend.js";
import { redactRedisUrl } from "./redis/redis-stores.js";
import type { Backend } from "./types.js";

/** The storage part of the hub's configuration. */
export interface StorageConfig {
  /**
   * "memory" (nothing kept), "pglite" (PostgreSQL in process, in `dataDir`), "postgres" (a server
   * at `databaseUrl`) or "production" (PostgreSQL with Redis at `redisUrl` and Kafka at
   * `kafkaBrokers`).
   */
  backend: "memory" | "pglite" | "postgres" | "production";
  /** Directory of the PGlite database (and of the dev hub's signing key). */
  dataDir?: string;
  /** postgres://user@host:port/database */
  databaseUrl?: string;
  /** Connections in the PostgreSQL pool. Default 10. */
  poolSize?: number;
  /** PostgreSQL schema of the hub's tables. Default: the server's default search path (public). */
  schema?: string;
  /** Role each transaction runs as (for a connection as the tables' owner); see docs/hub.md. */
  role?: string;
  /** redis://host:port of the hot state (production). */
  redisUrl?: string;
  /** Prepended to every Redis key and channel (several hubs on one Redis). Default none. */
  redisKeyPrefix?: string;
  /** host:port of the Kafka brokers (production). */
  kafkaBrokers?: string[];
  /** First part of the Kafka topic names. Default "acb". */
  kafkaTopicPrefix?: string;
}

/** The named presets: each is one backend choice. */
export type Preset = "embedded" | "embedded-durable" | "postgres" | "production";

/** The preset a configuration amounts to. */
export function presetOf(config: StorageConfig): Preset {
  return config.backend === "memory"
    ? "embedded"
    : config.backend === "pglite"
      ? "embedded-durable"
      : config.backend;
}

/** What the configuration file may hold (JSON). */
export interface ConfigFile {
  database?: { url?: string; poolSize?: number; schema?: string; role?: string };
  redis?: { url?: string; keyPrefix?: string };
  kafka?: { brokers?: string | string[]; topicPrefix?: string };
  /** The preset the rest of the file must amount to (a check). */
  preset?: string;
  dataDir?: string;
  /** Keep state in process memory only. */
  memory?: boolean;
}

/** Flags of the acb-hub command that choose storage. */
export interface StorageFlags {
  config?: string | undefined;
  data?: string | undefined;
  memory?: boolean | undefined;
  databaseUrl?: string | undefined;
  poolSize?: string | undefined;
  redisUrl?: string | undefined;
  kafkaBrokers?: string | undefined;
  preset?: string | undefined;
}

const positiveInt = (value: string, what: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${what} must be a positive integer, not "${value}"`);
  return n;
};

/**
 * Resolves the storage configuration. `command` sets the default when nothing chooses a backend:
 * `dev` keeps state in memory, `serve` uses PGlite in ./acb-data. Environment: ACB_CONFIG (the
 * file), ACB_DATABASE_URL, ACB_DATABASE_POOL_SIZE, ACB_DATABASE_SCHEMA, ACB_DATABASE_ROLE,
 * ACB_DATA_DIR, ACB_REDIS_URL, ACB_REDIS_KEY_PREFIX, ACB_KAFKA_BROKERS, ACB_KAFKA_TOPIC_PREFIX,
 * ACB_PRESET. A database URL with a Redis URL and Kafka brokers is the production preset.
 */
export function resolveStorageConfig(
  command: "dev" | "serve",
  flags: StorageFlags,
  env: Record<string, string | undefined> = process.env,
): StorageConfig {
  const file = flags.config ?? env.ACB_CONFIG;
  let fromFile: ConfigFile = {};
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, "utf8")) as ConfigFile;
    } catch (err) {
      throw new Error(`cannot read the configuration file "${file}": ${(err as Error).message}`);
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile))
      throw new Error(`the configuration file "${file}" must hold a JSON object`);
  }
  const pick = <T>(...values: (T | undefined)[]) => values.find((v) => v !== undefined && v !== "");
  const databaseUrl = pick(flags.databaseUrl, env.ACB_DATABASE_URL, fromFile.database?.url);
  const dataDir = pick(flags.data, env.ACB_DATA_DIR, fromFile.dataDir);
  const poolText = pick(flags.poolSize, env.ACB_DATABASE_POOL_SIZE);
  const poolSize =
    poolText !== undefined
      ? positiveInt(poolText, "the pool size")
      : fromFile.database?.poolSize !== undefined
        ? positiveInt(String(fromFile.database.poolSize), "database.poolSize")
        : undefined;
  const schema = pick(env.ACB_DATABASE_SCHEMA, fromFile.database?.schema);
  const role = pick(env.ACB_DATABASE_ROLE, fromFile.database?.role);
  const memory = flags.memory === true || (flags.memory === undefined && fromFile.memory === true);
  const redisUrl = pick(flags.redisUrl, env.ACB_REDIS_URL, fromFile.redis?.url);
  const redisKeyPrefix = pick(env.ACB_REDIS_KEY_PREFIX, fromFile.redis?.keyPrefix);
  const fileBrokers = fromFile.kafka?.brokers;
  const brokersText = pick(
    flags.kafkaBrokers,
    env.ACB_KAFKA_BROKERS,
    Array.isArray(fileBrokers) ? fileBrokers.join(",") : fileBrokers,
  );
  const kafkaTopicPrefix = pick(env.ACB_KAFKA_TOPIC_PREFIX, fromFile.kafka?.topicPrefix);
  const preset = pick(flags.preset, env.ACB_PRESET, fromFile.preset);

  const config = ((): StorageConfig => {
    if (memory) {
      if (flags.data !== undefined || flags.databaseUrl !== undefined)
        throw new Error("--memory keeps nothing: it cannot go with --data or --database-url");
      return { backend: "memory", ...(dataDir !== undefined && { dataDir }) };
    }
    if ((redisUrl !== undefined || brokersText !== undefined) && databaseUrl === undefined)
      throw new Error(
        "Redis and Kafka are used with PostgreSQL only (the production preset): give a database URL too",
      );
    if (databaseUrl !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(databaseUrl))
        throw new Error("the database URL must start with postgres:// or postgresql://");
      const sql = {
        databaseUrl,
        ...(dataDir !== undefined && { dataDir }),
        ...(poolSize !== undefined && { poolSize }),
        ...(schema !== undefined && { schema }),
        ...(role !== undefined && { role }),
      };
      if (redisUrl === undefined && brokersText === undefined)
        return { backend: "postgres", ...sql };
      if (redisUrl === undefined || brokersText === undefined)
        throw new Error(
          `the production preset needs both a Redis URL and Kafka brokers; ${redisUrl === undefined ? "the Redis URL (ACB_REDIS_URL)" : "the Kafka brokers (ACB_KAFKA_BROKERS)"} is missing`,
        );
      if (!/^rediss?:\/\//.test(redisUrl))
        throw new Error("the Redis URL must start with redis:// or rediss://");
      const kafkaBrokers = brokersText.split(",").map((b) => b.trim());
      for (const b of kafkaBrokers)
        if (!/^[^\s:]+:\d{1,5}$/.test(b))
          throw new Error(`a Kafka broker must be host:port, not "${b}"`);
      return {
        backend: "production",
        ...sql,
        redisUrl,
        kafkaBrokers,
        ...(redisKeyPrefix !== undefined && { redisKeyPrefix }),
        ...(kafkaTopicPrefix !== undefined && { kafkaTopicPrefix }),
      };
    }
    if (dataDir !== undefined) return { backend: "pglite", dataDir: resolve(dataDir) };
    return command === "serve"
      ? { backend: "pglite", dataDir: resolve("acb-data") }
      : { backend: "memory" };
  })();
  if (preset !== undefined && preset !== presetOf(config)) {
    const known = ["embedded", "embedded-durable", "postgres", "production"];
    throw new Error(
      known.includes(preset)
        ? `the preset "${preset}" was asked for, but the configuration amounts to "${presetOf(config)}" (see docs/hub.md: production needs a database URL, a Redis URL and Kafka brokers)`
        : `unknown preset "${preset}"; one of ${known.join(", ")}`,
    );
  }
  return config;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * Opens the configured backend (migrating a database schema first). `metrics` receives its
 * operation timings (SQL transactions and pool, Redis commands, Kafka sends); none records nothing.
 */
export async function openBackend(
  config: StorageConfig,
  options: { metrics?: BackendMetricsHook } = {},
): Promise<Backend> {
  const metrics = options.metrics !== undefined ? { metrics: options.metrics } : {};
  switch (config.backend) {
    case "memory":
      return createMemoryBackend();
    case "pglite":
      // The database goes in a subdirectory, so the data directory can hold the dev signing key too.
      return createPgliteBackend(
        config.dataDir !== undefined
          ? { dataDir: join(config.dataDir, "pglite"), ...metrics }
          : metrics,
      );
    case "postgres":
      if (config.databaseUrl === undefined)
        throw new Error("the postgres backend needs a database URL");
      return createPostgresBackend({
        url: config.databaseUrl,
        ...(config.poolSize !== undefined && { poolSize: config.poolSize }),
        ...(config.schema !== undefined && { schema: config.schema }),
        ...(config.role !== undefined && { role: config.role }),
        ...metrics,
      });
    case "production":
      if (
        config.databaseUrl === undefined ||
        config.redisUrl === undefined ||
        config.kafkaBrokers === undefined
      )
        throw new Error(
          "the production preset needs a database URL, a Redis URL and Kafka brokers",
        );
      return createProductionBackend({
        postgres: {
          url: config.databaseUrl,
          ...(config.poolSize !== undefined && { poolSize: config.poolSize }),
          ...(config.schema !== undefined && { schema: config.schema }),
          ...(config.role !== undefined && { role: config.role }),
          ...metrics,
        },
        redis: {
          url: config.redisUrl,
          ...(config.redisKeyPrefix !== undefined && { keyPrefix: config.redisKeyPrefix }),
          ...metrics,
        },
        kafka: {
          brokers: config.kafkaBrokers,
          ...metrics,
          ...(config.kafkaTopicPrefix !== undefined && { topicPrefix: config.kafkaTopicPrefix }),
        },
      });
  }
}

/** What the hub logs about its storage at start. */
export function describeStorage(config: StorageConfig): Record<string, unknown> {
  return {
    backend: config.backend,
    preset: presetOf(config),
    durable: config.backend !== "memory",
    ...(config.dataDir !== undefined && config.backend === "pglite" && { dataDir: config.dataDir }),
    ...(config.databaseUrl !== undefined && { databaseUrl: redactUrl(config.databaseUrl) }),
    ...(config.poolSize !== undefined && { poolSize: config.poolSize }),
    ...(config.redisUrl !== undefined && { redisUrl: redactRedisUrl(config.redisUrl) }),
    ...(config.kafkaBrokers !== undefined && { kafkaBrokers: config.kafkaBrokers }),
  };
}
