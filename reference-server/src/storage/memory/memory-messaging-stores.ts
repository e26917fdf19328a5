import type {
  ConversationRecord,
  ConversationStore,
  IdempotencyStore,
  MessageRecord,
  TopicStore,
  TopicSubscriptionRecord,
} from "../messaging-types.js";
import { topicMatches } from "../topic-pattern.js";

export function createMemoryIdempotencyStore(): IdempotencyStore {
  const keys = new Map<string, { messageId: string; expiresAt: number }>();
  let lastPrune = 0;
  return {
    async putIfAbsent(tenantId, senderId, key, messageId, expiresAt, now) {
      // Prune expired keys now and then so the map stays bounded by the dedupe window.
      if (now - lastPrune > 60_000) {
        lastPrune = now;
        for (const [k, v] of keys) if (v.expiresAt <= now) keys.delete(k);
      }
      const k = `${tenantId}\u0000${senderId}\u0000${key}`;
      const existing = keys.get(k);
      if (existing && existing.expiresAt > now) return existing.messageId;
      keys.set(k, { messageId, expiresAt });
      return undefined;
    },
    async release(tenantId, senderId, key, messageId) {
      const k = `${tenantId}\u0000${senderId}\u0000${key}`;
      if (keys.get(k)?.messageId === messageId) keys.delete(k);
    },
    async deleteTenant(tenantId) {
      for (const k of keys.keys()) if (k.startsWith(`${tenantId}\u0000`)) keys.delete(k);
    },
  };
}

export function createMemoryTopicStore(): TopicStore {
  // tenant → pattern → agent → record
  const subs = new Map<string, Map<string, Map<string, TopicSubscriptionRecord>>>();
  const patternsOf = (tenantId: string) => {
    let m = subs.get(tenantId);
    if (!m) {
      m = new Map();
      subs.set(tenantId, m);
    }
    return m;
  };
  return {
    async subscribe(sub) {
      const patterns = patternsOf(sub.tenantId);
      let agents = patterns.get(sub.pattern);
      if (!agents) {
        agents = new Map();
        patterns.set(sub.pattern, agents);
      }
      if (agents.has(sub.agentId)) return false;
      agents.set(sub.agentId, { ...sub });
      return true;
    },
    async unsubscribe(tenantId, agentId, pattern) {
      const agents = subs.get(tenantId)?.get(pattern);
      const removed = agents?.delete(agentId) ?? false;
      if (agents?.size === 0) subs.get(tenantId)?.delete(pattern);
      return removed;
    },
    async list(tenantId, agentId) {
      const out: TopicSubscriptionRecord[] = [];
      for (const agents of subs.get(tenantId)?.values() ?? []) {
        const s = agents.get(agentId);
        if (s) out.push({ ...s });
      }
      return out.sort((a, b) => (a.pattern < b.pattern ? -1 : 1));
    },
    async match(tenantId, topic) {
      const found = new Set<string>();
      for (const [pattern, agents] of subs.get(tenantId) ?? []) {
        if (topicMatches(pattern, topic)) for (const a of agents.keys()) found.add(a);
      }
      return [...found];
    },
    async deleteAgent(tenantId, agentId) {
      for (const [pattern, agents] of subs.get(tenantId) ?? []) {
        agents.delete(agentId);
        if (agents.size === 0) subs.get(tenantId)?.delete(pattern);
      }
    },
    async deleteTenant(tenantId) {
      subs.delete(tenantId);
    },
  };
}

export function createMemoryConversationStore(): ConversationStore {
  const conversations = new Map<string, ConversationRecord>();
  const histories = new Map<string, MessageRecord[]>();
  const k = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;
  return {
    async create(c) {
      if (conversations.has(k(c.tenantId, c.id))) return false;
      conversations.set(k(c.tenantId, c.id), structuredClone(c));
      histories.set(k(c.tenantId, c.id), []);
      return true;
    },
    async get(tenantId, id) {
      const c = conversations.get(k(tenantId, id));
      return c && structuredClone(c);
    },
    async replace(next, expectedVersion) {
      const current = conversations.get(k(next.tenantId, next.id));
      if (!current || current.version !== expectedVersion) return false;
      conversations.set(k(next.tenantId, next.id), structuredClone(next));
      return true;
    },
    async list(tenantId, participant, beforeId, limit) {
      const out: ConversationRecord[] = [];
      for (const c of conversations.values()) {
        if (c.tenantId !== tenantId || !c.participants.includes(participant)) continue;
        if (beforeId !== "" && c.id >= beforeId) continue;
        out.push(c);
      }
      out.sort((a, b) => (a.id < b.id ? 1 : -1));
      return out.slice(0, limit).map((c) => structuredClone(c));
    },
    async appendMessage(tenantId, conversationId, message) {
      histories.get(k(tenantId, conversationId))?.push(structuredClone(message));
    },
    async history(tenantId, conversationId, afterIndex, limit) {
      const all = histories.get(k(tenantId, conversationId)) ?? [];
      return all
        .slice(afterIndex + 1, afterIndex + 1 + limit)
        .map((message, i) => ({ index: afterIndex + 1 + i, message: structuredClone(message) }));
    },
    async indexOf(tenantId, conversationId, messageId) {
      return (histories.get(k(tenantId, conversationId)) ?? []).findIndex(
        (m) => m.id === messageId,
      );
    },
    async deleteTenant(tenantId) {
      for (const key of [...conversations.keys()]) {
        if (key.startsWith(`${tenantId}\u0000`)) {
          conversations.delete(key);
          histories.delete(key);
        }
      }
    },
  };
}
