import { randomBytes } from "node:crypto";
import { createFsBlobStore, type FsBlobStoreOptions } from "../fs/fs-blob-store.js";
import type {
  ClaimedFor,
  ClaimOffer,
  EnqueueOptions,
  EnqueueResult,
  MessageRecord,
  MessageStore,
} from "../messaging-types.js";
import type {
  AuthStore,
  Backend,
  RefreshTokenRecord,
  TenantRecord,
  TenantStore,
} from "../types.js";
import { createMemoryContextStore } from "./memory-contexts.js";
import { createMemoryEventLog, type MemoryEventLogOptions } from "./memory-event-log.js";
import { createMemoryMeetingStore } from "./memory-meetings.js";
import { createMemoryMessageStore } from "./memory-messages.js";
import {
  createMemoryConversationStore,
  createMemoryIdempotencyStore,
  createMemoryTopicStore,
} from "./memory-messaging-stores.js";
import { createMemoryNotifier } from "./memory-notifier.js";
import { createMemoryRegistryStore } from "./memory-registry.js";
import { createMemoryReleasedBlobStore } from "./memory-released-blobs.js";
import { createMemoryRequestStore } from "./memory-requests.js";
import {
  createMemoryApiKeyStore,
  createMemoryAuditStore,
  createMemoryRateLimiter,
  createMemoryUsageStore,
  type MemoryAuditStoreOptions,
} from "./memory-security.js";
import { createMemoryStreamSlotStore } from "./memory-stream-slots.js";
import { createMemoryUploadSessionStore } from "./memory-uploads.js";
import { deepFreeze, type TenantScoped } from "./tenant-map.js";

function createMemoryTenantStore(): TenantStore & { delete(id: string): boolean } {
  const tenants = new Map<string, TenantRecord>();
  return {
    async create(t) {
      if (tenants.has(t.id)) return false;
      tenants.set(t.id, deepFreeze(structuredClone(t)));
      return true;
    },
    async get(id) {
      return tenants.get(id);
    },
    async list(afterId, limit) {
      return [...tenants.values()]
        .filter((t) => t.id > afterId)
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .slice(0, limit);
    },
    async update(t) {
      if (!tenants.has(t.id)) return false;
      tenants.set(t.id, deepFreeze(structuredClone(t)));
      return true;
    },
    delete(id) {
      return tenants.delete(id);
    },
  };
}

function createMemoryAuthStore(): AuthStore & TenantScoped {
  const tokens = new Map<string, RefreshTokenRecord>();
  const revokedFamilies = new Set<string>();
  // "tenant\u0000subject" → not-before time; subject "" stands for the whole tenant.
  const notBefore = new Map<string, number>();
  const nbKey = (tenantId: string, subject: string) => `${tenantId}\u0000${subject}`;
  return {
    async putRefreshToken(t) {
      tokens.set(t.hash, structuredClone(t));
    },
    async getRefreshToken(hash) {
      const t = tokens.get(hash);
      return t && structuredClone(t);
    },
    async markRefreshTokenUsed(hash, at) {
      const t = tokens.get(hash);
      if (!t || t.usedAt !== undefined) return false;
      t.usedAt = at;
      return true;
    },
    async revokeFamily(familyId) {
      revokedFamilies.add(familyId);
    },
    async isFamilyRevoked(familyId) {
      return revokedFamilies.has(familyId);
    },
    async setNotBefore(tenantId, subject, at) {
      const key = nbKey(tenantId, subject);
      notBefore.set(key, Math.max(notBefore.get(key) ?? 0, at));
    },
    async notBefore(tenantId, subject) {
      return Math.max(
        notBefore.get(nbKey(tenantId, "")) ?? 0,
        subject === "" ? 0 : (notBefore.get(nbKey(tenantId, subject)) ?? 0),
      );
    },
    deleteTenant(tenantId) {
      for (const [hash, t] of tokens) if (t.tenantId === tenantId) tokens.delete(hash);
      for (const key of notBefore.keys()) {
        if (key.startsWith(nbKey(tenantId, ""))) notBefore.delete(key);
      }
    },
  };
}

/** Options of the embedded in-memory backend. */
export interface MemoryBackendOptions {
  /** Options of its event log (change retention). */
  events?: MemoryEventLogOptions;
  /** Options of its blob store (files; default: a temporary directory per run). */
  blobs?: FsBlobStoreOptions;
  /** Options of its audit store (how many records it keeps at most). */
  audit?: MemoryAuditStoreOptions;
}

/**
 * The embedded default: every store in process memory. Needs no external service and serves a
 * single-node hub; its state lives as long as the backend object (not durable: a new backend has
 * a new hub epoch). Writes that span stores (a send with its idempotency key and conversation
 * entry, an unregistration with the agent's queues) run as one synchronous step, with no await in
 * between, which is what one transaction is to a database backend.
 */
export function createMemoryBackend(options: MemoryBackendOptions = {}): Backend {
  // Large values go to files even here: holding them in memory would not stay bounded.
  const blobs = createFsBlobStore(options.blobs);
  const tenants = createMemoryTenantStore();
  const events = createMemoryEventLog(options.events);
  const queues = createMemoryMessageStore();
  const idempotency = createMemoryIdempotencyStore();
  const topics = createMemoryTopicStore();
  const conversations = createMemoryConversationStore();
  const registry = createMemoryRegistryStore(events, (tenantId, agentId) => {
    // Both bodies run synchronously (no await inside), so the unregistration stays one step.
    void queues.deleteAgent(tenantId, agentId);
    topics.deleteAgent(tenantId, agentId);
  });
  /** A send's checks, then its writes, in one synchronous step. */
  const enqueueNow = (
    message: MessageRecord,
    recipients: readonly string[],
    options: { [K in keyof EnqueueOptions]?: EnqueueOptions[K] | undefined },
  ): EnqueueResult => {
    const { tenantId, senderId, idempotencyKey } = message;
    const idem = idempotencyKey === "" ? undefined : options.idempotency;
    if (idem) {
      const existing = idempotency.liveNow(tenantId, senderId, idempotencyKey, idem.now);
      if (existing !== undefined) return { ok: false, duplicateOf: existing };
    }
    const limits = options.backlog;
    const plan = limits && queues.planBacklog(tenantId, recipients, limits);
    const backlogFull = plan?.refused[0];
    if (backlogFull) return { ok: false, backlogFull };
    const c = options.conversation;
    if (c && !conversations.appendNow(c.next, c.expectedVersion, message)) {
      return { ok: false, conversationConflict: true };
    }
    if (idem) idempotency.putNow(tenantId, senderId, idempotencyKey, message.id, idem.expiresAt);
    queues.enqueue(message, recipients, plan && limits && { plan, now: limits.now });
    return { ok: true };
  };
  /**
   * The offers (SendEffects.claim) of agents with nothing waiting in their queues: only they may
   * take a send's messages at once, or they would pass what waits before them.
   */
  const openOffers = (tenantId: string, offers: readonly ClaimOffer[] | undefined) =>
    offers?.filter((o) => queues.waitingOf(tenantId, o.agentId) === 0) ?? [];
  /**
   * Claims, for each open offer, what the send just queued for its agent, if the offer has room
   * for all of it (all of an agent's messages of a call, or none); the others are left to their
   * stream's next read, which the caller wakes.
   */
  const claimFor = (tenantId: string, offers: readonly ClaimOffer[]): ClaimedFor[] => {
    const claimed: ClaimedFor[] = [];
    for (const o of offers) {
      const queued = queues.waitingOf(tenantId, o.agentId);
      if (queued === 0 || queued > o.room) continue;
      for (const delivery of queues.claimWaiting(tenantId, o.agentId, o.deadline)) {
        claimed.push({ agentId: o.agentId, delivery });
      }
    }
    return claimed;
  };
  const messages: MessageStore = {
    ...queues,
    // Claims are made in the same synchronous step as the writes (no await in between), so no
    // other send or poll comes between a queue found empty and its new messages claimed.
    async enqueue(message, recipients, options = {}) {
      const offers = openOffers(message.tenantId, options.effects?.claim);
      const result = enqueueNow(message, recipients, options);
      if (!result.ok || offers.length === 0) return result;
      const claimed = claimFor(message.tenantId, offers);
      return claimed.length > 0 ? { ok: true, claimed } : result;
    },
    // Each item its own step, in order, without a promise per item.
    async enqueueMany(items, effects) {
      const tenantId = items[0]?.message.tenantId ?? "";
      const offers = openOffers(tenantId, effects?.claim);
      const results = items.map((item) => enqueueNow(item.message, item.recipients, item));
      if (offers.length === 0) return results;
      // Each claimed delivery goes with the result of the item that stored its message.
      const byMessage = new Map<string, ClaimedFor[]>();
      for (const c of claimFor(tenantId, offers)) {
        const id = c.delivery.message.id;
        const list = byMessage.get(id);
        if (list) list.push(c);
        else byMessage.set(id, [c]);
      }
      return results.map((result, i) => {
        const claimed = result.ok ? byMessage.get(items[i]?.message.id ?? "") : undefined;
        return claimed ? { ok: true, claimed } : result;
      });
    },
    // Usage and wake-ups are the hub's to do; claims for live streams are made here.
    folds: { meter: false, wake: false, claim: true },
  };
  const contexts = createMemoryContextStore(events);
  const auth = createMemoryAuthStore();
  const meetings = createMemoryMeetingStore();
  const requests = createMemoryRequestStore();
  const apiKeys = createMemoryApiKeyStore();
  const usage = createMemoryUsageStore();
  const rateLimits = createMemoryRateLimiter();
  const streamSlots = createMemoryStreamSlotStore();
  const uploads = createMemoryUploadSessionStore();
  const releasedBlobs = createMemoryReleasedBlobStore();
  const stores: TenantScoped[] = [
    registry,
    contexts,
    events,
    auth,
    meetings,
    queues,
    idempotency,
    topics,
    conversations,
    requests,
    apiKeys,
    usage,
    rateLimits,
    streamSlots,
    uploads,
    releasedBlobs,
  ];
  const epoch = randomBytes(9).toString("base64url");
  return {
    capabilities: { name: "memory", durable: false, multiNode: false },
    async epoch() {
      return epoch;
    },
    async deleteTenant(tenantId) {
      if (!tenants.delete(tenantId)) return false;
      for (const s of stores) void s.deleteTenant(tenantId);
      return true;
    },
    notifier: createMemoryNotifier(),
    tenants,
    registry,
    contexts,
    events,
    auth,
    blobs,
    streamSlots,
    uploads,
    releasedBlobs,
    meetings,
    messages,
    idempotency,
    topics,
    conversations,
    requests,
    apiKeys,
    audit: createMemoryAuditStore(options.audit),
    usage,
    rateLimits,
    async close() {
      await blobs.close();
    },
  };
}
