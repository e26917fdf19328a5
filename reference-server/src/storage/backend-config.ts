// Which backend the hub runs on, from one configuration: a JSON file, environment variables and
// command-line flags (later ones win). This is the one place where backends are chosen and built.

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createMemoryBackend } from "./memory/memory-backend.js";
import { createPgliteBackend, createPostgresBackend } from "./postgres/postgres-backend.js";
import type { Backend } from "./types.js";

/** The storage part of the hub's configuration. */
export interface StorageConfig {
  /** "memory" (nothing kept), "pglite" (PostgreSQL in process, in `dataDir`) or "postgres" (a server at `databaseUrl`). */
  backend: "memory" | "pglite" | "postgres";
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
}

/** What the configuration file may hold (JSON). */
export interface ConfigFile {
  database?: { url?: string; poolSize?: number; schema?: string; role?: string };
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
 * ACB_DATA_DIR.
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

  if (memory) {
    if (flags.data !== undefined || flags.databaseUrl !== undefined)
      throw new Error("--memory keeps nothing: it cannot go with --data or --database-url");
    return { backend: "memory", ...(dataDir !== undefined && { dataDir }) };
  }
  if (databaseUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(databaseUrl))
      throw new Error("the database URL must start with postgres:// or postgresql://");
    return {
      backend: "postgres",
      databaseUrl,
      ...(dataDir !== undefined && { dataDir }),
      ...(poolSize !== undefined && { poolSize }),
      ...(schema !== undefined && { schema }),
      ...(role !== undefined && { role }),
    };
  }
  if (dataDir !== undefined) return { backend: "pglite", dataDir: resolve(dataDir) };
  return command === "serve"
    ? { backend: "pglite", dataDir: resolve("acb-data") }
    : { backend: "memory" };
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

/** Opens the configured backend (migrating a database schema first). */
export async function openBackend(config: StorageConfig): Promise<Backend> {
  switch (config.backend) {
    case "memory":
      return createMemoryBackend();
    case "pglite":
      // The database goes in a subdirectory, so the data directory can hold the dev signing key too.
      return createPgliteBackend(
        config.dataDir !== undefined ? { dataDir: join(config.dataDir, "pglite") } : {},
      );
    case "postgres":
      if (config.databaseUrl === undefined)
        throw new Error("the postgres backend needs a database URL");
      return createPostgresBackend({
        url: config.databaseUrl,
        ...(config.poolSize !== undefined && { poolSize: config.poolSize }),
        ...(config.schema !== undefined && { schema: config.schema }),
        ...(config.role !== undefined && { role: config.role }),
      });
  }
}

/** What the hub logs about its storage at start. */
export function describeStorage(config: StorageConfig): Record<string, unknown> {
  return {
    backend: config.backend,
    durable: config.backend !== "memory",
    ...(config.dataDir !== undefined && config.backend === "pglite" && { dataDir: config.dataDir }),
    ...(config.databaseUrl !== undefined && { databaseUrl: redactUrl(config.databaseUrl) }),
    ...(config.poolSize !== undefined && { poolSize: config.poolSize }),
  };
}
