// The storage seam for messaging: the message log with per-recipient delivery state, idempotency
// keys, durable topic subscriptions, conversations and pending requests. Backends implement these
// beside the stores in types.ts and pass the shared suite.

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
  /**
   * Its place in the agent's queue, where the store tells it: a stream sends deliveries claimed
   * as their messages were stored (SendEffects.claim) in this order among those a poll claimed.
   */
  order?: number;
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
 * How many entries (waiting or in flight, not yet acknowledged) the tenant's agents may hold,
 * and what a send past a limit does (acb.v1.TenantQuotas agent_backlog_messages and
 * tenant_backlog_messages, TenantSettings.backlog_policy).
 */
export interface BacklogLimits {
  /** Entries one agent may hold; 0: no limit. */
  agent: number;
  /** Entries all agents of the tenant together may hold (one per recipient); 0: no limit. */
  tenant: number;
  /**
   * At a limit: refuse the send (nothing stored), or dead-letter the oldest entries never
   * delivered (of the full recipient, or of the tenant) with reason BACKLOG_FULL to make room;
   * when there are not enough of those, the send is refused.
   */
  policy: "refuse" | "dead-letter-oldest";
  /** The instant dead letters are stamped with. */
  now: number;
}

/** What else a send commits in the same atomic step as its message (see MessageStore.enqueue). */
export interface EnqueueOptions {
  /** Backlog limits the send must fit in (see BacklogLimits); without it, none. */
  backlog?: BacklogLimits;
  /**
   * Deduplicate on (tenant, sender, message.idempotencyKey): when a live entry exists nothing is
   * stored and its message id is returned; otherwise the key is kept until `expiresAt`.
   */
  idempotency?: { expiresAt: number; now: number };
  /**
   * The conversation the message is sent in: replaced by `next` (one more message, a new
   * timeoutAt, version + 1) only if still at `expectedVersion`, with the message appended to its
   * history.
   */
  conversation?: { next: ConversationRecord; expectedVersion: number };
  /** What to commit with the message where the store can (see MessageStore.folds). */
  effects?: SendEffects;
}

/**
 * What a send does besides storing its messages, which a store whose {@link MessageStore.folds}
 * says so commits in the same write as the messages that it stores (and not at all when it
 * stores none): one round trip to a database instead of three. The hub does the others itself.
 */
export interface SendEffects {
  /**
   * Meter the usage of what is stored (its messages and payload bytes) in the hour bucket that
   * starts at hourStart, as UsageStore.add would.
   */
  meter?: { hourStart: number };
  /** Notifier channels to publish on (an empty payload) once the messages are durable. */
  wake?: readonly string[];
  /**
   * Recipients whose live stream is on this node and can take their new messages at once, one
   * offer per agent. A store whose `folds.claim` says so claims the messages of such a recipient
   * for that stream in the write that stores them (in flight, attempt 1, until the offer's
   * deadline) when nothing of the agent's queue is waiting and the call has no more messages to
   * it than the offer's room, and answers them in the result's `claimed` instead of waking the
   * agent; otherwise it wakes the offer's channel as `wake` would (when it folds wake-ups).
   * Stores that do not claim treat the offers' channels as part of `wake`.
   */
  claim?: readonly ClaimOffer[];
}

/** A live stream's offer to take its agent's new messages as they are stored (SendEffects.claim). */
export interface ClaimOffer {
  agentId: string;
  /** How many messages to the agent the stream can take (free slots of its window it reserved). */
  room: number;
  /** The ack deadline of what it takes. */
  deadline: number;
  /** The Notifier channel that wakes the stream when nothing is claimed for it. */
  channel: string;
}

/** A delivery claimed for a recipient's stream as its message was stored (SendEffects.claim). */
export interface ClaimedFor {
  agentId: string;
  delivery: ClaimedDelivery;
}

export type EnqueueResult =
  /** Stored; `claimed`: its deliveries claimed for live streams (SendEffects.claim). */
  | { ok: true; claimed?: readonly ClaimedFor[] }
  /** A live idempotency entry holds the key: nothing was stored. */
  | { ok: false; duplicateOf: string }
  /** The conversation moved past `expectedVersion` (or is gone): nothing was stored. */
  | { ok: false; conversationConflict: true }
  /** A backlog limit would be passed and could not be made room in: nothing was stored. */
  | { ok: false; backlogFull: BacklogFull };

/** Which backlog limit refused a send. */
export interface BacklogFull {
  scope: "agent" | "tenant";
  /** The full recipient (scope "agent"). */
  agentId: string;
  limit: number;
}

/** One message of {@link MessageStore.enqueueMany}. */
export interface EnqueueItem {
  message: MessageRecord;
  recipients: readonly string[];
  idempotency?: EnqueueOptions["idempotency"];
  backlog?: BacklogLimits;
}

/** What {@link MessageStore.poll} does. */
export interface PollOptions {
  /** The stream's flow-control window: claims stop when this many are in flight. */
  limit: number;
  now: number;
  /** The deadline of what this poll claims. */
  deadline: number;
  /** Reaped entries with this many attempts are dead-lettered. */
  maxAttempts: number;
}

/** What {@link MessageStore.poll} found. */
export interface PollResult {
  deliveries: ClaimedDelivery[];
  /** Entries in flight after the claim (the window is full when this reaches the limit). */
  inFlight: number;
  /** As {@link MessageStore.nextWake}, after the claim. */
  nextWake: number | undefined;
}

/**
 * {@link MessageStore.poll} from the store's separate steps (for backends where each is cheap).
 * Entries claimed together share one deadline, so the next wake after a claim is the earlier of
 * the one before and that deadline.
 */
export async function pollByParts(
  store: Pick<MessageStore, "reap" | "claim" | "inFlight" | "nextWake">,
  tenantId: string,
  agentId: string,
  o: PollOptions,
): Promise<PollResult> {
  const due = await store.nextWake(tenantId, agentId);
  if (due !== undefined && due <= o.now) await store.reap(tenantId, agentId, o.now, o.maxAttempts);
  const before = await store.inFlight(tenantId, agentId);
  const deliveries =
    before < o.limit
      ? await store.claim(tenantId, agentId, o.limit - before, o.now, o.deadline)
      : [];
  return {
    deliveries,
    inFlight: before + deliveries.length,
    nextWake: await store.nextWake(tenantId, agentId),
  };
}

/** {@link MessageStore.enqueueMany} as one {@link MessageStore.enqueue} after the other. */
export async function enqueueEach(
  store: Pick<MessageStore, "enqueue">,
  items: readonly EnqueueItem[],
): Promise<EnqueueResult[]> {
  const out: EnqueueResult[] = [];
  for (const { message, recipients, idempotency, backlog } of items) {
    out.push(
      await store.enqueue(message, recipients, {
        ...(idempotency && { idempotency }),
        ...(backlog && { backlog }),
      }),
    );
  }
  return out;
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
  /**
   * Stores the message and queues it for every recipient, with its idempotency key and its
   * conversation change (see EnqueueOptions): all of it or nothing. Resolves once durable.
   */
  enqueue(
    message: MessageRecord,
    recipients: readonly string[],
    options?: EnqueueOptions,
  ): Promise<EnqueueResult>;
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
  /**
   * Stores several messages, each as {@link enqueue} would with its idempotency option (never a
   * conversation), in item order, each with its own result. A SQL backend commits them in one
   * transaction: a batched send costs one round of writes, not one per message.
   */
  enqueueMany(items: readonly EnqueueItem[], effects?: SendEffects): Promise<EnqueueResult[]>;
  /**
   * Which {@link SendEffects} this store commits with a send's messages (given to enqueue or
   * enqueueMany): `meter` as the usage store's add would, `wake` as the backend's Notifier would
   * publish, `claim` the offers of live streams. Absent: none, the caller does them. When no
   * message of the call is stored, none happens.
   */
  readonly folds?: { meter: boolean; wake: boolean; claim?: boolean };
  /**
   * One look at the agent's queue for its live stream, as one step where the backend can: reaps
   * entries past their deadline (as {@link reap}), claims up to `limit` minus the entries in
   * flight (as {@link claim}), and reports what is in flight afterwards and the queue's next wake
   * (as {@link inFlight} and {@link nextWake}). {@link pollByParts} composes it from those.
   */
  poll(tenantId: string, agentId: string, options: PollOptions): Promise<PollResult>;
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
}

/** Idempotency keys are written by MessageStore.enqueue; this reads them. */
export interface IdempotencyStore {
  /** The message id a live (expiresAt > now) key of (tenant, sender) maps to. */
  lookup(tenantId: string, senderId: string, key: string, now: number): Promise<string | undefined>;
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
  /** When an OPEN conversation times out (restarted by every message); stored so any node can apply it. */
  timeoutAt: number | undefined;
  createdAt: number;
  updatedAt: number;
  endedAt: number | undefined;
  closedBy: string;
  closeReason: string;
  messageCount: number;
  version: number;
}

/** Conversations; a message joins one's history through MessageStore.enqueue. */
export interface ConversationStore {
  create(c: ConversationRecord): Promise<boolean>;
  get(tenantId: string, id: string): Promise<ConversationRecord | undefined>;
  /** Compare-and-set on `version`. */
  replace(next: ConversationRecord, expectedVersion: number): Promise<boolean>;
  /**
   * OPEN conversations (state 1) of any tenant whose timeoutAt <= `dueBy`, earliest first, at
   * most `limit`.
   */
  listDue(dueBy: number, limit: number): Promise<ConversationRecord[]>;
  /** Conversations (newest first) in which `participant` takes part, strictly before `beforeId`. */
  list(
    tenantId: string,
    participant: string,
    beforeId: string,
    limit: number,
  ): Promise<ConversationRecord[]>;
  /** History in acceptance order, strictly after index `afterIndex` (0-based; -1 for the start). */
  history(
    tenantId: string,
    conversationId: string,
    afterIndex: number,
    limit: number,
  ): Promise<{ index: number; message: MessageRecord }[]>;
  indexOf(tenantId: string, conversationId: string, messageId: string): Promise<number>;
}

/** A Request call waiting for its reply, as any node sees it. */
export interface PendingRequestRecord {
  tenantId: string;
  /** The request message's id (replies carry it as correlationId). */
  id: string;
  requesterId: string;
  conversationId: string;
  /** The accepted reply, once one arrived. */
  reply?: MessageRecord;
  /** The call ended (answered, timed out, cancelled): later replies are dropped. */
  ended: boolean;
  /** When the record may be forgotten (ms since epoch). */
  forgetAt: number;
}

/**
 * Request calls waiting for their reply. The waiting call may run on another node than the one
 * that accepts the reply: the reply is stored here, and the waiter is woken through the Notifier.
 */
export interface RequestStore {
  /** Records a waiting request (no reply, not ended). */
  open(request: Omit<PendingRequestRecord, "reply" | "ended">): Promise<void>;
  get(tenantId: string, id: string): Promise<PendingRequestRecord | undefined>;
  /**
   * Offers `reply` (a RESPONSE whose correlationId names a request) in one step: "accepted" when
   * the request waits, has no reply yet and the reply is addressed to its requester (it is stored);
   * "late" when that request ended or was answered already (dropped); "none" when no such request
   * is known (or the reply is addressed to another agent): the reply is an ordinary message.
   */
  answer(reply: MessageRecord, now: number): Promise<"accepted" | "late" | "none">;
  /** Marks the request ended, to be forgotten at `forgetAt`; returns it as it was, if known. */
  end(tenantId: string, id: string, forgetAt: number): Promise<PendingRequestRecord | undefined>;
}
