import type { MeetingEventRecord, MeetingRecord, MeetingStore } from "../types.js";
import { decodeDoc, encodeDoc } from "./doc-codec.js";
import { tenantsHolding } from "./pg-core-stores.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";
import type { SqlClient } from "./sql-driver.js";
import { notifyAtCommit, type Wakeups, wakeKey } from "./wakeups.js";

type DocRow = { doc: unknown };

async function current(c: SqlClient, tenantId: string, id: string) {
  const r = await c.query<DocRow>("SELECT doc FROM acb_meetings WHERE tenant_id = $1 AND id = $2", [
    tenantId,
    id,
  ]);
  const row = r.rows[0];
  return row && decodeDoc<MeetingRecord>(row.doc);
}

/**
 * Meetings in PostgreSQL. A turn change is one transaction: the UPDATE's version check takes the
 * meeting's row lock, so of two nodes changing the same version one waits, then finds the
 * version moved and reports a conflict; the change's events are inserted under that same lock,
 * so the sequence has no gaps and no duplicates.
 */
export function createPgMeetingStore(db: SqlDatabase, wakeups: Wakeups): MeetingStore {
  const hasEventAfter = (tenantId: string, meetingId: string, afterSeq: number) =>
    db.tx(tenantId, async (c) => {
      const r = await c.query<{ gone: boolean; later: boolean }>(
        `SELECT NOT EXISTS (SELECT 1 FROM acb_meetings WHERE tenant_id = $1 AND id = $2) AS gone,
                EXISTS (SELECT 1 FROM acb_meeting_events WHERE tenant_id = $1 AND meeting_id = $2 AND seq > $3) AS later`,
        [tenantId, meetingId, afterSeq],
      );
      const row = r.rows[0];
      return row ? row.gone || row.later : true;
    });
  return {
    tenantsHolding: tenantsHolding(db, "acb_meetings"),
    create: (m) =>
      db.tx(m.tenantId, async (c) => {
        const r = await c.query(
          `INSERT INTO acb_meetings (tenant_id, id, doc, version, created_at, state, wake_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
          [m.tenantId, m.id, encodeDoc(m), m.version, m.createdAt, m.state, m.wakeAt ?? null],
        );
        return r.rowCount === 1;
      }),
    get: (tenantId, id) => db.tx(tenantId, (c) => current(c, tenantId, id)),
    update: (next, expectedVersion, events) =>
      db.tx(next.tenantId, async (c) => {
        const r = await c.query(
          `UPDATE acb_meetings SET doc = $3, version = $4, state = $5, wake_at = $6
           WHERE tenant_id = $1 AND id = $2 AND version = $7`,
          [
            next.tenantId,
            next.id,
            encodeDoc(next),
            next.version,
            next.state,
            next.wakeAt ?? null,
            expectedVersion,
          ],
        );
        if (r.rowCount !== 1) {
          return { ok: false as const, current: await current(c, next.tenantId, next.id) };
        }
        if (events.length > 0) {
          await c.query(
            `INSERT INTO acb_meeting_events (tenant_id, meeting_id, seq, doc)
             SELECT $1, $2, e.seq, e.doc FROM jsonb_to_recordset($3::jsonb) AS e(seq bigint, doc jsonb)`,
            [next.tenantId, next.id, encodeDoc(events.map((e) => ({ seq: e.seq, doc: e })))],
          );
          await notifyAtCommit(
            c,
            wakeKey.meeting(next.tenantId, next.id),
            Math.max(...events.map((e) => e.seq)),
          );
        }
        return { ok: true as const };
      }),
    readEvents: (tenantId, meetingId, afterSeq, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<DocRow>(
          `SELECT doc FROM acb_meeting_events WHERE tenant_id = $1 AND meeting_id = $2 AND seq > $3
           ORDER BY seq LIMIT $4`,
          [tenantId, meetingId, afterSeq, limit],
        );
        return r.rows.map((row) => decodeDoc<MeetingEventRecord>(row.doc));
      }),
    waitForEvents: (tenantId, meetingId, afterSeq, signal) =>
      wakeups.waitUntil(
        wakeKey.meeting(tenantId, meetingId),
        afterSeq,
        () => hasEventAfter(tenantId, meetingId, afterSeq),
        signal,
      ),
    list: (tenantId, q, after, limit) =>
      db.tx(tenantId, async (c) => {
        const where = ["tenant_id = $1"];
        const params: unknown[] = [tenantId];
        const add = (clause: string, ...values: unknown[]) => {
          let text = clause;
          for (const v of values) {
            params.push(v);
            text = text.replace("$?", () => `$${params.length}`);
          }
          where.push(text);
        };
        if (q.state !== undefined) add("state = $?", q.state);
        for (const id of q.participantIds ?? []) {
          add("doc->'participants' @> $?::jsonb", JSON.stringify([{ agentId: id }]));
        }
        if (after) add("(created_at, id) < ($?::bigint, $?::text)", after.createdAt, after.id);
        params.push(limit);
        const r = await c.query<DocRow>(
          `SELECT doc FROM acb_meetings WHERE ${where.join(" AND ")}
           ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
          params,
        );
        return r.rows.map((row) => decodeDoc<MeetingRecord>(row.doc));
      }),
    listDue: (dueBy, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<DocRow>(
          "SELECT doc FROM acb_meetings WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2",
          [dueBy, limit],
        );
        return r.rows.map((row) => decodeDoc<MeetingRecord>(row.doc));
      }),
    delete: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query("DELETE FROM acb_meetings WHERE tenant_id = $1 AND id = $2", [
          tenantId,
          id,
        ]);
        await c.query("DELETE FROM acb_meeting_events WHERE tenant_id = $1 AND meeting_id = $2", [
          tenantId,
          id,
        ]);
        await notifyAtCommit(c, wakeKey.meeting(tenantId, id));
        return r.rowCount === 1;
      }),
  };
}
