// The storage seam of the security work: API keys, the audit log, usage metering and rate-limit
// counters. Every backend implements these next to the stores in types.ts.

/** An API key as stored. The secret is never stored: only the SHA-256 of the whole key string. */
export interface ApiKeyRecord {
  /** The public id, also the visible prefix of the key ("acbk_<id>_<secret>"). */
  id: string;
  /** SHA-256 (hex) of the whole key string. */
  hash: string;
  tenantId: string;
  /** The incarnation of the tenant the key was created in (TenantRecord.incarnation). */
  tenantIncarnation?: string;
  agentId: string;
  /** acb.v1.Role numbers. */
  roles: number[];
  description: string;
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
  /** The groups the key grants membership of (CreateApiKeyRequest.groups). */
  groups?: string[];
}

export interface ApiKeyStore {
  /** Stores a new key; returns false when the id is taken. */
  create(key: ApiKeyRecord): Promise<boolean>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** A tenant's keys ordered by id, strictly after `afterId`, at most `limit`. */
  list(tenantId: string, afterId: string, limit: number): Promise<ApiKeyRecord[]>;
  /**
   * Marks the key revoked at `at` (the first revocation time is kept). Returns the key as it is
   * now, or undefined when it does not exist. Effective for the very next lookup.
   */
  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined>;
}

/** "success", "failure" (e.g. a bad credential) or "denied" (authorization, visibility, quota). */
export type AuditOutcome = "success" | "failure" | "denied";

export interface AuditRecordData {
  /** Unique, and increasing in time order. */
  id: string;
  time: number;
  /** The tenant concerned; "" when unknown (e.g. a credential that failed to verify). */
  tenantId: string;
  /** An agent id, "admin:<subject>" for a platform admin, or "anonymous". */
  actor: string;
  /** What was attempted, e.g. "auth.authenticate", "authz.deny", "context.read". */
  action: string;
  /** What it was done to, e.g. "context/c-1", "agent/a-1", an RPC name. */
  target: string;
  outcome: AuditOutcome;
  correlationId: string;
  details: Record<string, string>;
}

/** Audit log query; every set criterion must match. */
export interface AuditQuery {
  /** Only this tenant's records; undefined for every tenant. */
  tenantId?: string;
  /** time >= start. */
  start: number;
  /** time < end. */
  end: number;
  /** Exact action, or a prefix when it ends with ".". */
  action?: string;
  actor?: string;
  outcome?: AuditOutcome;
}

export interface AuditStore {
  append(record: AuditRecordData): Promise<void>;
  /**
   * Aggregates repeated events into one record: the first call with `key` appends `record` with
   * details.count "1"; later calls with the same key add one to that record's details.count and
   * set its details.last_time (ms since epoch, as a string) and details.last_correlation_id to
   * those of `record`, instead of appending. A key is forgotten when its record is pruned or
   * dropped; callers put the time window in the key.
   */
  appendAggregate(key: string, record: AuditRecordData): Promise<void>;
  /** Matching records ordered by id (oldest first), strictly after `afterId`, at most `limit`. */
  query(query: AuditQuery, afterId: string, limit: number): Promise<AuditRecordData[]>;
  /** Deletes records with time < `before`; returns how many. */
  prune(before: number): Promise<number>;
}

/** Usage of one tenant in one hour. */
export interface UsageBucketRecord {
  /** Start of the hour (ms since epoch, UTC, on the hour). */
  start: number;
  messages: number;
  bytes: number;
  /** Context storage held at the end of the bucket (the last value recorded in it). */
  storageBytes: number;
}

export interface UsageStore {
  /**
   * Adds to the bucket of hour `hourStart`: messages and bytes are counted, `storageDelta` changes
   * the tenant's storage total, which the bucket then records. Returns the new storage total.
   */
  add(
    tenantId: string,
    hourStart: number,
    delta: { messages: number; bytes: number; storageDelta: number },
  ): Promise<number>;
  /** The tenant's current storage total in bytes. */
  storageBytes(tenantId: string): Promise<number>;
  /** Buckets with start in [start, end), oldest first; hours with no activity are absent. */
  read(tenantId: string, start: number, end: number): Promise<UsageBucketRecord[]>;
}

/**
 * One counter to charge: `amount` more against `limit` (0: count, never refuse) within the fixed
 * window [windowStart, windowEnd) that the caller computes from the hub Clock (a minute, a calendar
 * month), so every hub node sharing a backend counts in the same windows.
 */
export interface RateCharge {
  key: string;
  amount: number;
  limit: number;
  windowStart: number;
  windowEnd: number;
}

/**
 * Quota counters per key and time window. Keys of a tenant's counters start with "tenant:<id>:"
 * (Backend.deleteTenant forgets them).
 */
export interface RateLimiter {
  /**
   * Charges every counter, or none: when one would pass its limit nothing is charged and the
   * first refusing charge is returned with its counter's current value.
   */
  consume(
    charges: RateCharge[],
  ): Promise<{ ok: true } | { ok: false; refused: RateCharge; used: number }>;
}
