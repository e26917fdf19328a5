// The storage seam: the hub's services reach storage only through these interfaces. Each backend
// (storage/memory today; PostgreSQL, Redis and Kafka later) implements the ones it serves, declares
// its capabilities, and passes the shared suite (backend-test-suite.ts, one file per store).
//
// Rules every backend keeps (a SQL backend maps each method to one transaction):
// - A write and what it implies commit together: a record and its change event, a message and
//   its conversation entry and idempotency key. Each such write is ONE method here, never two calls.
// - What a store keeps is plain data and bytes (change events are protobuf bytes), never live objects.
// - Nothing two hub nodes (or one before and after a restart) must agree on lives in a process:
//   the hub epoch, pending requests and deadlines are stored; wake-ups go through the Notifier.

import type {
  ConversationStore,
  IdempotencyStore,
  MessageStore,
  RequestStore,
  TopicStore,
} from "./messaging-types.js";

import type { ApiKeyStore, AuditStore, RateLimiter, UsageStore } from "./security-types.js";

export type * from "./messaging-types.js";
export type * from "./security-types.js";

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
  /** acb.v1.BacklogPolicy as its number; absent in records stored before it existed (REFUSE). */
  backlogPolicy?: number;
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
  /**
   * Entries (waiting or in flight) one agent may hold; 0: no limit. Absent in a record stored
   * before the field existed: the tier's preset applies (presetOr).
   */
  agentBacklogMessages?: number;
  /** Entries all agents of the tenant may hold together; 0: no limit; absent as above. */
  tenantBacklogMessages?: number;
  /** Messages the tenant may send per second; 0: no limit; absent as above. */
  tenantMessagesPerSecond?: number;
}

export interface TenantRecord {
  id: string;
  displayName: string;
  /** acb.v1.Tier as its number. */
  tier: number;
  quotas: TenantQuotasRecord;
  settings: TenantSettingsRecord;
  createdAt: number;
  /**
   * Random, new for every CreateTenant: credentials carry it, so those of a deleted tenant do not
   * work for a later tenant of the same id.
   */
  incarnation?: string;
}

export interface TenantStore {
  /** Stores a new tenant; returns false when the id is taken. */
  create(tenant: TenantRecord): Promise<boolean>;
  get(id: string): Promise<TenantRecord | undefined>;
  /** Tenants ordered by id, strictly after `afterId`. */
  list(afterId: string, limit: number): Promise<TenantRecord[]>;
  /** Replaces a tenant; returns false when it does not exist. */
  update(tenant: TenantRecord): Promise<boolean>;
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
  /**
   * End-to-end encryption public keys as published at registration, current first. Plain JSON
   * (publicKey is base64url) so every backend stores it as it stores the rest of the record;
   * absent on records written before the field existed.
   */
  publicKeys?: AgentPublicKeyRecord[];
  /**
   * When the agent goes OFFLINE unless heard from before (lastSeen + the tenant's presence
   * timeout), while that has not been announced yet: any node's presence sweep finds it
   * (RegistryStore.listOfflineDue) and announces it once (markOffline). Absent after.
   */
  offlineAt?: number;
}

/** One published key-agreement key (acb.v1.AgentPublicKey). */
export interface AgentPublicKeyRecord {
  keyId: string;
  /** RFC 9180 KEM id: 32 (X25519) or 16 (P-256). */
  kemId: number;
  /** The serialised public key, base64url without padding. */
  publicKey: string;
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

/**
 * Builds the change event of a write from the records the write saw (encoded protobuf bytes), or
 * undefined for none. It runs inside the write's atomic step (a SQL backend calls it between the
 * statements of the transaction), so it must be synchronous and do no I/O.
 */
export type EventBuilder<A extends unknown[]> = (...records: A) => Uint8Array | undefined;

/**
 * Agents. Each write appends its change event to the tenant's "agents" stream of the EventLog in
 * the same atomic step.
 */
export interface RegistryStore {
  /** Inserts or replaces the agent, appending `event`. */
  put(agent: AgentRecord, event: Uint8Array): Promise<void>;
  get(tenantId: string, agentId: string): Promise<AgentRecord | undefined>;
  /**
   * Up to `limit` tenants (sorted, distinct) that hold an object with this id: lets the hub tell
   * a tenant that another tenant named one of its objects (an `authz.probe` audit record).
   */
  tenantsHolding(id: string, limit: number): Promise<string[]>;
  /**
   * Sets lastSeen to at least `at`; returns the updated agent, or undefined when it is not
   * registered. `event` sees the agent before and after and may append one event (e.g. "came
   * back online"): deciding inside the step makes that event exactly-once under concurrent touches.
   */
  touch(
    tenantId: string,
    agentId: string,
    at: number,
    event?: EventBuilder<[before: AgentRecord, after: AgentRecord]>,
    /** With it, offlineAt becomes the new lastSeen + this (see AgentRecord.offlineAt). */
    offlineAfterMs?: number,
  ): Promise<AgentRecord | undefined>;
  /**
   * Agents of every tenant whose offlineAt <= `dueBy`, earliest first, at most `limit`: the
   * presence sweep of whichever node runs it.
   */
  listOfflineDue(dueBy: number, limit: number): Promise<AgentRecord[]>;
  /**
   * Announces that the agent went offline: when its offlineAt is still `offlineAt`, clears it
   * and appends `event`, in one step; false otherwise (touched since, unregistered, or announced
   * by another node already).
   */
  markOffline(
    tenantId: string,
    agentId: string,
    offlineAt: number,
    event: Uint8Array,
  ): Promise<boolean>;
  /**
   * Removes the agent together with what only it owns: its message queue, in-flight deliveries,
   * dead letters and topic subscriptions. Appends `event(removed)`; returns what was removed.
   */
  delete(
    tenantId: string,
    agentId: string,
    event: EventBuilder<[removed: AgentRecord]>,
  ): Promise<AgentRecord | undefined>;
  /** Matching agents ordered by id, strictly after `afterId`, at most `limit`. */
  list(tenantId: string, query: AgentQuery, afterId: string, limit: number): Promise<AgentRecord[]>;
  count(tenantId: string): Promise<number>;
}

/**
 * Where a blob store keeps the bytes of a large value (acb.v1.StorageRef). `backend` names the
 * store ("fs"), `bucket` a container in it (a directory; an S3 bucket), `key` the object within
 * the bucket, so an object store fits the same record.
 */
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

/**
 * Contexts. Every successful write appends its change event (`event`, encoded by the domain) to
 * the tenant's "contexts" stream of the EventLog in the same atomic step; a refused write appends
 * nothing.
 */
export interface ContextStore {
  /** Stores a new context and appends `event`; returns false (nothing written) when the id is taken. */
  create(context: ContextRecord, event: Uint8Array): Promise<boolean>;
  get(tenantId: string, id: string): Promise<ContextRecord | undefined>;
  /**
   * Up to `limit` tenants (sorted, distinct) that hold an object with this id: lets the hub tell
   * a tenant that another tenant named one of its objects (an `authz.probe` audit record).
   */
  tenantsHolding(id: string, limit: number): Promise<string[]>;
  /**
   * Replaces the context only if it is still at `expectedRevision` (compare-and-set), appending
   * `event`. On a conflict nothing is written and the current record (undefined if gone) returned.
   */
  replace(
    next: ContextRecord,
    expectedRevision: number,
    event: Uint8Array,
  ): Promise<{ ok: true } | { ok: false; current: ContextRecord | undefined }>;
  /** Deletes the context if it is still at `expectedRevision`, appending `event`; as replace. */
  delete(
    tenantId: string,
    id: string,
    expectedRevision: number,
    event: Uint8Array,
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
}

/** The named, per-tenant change streams that live subscriptions read. */
export type EventStreamName = "contexts" | "agents";

export interface StoredEvent {
  /** Position in the stream; strictly increasing, starting at 1. */
  seq: number;
  /** The event as the domain encoded it (protobuf bytes). */
  data: Uint8Array;
}

/**
 * An append-only, per-tenant log of change events with bounded retention. Subscribers read from a
 * position and wait for more, so a slow subscriber never makes the hub buffer without bound, and a
 * reconnecting one resumes from its cursor. Events of record writes are appended by the writing
 * store (ContextStore, RegistryStore) in the write's atomic step; `append` is for events that
 * record no write (e.g. an agent observed to go offline).
 */
export interface EventLog {
  append(tenantId: string, stream: EventStreamName, data: Uint8Array): Promise<number>;
  /** Events with seq > afterSeq, oldest first, at most `limit`. */
  read(
    tenantId: string,
    stream: EventStreamName,
    afterSeq: number,
    limit: number,
  ): Promise<StoredEvent[]>;
  /** The last seq appended (0 when none) and the oldest seq still retained. */
  bounds(tenantId: string, stream: EventStreamName): Promise<{ head: number; oldest: number }>;
  /**
   * Resolves when an event after `afterSeq` exists (appended by any writer sharing the backend),
   * or when `signal` aborts.
   */
  waitFor(
    tenantId: string,
    stream: EventStreamName,
    afterSeq: number,
    signal: AbortSignal,
  ): Promise<void>;
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
  /** When the token was issued; a revocation (AuthStore.notBefore) refuses earlier ones. */
  issuedAt?: number;
  /** The groups its family's tokens grant (IssueTokenRequest.groups). */
  groups?: string[];
}

export interface AuthStore {
  putRefreshToken(token: RefreshTokenRecord): Promise<void>;
  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  /** Marks the token used; returns false when it had already been used (reuse). */
  markRefreshTokenUsed(hash: string, at: number): Promise<boolean>;
  revokeFamily(familyId: string): Promise<void>;
  isFamilyRevoked(familyId: string): Promise<boolean>;
  /**
   * Records that tokens of `subject` in `tenantId` ("" for every subject of the tenant) issued
   * before `at` (ms since epoch) are revoked. A later time replaces an earlier one, never the
   * reverse. Removed by Backend.deleteTenant.
   */
  setNotBefore(tenantId: string, subject: string, at: number): Promise<void>;
  /** The latest of the tenant's and the subject's not-before times; 0 when neither is set. */
  notBefore(tenantId: string, subject: string): Promise<number>;
}

/** A meeting participant as stored; status is acb.v1.MeetingParticipantStatus as its number. */
export interface MeetingParticipantRecord {
  agentId: string;
  status: number;
  joinedAt?: number;
  leftAt?: number;
}

/** What a turn holder said, as kept in the SPOKE event that recorded it. */
export interface MeetingTranscriptEntryRecord {
  /** The sequence number of the SPOKE event. */
  sequence: number;
  turnNumber: number;
  speakerId: string;
  contentType: string;
  data: Uint8Array;
  time: number;
}

/**
 * A meeting with its turn state. Enums (state, policy, endReason) are the acb.v1 enum numbers.
 * `version` increases by one with every stored change: it is what compare-and-set compares, so
 * several hub nodes (or concurrent calls on one node) can never both apply a change to the same
 * meeting version.
 */
export interface MeetingRecord {
  tenantId: string;
  id: string;
  title: string;
  agenda: string[];
  metadata: Record<string, string>;
  state: number;
  policy: number;
  creatorId: string;
  moderatorId: string;
  /** In turn order. */
  participants: MeetingParticipantRecord[];
  /** Empty when nobody holds the turn. */
  turnHolderId: string;
  /** The last holder, so round-robin knows where to continue after the turn was freed. */
  lastHolderId: string;
  turnNumber: number;
  turnDeadline?: number;
  queue: string[];
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  endReason: number;
  endNote: string;
  maxDurationMs: number;
  turnTimeoutMs?: number;
  /**
   * The earliest stored deadline of an ACTIVE meeting (turn deadline or the end of its maximum
   * duration); unset otherwise. Stored so any node can find and apply overdue deadlines.
   */
  wakeAt?: number;
  /** The sequence number of the meeting's last event (0 before the first). */
  lastSeq: number;
  /** Speak idempotency keys and the sequence of the SPOKE event each produced. */
  speakKeys: Record<string, number>;
  version: number;
}

/** One event of a meeting; `kind` is acb.v1.WatchMeetingResponse.Kind as its number. */
export interface MeetingEventRecord {
  /** 1, 2, ... within the meeting. */
  seq: number;
  kind: number;
  time: number;
  actorId: string;
  subjectId: string;
  turnHolderId: string;
  turnNumber: number;
  state: number;
  entry?: MeetingTranscriptEntryRecord;
  queuePosition: number;
  endReason: number;
}

/** Meeting listing criteria; every set criterion must match. */
export interface MeetingQuery {
  /** acb.v1.MeetingState as its number. */
  state?: number;
  /** Only meetings in which every one of these agents is a participant (in any status). */
  participantIds?: string[];
}

/** Position in a newest-first meeting listing: (createdAt, id) of the last meeting returned. */
export interface MeetingListPosition {
  createdAt: number;
  id: string;
}

/**
 * Meetings and their events. A meeting and the events of one change are written together by
 * {@link MeetingStore.update}, a compare-and-set on the meeting's version: in a database this is
 * one transaction (or a row lock / lease), which is what lets several hub nodes serve the same
 * meeting without ever producing two turn holders or a gap in the event sequence.
 */
export interface MeetingStore {
  /** Stores a new meeting (with no events); returns false when the id is taken in the tenant. */
  create(meeting: MeetingRecord): Promise<boolean>;
  get(tenantId: string, id: string): Promise<MeetingRecord | undefined>;
  /**
   * Up to `limit` tenants (sorted, distinct) that hold an object with this id: lets the hub tell
   * a tenant that another tenant named one of its objects (an `authz.probe` audit record).
   */
  tenantsHolding(id: string, limit: number): Promise<string[]>;
  /**
   * Replaces the meeting only if it is still at `expectedVersion`, appending `events` (whose seq
   * continue the meeting's sequence) in the same atomic step. Returns the current record
   * (undefined if gone) on a conflict.
   */
  update(
    next: MeetingRecord,
    expectedVersion: number,
    events: MeetingEventRecord[],
  ): Promise<{ ok: true } | { ok: false; current: MeetingRecord | undefined }>;
  /** Events with seq > afterSeq, oldest first, at most `limit`. Kept as long as the meeting. */
  readEvents(
    tenantId: string,
    meetingId: string,
    afterSeq: number,
    limit: number,
  ): Promise<MeetingEventRecord[]>;
  /** Resolves when the meeting has an event after `afterSeq` or is deleted, or when `signal` aborts. */
  waitForEvents(
    tenantId: string,
    meetingId: string,
    afterSeq: number,
    signal: AbortSignal,
  ): Promise<void>;
  /** Matching meetings, newest first (createdAt, then id, descending), after `after`. */
  list(
    tenantId: string,
    query: MeetingQuery,
    after: MeetingListPosition | undefined,
    limit: number,
  ): Promise<MeetingRecord[]>;
  /** Meetings of any tenant whose wakeAt <= `dueBy`, earliest first, at most `limit`. */
  listDue(dueBy: number, limit: number): Promise<MeetingRecord[]>;
  /** Removes a meeting and its events; returns false when it did not exist. */
  delete(tenantId: string, id: string): Promise<boolean>;
}

/**
 * The bytes of large context values (LargeContextService). An object is first STAGED under a key:
 * appended to strictly in order while its upload runs, readable back, then PUBLISHED under the
 * same key (or discarded). That shape fits a file system (a file renamed into place) and an
 * object store (a multipart upload completed into an object) alike. Keys are "/"-separated
 * segments of `[A-Za-z0-9._:@-]` (the hub uses "<tenant>/<upload id>"). Reads stream in pieces,
 * so no caller ever holds a whole object in memory.
 */
export interface BlobStore {
  /** The StorageRef.backend this store writes, e.g. "fs". */
  readonly name: string;
  /**
   * Appends `data` to the staged object `key`; `offset` must equal the bytes staged so far (0
   * creates the object). Either every byte of `data` is kept or, when it fails, none. The store
   * holds no reference to `data` once the returned promise settles: the caller may then reuse its
   * memory (the hub lends upload chunks' memory from a pool, request-bytes.ts).
   */
  append(key: string, offset: number, data: Uint8Array): Promise<void>;
  /** How many bytes are staged under `key`; 0 when nothing is. */
  stagedSize(key: string): Promise<number>;
  /** Bytes [offset, offset + length) of the staged object `key`. */
  readStaged(key: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Makes the staged object `key` a published object and says where it is. Publishing a key that
   * is published already (nothing staged under it any more) answers the same ref again, so a
   * commit retried after its publish went through neither fails nor publishes twice; with neither
   * a staged nor a published object under `key`, it fails.
   */
  publish(key: string): Promise<StorageRefRecord>;
  /** Deletes the staged object `key`; no effect when there is none. */
  discard(key: string): Promise<void>;
  /**
   * Streams bytes [offset, offset + length) of a published object in pieces of `pieceSize` bytes
   * (the last may be shorter). Stopping the iteration early releases what the read holds. With
   * `reuse`, the store may hand out the same buffers again: a piece is then valid only until
   * `hold` more pieces have been asked for (default 1: the next one; no allocation per piece for a
   * consumer that copies or sends it on, and one that sends a piece while the next is hashed
   * holds two). With `shared`, the store hands out pieces in shared memory (a SharedArrayBuffer)
   * when it can, so another thread reads them without a copy; a caller checks `piece.buffer`.
   */
  read(
    ref: StorageRefRecord,
    offset: number,
    length: number,
    pieceSize: number,
    options?: { reuse?: boolean; hold?: number; shared?: boolean },
  ): AsyncIterable<Uint8Array>;
  /** Whether a published object exists. */
  exists(ref: StorageRefRecord): Promise<boolean>;
  /** Deletes a published object; no effect when it is gone already. */
  delete(ref: StorageRefRecord): Promise<void>;
  /** Releases open files and connections. */
  close(): Promise<void>;
}

/**
 * A blob no context revision holds any more (replaced, deleted, expired), kept until `deleteAt`
 * so that downloads reading it, on any node sharing the backend, can finish.
 */
export interface ReleasedBlobRecord {
  tenantId: string;
  ref: StorageRefRecord;
  /** Hub clock, ms: the blob is deleted at this time or later, never before. */
  deleteAt: number;
}

/**
 * Released blobs waiting out their grace period, shared by every node: whichever node sweeps
 * first deletes a due blob, so one node's release never breaks another node's download. A blob is
 * identified by its tenant and ref (backend, bucket, key).
 */
export interface ReleasedBlobStore {
  /** Records a released blob; recording one already recorded keeps the later deleteAt. */
  add(record: ReleasedBlobRecord): Promise<void>;
  /** Released blobs of any tenant whose deleteAt <= `dueBy`, earliest first, at most `limit`. */
  listDue(dueBy: number, limit: number): Promise<ReleasedBlobRecord[]>;
  /** Every released blob of the tenant (its deletion deletes their bytes at once). */
  list(tenantId: string): Promise<ReleasedBlobRecord[]>;
  /** Forgets a released blob (its bytes were deleted); no effect when it is not recorded. */
  delete(tenantId: string, ref: StorageRefRecord): Promise<void>;
}

/**
 * Wake-ups between hub processes sharing a backend (PostgreSQL LISTEN/NOTIFY, Redis pub/sub; in
 * process for the memory backend). A writer publishes after its write committed; a reader that
 * waits subscribes BEFORE it reads the store, and still re-reads on a bounded interval, because a
 * notification may be lost (a dropped connection) and carries no data a reader must trust.
 * Channels are short strings ("inbox:<tenant>:<agent>"); a backend may multiplex them onto one
 * channel of its own.
 */
export interface Notifier {
  /** Tells every subscriber of `channel`, in this process and others; `payload` at most 1,000 bytes. */
  publish(channel: string, payload?: string): Promise<void>;
  /**
   * Calls `listener` for each publish on `channel` from the moment the returned promise resolves
   * until the returned function is called.
   */
  subscribe(channel: string, listener: (payload: string) => void): Promise<() => void>;
  /**
   * True when no publish can be lost: every writer and reader are in this process and a publish
   * calls each listener before it returns (the memory backend). Readers then need no periodic
   * re-check in case a wake-up was lost.
   */
  readonly reliable?: boolean;
}

/** What BeginUpload asked for the context; applied when the upload commits. */
export interface UploadTargetRecord {
  metadata: Record<string, string>;
  replaceMetadata: boolean;
  schemaVersion: string;
  /** acb.v1.ContextScope as its number, and the allowed ids; absent: keep / the default. */
  access?: { scope: number; allowedIds: string[] };
  ttlMs?: number;
  expectedRevision: number;
}

/**
 * An upload session of a large context (LargeContextService), as every node sees it. The running
 * whole-object hash is not stored: a node continuing a session it did not hash itself (another
 * node's, or its own after a restart) hashes the staged bytes [0, verifiedOffset) again, since
 * Node's SHA-256 state cannot be serialized and a JavaScript SHA-256 would slow every chunk.
 */
export interface UploadSessionRecord {
  tenantId: string;
  id: string;
  uploaderId: string;
  /** acb.v1.UploadMode as its number (1 CREATE, 2 UPDATE). */
  mode: number;
  contextId: string;
  type: string;
  totalSize: number;
  /** The whole object's SHA-256 as declared; empty until given. */
  sha256: Uint8Array;
  chunkSize: number;
  verifiedOffset: number;
  bytesReceived: number;
  /** acb.v1.UploadState as its number (1 OPEN, 2 COMMITTED, 3 ABORTED, 4 EXPIRED). */
  state: number;
  createdAt: number;
  /** OPEN: when the session expires unless a chunk arrives; closed: when it closed. */
  expiresAt: number;
  idleTimeoutMs: number;
  committedRevision: number;
  target: UploadTargetRecord;
  /** Where the staged bytes live in the blob store. */
  blobKey: string;
  /** SHA-256 of the whole object, taken when its last byte arrived. */
  digest?: Uint8Array;
  /**
   * Set by CommitUpload before it publishes the object, so the object may be published from then
   * on: a commit that failed for a transient reason leaves the session OPEN with its object
   * published, to be committed again. Closing such a session without a commit reclaims the
   * published object, unless the context holds it (the commit went through, its answer was lost).
   */
  committing?: boolean;
  /** The context the commit made (a repeated CommitUpload answers it). */
  committed?: ContextRecord;
  /** When the sweeper must look at it: expiresAt while OPEN, then when it may be forgotten. */
  wakeAt: number;
  version: number;
}

/** Upload sessions, shared by every node (a client may continue an upload through another node). */
export interface UploadSessionStore {
  /**
   * Stores a new OPEN session. A CREATE session also reserves its context id among the tenant's
   * OPEN CREATE sessions: false (nothing stored) when another one holds it.
   */
  create(session: UploadSessionRecord): Promise<boolean>;
  get(tenantId: string, id: string): Promise<UploadSessionRecord | undefined>;
  /** Compare-and-set on version; a session that leaves OPEN frees its context id. */
  replace(next: UploadSessionRecord, expectedVersion: number): Promise<boolean>;
  /** The id of the OPEN CREATE session that reserves (tenant, contextId), if any. */
  reservedBy(tenantId: string, contextId: string): Promise<string | undefined>;
  /** Sessions of any tenant whose wakeAt <= `dueBy`, earliest first, at most `limit`. */
  listDue(dueBy: number, limit: number): Promise<UploadSessionRecord[]>;
  /**
   * The bytes OPEN sessions have staged (the sum of their verifiedOffset): the tenant's, and
   * every tenant's together. The staging budget counts them against the storage quota and bounds.
   */
  stagedBytes(tenantId: string): Promise<{ tenant: number; all: number }>;
  /** Forgets a session; no effect when it is gone. */
  delete(tenantId: string, id: string): Promise<void>;
}

/**
 * The large-context streams (open uploads, running downloads) each agent holds, counted across
 * every node. A slot is leased until `expiresAt`: its holder renews it while it runs, so the slots
 * of a node that died free themselves.
 */
export interface StreamSlotStore {
  /**
   * Takes the slot `holderId` of the agent when fewer than `limit` unexpired slots (at `now`) are
   * held, in one step. Taking a slot the holder already has renews it.
   */
  acquire(
    tenantId: string,
    agentId: string,
    holderId: string,
    limit: number,
    expiresAt: number,
    now: number,
  ): Promise<{ ok: true } | { ok: false; held: number }>;
  /** Moves the lease of a held slot; no effect when it is not held. */
  renew(tenantId: string, agentId: string, holderId: string, expiresAt: number): Promise<void>;
  /** Frees the slot; no effect when it is not held. */
  release(tenantId: string, agentId: string, holderId: string): Promise<void>;
}

/** A configured backend: the stores it serves and what it promises. */
export interface Backend {
  readonly capabilities: BackendCapabilities;
  /**
   * The hub epoch: made (random) by the first call and stored, then the same for every later call,
   * every node sharing the backend and, for a durable backend, every restart. Cursors carry it.
   */
  epoch(): Promise<string>;
  /**
   * Deletes a tenant and everything it owns, in every store, in one step: its record, agents,
   * contexts, events, refresh tokens, meetings, messages, dead letters, idempotency keys, topic
   * subscriptions, conversations, pending requests, upload sessions, stream slots, released
   * blobs, API keys, usage and rate counters. Its audit
   * records stay (evidence) and blobs are the caller's (BlobStore holds no tenant index). Returns
   * false when the tenant did not exist (nothing changes).
   */
  deleteTenant(tenantId: string): Promise<boolean>;
  /** Cross-process wake-ups. */
  readonly notifier: Notifier;
  readonly tenants: TenantStore;
  readonly registry: RegistryStore;
  readonly contexts: ContextStore;
  readonly events: EventLog;
  readonly auth: AuthStore;
  /** Bytes of large context values. */
  readonly blobs: BlobStore;
  /** Large-context streams held per agent. */
  readonly streamSlots: StreamSlotStore;
  /** Upload sessions of large contexts. */
  readonly uploads: UploadSessionStore;
  /** Blobs of replaced values waiting out their grace period before they are deleted. */
  readonly releasedBlobs: ReleasedBlobStore;
  readonly meetings: MeetingStore;
  readonly messages: MessageStore;
  readonly idempotency: IdempotencyStore;
  readonly topics: TopicStore;
  readonly conversations: ConversationStore;
  /** Request calls waiting for their reply (request-reply across nodes). */
  readonly requests: RequestStore;
  /** API keys (hashed). */
  readonly apiKeys: ApiKeyStore;
  /** The audit log. */
  readonly audit: AuditStore;
  /** Metered usage per tenant and hour. */
  readonly usage: UsageStore;
  /** Quota counters per time window. */
  readonly rateLimits: RateLimiter;
  /**
   * False while the backend cannot reach its database (the hub then reports NOT_SERVING on its
   * health service). Absent: always available (an in-process backend).
   */
  isAvailable?(): boolean;
  close(): Promise<void>;
}
