import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import type { PendingRequestRecord, RequestStore } from "../messaging-types.js";
import { decodeDoc, encodeDoc } from "./doc-codec.js";
import type { SqlDatabase } from "./sql-database.js";

/**
 * Pending Request calls in PostgreSQL: a reply accepted by any node is stored under the request's
 * row lock (so exactly one reply is accepted), and the node holding the call reads it back.
 */
export function createPgRequestStore(db: SqlDatabase): RequestStore {
  return {
    open: (request) =>
      db.tx(request.tenantId, async (c) => {
        const record: PendingRequestRecord = { ...request, ended: false };
        await c.query(
          `INSERT INTO acb_requests (tenant_id, id, doc, forget_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, id) DO UPDATE SET doc = EXCLUDED.doc, forget_at = EXCLUDED.forget_at`,
          [request.tenantId, request.id, encodeDoc(record), request.forgetAt],
        );
      }),
    get: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_requests WHERE tenant_id = $1 AND id = $2",
          [tenantId, id],
        );
        const row = r.rows[0];
        return row && decodeDoc<PendingRequestRecord>(row.doc);
      }),
    answer: (reply, now) =>
      db.tx(reply.tenantId, async (c) => {
        // Records past forgetAt are dropped now and then (about one reply in fifty).
        if (Math.random() < 0.02) {
          await c.query("DELETE FROM acb_requests WHERE tenant_id = $1 AND forget_at <= $2", [
            reply.tenantId,
            now,
          ]);
        }
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_requests WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [reply.tenantId, reply.correlationId],
        );
        const row = r.rows[0];
        const request = row && decodeDoc<PendingRequestRecord>(row.doc);
        if (!request || request.forgetAt <= now || reply.type !== MessageType.RESPONSE)
          return "none";
        if (reply.target.kind !== "agent" || reply.target.recipientId !== request.requesterId)
          return "none";
        if (request.ended || request.reply) return "late";
        await c.query("UPDATE acb_requests SET doc = $3 WHERE tenant_id = $1 AND id = $2", [
          reply.tenantId,
          request.id,
          encodeDoc({ ...request, reply }),
        ]);
        return "accepted";
      }),
    end: (tenantId, id, forgetAt) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_requests WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [tenantId, id],
        );
        const row = r.rows[0];
        if (!row) return undefined;
        const before = decodeDoc<PendingRequestRecord>(row.doc);
        await c.query(
          "UPDATE acb_requests SET doc = $3, forget_at = $4 WHERE tenant_id = $1 AND id = $2",
          [tenantId, id, encodeDoc({ ...before, ended: true, forgetAt }), forgetAt],
        );
        return before;
      }),
  };
}
