import { createFsBlobStore, type FsBlobStoreOptions } from "../fs/fs-blob-store.js";
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
import { createMemoryRegistryStore } from "./memory-registry.js";
import {
  createMemoryApiKeyStore,
  createMemoryAuditStore,
  createMemoryRateLimiter,
  createMemoryUsageStore,
  type MemoryAuditStoreOptions,
} from "./memory-security.js";
import { deepFreeze } from "./tenant-map.js";

function createMemoryTenantStore(): TenantStore {
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
    async delete(id) {
      return tenants.delete(id);
    },
  };
}

function createMemoryAuthStore(): AuthStore {
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
    async deleteTenant(tenantId) {
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
 * single-node hub; its state lives as long as the process (not durable, so each run has a new
 * hub epoch).
 */
export function createMemoryBackend(options: MemoryBackendOptions = {}): Backend {
  // Large values go to files even here: holding them in memory would not stay bounded.
  const blobs = createFsBlobStore(options.blobs);
  return {
    capabilities: { name: "memory", durable: false, multiNode: false },
    tenants: createMemoryTenantStore(),
    registry: createMemoryRegistryStore(),
    contexts: createMemoryContextStore(),
    events: createMemoryEventLog(options.events),
    auth: createMemoryAuthStore(),
    blobs,
    meetings: createMemoryMeetingStore(),
    messages: createMemoryMessageStore(),
    idempotency: createMemoryIdempotencyStore(),
    topics: createMemoryTopicStore(),
    conversations: createMemoryConversationStore(),
    apiKeys: createMemoryApiKeyStore(),
    audit: createMemoryAuditStore(options.audit),
    usage: createMemoryUsageStore(),
    rateLimits: createMemoryRateLimiter(),
    async close() {
      await blobs.close();
    },
  };
}
