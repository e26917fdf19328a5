// The durable backends: every store over SQL, on a PostgreSQL server (node-postgres) or on PGlite
// (the same PostgreSQL in process). The schema is migrated at start; each transaction is scoped to
// one tenant for row-level security.

import { randomBytes } from "node:crypto";
import type { BackendMetricsHook } from "../backend-metrics.js";
import type { Backend, Notifier } from "../types.js";
import { migrate, tenantTables } from "./migrations.js";
import { createPgBlobStore } from "./pg-blob-store.js";
import {
  createPgAuthStore,
  createPgContextStore,
  createPgEventLog,
  createPgRegistryStore,
  createPgTenantStore,
  eventAppender,
  type PgEventLogOptions,
  type SqlRegistryStore,
} from "./pg-core-stores.js";
import { createPgDriver, type PgDriverOptions } from "./pg-driver.js";
import { createPgMeetingStore } from "./pg-meetings.js";
import { createPgMessageStore } from "./pg-messages.js";
import {
  createPgConversationStore,
  createPgIdempotencyStore,
  createPgTopicStore,
} from "./pg-messaging-stores.js";
import { createPgReleasedBlobStore } from "./pg-released-blobs.js";
import { createPgRequestStore } from "./pg-requests.js";
import {
  createPgApiKeyStore,
  createPgAuditStore,
  createPgRateLimiter,
  createPgUsageStore,
} from "./pg-security.js";
import { createPgStreamSlotStore, createPgUploadSessionStore } from "./pg-uploads.js";
import { createPgliteDriver, type PgliteDriverOptions } from "./pglite-driver.js";
import { ALL_TENANTS, SqlDatabase } from "./sql-database.js";
import type { SqlDriver } from "./sql-driver.js";
import { notifyAtCommit, parseWake, WAKE_CHANNEL, Wakeups, wakeKey } from "./wakeups.js";

/** Options shared by both SQL backends. */
export interface SqlBackendOptions {
  /** Options of the event log (change retention). */
  events?: PgEventLogOptions;
  /**
   * How often a waiting reader re-checks even without a notification (a notification lost while
   * the listening connection was away). Default 1,000 ms.
   */
  pollIntervalMs?: number;
  /** Where transaction durations and pool sizes go (the hub's metrics). Default: none. */
  metrics?: BackendMetricsHook;
  /**
   * Whether a send's NOTIFY of its recipients goes in the statement that stores it (the
   * MessageStore's `folds.wake`). Default true; false when another Notifier than this backend's
   * wakes receivers (the production preset's Redis).
   */
  wakeWithWrites?: boolean;
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
export interface PgliteBackendOptions extends SqlBackendOptions, PgliteDriverOptions {
  /**
   * The role every transaction runs as (created when missing). PGlite's only user is a
   * superuser, whom row-level security never restricts; this role is not. Default "acb_hub".
   */
  role?: string;
}

/** A backend over any SQL driver; migrates the schema first. */
export async function createSqlBackend(
  driver: SqlDriver,
  options: SqlBackendOptions & { role?: string; name: string },
): Promise<
  Backend & {
    readonly db: SqlDatabase;
    readonly registry: SqlRegistryStore;
    isAvailable(): boolean;
  }
> {
  try {
    await migrate((fn) => driver.session(fn));
    if (options.role !== undefined) {
      if (driver.kind === "pglite") await createRole(driver, options.role);
      await grantRole(driver, options.role);
    }
  } catch (err) {
    await driver.close();
    throw err;
  }
  const db = new SqlDatabase(driver, options.role, options.metrics);
  const poolStats = driver.poolStats?.bind(driver);
  if (options.metrics && poolStats) options.metrics.sqlPool(driver.kind, poolStats);
  const wakeups = new Wakeups(options.pollIntervalMs ?? 1_000);
  const unlisten = await driver.listen(WAKE_CHANNEL, (payload) => {
    const { key, seq } = parseWake(payload);
    wakeups.wake(key, seq);
  });
  let notifier: Notifier & { close(): Promise<void> };
  try {
    notifier = await createPgNotifier(driver);
  } catch (err) {
    await unlisten();
    await driver.close();
    throw err;
  }
  const appendEvent = eventAppender(options.events);
  const blobs = createPgBlobStore(db);
  return {
    db,
    capabilities: { name: options.name, durable: true, multiNode: driver.kind === "postgres" },
    epoch: () =>
      db.tx(ALL_TENANTS, async (c) => {
        // The first node to ask makes the epoch; every later call, node and restart reads it.
        await c.query(
          "INSERT INTO acb_hub_state (name, value) VALUES ('epoch', $1) ON CONFLICT (name) DO NOTHING",
          [randomBytes(9).toString("base64url")],
        );
        const r = await c.query<{ value: string }>(
          "SELECT value FROM acb_hub_state WHERE name = 'epoch'",
        );
        return r.rows[0]?.value ?? "";
      }),
    deleteTenant: (tenantId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query("DELETE FROM acb_tenants WHERE tenant_id = $1", [tenantId]);
        if (r.rowCount !== 1) return false;
        // Everything the tenant owns, in one transaction; its audit records stay (evidence), and
        // blobs are the caller's to delete.
        for (const table of tenantTables) {
          if (table === "acb_tenants" || table === "acb_audit" || table.startsWith("acb_blob"))
            continue;
          if (table === "acb_meetings") {
            const gone = await c.query<{ id: string }>(
              "DELETE FROM acb_meetings WHERE tenant_id = $1 RETURNING id",
              [tenantId],
            );
            for (const { id } of gone.rows) await notifyAtCommit(c, wakeKey.meeting(tenantId, id));
            continue;
          }
          await c.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId]);
        }
        for (const stream of ["contexts", "agents"]) {
          await notifyAtCommit(c, wakeKey.events(tenantId, stream));
        }
        return true;
      }),
    notifier,
    tenants: createPgTenantStore(db),
    registry: createPgRegistryStore(db, appendEvent),
    contexts: createPgContextStore(db, appendEvent),
    events: createPgEventLog(db, wakeups, appendEvent),
    auth: createPgAuthStore(db),
    blobs,
    meetings: createPgMeetingStore(db, wakeups),
    messages: createPgMessageStore(db, {
      ...(options.wakeWithWrites !== false && {
        wake: { channel: NOTIFY_CHANNEL, payload: notifyPayload },
      }),
    }),
    idempotency: createPgIdempotencyStore(db),
    topics: createPgTopicStore(db),
    conversations: createPgConversationStore(db),
    requests: createPgRequestStore(db),
    uploads: createPgUploadSessionStore(db),
    releasedBlobs: createPgReleasedBlobStore(db),
    streamSlots: createPgStreamSlotStore(db),
    apiKeys: createPgApiKeyStore(db),
    audit: createPgAuditStore(db),
    usage: createPgUsageStore(db),
    rateLimits: createPgRateLimiter(db),
    isAvailable: () => driver.isAvailable(),
    async close() {
      await notifier.close();
      await unlisten();
      await blobs.close();
      await driver.close();
    },
  };
}

/** Notifications through PostgreSQL NOTIFY: one channel, the hub's channel name in the payload. */
async function createPgNotifier(driver: SqlDriver): Promise<Notifier & { close(): Promise<void> }> {
  const channels = new Map<string, Set<(payload: string) => void>>();
  const stop = await driver.listen(NOTIFY_CHANNEL, (raw) => {
    if (raw === "") return; // the listening connection came back: nothing to tell subscribers
    const [channel, payload] = JSON.parse(raw) as [string, string];
    for (const l of [...(channels.get(channel) ?? [])]) l(payload);
  });
  return {
    async publish(channel, payload = "") {
      await driver.session(async (c) => {
        await c.query("SELECT pg_notify($1, $2)", [
          NOTIFY_CHANNEL,
          notifyPayload(channel, payload),
        ]);
      });
    },
    async subscribe(channel, listener) {
      let set = channels.get(channel);
      if (!set) {
        set = new Set();
        channels.set(channel, set);
      }
      // A wrapper, so the same function subscribed twice is two subscriptions.
      const entry = (payload: string) => listener(payload);
      set.add(entry);
      return () => {
        set.delete(entry);
        if (set.size === 0 && channels.get(channel) === set) channels.delete(channel);
      };
    },
    close: stop,
  };
}

/** The PostgreSQL channel the Notifier's publishes travel on. */
const NOTIFY_CHANNEL = "acb_notify";

/** The NOTIFY payload of a publish on the Notifier's `channel`. */
const notifyPayload = (channel: string, payload = "") => JSON.stringify([channel, payload]);

/** Creates `role` (no login) unless it exists: PGlite's database has only its superuser. */
async function createRole(driver: SqlDriver, role: string): Promise<void> {
  await driver.session(async (c) => {
    const r = await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (r.rows.length === 0) await c.exec(`CREATE ROLE "${role.replaceAll('"', '""')}" NOLOGIN`);
  });
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

/**
 * The hub's state in PGlite: durable in `dataDir` (in memory without one), one process. Its
 * transactions run as a non-superuser role, so row-level security applies as on a server.
 */
export async function createPgliteBackend(options: PgliteBackendOptions = {}) {
  return createSqlBackend(await createPgliteDriver(options), {
    ...options,
    role: options.role ?? "acb_hub",
    name: "pglite",
  });
}
