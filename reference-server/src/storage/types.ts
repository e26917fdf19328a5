// The storage seam: the hub's services reach storage only through these interfaces. Each backend
// (storage/memory today; PostgreSQL, Redis and Kafka later) implements the ones it serves, declares
// its capabilities, and passes the shared suite in backend-test-suite.ts.

/** What a backend can promise; the hub reports it through GetServerInfo. */
export interface BackendCapabilities {
  /** Short name, e.g. "memory". */
  readonly name: string;
  /** State survives a restart of the hub process. */
  readonly durable: boolean;
  /** Several hub processes may share this backend and behave as one hub. */
  readonly multiNode: boolean;
}

/** Settings of a tenant that change hub behaviour (durations in milliseconds). */
export interface TenantSettingsRecord {
  ackDeadlineMs: number;
  maxDeliveryAttempts: number;
  dedupeWindowMs: number;
  heartbeatIntervalMs: number;
  presenceTimeoutMs: number;
  defaultMessageTtlMs: number;
}

/** Resource limits of a tenant; 0 means no limit. */
export interface TenantQuotasRecord {
  maxAgents: number;
  tenantMessagesPerMinute: number;
  agentMessagesPerMinute: number;
  tenantBytesPerMinute: number;
  agentBytesPerMinute: number;
  agentConcurrentStreams: number;
  storageBytes: number;
  messagesPerMonth: number;
}

export interface TenantRecord {
  id: string;
  displayName: string;
  /** acb.v1.Tier as its number. */
  tier: number;
  quotas: TenantQuotasRecord;
  settings: TenantSettingsRecord;
  createdAt: number;
}

export interface TenantStore {
  /** Stores a new tenant; returns false when the id is taken. */
  create(tenant: TenantRecord): Promise<boolean>;
  get(id: string): Promise<TenantRecord | undefined>;
  /** Tenants ordered by id, strictly after `afterId`. */
  list(afterId: string, limit: number): Promise<TenantRecord[]>;
  /** Replaces a tenant; returns false when it does not exist. */
  update(tenant: TenantRecord): Promise<boolean>;
  delete(id: string): Promise<boolean>;
}

export interface AgentRecord {
  tenantId: string;
  id: string;
  type: string;
  location: string;
  capabilities: string[];
  metadata: Record<string, string>;
  groups: string[];
  createdAt: number;
  /** When the hub last heard from the agent (ms since epoch). */
  lastSeen: number;
  sessionId: string;
}

/** Registry query; every set criterion must match. */
export interface AgentQuery {
  capabilities?: string[];
  type?: string;
  /** Exact match, or prefix match when it ends with "/". */
  location?: string;
  metadata?: Record<string, string>;
  /** Only agents with lastSeen >= this (ONLINE). */
  seenSince?: number;
  /** Only agents with lastSeen < this (OFFLINE). */
  seenBefore?: number;
}

export interface RegistryStore {
  /** Inserts or replaces the agent. */
  put(agent: AgentRecord): Promise<void>;
  get(tenantId: string, agentId: string): Promise<AgentRecord | undefined>;
  /** Sets lastSeen; returns the updated agent, or undefined when it is not registered. */
  touch(tenantId: string, agentId: string, at: number): Promise<AgentRecord | undefined>;
  /** Removes the agent; returns what was removed. */
  delete(tenantId: string, agentId: string): Promise<AgentRecord | undefined>;
  /** Matching agents ordered by id, strictly after `afterId`, at most `limit`. */
  list(tenantId: string, query: AgentQuery, afterId: string, limit: number): Promise<AgentRecord[]>;
  count(tenantId: string): Promise<number>;
  deleteTenant(tenantId: string): Promise<void>;
}

export interface StorageRefRecord {
  backend: string;
  bucket: string;
  key: string;
  size: number;
}

export interface ContextRecord {
  tenantId: string;
  id: string;
  type: string;
  ownerId: string;
  contentType: string;
  /** Inline value; empty when `storageRef` is set. */
  data: Uint8Array;
  storageRef?: StorageRefRecord;
  metadata: Record<string, string>;
  revision: number;
  schemaVersion: string;
  /** acb.v1.ContextScope as its number (never UNSPECIFIED once stored). */
  scope: number;
  allowedIds: string[];
  sha256: Uint8Array;
  size: number;
  createdAt: number;
  updatedAt: number;
  expiresAt?: number;
}

export interface ContextQuery {
  type?: string;
  ownerId?: string;
  metadata?: Record<string, string>;
}

export interface ContextStore {
  /** Stores a new context; returns false when the id is taken. */
  create(context: ContextRecord): Promise<boolean>;
  get(tenantId: string, id: string): Promise<ContextRecord | undefined>;
  /**
   * Replaces the context only if it is still at `expectedRevision` (compare-and-set). Returns the
   * stored record on success, or the current record (undefined if gone) on a conflict.
   */
  replace(
    next: ContextRecord,
    expectedRevision: number,
  ): Promise<{ ok: true } | { ok: false; current: ContextRecord | undefined }>;
  /** Deletes the context if it is still at `expectedRevision`; same result shape as replace. */
  delete(
    tenantId: string,
    id: string,
    expectedRevision: number,
  ): Promise<{ ok: true } | { ok: false; current: ContextRecord | undefined }>;
  /** Matching contexts ordered by id, strictly after `afterId`, at most `limit`. */
  list(
    tenantId: string,
    query: ContextQuery,
    afterId: string,
    limit: number,
  ): Promise<ContextRecord[]>;
  /** Contexts whose expiresAt <= `now`, any tenant, at most `limit`. */
  listExpired(now: number, limit: number): Promise<ContextRecord[]>;
  /** The earliest expiresAt of any context, for scheduling the sweeper. */
  nextExpiry(): Promise<number | undefined>;
  deleteTenant(tenantId: string): Promise<void>;
}

/** The named, per-tenant change streams that live subscriptions read. */
export type EventStreamName = "contexts" | "agents";

export interface StoredEvent<T> {
  /** Position in the stream; strictly increasing, starting at 1. */
  seq: number;
  event: T;
}

/**
 * An append-only, per-tenant log of change events with bounded retention. Subscribers read from a
 * position and wait for more, so a slow subscriber never makes the hub buffer without bound, and a
 * reconnecting one resumes from its cursor. This is also the seam for cross-node events.
 */
export interface EventLog {
  append<T>(tenantId: string, stream: EventStreamName, event: T): Promise<number>;
  /** Events with seq > afterSeq, oldest first, at most `limit`. */
  read<T>(
    tenantId: string,
    stream: EventStreamName,
    afterSeq: number,
    limit: number,
  ): Promise<StoredEvent<T>[]>;
  /** The last seq appended (0 when none) and the oldest seq still retained. */
  bounds(tenantId: string, stream: EventStreamName): Promise<{ head: number; oldest: number }>;
  /** Resolves when an event after `afterSeq` exists, or when `signal` aborts. */
  waitFor(
    tenantId: string,
    stream: EventStreamName,
    afterSeq: number,
    signal: AbortSignal,
  ): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
}

export interface RefreshTokenRecord {
  /** SHA-256 of the token, hex. The token itself is never stored. */
  hash: string;
  familyId: string;
  tenantId: string;
  agentId: string;
  roles: number[];
  expiresAt: number;
  usedAt?: number;
}

export interface AuthStore {
  putRefreshToken(token: RefreshTokenRecord): Promise<void>;
  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  /** Marks the token used; returns false when it had already been used (reuse). */
  markRefreshTokenUsed(hash: string, at: number): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  isFamilyRevoked(familyId: string): Promise<boolean>;
  deleteTenant(tenantId: string): Promise<void>;
}

/** A configured backend: the stores it serves and what it promises. */
export interface Backend {
  readonly capabilities: BackendCapabilities;
  readonly tenants: TenantStore;
  readonly registry: RegistryStore;
  readonly contexts: ContextStore;
  readonly events: EventLog;
  readonly auth: AuthStore;
  close(): Promise<void>;
}
