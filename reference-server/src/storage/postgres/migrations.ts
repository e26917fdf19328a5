// The schema, as numbered migrations applied in order at start. acb_schema_migrations records
// what is applied; a database whose schema is newer than this code knows is refused, so an old
// hub never writes to tables it does not understand.

import type { SqlClient } from "./sql-driver.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every table of the hub's state: each has tenant_id, and row-level security enabled and forced. */
export const tenantTables = [
  "acb_tenants",
  "acb_agents",
  "acb_contexts",
  "acb_event_heads",
  "acb_events",
  "acb_refresh_tokens",
  "acb_revoked_families",
  "acb_meetings",
  "acb_meeting_events",
  "acb_messages",
  "acb_deliveries",
  "acb_dead_letters",
  "acb_idempotency",
  "acb_topic_subscriptions",
  "acb_conversations",
  "acb_conversation_messages",
  "acb_requests",
  "acb_api_keys",
  "acb_audit",
  "acb_usage_storage",
  "acb_usage_buckets",
  "acb_rate_counters",
  "acb_blob_objects",
  "acb_blob_chunks",
  "acb_hub_state",
  "acb_upload_sessions",
  "acb_stream_slots",
  "acb_token_not_before",
  "acb_settled",
  "acb_released_blobs",
] as const;

/** Row-level security on `tables`: a transaction sees the rows of its tenant (or all with "*"). */
const rowLevelSecurity = (tables: readonly string[]) =>
  tables
    .map(
      (t) => `
ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON ${t}
  USING (tenant_id = current_setting('acb.tenant_id', true) OR current_setting('acb.tenant_id', true) = '*')
  WITH CHECK (tenant_id = current_setting('acb.tenant_id', true) OR current_setting('acb.tenant_id', true) = '*');`,
    )
    .join("\n");

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
CREATE TABLE acb_tenants (tenant_id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);

CREATE TABLE acb_agents (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  PRIMARY KEY (tenant_id, id));

CREATE TABLE acb_contexts (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  revision bigint NOT NULL, expires_at bigint,
  PRIMARY KEY (tenant_id, id));
CREATE INDEX acb_contexts_expiry ON acb_contexts (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE acb_event_heads (
  tenant_id text COLLATE "C" NOT NULL, stream text COLLATE "C" NOT NULL, head bigint NOT NULL,
  PRIMARY KEY (tenant_id, stream));
-- data: the change event as protobuf bytes (encoded by the domain).
CREATE TABLE acb_events (
  tenant_id text COLLATE "C" NOT NULL, stream text COLLATE "C" NOT NULL, seq bigint NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (tenant_id, stream, seq));

CREATE TABLE acb_refresh_tokens (
  tenant_id text COLLATE "C" NOT NULL, hash text COLLATE "C" PRIMARY KEY, family_id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  used_at bigint);
CREATE INDEX acb_refresh_tokens_tenant ON acb_refresh_tokens (tenant_id);
CREATE TABLE acb_revoked_families (tenant_id text COLLATE "C" NOT NULL, family_id text COLLATE "C" PRIMARY KEY);

CREATE TABLE acb_meetings (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL, version bigint NOT NULL,
  created_at bigint NOT NULL, state integer NOT NULL, wake_at bigint,
  PRIMARY KEY (tenant_id, id));
CREATE INDEX acb_meetings_listing ON acb_meetings (tenant_id, created_at DESC, id DESC);
CREATE INDEX acb_meetings_due ON acb_meetings (wake_at) WHERE wake_at IS NOT NULL;
CREATE TABLE acb_meeting_events (
  tenant_id text COLLATE "C" NOT NULL, meeting_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, doc jsonb NOT NULL,
  PRIMARY KEY (tenant_id, meeting_id, seq));

-- One copy of each message; acb_deliveries holds one row per recipient with its lease.
CREATE TABLE acb_messages (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  PRIMARY KEY (tenant_id, id));
-- state 0: waiting (available_at says from when), 1: in flight until deadline.
CREATE TABLE acb_deliveries (
  seq bigserial PRIMARY KEY,
  tenant_id text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL, message_id text COLLATE "C" NOT NULL,
  state smallint NOT NULL DEFAULT 0, attempts integer NOT NULL DEFAULT 0,
  available_at bigint NOT NULL DEFAULT 0, delivery_id text COLLATE "C", deadline bigint NOT NULL DEFAULT 0,
  expires_at bigint NOT NULL, last_error text COLLATE "C" NOT NULL DEFAULT '');
CREATE INDEX acb_deliveries_queue ON acb_deliveries (tenant_id, agent_id, state, seq);
CREATE UNIQUE INDEX acb_deliveries_id ON acb_deliveries (tenant_id, agent_id, delivery_id);
CREATE INDEX acb_deliveries_message ON acb_deliveries (tenant_id, message_id);
CREATE TABLE acb_dead_letters (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  PRIMARY KEY (tenant_id, id));

CREATE TABLE acb_idempotency (
  tenant_id text COLLATE "C" NOT NULL, sender_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
  message_id text COLLATE "C" NOT NULL, expires_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, sender_id, key));
CREATE INDEX acb_idempotency_expiry ON acb_idempotency (expires_at);

CREATE TABLE acb_topic_subscriptions (
  tenant_id text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL, pattern text COLLATE "C" NOT NULL, created_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, pattern));

CREATE TABLE acb_conversations (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL, version bigint NOT NULL,
  state integer NOT NULL, timeout_at bigint,
  PRIMARY KEY (tenant_id, id));
CREATE INDEX acb_conversations_due ON acb_conversations (timeout_at) WHERE timeout_at IS NOT NULL;
CREATE TABLE acb_conversation_messages (
  tenant_id text COLLATE "C" NOT NULL, conversation_id text COLLATE "C" NOT NULL, idx integer NOT NULL,
  message_id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id, idx));

-- Request calls waiting for their reply (any node may accept the reply).
CREATE TABLE acb_requests (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  forget_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, id));
CREATE INDEX acb_requests_forget ON acb_requests (forget_at);

CREATE TABLE acb_api_keys (tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" PRIMARY KEY, doc jsonb NOT NULL);
CREATE INDEX acb_api_keys_tenant ON acb_api_keys (tenant_id, id);

CREATE TABLE acb_audit (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" PRIMARY KEY, time bigint NOT NULL, action text COLLATE "C" NOT NULL,
  actor text COLLATE "C" NOT NULL, outcome text COLLATE "C" NOT NULL, doc jsonb NOT NULL);
CREATE INDEX acb_audit_time ON acb_audit (time);

CREATE TABLE acb_usage_storage (tenant_id text COLLATE "C" PRIMARY KEY, storage_bytes bigint NOT NULL);
CREATE TABLE acb_usage_buckets (
  tenant_id text COLLATE "C" NOT NULL, start bigint NOT NULL, messages bigint NOT NULL, bytes bigint NOT NULL,
  storage_bytes bigint NOT NULL,
  PRIMARY KEY (tenant_id, start));

CREATE TABLE acb_rate_counters (
  tenant_id text COLLATE "C" NOT NULL, key text COLLATE "C" PRIMARY KEY, window_start bigint NOT NULL,
  window_end bigint NOT NULL, used bigint NOT NULL);

-- Large values: an object is staged (appended in order), then published under the same key.
CREATE TABLE acb_blob_objects (
  tenant_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, published boolean NOT NULL, size bigint NOT NULL,
  PRIMARY KEY (key, published));
CREATE TABLE acb_blob_chunks (
  tenant_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, published boolean NOT NULL, "offset" bigint NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (key, published, "offset"));

-- Hub-wide values every node shares (the epoch); tenant_id '' as they belong to no tenant.
CREATE TABLE acb_hub_state (
  tenant_id text COLLATE "C" NOT NULL DEFAULT '', name text COLLATE "C" PRIMARY KEY, value text COLLATE "C" NOT NULL);

${rowLevelSecurity(tenantTables.slice(0, tenantTables.indexOf("acb_hub_state") + 1))}
`,
  },
  {
    version: 2,
    name: "upload sessions and stream slots",
    sql: `
-- state 1 OPEN; mode 1 CREATE. An OPEN CREATE session reserves its context id.
CREATE TABLE acb_upload_sessions (
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, doc jsonb NOT NULL,
  version bigint NOT NULL, context_id text COLLATE "C" NOT NULL, mode integer NOT NULL,
  state integer NOT NULL, wake_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, id));
CREATE UNIQUE INDEX acb_upload_sessions_reserved ON acb_upload_sessions (tenant_id, context_id)
  WHERE state = 1 AND mode = 1;
CREATE INDEX acb_upload_sessions_due ON acb_upload_sessions (wake_at);

-- Large-context streams each agent holds, as leases.
CREATE TABLE acb_stream_slots (
  tenant_id text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL,
  holder_id text COLLATE "C" NOT NULL, expires_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, holder_id));

${rowLevelSecurity(["acb_upload_sessions", "acb_stream_slots"])}
`,
  },
  {
    version: 3,
    name: "token revocation, aggregated audit records, lookups by id across tenants",
    sql: `
-- RevokeAccessTokens: tokens of (tenant, subject) issued before 'at' are refused; subject ''
-- stands for every subject of the tenant.
CREATE TABLE acb_token_not_before (
  tenant_id text COLLATE "C" NOT NULL, subject text COLLATE "C" NOT NULL, at bigint NOT NULL,
  PRIMARY KEY (tenant_id, subject));

-- appendAggregate: the record that counts repeats of one key (the key names its time window).
ALTER TABLE acb_audit ADD COLUMN agg_key text COLLATE "C";
CREATE UNIQUE INDEX acb_audit_aggregates ON acb_audit (tenant_id, agg_key) WHERE agg_key IS NOT NULL;

-- tenantsHolding: which tenants hold an object with a given id (probe reports to the victim).
CREATE INDEX acb_agents_by_id ON acb_agents (id);
CREATE INDEX acb_contexts_by_id ON acb_contexts (id);
CREATE INDEX acb_meetings_by_id ON acb_meetings (id);

-- Delivery ids that left the in-flight set, with how (1 acked, 2 nacked, 3 reaped past their
-- deadline) and until when they are remembered, so a retried Ack or Nack gets the same answer.
CREATE TABLE acb_settled (
  tenant_id text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL,
  delivery_id text COLLATE "C" NOT NULL, how smallint NOT NULL, until bigint NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, delivery_id));
CREATE INDEX acb_settled_until ON acb_settled (tenant_id, agent_id, until);

${rowLevelSecurity(["acb_token_not_before", "acb_settled"])}
`,
  },
  {
    version: 4,
    name: "usage buckets in shards, agents' presence deadlines",
    sql: `
-- AgentRecord.offlineAt as a column, so any node's presence sweep finds what is due.
ALTER TABLE acb_agents ADD COLUMN offline_at bigint;
CREATE INDEX acb_agents_offline_at ON acb_agents (offline_at) WHERE offline_at IS NOT NULL;

-- Sends of one tenant count into one of several rows of the hour (shard 1 and up, picked at
-- random), so concurrent sends do not queue on one row lock; storage changes go to shard 0. A
-- reading sums the shards; its storage total is that of the hour's latest write ('at').
ALTER TABLE acb_usage_buckets ADD COLUMN shard smallint NOT NULL DEFAULT 0,
  ADD COLUMN at bigint NOT NULL DEFAULT 0;
ALTER TABLE acb_usage_buckets DROP CONSTRAINT acb_usage_buckets_pkey,
  ADD PRIMARY KEY (tenant_id, start, shard);
`,
  },
  {
    version: 5,
    name: "released blobs with a delete-not-before time",
    sql: `
-- Blobs of replaced, deleted or expired context values, deleted by any node's sweep once
-- delete_at passed (a grace period for downloads still reading them on any node).
CREATE TABLE acb_released_blobs (
  tenant_id text COLLATE "C" NOT NULL, backend text COLLATE "C" NOT NULL,
  bucket text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, size bigint NOT NULL,
  delete_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, backend, bucket, key));
CREATE INDEX acb_released_blobs_due ON acb_released_blobs (delete_at);

${rowLevelSecurity(["acb_released_blobs"])}
`,
  },
];

/** The newest schema version this code knows. */
export const latestVersion = Math.max(...migrations.map((m) => m.version));

/**
 * Applies the migrations the database lacks, each in its own transaction, under an advisory lock
 * so hub nodes starting together apply each one once. Refuses a database whose schema is newer.
 */
export async function migrate(
  session: <T>(fn: (c: SqlClient) => Promise<T>) => Promise<T>,
  known: readonly Migration[] = migrations,
): Promise<{ from: number; to: number }> {
  return session(async (c) => {
    // 0x616362 = "acb": one lock id for the hub's migrations.
    await c.query("SELECT pg_advisory_lock(6382434)");
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS acb_schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await c.query<{ v: number | null }>(
        "SELECT max(version) AS v FROM acb_schema_migrations",
      );
      const from = rows[0]?.v ?? 0;
      const newest = Math.max(0, ...known.map((m) => m.version));
      if (from > newest) {
        throw new Error(
          `the database schema is at version ${from}, newer than this hub knows (${newest}): refusing to start; run a newer hub`,
        );
      }
      for (const m of [...known].sort((a, b) => a.version - b.version)) {
        if (m.version <= from) continue;
        await c.query("BEGIN");
        try {
          await c.exec(m.sql);
          await c.query("INSERT INTO acb_schema_migrations (version, name) VALUES ($1, $2)", [
            m.version,
            m.name,
          ]);
          await c.query("COMMIT");
        } catch (err) {
          await c.query("ROLLBACK");
          throw err;
        }
      }
      return { from, to: Math.max(from, newest) };
    } finally {
      await c.query("SELECT pg_advisory_unlock(6382434)");
    }
  });
}
