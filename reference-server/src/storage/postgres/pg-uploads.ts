import type { StreamSlotStore, UploadSessionRecord, UploadSessionStore } from "../types.js";
import { decodeDoc, encodeDoc, num } from "./doc-codec.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";

/**
 * Upload sessions in PostgreSQL. The reservation of a CREATE session's context id is a partial
 * unique index (OPEN CREATE sessions only), so two nodes can never both reserve one id, and a
 * session that leaves OPEN frees it in the same UPDATE.
 */
export function createPgUploadSessionStore(db: SqlDatabase): UploadSessionStore {
  const row = (s: UploadSessionRecord) => [
    s.tenantId,
    s.id,
    encodeDoc(s),
    s.version,
    s.contextId,
    s.mode,
    s.state,
    s.wakeAt,
  ];
  return {
    create: (s) =>
      db.tx(s.tenantId, async (c) => {
        // No conflict target: a taken id and a reserved context id both store nothing.
        const r = await c.query(
          `INSERT INTO acb_upload_sessions (tenant_id, id, doc, version, context_id, mode, state, wake_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
          row(s),
        );
        return r.rowCount === 1;
      }),
    get: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_upload_sessions WHERE tenant_id = $1 AND id = $2",
          [tenantId, id],
        );
        const found = r.rows[0];
        return found && decodeDoc<UploadSessionRecord>(found.doc);
      }),
    replace: (next, expectedVersion) =>
      db.tx(next.tenantId, async (c) => {
        const r = await c.query(
          `UPDATE acb_upload_sessions SET doc = $3, version = $4, context_id = $5, mode = $6,
             state = $7, wake_at = $8
           WHERE tenant_id = $1 AND id = $2 AND version = $9`,
          [...row(next), expectedVersion],
        );
        return r.rowCount === 1;
      }),
    reservedBy: (tenantId, contextId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ id: string }>(
          `SELECT id FROM acb_upload_sessions WHERE tenant_id = $1 AND context_id = $2
           AND state = 1 AND mode = 1`,
          [tenantId, contextId],
        );
        return r.rows[0]?.id;
      }),
    stagedBytes: (tenantId) =>
      db.tx(ALL_TENANTS, async (c) => {
        // state 1 = OPEN: what open sessions have verified and staged.
        const r = await c.query<{ tenant: unknown; all: unknown }>(
          `SELECT coalesce(sum((doc->>'verifiedOffset')::bigint) FILTER (WHERE tenant_id = $1), 0) AS tenant,
                  coalesce(sum((doc->>'verifiedOffset')::bigint), 0) AS "all"
           FROM acb_upload_sessions WHERE state = 1`,
          [tenantId],
        );
        return { tenant: num(r.rows[0]?.tenant ?? 0), all: num(r.rows[0]?.all ?? 0) };
      }),
    listDue: (dueBy, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_upload_sessions WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2",
          [dueBy, limit],
        );
        return r.rows.map((found) => decodeDoc<UploadSessionRecord>(found.doc));
      }),
    delete: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        await c.query("DELETE FROM acb_upload_sessions WHERE tenant_id = $1 AND id = $2", [
          tenantId,
          id,
        ]);
      }),
  };
}

/**
 * Stream slots as leases in PostgreSQL. An acquire holds a transaction-scoped advisory lock on
 * the agent, so the count it checks cannot change before its insert commits (a row lock could
 * not guard rows that do not exist yet).
 */
export function createPgStreamSlotStore(db: SqlDatabase): StreamSlotStore {
  return {
    acquire: (tenantId, agentId, holderId, limit, expiresAt, now) =>
      db.tx(tenantId, async (c) => {
        await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
          `slots\u001f${tenantId}\u001f${agentId}`,
        ]);
        await c.query(
          "DELETE FROM acb_stream_slots WHERE tenant_id = $1 AND agent_id = $2 AND expires_at <= $3",
          [tenantId, agentId, now],
        );
        const r = await c.query<{ n: unknown; mine: boolean }>(
          `SELECT count(*) AS n, bool_or(holder_id = $3) AS mine FROM acb_stream_slots
           WHERE tenant_id = $1 AND agent_id = $2`,
          [tenantId, agentId, holderId],
        );
        const held = num(r.rows[0]?.n ?? 0);
        if (!r.rows[0]?.mine && held >= limit) return { ok: false as const, held };
        await c.query(
          `INSERT INTO acb_stream_slots (tenant_id, agent_id, holder_id, expires_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, agent_id, holder_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
          [tenantId, agentId, holderId, expiresAt],
        );
        return { ok: true as const };
      }),
    renew: (tenantId, agentId, holderId, expiresAt) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          `UPDATE acb_stream_slots SET expires_at = $4
           WHERE tenant_id = $1 AND agent_id = $2 AND holder_id = $3`,
          [tenantId, agentId, holderId, expiresAt],
        );
      }),
    release: (tenantId, agentId, holderId) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          "DELETE FROM acb_stream_slots WHERE tenant_id = $1 AND agent_id = $2 AND holder_id = $3",
          [tenantId, agentId, holderId],
        );
      }),
  };
}
