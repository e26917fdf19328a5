// The storage seam for messaging: the message log with per-recipient delivery state, idempotency
// keys, durable topic subscriptions and conversations. Backends implement these beside the stores
// in types.ts and pass the shared suite.

/** A message as the hub stores it (one copy, however many recipients). */
export interface MessageRecord {
  tenantId: string;
  id: string;
  senderId: string;
  /** Exactly one of recipientId, topic, broadcast describes how it was addressed. */
  target:
    | { kind: "agent"; recipientId: string }
    | { kind: "topic"; topic: string }
    | { kind: "broadcast" };
  /** acb.v1.MessageType as its number. */
  type: number;
  kind: string;
  contentType: string;
  data: Uint8Array;
  contextId: string;
  correlationId: string;
  replyTo: string;
  conversationId: string;
  idempotencyKey: string;
  metadata: Record<string, string>;
  headers: Record<string, string>;
  createdAt: number;
  expiresAt: number;
}

/** One delivery attempt handed to a receiver. */
export interface ClaimedDelivery {
  deliveryId: string;
  attempt: number;
  deadline: number;
  message: MessageRecord;
}

/** How Ack/Nack treated one delivery id. */
export type SettleOutcome = "ok" | "stale" | "not-found";

/**
 * How long a settled delivery id is remembered after it left the in-flight set (acked, nacked, or
 * reaped past its deadline), so that a retried Ack or Nack gets the same answer (the proto's
 * SettleStatus): 5 minutes.
 */
export const SETTLED_RETENTION_MS = 5 * 60_000;

/**
 * How many settled delivery ids are remembered per agent at most; beyond it the oldest are
 * forgotten first. Bounds the memory a busy agent costs (one small record per id).
 */
export const SETTLED_RETENTION_COUNT = 10_000;

export interface DeadLetterRecord {
  id: string;
  tenantId: string;
  agentId: string;
  message: MessageRecord;
  /** acb.v1.DeadLetterReason as its number. */
  reason: number;
  attempts: number;
  lastError: string;
  deadLetteredAt: number;
}

export interface NackOptions {
  /** Redeliver no earlier than this (ms since epoch). */
  availableAt: number;
  /** Dead-letter at once instead of redelivering. */
  deadLetter: boolean;
  error: string;
  maxAttempts: number;
}

/**
 * Per-recipient queues over one message log. Each recipient's queue is FIFO for first attempts
 * (per sender→recipient order); claimed entries become in-flight with a deadline; entries past
 * their deadline are redelivered (attempt + 1) or dead-lettered once maxAttempts is reached;
 * expired messages are discarded whenever they are met.
 *
 * Settlement is idempotent: a delivery id that left the in-flight set is remembered, with how it
 * left, for at least {@link SETTLED_RETENTION_MS} after that (a backend may keep only the
 * {@link SETTLED_RETENTION_COUNT} most recent per agent, and may remember longer). While
 * remembered, ack/nack answer "ok" when it was settled the same way and "stale" when it was
 * settled the other way or reaped past its deadline; once forgotten they answer "not-found".
 */
export interface MessageStore {
  /** Stores the message and queues it for every recipient; resolves once durable. */
  enqueue(message: MessageRecord, recipients: readonly string[]): Promise<void>;
  /**
   * Claims up to `max` deliverable entries of the agent's queue (due retries first, then new
   * messages in order), marking them in flight until `deadline`.
   */
  claim(
    tenantId: string,
    agentId: string,
    max: number,
    now: number,
    deadline: number,
  ): Promise<ClaimedDelivery[]>;
  /**
   * Settles in-flight deliveries as done: "ok" (now or already acked), "stale" (deadline passed,
   * nacked, or reaped), "not-found" (never issued to this agent, or forgotten).
   */
  ack(
    tenantId: string,
    agentId: string,
    deliveryIds: readonly string[],
    now: number,
  ): Promise<SettleOutcome[]>;
  /**
   * Settles in-flight deliveries as failed (redelivered at options.availableAt, or dead-lettered):
   * "ok" (now or already nacked), "stale" (deadline passed, acked, or reaped), "not-found".
   */
  nack(
    tenantId: string,
    agentId: string,
    deliveryIds: readonly string[],
    now: number,
    options: NackOptions,
  ): Promise<SettleOutcome[]>;
  /** Returns in-flight entries past their deadline to the queue, or dead-letters them. */
  reap(
    tenantId: string,
    agentId: string,
    now: number,
    maxAttempts: number,
  ): Promise<{ redelivered: number; deadLettered: number }>;
  /** The earliest instant something of this agent's queue changes by itself (a deadline or a delayed retry). */
  nextWake(tenantId: string, agentId: string): Promise<number | undefined>;
  /** Entries waiting (not in flight) for the agent. */
  backlog(tenantId: string, agentId: string): Promise<number>;
  /** Entries of the agent in flight: claimed, not yet settled or reaped. */
  inFlight(tenantId: string, agentId: string): Promise<number>;
  listDeadLetters(
    tenantId: string,
    agentId: string | undefined,
    afterId: string,
    limit: number,
  ): Promise<DeadLetterRecord[]>;
  getDeadLetter(tenantId: string, id: string): Promise<DeadLetterRecord | undefined>;
  /** Re-queues the dead letter at the back of its agent's queue with attempts reset; false when unknown. */
  replayDeadLetter(tenantId: string, id: string, expiresAt: number): Promise<boolean>;
  purgeDeadLetter(tenantId: string, id: string): Promise<boolean>;
  /** Drops the agent's queue, in-flight entries and dead letters (unregistration). */
  deleteAgent(tenantId: string, agentId: string): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
}

export interface IdempotencyStore {
  /**
   * Remembers (tenant, sender, key) → messageId until `expiresAt`, unless a live entry exists:
   * then nothing changes and the existing message id is returned.
   */
  putIfAbsent(
    tenantId: string,
    senderId: string,
    key: string,
    messageId: string,
    expiresAt: number,
    now: number,
  ): Promise<string | undefined>;
  /** Forgets the key if it still maps to `messageId` (the send failed before anything was stored). */
  release(tenantId: string, senderId: string, key: string, messageId: string): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
}

export interface TopicSubscriptionRecord {
  tenantId: string;
  agentId: string;
  pattern: string;
  createdAt: number;
}

export interface TopicStore {
  /** Adds the subscription; returns false when it already existed. */
  subscribe(sub: TopicSubscriptionRecord): Promise<boolean>;
  unsubscribe(tenantId: string, agentId: string, pattern: string): Promise<boolean>;
  list(tenantId: string, agentId: string): Promise<TopicSubscriptionRecord[]>;
  /** Agents with at least one pattern matching `topic` (each once). */
  match(tenantId: string, topic: string): Promise<string[]>;
  deleteAgent(tenantId: string, agentId: string): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
}

export interface ConversationRecord {
  tenantId: string;
  id: string;
  /** acb.v1.ConversationMode as its number. */
  mode: number;
  initiatorId: string;
  participants: string[];
  /** acb.v1.ConversationState as its number. */
  state: number;
  subject: string;
  metadata: Record<string, string>;
  timeoutMs: number | undefined;
  timeoutAt: number | undefined;
  createdAt: number;
  updatedAt: number;
  endedAt: number | undefined;
  closedBy: string;
  closeReason: string;
  messageCount: number;
  version: number;
}

export interface ConversationStore {
  create(c: ConversationRecord): Promise<boolean>;
  get(tenantId: string, id: string): Promise<ConversationRecord | undefined>;
  /** Compare-and-set on `version`. */
  replace(next: ConversationRecord, expectedVersion: number): Promise<boolean>;
  /** Conversations (newest first) in which `participant` takes part, strictly before `beforeId`. */
  list(
    tenantId: string,
    participant: string,
    beforeId: string,
    limit: number,
  ): Promise<ConversationRecord[]>;
  appendMessage(tenantId: string, conversationId: string, message: MessageRecord): Promise<void>;
  /** History in acceptance order, strictly after index `afterIndex` (0-based; -1 for the start). */
  history(
    tenantId: string,
    conversationId: string,
    afterIndex: number,
    limit: number,
  ): Promise<{ index: number; message: MessageRecord }[]>;
  indexOf(tenantId: string, conversationId: string, messageId: string): Promise<number>;
  deleteTenant(tenantId: string): Promise<void>;
}
