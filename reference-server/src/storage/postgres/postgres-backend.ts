// The durable backends: every store over SQL, on a PostgreSQL server (node-postgres) or on PGlite
// (the same PostgreSQL in process). The schema is migrated at start; each transaction is scoped to
// one tenant for row-level security.

import type { Backend } from "../types.js";
import { migrate } from "./migrations.js";
import { createPgBlobStore } from "./pg-blob-store.js";
import {
  createPgAuthStore,
  createPgContextStore,
  createPgEventLog,
  createPgRegistryStore,
  createPgTenantStore,
  type PgEventLogOptions,
} from "./pg-core-stores.js";
import { createPgDriver, type PgDriverOptions } from "./pg-driver.js";
import { createPgMeetingStore } from "./pg-meetings.js";
import { createPgMessageStore } from "./pg-messages.js";
import {
  createPgConversationStore,
  createPgIdempotencyStore,
  createPgTopicStore,
} from "./pg-messaging-stores.js";
import {
  createPgApiKeyStore,
  createPgAuditStore,
  createPgRateLimiter,
  createPgUsageStore,
} from "./pg-security.js";
import { createPgliteDriver, type PgliteDriverOptions } from "./pglite-driver.js";
import { SqlDatabase } from "./sql-database.js";
import type { SqlDriver } from "./sql-driver.js";
import { parseWake, WAKE_CHANNEL, Wakeups } from "./wakeups.js";

/** Options shared by both SQL backends. */
export interface SqlBackendOptions {
  /** Options of the event log (change retention). */
  events?: PgEventLogOptions;
  /**
   * How often a waiting reader re-checks even without a notification (a notification lost while
   * the listening connection was away). Default 1,000 ms.
   */
  pollIntervalMs?: number;
}

/** Options of {@link createPostgresBackend}. */
export interface PostgresBackendOptions extends SqlBackendOptions, PgDriverOptions {
  /**
   * A role every transaction runs as (SET LOCAL ROLE), for when the hub connects as the tables'
   * owner or a superuser, whom row-level security would not restrict. The backend grants it
   * access to the tables after migrating. Default: none (connect as a non-owner role instead).
   */
  role?: string;
}

/** Options of {@link createPgliteBackend}. */
export interface PgliteBackendOptions extends SqlBackendOptions, PgliteDriverOptions {}

/** A backend over any SQL driver; migrates the schema first. */
export async function createSqlBackend(
  driver: SqlDriver,
  options: SqlBackendOptions & { role?: string; name: string },
): Promise<Backend & { readonly db: SqlDatabase; isAvailable(): boolean }> {
  try {
    await migrate((fn) => driver.session(fn));
    if (options.role !== undefined) await grantRole(driver, options.role);
  } catch (err) {
    await driver.close();
    throw err;
  }
  const db = new SqlDatabase(driver, options.role);
  const wakeups = new Wakeups(options.pollIntervalMs ?? 1_000);
  const unlisten = await driver.listen(WAKE_CHANNEL, (payload) => {
    const { key, seq } = parseWake(payload);
    wakeups.wake(key, seq);
  });
  const blobs = createPgBlobStore(db);
  return {
    db,
    capabilities: { name: options.name, durable: true, multiNode: driver.kind === "postgres" },
    tenants: createPgTenantStore(db),
    registry: createPgRegistryStore(db),
    contexts: createPgContextStore(db),
    events: createPgEventLog(db, wakeups, options.events),
    auth: createPgAuthStore(db),
    blobs,
    meetings: createPgMeetingStore(db, wakeups),
    messages: createPgMessageStore(db),
    idempotency: createPgIdempotencyStore(db),
    topics: createPgTopicStore(db),
    conversations: createPgConversationStore(db),
    apiKeys: createPgApiKeyStore(db),
    audit: createPgAuditStore(db),
    usage: createPgUsageStore(db),
    rateLimits: createPgRateLimiter(db),
    isAvailable: () => driver.isAvailable(),
    async close() {
      await unlisten();
      await blobs.close();
      await driver.close();
    },
  };
}

async function grantRole(driver: SqlDriver, role: string): Promise<void> {
  const r = `"${role.replaceAll('"', '""')}"`;
  await driver.session(async (c) => {
    const { rows } = await c.query<{ s: string }>("SELECT current_schema() AS s");
    const schema = `"${(rows[0]?.s ?? "public").replaceAll('"', '""')}"`;
    await c.exec(`GRANT USAGE ON SCHEMA ${schema} TO ${r};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${r};
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${r};`);
  });
}

/** The hub's state in a PostgreSQL server: durable, and shared by every hub node that uses it. */
export function createPostgresBackend(options: PostgresBackendOptions) {
  return createSqlBackend(createPgDriver(options), { ...options, name: "postgres" });
}

/** The hub's state in PGlite: durable in `dataDir` (in memory without one), one process. */
export async function createPgliteBackend(options: PgliteBackendOptions = {}) {
  return createSqlBackend(await createPgliteDriver(options), { ...options, name: "pglite" });
}
