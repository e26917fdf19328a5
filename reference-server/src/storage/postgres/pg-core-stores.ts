import type {
  AgentQuery,
  AgentRecord,
  AuthStore,
  ContextRecord,
  ContextStore,
  EventLog,
  EventStreamName,
  RefreshTokenRecord,
  RegistryStore,
  StoredEvent,
  TenantRecord,
  TenantStore,
} from "../types.js";
import { decodeDoc, encodeDoc, num } from "./doc-codec.js";
import { dropUnreferenced } from "./pg-messages.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";
import type { SqlClient } from "./sql-driver.js";
import { notifyAtCommit, type Wakeups, wakeKey } from "./wakeups.js";

type DocRow = { doc: unknown };
const docs = <T>(rows: DocRow[]) => rows.map((r) => decodeDoc<T>(r.doc));

/** Up to `limit` tenants (sorted, distinct) with a row of `table` whose id is `id`. */
export const tenantsHolding =
  (db: SqlDatabase, table: "acb_agents" | "acb_contexts" | "acb_meetings") =>
  (id: string, limit: number): Promise<string[]> =>
    db.tx(ALL_TENANTS, async (c) => {
      const r = await c.query<{ tenant_id: string }>(
        `SELECT DISTINCT tenant_id FROM ${table} WHERE id = $1 ORDER BY tenant_id LIMIT $2`,
        [id, limit],
      );
      return r.rows.map((row) => row.tenant_id);
    });

/** `LIKE` pattern matching values that start with `prefix`. */
export const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;

export function createPgTenantStore(db: SqlDatabase): TenantStore {
  return {
    create: (t) =>
      db.tx(t.id, async (c) => {
        const r = await c.query(
          "INSERT INTO acb_tenants (tenant_id, doc) VALUES ($1, $2) ON CONFLICT DO NOTHING",
          [t.id, encodeDoc(t)],
        );
        return r.rowCount === 1;
      }),
    get: async (id) => {
      const r = await db.one<DocRow>(id, "SELECT doc FROM acb_tenants WHERE tenant_id = $1", [id]);
      return docs<TenantRecord>(r.rows)[0];
    },
    list: (afterId, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<DocRow>(
          "SELECT doc FROM acb_tenants WHERE tenant_id > $1 ORDER BY tenant_id LIMIT $2",
          [afterId, limit],
        );
        return docs<TenantRecord>(r.rows);
      }),
    update: (t) =>
      db.tx(t.id, async (c) => {
        const r = await c.query("UPDATE acb_tenants SET doc = $2 WHERE tenant_id = $1", [
          t.id,
          encodeDoc(t),
        ]);
        return r.rowCount === 1;
      }),
  };
}

/** A registry query with what only the SQL store offers (for a presence layer in front of it). */
export interface SqlAgentQuery extends AgentQuery {
  /**
   * With `seenSince`: also match agents whose offlineAt is set (not announced offline yet), whatever
   * their stored lastSeen. A presence layer that holds a later lastSeen elsewhere (Redis) reads
   * these candidates and decides on the precise value.
   */
  orOfflinePending?: boolean;
}

/** The SQL registry: a RegistryStore, plus what a presence layer in front of it needs. */
export interface SqlRegistryStore extends RegistryStore {
  list(
    tenantId: string,
    query: SqlAgentQuery,
    afterId: string,
    limit: number,
  ): Promise<AgentRecord[]>;
  /**
   * Moves the stored moment the agent goes offline up to `offlineAt` when one is stored and it is
   * earlier, and its lastSeen up to `lastSeen` (never down); no event (the agent is still
   * online). False when nothing moved.
   */
  postponeOffline(
    tenantId: string,
    agentId: string,
    lastSeen: number,
    offlineAt: number,
  ): Promise<boolean>;
}

export function createPgRegistryStore(db: SqlDatabase, appendEvent: AppendEvent): SqlRegistryStore {
  return {
    tenantsHolding: tenantsHolding(db, "acb_agents"),
    put: (a, event) =>
      db.tx(a.tenantId, async (c) => {
        await c.query(
          `INSERT INTO acb_agents (tenant_id, id, doc, offline_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, id) DO UPDATE SET doc = EXCLUDED.doc, offline_at = EXCLUDED.offline_at`,
          [a.tenantId, a.id, encodeDoc(a), a.offlineAt ?? null],
        );
        await appendEvent(c, a.tenantId, "agents", event);
      }),
    get: async (tenantId, agentId) => {
      const r = await db.one<DocRow>(
        tenantId,
        "SELECT doc FROM acb_agents WHERE tenant_id = $1 AND id = $2",
        [tenantId, agentId],
      );
      return docs<AgentRecord>(r.rows)[0];
    },
    touch: (tenantId, agentId, at, event, offlineAfterMs) =>
      db.tx(tenantId, async (c) => {
        // The row lock makes the before/after seen by `event` exact under concurrent touches.
        const r = await c.query<DocRow>(
          "SELECT doc FROM acb_agents WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [tenantId, agentId],
        );
        const before = docs<AgentRecord>(r.rows)[0];
        if (!before) return undefined;
        const lastSeen = Math.max(before.lastSeen, at);
        const after: AgentRecord = {
          ...before,
          lastSeen,
          ...(offlineAfterMs !== undefined && { offlineAt: lastSeen + offlineAfterMs }),
        };
        if (after.lastSeen !== before.lastSeen || after.offlineAt !== before.offlineAt) {
          await c.query(
            "UPDATE acb_agents SET doc = $3, offline_at = $4 WHERE tenant_id = $1 AND id = $2",
            [tenantId, agentId, encodeDoc(after), after.offlineAt ?? null],
          );
        }
        const data = event?.(before, after);
        if (data) await appendEvent(c, tenantId, "agents", data);
        return after;
      }),
    listOfflineDue: (dueBy, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<DocRow>(
          `SELECT doc FROM acb_agents WHERE offline_at <= $1
           ORDER BY offline_at, tenant_id, id LIMIT $2`,
          [dueBy, limit],
        );
        return docs<AgentRecord>(r.rows);
      }),
    markOffline: (tenantId, agentId, offlineAt, event) =>
      db.tx(tenantId, async (c) => {
        // The check and the change are one statement: of two nodes, one announces.
        const r = await c.query(
          `UPDATE acb_agents SET offline_at = NULL, doc = doc - 'offlineAt'
           WHERE tenant_id = $1 AND id = $2 AND offline_at = $3`,
          [tenantId, agentId, offlineAt],
        );
        if (r.rowCount !== 1) return false;
        await appendEvent(c, tenantId, "agents", event);
        return true;
      }),
    postponeOffline: async (tenantId, agentId, lastSeen, offlineAt) => {
      // One statement, conditional on the stored moment: it never revives an announced agent.
      const r = await db.one(
        tenantId,
        `UPDATE acb_agents SET offline_at = $4,
           doc = jsonb_set(jsonb_set(doc, '{lastSeen}',
             to_jsonb(GREATEST((doc->>'lastSeen')::numeric, $3::numeric))),
             '{offlineAt}', to_jsonb($4::bigint))
         WHERE tenant_id = $1 AND id = $2 AND offline_at < $4`,
        [tenantId, agentId, lastSeen, offlineAt],
      );
      return r.rowCount === 1;
    },
    delete: (tenantId, agentId, event) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<DocRow>(
          "DELETE FROM acb_agents WHERE tenant_id = $1 AND id = $2 RETURNING doc",
          [tenantId, agentId],
        );
        const removed = docs<AgentRecord>(r.rows)[0];
        if (!removed) return undefined;
        // What only the agent owned goes in the same transaction.
        const gone = await c.query<{ message_id: string }>(
          "DELETE FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 RETURNING message_id",
          [tenantId, agentId],
        );
        await c.query("DELETE FROM acb_dead_letters WHERE tenant_id = $1 AND agent_id = $2", [
          tenantId,
          agentId,
        ]);
        await c.query(
          "DELETE FROM acb_topic_subscriptions WHERE tenant_id = $1 AND agent_id = $2",
          [tenantId, agentId],
        );
        await c.query("DELETE FROM acb_settled WHERE tenant_id = $1 AND agent_id = $2", [
          tenantId,
          agentId,
        ]);
        await dropUnreferenced(
          c,
          tenantId,
          gone.rows.map((row) => row.message_id),
        );
        const data = event(removed);
        if (data) await appendEvent(c, tenantId, "agents", data);
        return removed;
      }),
    list: (tenantId, q, afterId, limit) =>
      db.tx(tenantId, async (c) => {
        const where = ["tenant_id = $1", "id > $2"];
        const params: unknown[] = [tenantId, afterId];
        const add = (clause: string, value: unknown) => {
          params.push(value);
          where.push(clause.replaceAll("$?", () => `$${params.length}`));
        };
        if (q.type) add("doc->>'type' = $?", q.type);
        if (q.location) {
          if (q.location.endsWith("/")) add("doc->>'location' LIKE $?", likePrefix(q.location));
          else add("doc->>'location' = $?", q.location);
        }
        if (q.capabilities?.length)
          add("doc->'capabilities' @> $?::jsonb", encodeDoc(q.capabilities));
        if (q.metadata && Object.keys(q.metadata).length > 0)
          add("doc->'metadata' @> $?::jsonb", encodeDoc(q.metadata));
        if (q.seenSince !== undefined)
          add(
            q.orOfflinePending
              ? "((doc->>'lastSeen')::float8 >= $? OR offline_at IS NOT NULL)"
              : "(doc->>'lastSeen')::float8 >= $?",
            q.seenSince,
          );
        if (q.seenBefore !== undefined) add("(doc->>'lastSeen')::float8 < $?", q.seenBefore);
        params.push(limit);
        const r = await c.query<DocRow>(
          `SELECT doc FROM acb_agents WHERE ${where.join(" AND ")} ORDER BY id LIMIT $${params.length}`,
          params,
        );
        return docs<AgentRecord>(r.rows);
      }),
    count: (tenantId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ n: unknown }>(
          "SELECT count(*) AS n FROM acb_agents WHERE tenant_id = $1",
          [tenantId],
        );
        return num(r.rows[0]?.n ?? 0);
      }),
  };
}

async function currentContext(c: SqlClient, tenantId: string, id: string) {
  const r = await c.query<DocRow>("SELECT doc FROM acb_contexts WHERE tenant_id = $1 AND id = $2", [
    tenantId,
    id,
  ]);
  return docs<ContextRecord>(r.rows)[0];
}

export function createPgContextStore(db: SqlDatabase, appendEvent: AppendEvent): ContextStore {
  return {
    tenantsHolding: tenantsHolding(db, "acb_contexts"),
    create: (ctx, event) =>
      db.tx(ctx.tenantId, async (c) => {
        const r = await c.query(
          `INSERT INTO acb_contexts (tenant_id, id, doc, revision, expires_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [ctx.tenantId, ctx.id, encodeDoc(ctx), ctx.revision, ctx.expiresAt ?? null],
        );
        if (r.rowCount !== 1) return false;
        await appendEvent(c, ctx.tenantId, "contexts", event);
        return true;
      }),
    get: (tenantId, id) => db.tx(tenantId, (c) => currentContext(c, tenantId, id)),
    replace: (next, expectedRevision, event) =>
      db.tx(next.tenantId, async (c) => {
        const r = await c.query(
          `UPDATE acb_contexts SET doc = $3, revision = $4, expires_at = $5
           WHERE tenant_id = $1 AND id = $2 AND revision = $6`,
          [
            next.tenantId,
            next.id,
            encodeDoc(next),
            next.revision,
            next.expiresAt ?? null,
            expectedRevision,
          ],
        );
        if (r.rowCount !== 1) {
          return { ok: false as const, current: await currentContext(c, next.tenantId, next.id) };
        }
        await appendEvent(c, next.tenantId, "contexts", event);
        return { ok: true as const };
      }),
    delete: (tenantId, id, expectedRevision, event) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query(
          "DELETE FROM acb_contexts WHERE tenant_id = $1 AND id = $2 AND revision = $3",
          [tenantId, id, expectedRevision],
        );
        if (r.rowCount !== 1) {
          return { ok: false as const, current: await currentContext(c, tenantId, id) };
        }
        await appendEvent(c, tenantId, "contexts", event);
        return { ok: true as const };
      }),
    list: (tenantId, q, afterId, limit) =>
      db.tx(tenantId, async (c) => {
        const where = ["tenant_id = $1", "id > $2"];
        const params: unknown[] = [tenantId, afterId];
        const add = (clause: string, value: unknown) => {
          params.push(value);
          where.push(clause.replaceAll("$?", () => `$${params.length}`));
        };
        if (q.type) add("doc->>'type' = $?", q.type);
        if (q.ownerId) add("doc->>'ownerId' = $?", q.ownerId);
        if (q.metadata && Object.keys(q.metadata).length > 0)
          add("doc->'metadata' @> $?::jsonb", encodeDoc(q.metadata));
        params.push(limit);
        const r = await c.query<DocRow>(
          `SELECT doc FROM acb_contexts WHERE ${where.join(" AND ")} ORDER BY id LIMIT $${params.length}`,
          params,
        );
        return docs<ContextRecord>(r.rows);
      }),
    listExpired: (now, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<DocRow>(
          "SELECT doc FROM acb_contexts WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
          [now, limit],
        );
        return docs<ContextRecord>(r.rows);
      }),
    nextExpiry: () =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ t: unknown }>("SELECT min(expires_at) AS t FROM acb_contexts");
        const t = r.rows[0]?.t;
        return t === null || t === undefined ? undefined : num(t);
      }),
  };
}

/** Options of the PostgreSQL event log. */
export interface PgEventLogOptions {
  /** Events kept per tenant and stream; older ones are deleted. Default 10,000. */
  retainEvents?: number;
}

/** Appends a change event within the caller's transaction `c`; returns its seq. */
export type AppendEvent = (
  c: SqlClient,
  tenantId: string,
  stream: EventStreamName,
  data: Uint8Array,
) => Promise<number>;

/**
 * Appends change events within the caller's transaction, so a write and its event commit
 * together. The head row serialises appends of one stream (its row lock): seqs have no gaps.
 */
export function eventAppender(options: PgEventLogOptions = {}): AppendEvent {
  const retainEvents = options.retainEvents ?? 10_000;
  return async (c, tenantId, stream, data) => {
    const r = await c.query<{ head: unknown }>(
      `INSERT INTO acb_event_heads (tenant_id, stream, head) VALUES ($1, $2, 1)
     ON CONFLICT (tenant_id, stream) DO UPDATE SET head = acb_event_heads.head + 1
     RETURNING head`,
      [tenantId, stream],
    );
    const seq = num(r.rows[0]?.head);
    await c.query("INSERT INTO acb_events (tenant_id, stream, seq, data) VALUES ($1, $2, $3, $4)", [
      tenantId,
      stream,
      seq,
      data,
    ]);
    // Trim in batches (every 1/4 of the retention) so trimming stays cheap per append.
    if (seq > retainEvents && seq % Math.max(1, Math.floor(retainEvents / 4)) === 0) {
      await c.query("DELETE FROM acb_events WHERE tenant_id = $1 AND stream = $2 AND seq <= $3", [
        tenantId,
        stream,
        seq - retainEvents,
      ]);
    }
    await notifyAtCommit(c, wakeKey.events(tenantId, stream), seq);
    return seq;
  };
}

export function createPgEventLog(
  db: SqlDatabase,
  wakeups: Wakeups,
  appendEvent: AppendEvent,
): EventLog {
  const bounds = async (c: SqlClient, tenantId: string, stream: string) => {
    const r = await c.query<{ head: unknown; oldest: unknown }>(
      `SELECT h.head, (SELECT min(seq) FROM acb_events e WHERE e.tenant_id = $1 AND e.stream = $2) AS oldest
       FROM acb_event_heads h WHERE h.tenant_id = $1 AND h.stream = $2`,
      [tenantId, stream],
    );
    const row = r.rows[0];
    const head = row ? num(row.head) : 0;
    const oldest = row?.oldest === null || row?.oldest === undefined ? head + 1 : num(row.oldest);
    return { head, oldest };
  };
  return {
    append: (tenantId, stream, data) =>
      db.tx(tenantId, (c) => appendEvent(c, tenantId, stream, data)),
    read: (tenantId, stream, afterSeq, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ seq: unknown; data: Uint8Array }>(
          `SELECT seq, data FROM acb_events WHERE tenant_id = $1 AND stream = $2 AND seq > $3
           ORDER BY seq LIMIT $4`,
          [tenantId, stream, afterSeq, limit],
        );
        return r.rows.map(
          (row): StoredEvent => ({ seq: num(row.seq), data: new Uint8Array(row.data) }),
        );
      }),
    bounds: (tenantId, stream) => db.tx(tenantId, (c) => bounds(c, tenantId, stream)),
    waitFor: (tenantId, stream, afterSeq, signal) =>
      wakeups.waitUntil(
        wakeKey.events(tenantId, stream),
        afterSeq,
        async () => (await db.tx(tenantId, (c) => bounds(c, tenantId, stream))).head > afterSeq,
        signal,
      ),
  };
}

export function createPgAuthStore(db: SqlDatabase): AuthStore {
  return {
    putRefreshToken: (t) =>
      db.tx(t.tenantId, async (c) => {
        await c.query(
          `INSERT INTO acb_refresh_tokens (tenant_id, hash, family_id, doc, used_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (hash) DO UPDATE SET doc = EXCLUDED.doc, used_at = EXCLUDED.used_at,
             family_id = EXCLUDED.family_id, tenant_id = EXCLUDED.tenant_id`,
          [t.tenantId, t.hash, t.familyId, encodeDoc(t), t.usedAt ?? null],
        );
      }),
    getRefreshToken: (hash) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ doc: unknown; used_at: unknown }>(
          "SELECT doc, used_at FROM acb_refresh_tokens WHERE hash = $1",
          [hash],
        );
        const row = r.rows[0];
        if (!row) return undefined;
        const t = decodeDoc<RefreshTokenRecord>(row.doc);
        if (row.used_at !== null && row.used_at !== undefined) t.usedAt = num(row.used_at);
        return t;
      }),
    markRefreshTokenUsed: (hash, at) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query(
          "UPDATE acb_refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
          [hash, at],
        );
        return r.rowCount === 1;
      }),
    revokeFamily: (familyId) =>
      db.tx(ALL_TENANTS, async (c) => {
        // The family's tenant, so deleting the tenant removes the revocation too.
        await c.query(
          `INSERT INTO acb_revoked_families (tenant_id, family_id)
           VALUES (coalesce((SELECT tenant_id FROM acb_refresh_tokens WHERE family_id = $1 LIMIT 1), ''), $1)
           ON CONFLICT DO NOTHING`,
          [familyId],
        );
      }),
    isFamilyRevoked: (familyId) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query("SELECT 1 FROM acb_revoked_families WHERE family_id = $1", [
          familyId,
        ]);
        return r.rows.length > 0;
      }),
    setNotBefore: (tenantId, subject, at) =>
      db.tx(tenantId, async (c) => {
        // A later time replaces an earlier one, never the reverse.
        await c.query(
          `INSERT INTO acb_token_not_before (tenant_id, subject, at) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, subject) DO UPDATE
             SET at = greatest(acb_token_not_before.at, EXCLUDED.at)`,
          [tenantId, subject, at],
        );
      }),
    notBefore: async (tenantId, subject) => {
      const r = await db.one<{ at: unknown }>(
        tenantId,
        `SELECT coalesce(max(at), 0) AS at FROM acb_token_not_before
         WHERE tenant_id = $1 AND subject IN ('', $2)`,
        [tenantId, subject],
      );
      return num(r.rows[0]?.at ?? 0);
    },
  };
}
