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
import type { SqlDatabase } from "./sql-database.js";

export function createPgIdempotencyStore(db: SqlDatabase): IdempotencyStore {
  return {
    putIfAbsent: (tenantId, senderId, key, messageId, expiresAt, now) =>
      db.tx(tenantId, async (c) => {
        // Takes the key when it is free or its entry expired; otherwise returns the live entry.
        const taken = await c.query(
          `INSERT INTO acb_idempotency (tenant_id, sender_id, key, message_id, expires_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, sender_id, key) DO UPDATE
             SET message_id = EXCLUDED.message_id, expires_at = EXCLUDED.expires_at
             WHERE acb_idempotency.expires_at <= $6`,
          [tenantId, senderId, key, messageId, expiresAt, now],
        );
        if (taken.rowCount === 1) {
          // Expired keys of the tenant are pruned now and then, so the table stays bounded by
          // the dedupe window (about one send in a hundred pays for it).
          if (Math.random() < 0.01) {
            await c.query("DELETE FROM acb_idempotency WHERE tenant_id = $1 AND expires_at <= $2", [
              tenantId,
              now,
            ]);
          }
          return undefined;
        }
        const r = await c.query<{ message_id: string }>(
          "SELECT message_id FROM acb_idempotency WHERE tenant_id = $1 AND sender_id = $2 AND key = $3",
          [tenantId, senderId, key],
        );
        return r.rows[0]?.message_id;
      }),
    release: (tenantId, senderId, key, messageId) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          `DELETE FROM acb_idempotency WHERE tenant_id = $1 AND sender_id = $2 AND key = $3
           AND message_id = $4`,
          [tenantId, senderId, key, messageId],
        );
      }),
    deleteTenant: (tenantId) =>
      db.tx(tenantId, async (c) => {
        await c.query("DELETE FROM acb_idempotency WHERE tenant_id = $1", [tenantId]);
      }),
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
    deleteAgent: (tenantId, agentId) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          "DELETE FROM acb_topic_subscriptions WHERE tenant_id = $1 AND agent_id = $2",
          [tenantId, agentId],
        );
      }),
    deleteTenant: (tenantId) =>
      db.tx(tenantId, async (c) => {
        await c.query("DELETE FROM acb_topic_subscriptions WHERE tenant_id = $1", [tenantId]);
      }),
  };
}

export function createPgConversationStore(db: SqlDatabase): ConversationStore {
  return {
    create: (conv) =>
      db.tx(conv.tenantId, async (c) => {
        const r = await c.query(
          `INSERT INTO acb_conversations (tenant_id, id, doc, version, timeout_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [conv.tenantId, conv.id, encodeDoc(conv), conv.version, conv.timeoutAt ?? null],
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
          `UPDATE acb_conversations SET doc = $3, version = $4, timeout_at = $5
           WHERE tenant_id = $1 AND id = $2 AND version = $6`,
          [
            next.tenantId,
            next.id,
            encodeDoc(next),
            next.version,
            next.timeoutAt ?? null,
            expectedVersion,
          ],
        );
        return r.rowCount === 1;
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
    appendMessage: (tenantId, conversationId, message) =>
      db.tx(tenantId, async (c) => {
        // The conversation's row lock orders concurrent appends, so indexes have no gaps.
        const conv = await c.query(
          "SELECT 1 FROM acb_conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
          [tenantId, conversationId],
        );
        if (conv.rows.length === 0) return;
        await c.query(
          `INSERT INTO acb_conversation_messages (tenant_id, conversation_id, idx, message_id, doc)
           SELECT $1, $2, coalesce(max(idx), -1) + 1, $3, $4 FROM acb_conversation_messages
           WHERE tenant_id = $1 AND conversation_id = $2`,
          [tenantId, conversationId, message.id, encodeDoc(message)],
        );
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
    deleteTenant: (tenantId) =>
      db.tx(tenantId, async (c) => {
        await c.query("DELETE FROM acb_conversations WHERE tenant_id = $1", [tenantId]);
        await c.query("DELETE FROM acb_conversation_messages WHERE tenant_id = $1", [tenantId]);
      }),
  };
}
