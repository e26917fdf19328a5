import { ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import type {
  ConversationRecord,
  ConversationStore,
  IdempotencyStore,
  MessageRecord,
  TopicStore,
  TopicSubscriptionRecord,
} from "../messaging-types.js";
import { topicMatches } from "../topic-pattern.js";
import { decodeDoc, encodeDoc, num } from "./doc-codec.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";

export function createPgIdempotencyStore(db: SqlDatabase): IdempotencyStore {
  return {
    lookup: async (tenantId, senderId, key, now) => {
      const r = await db.one<{ message_id: string }>(
        tenantId,
        `SELECT message_id FROM acb_idempotency WHERE tenant_id = $1 AND sender_id = $2 AND key = $3
         AND expires_at > $4`,
        [tenantId, senderId, key, now],
      );
      return r.rows[0]?.message_id;
    },
  };
}

export function createPgTopicStore(db: SqlDatabase): TopicStore {
  return {
    subscribe: (s) =>
      db.tx(s.tenantId, async (c) => {
        const r = await c.query(
          `INSERT INTO acb_topic_subscriptions (tenant_id, agent_id, pattern, created_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
          [s.tenantId, s.agentId, s.pattern, s.createdAt],
        );
        return r.rowCount === 1;
      }),
    unsubscribe: (tenantId, agentId, pattern) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query(
          "DELETE FROM acb_topic_subscriptions WHERE tenant_id = $1 AND agent_id = $2 AND pattern = $3",
          [tenantId, agentId, pattern],
        );
        return r.rowCount === 1;
      }),
    list: (tenantId, agentId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ pattern: string; created_at: unknown }>(
          `SELECT pattern, created_at FROM acb_topic_subscriptions WHERE tenant_id = $1 AND agent_id = $2
           ORDER BY pattern COLLATE "C"`,
          [tenantId, agentId],
        );
        return r.rows.map(
          (row): TopicSubscriptionRecord => ({
            tenantId,
            agentId,
            pattern: row.pattern,
            createdAt: num(row.created_at),
          }),
        );
      }),
    match: (tenantId, topic) =>
      db.tx(tenantId, async (c) => {
        // Patterns are matched by the one shared matcher, so every backend agrees on wildcards.
        const r = await c.query<{ agent_id: string; pattern: string }>(
          "SELECT agent_id, pattern FROM acb_topic_subscriptions WHERE tenant_id = $1",
          [tenantId],
        );
        const found = new Set<string>();
        for (const row of r.rows) if (topicMatches(row.pattern, topic)) found.add(row.agent_id);
        return [...found];
      }),
  };
}

export function createPgConversationStore(db: SqlDatabase): ConversationStore {
  return {
    create: (conv) =>
      db.tx(conv.tenantId, async (c) => {
        const r = await c.query(
          `INSERT INTO acb_conversations (tenant_id, id, doc, version, state, timeout_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [
            conv.tenantId,
            conv.id,
            encodeDoc(conv),
            conv.version,
            conv.state,
            conv.timeoutAt ?? null,
          ],
        );
        return r.rowCount === 1;
      }),
    get: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_conversations WHERE tenant_id = $1 AND id = $2",
          [tenantId, id],
        );
        const row = r.rows[0];
        return row && decodeDoc<ConversationRecord>(row.doc);
      }),
    replace: (next, expectedVersion) =>
      db.tx(next.tenantId, async (c) => {
        const r = await c.query(
          `UPDATE acb_conversations SET doc = $3, version = $4, state = $5, timeout_at = $6
           WHERE tenant_id = $1 AND id = $2 AND version = $7`,
          [
            next.tenantId,
            next.id,
            encodeDoc(next),
            next.version,
            next.state,
            next.timeoutAt ?? null,
            expectedVersion,
          ],
        );
        return r.rowCount === 1;
      }),
    listDue: (dueBy, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          `SELECT doc FROM acb_conversations WHERE state = ${ConversationState.OPEN}
           AND timeout_at <= $1 ORDER BY timeout_at LIMIT $2`,
          [dueBy, limit],
        );
        return r.rows.map((row) => decodeDoc<ConversationRecord>(row.doc));
      }),
    list: (tenantId, participant, beforeId, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          `SELECT doc FROM acb_conversations WHERE tenant_id = $1 AND doc->'participants' ? $2
           AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4`,
          [tenantId, participant, beforeId, limit],
        );
        return r.rows.map((row) => decodeDoc<ConversationRecord>(row.doc));
      }),
    history: (tenantId, conversationId, afterIndex, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ idx: number; doc: unknown }>(
          `SELECT idx, doc FROM acb_conversation_messages WHERE tenant_id = $1 AND conversation_id = $2
           AND idx > $3 ORDER BY idx LIMIT $4`,
          [tenantId, conversationId, afterIndex, limit],
        );
        return r.rows.map((row) => ({
          index: num(row.idx),
          message: decodeDoc<MessageRecord>(row.doc),
        }));
      }),
    indexOf: (tenantId, conversationId, messageId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ idx: number }>(
          `SELECT min(idx) AS idx FROM acb_conversation_messages WHERE tenant_id = $1
           AND conversation_id = $2 AND message_id = $3`,
          [tenantId, conversationId, messageId],
        );
        const idx = r.rows[0]?.idx;
        return idx === null || idx === undefined ? -1 : num(idx);
      }),
  };
}
