import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { newId } from "../../ids.js";
import { type BacklogHeld, type BacklogPlan, planBacklog } from "../backlog-plan.js";
import {
  type BacklogLimits,
  type ClaimedDelivery,
  type DeadLetterRecord,
  type MessageRecord,
  type MessageStore,
  type NackOptions,
  SETTLED_RETENTION_COUNT,
  SETTLED_RETENTION_MS,
  type SettleOutcome,
} from "../messaging-types.js";

interface Entry {
  /** Enqueue order across the store: the oldest entry of a tenant has the lowest. */
  seq: number;
  message: MessageRecord;
  /** Attempts made so far (0 before the first delivery). */
  attempts: number;
  availableAt: number;
  deliveryId: string;
  deadline: number;
  lastError: string;
}

/**
 * One recipient's queue. `ready` is a FIFO read from `head`, so dequeuing never shifts the array;
 * a dequeued slot is cleared at once, so an entry (and its payload) is held by the in-flight set
 * alone and released when it is acked, not when the array is next compacted.
 */
class Inbox {
  constructor(
    readonly tenantId: string,
    readonly agentId: string,
  ) {}
  ready: (Entry | undefined)[] = [];
  head = 0;
  /** Redeliveries waiting for their availableAt; served before new messages. */
  retries: Entry[] = [];
  inFlight = new Map<string, Entry>();
  /**
   * Delivery ids in the order they were claimed (a FIFO read from `claimedHead`); ids no longer
   * in flight are skipped and dropped from the front. The earliest claim still in flight is read
   * from here, not from `inFlight`'s insertion order (see `settled` on why).
   */
  // Stryker disable next-line ArrayDeclaration: an id that is not in flight is skipped
  private claimed: string[] = [];
  private claimedHead = 0;
  dead = new Map<string, DeadLetterRecord>();
  /**
   * Delivery ids that left the in-flight set, so a repeated Ack or Nack gets the same answer: how
   * each was settled and until when it is remembered. Bounded by SETTLED_RETENTION_MS and
   * SETTLED_RETENTION_COUNT; the oldest are forgotten first. `settledOrder` holds them in the order
   * they left (a FIFO read from `settledHead`): forgetting pops its front. (Using the Map's own
   * insertion order for that is quadratic in V8: a deleted entry stays a hole at the front of
   * the table until it is rebuilt, and each read of the oldest key walks every hole.)
   */
  settled = new Map<string, SettledRecord>();
  // Stryker disable next-line all: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
  private settledOrder: SettledRecord[] = [];
  private settledHead = 0;

  /** Remembers how a delivery left the in-flight set. */
  settle(deliveryId: string, how: Settlement, now: number): void {
    const record = { id: deliveryId, how, until: now + SETTLED_RETENTION_MS };
    this.settled.set(deliveryId, record);
    // Stryker disable next-line all: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
    this.settledOrder.push(record);
    // Stryker disable next-line all: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
    this.forget(now);
  }

  /** How the delivery was settled, if it still is remembered. */
  settlement(deliveryId: string, now: number): Settlement | undefined {
    const s = this.settled.get(deliveryId);
    return s && s.until > now ? s.how : undefined;
  }

  /** Drops remembered settlements past their window, and the oldest beyond the count bound. */
  // Stryker disable next-line BlockStatement: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
  private forget(now: number): void {
    const order = this.settledOrder;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
    while (this.settledHead < order.length) {
      const oldest = order[this.settledHead] as SettledRecord;
      // Stryker disable next-line LogicalOperator: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
      if (oldest.until > now && this.settled.size <= SETTLED_RETENTION_COUNT) break;
      // Stryker disable next-line all: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
      this.settledHead++;
      // The id may have been settled again since (a later record replaced this one).
      // Stryker disable next-line all: remembered settlements: the proto lets a hub remember a settlement longer, and forgetting starts only after SETTLED_RETENTION_MS (5 minutes) or SETTLED_RETENTION_COUNT settlements, which no case waits for
      if (this.settled.get(oldest.id) === oldest) this.settled.delete(oldest.id);
    }
    // Compact once the consumed prefix dominates, keeping this amortised O(1).
    // Stryker disable next-line all: compaction only bounds memory; what is remembered is unchanged
    if (this.settledHead > 1024 && this.settledHead * 2 > order.length) {
      // Stryker disable next-line MethodExpression: compaction only bounds memory; a record already read again is skipped (the id no longer maps to it)
      this.settledOrder = order.slice(this.settledHead);
      this.settledHead = 0;
    }
  }

  /** Puts a claimed entry in flight under its (new) delivery id. */
  claim(e: Entry): void {
    this.inFlight.set(e.deliveryId, e);
    this.claimed.push(e.deliveryId);
  }

  /** The in-flight entry claimed first (with the earliest deadline, see nextWake). */
  oldestInFlight(): Entry | undefined {
    const ids = this.claimed;
    while (this.claimedHead < ids.length) {
      const e = this.inFlight.get(ids[this.claimedHead] as string);
      if (e) {
        // Stryker disable next-line all: compaction only bounds memory; the claims' order is unchanged
        if (this.claimedHead > 1024 && this.claimedHead * 2 > ids.length) {
          // Stryker disable next-line MethodExpression: compaction only bounds memory; an id read again is not in flight and is skipped
          this.claimed = ids.slice(this.claimedHead);
          this.claimedHead = 0;
        }
        return e;
      }
      this.claimedHead++;
    }
    // Everything claimed has been settled: start the FIFO again.
    // Stryker disable next-line ArrayDeclaration: an id that is not in flight is skipped
    this.claimed = [];
    this.claimedHead = 0;
    return undefined;
  }

  push(e: Entry): void {
    this.ready.push(e);
  }

  shift(): Entry | undefined {
    if (this.head >= this.ready.length) return undefined;
    const e = this.ready[this.head];
    this.ready[this.head++] = undefined;
    // Compact once the consumed prefix dominates, keeping shift amortised O(1).
    // Stryker disable next-line all: compaction only bounds memory; the queue's order is unchanged
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  get waiting(): number {
    return this.ready.length - this.head + this.retries.length;
  }

  /** Entries never delivered yet, oldest first from `head`. */
  get undelivered(): number {
    return this.ready.length - this.head;
  }

  /** Entries not acknowledged: waiting or in flight (what a backlog limit counts). */
  get held(): number {
    return this.waiting + this.inFlight.size;
  }
}

/** How a delivery left the in-flight set: acked, nacked, or reaped after its ack deadline. */
type Settlement = "ack" | "nack" | "expired";

interface SettledRecord {
  id: string;
  how: Settlement;
  until: number;
}

/**
 * The answer to a second Ack or Nack of a delivery that already left the in-flight set: OK when
 * settled the same way, STALE otherwise (settled the other way, or its deadline had passed).
 */
function repeated(
  inbox: Inbox | undefined,
  id: string,
  how: Settlement,
  now: number,
): SettleOutcome {
  const earlier = inbox?.settlement(id, now);
  if (earlier === undefined) return "not-found";
  return earlier === how ? "ok" : "stale";
}

/** The plan of one send that fits: nothing refused, nothing dropped. */
// Stryker disable next-line ArrowFunction: no plan means no refusal and no eviction, as this one does
const noPlan = (): BacklogPlan => ({
  // Stryker disable next-line ArrayDeclaration: an empty list has no refusal either (refused[0] is undefined)
  refused: [undefined],
  agentEvictions: new Map(),
  tenantEvictions: 0,
  // Stryker disable next-line ArrayDeclaration: the memory store never reads batchEvictions (the SQL backends' batched writes do)
  batchEvictions: [],
});

const key = (tenantId: string, agentId: string) => `${tenantId}\u0000${agentId}`;

/**
 * The queues alone: the memory backend wraps enqueue with idempotency keys and conversations
 * (memory-backend.ts). Every method body runs without awaiting, so a call is one step.
 */
export interface MemoryMessageQueues extends Omit<MessageStore, "enqueue" | "enqueueMany"> {
  /**
   * Whether a message for `recipients` fits the tenant's backlog limits, and what must be
   * dead-lettered to make room (see planBacklog); changes nothing.
   */
  planBacklog(tenantId: string, recipients: readonly string[], limits: BacklogLimits): BacklogPlan;
  /** Queues the message for every recipient, first carrying out `plan`'s evictions (at once). */
  enqueue(
    message: MessageRecord,
    recipients: readonly string[],
    plan?: { plan: BacklogPlan; now: number },
  ): void;
  /** How many entries of the agent's queue wait (never delivered, or back for a retry). */
  waitingOf(tenantId: string, agentId: string): number;
  /**
   * Claims every never-delivered entry of the agent's queue, in queue order, for a live stream
   * that takes them as they are stored (SendEffects.claim; the backend calls it only for a queue
   * where nothing else waited): in flight until `deadline`, each with its next attempt and its
   * place in the queue (`order`).
   */
  claimWaiting(tenantId: string, agentId: string, deadline: number): ClaimedDelivery[];
  deleteAgent(tenantId: string, agentId: string): Promise<void>;
  deleteTenant(tenantId: string): Promise<void>;
}

/** The embedded message store: per-recipient queues in process memory. */
export function createMemoryMessageStore(): MemoryMessageQueues {
  const inboxes = new Map<string, Inbox>();
  /** Each tenant's inboxes, and how many entries they hold together (Inbox.held summed). */
  const tenants = new Map<string, { inboxes: Set<Inbox>; held: number }>();
  let deliverySeq = 0;
  let entrySeq = 0;
  const tenantOf = (tenantId: string) => {
    let t = tenants.get(tenantId);
    if (!t) {
      t = { inboxes: new Set(), held: 0 };
      tenants.set(tenantId, t);
    }
    return t;
  };
  /** Counts entries the tenant gained (positive) or no longer holds (negative). */
  const held = (tenantId: string, delta: number) => {
    tenantOf(tenantId).held += delta;
  };
  const inboxOf = (tenantId: string, agentId: string): Inbox => {
    const k = key(tenantId, agentId);
    let inbox = inboxes.get(k);
    if (!inbox) {
      inbox = new Inbox(tenantId, agentId);
      inboxes.set(k, inbox);
      tenantOf(tenantId).inboxes.add(inbox);
    }
    return inbox;
  };
  const toDead = (
    inbox: Inbox,
    agentId: string,
    e: Entry,
    reason: DeadLetterReason,
    now: number,
  ) => {
    const id = newId("dlq_", now);
    inbox.dead.set(id, {
      id,
      tenantId: e.message.tenantId,
      agentId,
      message: e.message,
      reason,
      attempts: e.attempts,
      lastError: e.lastError,
      deadLetteredAt: now,
    });
  };
  /** Drops the inbox's oldest never-delivered entry to the dead letters (expired: discarded). */
  const evictOldest = (inbox: Inbox, now: number): boolean => {
    const e = inbox.shift();
    if (!e) return false;
    held(inbox.tenantId, -1);
    if (e.message.expiresAt > now)
      toDead(inbox, inbox.agentId, e, DeadLetterReason.BACKLOG_FULL, now);
    return true;
  };
  /** The tenant's inbox whose oldest never-delivered entry is the oldest of all. */
  const oldestInbox = (tenantId: string): Inbox | undefined => {
    let best: Inbox | undefined;
    let bestSeq = Infinity;
    // Stryker disable next-line OptionalChaining,ArrayDeclaration: called only for the evictions a plan makes at a tenant's limit, so the tenant holds messages and has its record
    for (const inbox of tenants.get(tenantId)?.inboxes ?? []) {
      const seq = inbox.ready[inbox.head]?.seq;
      if (seq !== undefined && seq < bestSeq) {
        best = inbox;
        bestSeq = seq;
      }
    }
    return best;
  };

  /**
   * Puts `e` in flight under a new delivery id until `deadline`, as the next attempt; the delivery
   * tells its place in the queue (`order`), so a stream that both reads its queue and is handed
   * deliveries claimed as their messages were stored sends them all in queue order (inQueueOrder).
   */
  const claimEntry = (inbox: Inbox, e: Entry, deadline: number): ClaimedDelivery => {
    e.attempts += 1;
    // Stryker disable next-line UpdateOperator: counting down gives unique ids too
    e.deliveryId = `d${(++deliverySeq).toString(36)}`;
    e.deadline = deadline;
    inbox.claim(e);
    return {
      deliveryId: e.deliveryId,
      attempt: e.attempts,
      deadline,
      message: e.message,
      order: e.seq,
    };
  };

  const claimFrom = (inbox: Inbox, max: number, now: number, deadline: number) => {
    const out: ClaimedDelivery[] = [];
    const take = (e: Entry) => {
      if (e.message.expiresAt <= now) {
        held(inbox.tenantId, -1); // expired: discarded, never delivered
        return;
      }
      out.push(claimEntry(inbox, e, deadline));
    };
    if (inbox.retries.length > 0) {
      inbox.retries.sort((a, b) => a.availableAt - b.availableAt);
      while (
        out.length < max &&
        // Stryker disable next-line ConditionalExpression: with no retry left the test after it stops the loop too (undefined ?? Infinity is never due)
        inbox.retries.length > 0 &&
        // Stryker disable next-line OptionalChaining: the test before it keeps retries non-empty here
        (inbox.retries[0]?.availableAt ?? Infinity) <= now
      ) {
        const e = inbox.retries.shift();
        if (e) take(e);
      }
    }
    while (out.length < max) {
      const e = inbox.shift();
      if (!e) break;
      take(e);
    }
    return out;
  };
  const reapInbox = (inbox: Inbox, agentId: string, now: number, maxAttempts: number) => {
    let redelivered = 0;
    let deadLettered = 0;
    for (const [id, e] of inbox.inFlight) {
      if (e.deadline > now) continue;
      inbox.inFlight.delete(id);
      // Stryker disable next-line StringLiteral: any settlement other than "ack" and "nack" answers a late Ack or Nack the same (STALE)
      inbox.settle(id, "expired", now);
      if (e.message.expiresAt <= now) {
        held(inbox.tenantId, -1);
        continue;
      }
      e.lastError = e.lastError || "ack deadline exceeded";
      if (e.attempts >= maxAttempts) {
        held(inbox.tenantId, -1);
        toDead(inbox, agentId, e, DeadLetterReason.MAX_DELIVERY_ATTEMPTS, now);
        // Stryker disable next-line UpdateOperator: reap's counts are not read on the memory backend (poll ignores them)
        deadLettered++;
      } else {
        e.availableAt = now;
        inbox.retries.push(e);
        // Stryker disable next-line UpdateOperator: reap's counts are not read on the memory backend (poll ignores them)
        redelivered++;
      }
    }
    // Stryker disable next-line ObjectLiteral: reap's counts are not read on the memory backend (poll ignores them)
    return { redelivered, deadLettered };
  };
  const nextWakeOf = (inbox: Inbox): number | undefined => {
    // Every claim's deadline is "now + the tenant's ack deadline", so the in-flight entry claimed
    // first holds the earliest deadline: reading it keeps this O(1) on the delivery hot path.
    // (Should a tenant shorten its ack deadline, entries claimed after the change wait for the
    // later deadlines of entries claimed before it.)
    let next: number | undefined = inbox.oldestInFlight()?.deadline;
    for (const e of inbox.retries)
      if (next === undefined || e.availableAt < next) next = e.availableAt;
    return next;
  };

  return {
    planBacklog(tenantId, recipients, limits) {
      const t = tenants.get(tenantId);
      // The usual case, checked without building anything: every recipient has room.
      // Stryker disable BlockStatement: without the early answer the send goes on to the full plan, which answers the same for a send that fits
      if (
        (limits.tenant === 0 || (t?.held ?? 0) + recipients.length <= limits.tenant) &&
        // Stryker disable next-line LogicalOperator: the fast check made stricter only sends the send to the full plan, which answers the same for a send that fits
        (limits.agent === 0 ||
          // Stryker disable next-line ArrowFunction: the fast check made stricter only sends the send to the full plan, which answers the same for a send that fits
          recipients.every((a) => (inboxes.get(key(tenantId, a))?.held ?? 0) + 1 <= limits.agent))
      ) {
        return noPlan();
      }
      // Stryker restore BlockStatement
      const agents = new Map<string, BacklogHeld>();
      for (const a of recipients) {
        const inbox = inboxes.get(key(tenantId, a));
        if (inbox) agents.set(a, { held: inbox.held, evictable: inbox.undelivered });
      }
      const tenant = { held: t?.held ?? 0, evictable: 0 };
      // What the tenant's inboxes could drop is summed only when the tenant limit may need it.
      if (
        t &&
        // Stryker disable next-line ConditionalExpression: summing what could be dropped when the tenant limit cannot need it changes nothing: the plan reads it only for a send past the tenant limit under dead-letter-oldest
        limits.policy === "dead-letter-oldest" &&
        // Stryker disable next-line ConditionalExpression: summing what could be dropped when the tenant limit cannot need it changes nothing: the plan reads it only for a send past the tenant limit under dead-letter-oldest
        limits.tenant > 0 &&
        // Stryker disable next-line ConditionalExpression: summing what could be dropped when the tenant limit cannot need it changes nothing: the plan reads it only for a send past the tenant limit under dead-letter-oldest
        t.held + recipients.length > limits.tenant
      ) {
        for (const inbox of t.inboxes) tenant.evictable += inbox.undelivered;
      }
      return planBacklog([{ recipients, backlog: limits }], agents, tenant);
    },
    enqueue(message, recipients, planned) {
      if (planned) {
        const { plan, now } = planned;
        for (const [agentId, k] of plan.agentEvictions) {
          const inbox = inboxes.get(key(message.tenantId, agentId));
          for (let i = 0; inbox && i < k && evictOldest(inbox, now); i++);
        }
        for (let i = 0; i < plan.tenantEvictions; i++) {
          const inbox = oldestInbox(message.tenantId);
          if (!inbox) break;
          evictOldest(inbox, now);
        }
      }
      // The store takes ownership of the record (the hub builds a fresh one per send), so one
      // object serves every recipient without copying.
      const frozen = message;
      held(message.tenantId, recipients.length);
      for (const agentId of recipients) {
        inboxOf(message.tenantId, agentId).push({
          seq: ++entrySeq,
          message: frozen,
          attempts: 0,
          availableAt: 0,
          // Stryker disable next-line StringLiteral: set when the entry is claimed, never read before
          deliveryId: "",
          deadline: 0,
          lastError: "",
        });
      }
    },
    // Stryker disable all: the hub calls claim, reap, nextWake, backlog and inFlight only through pollByParts, for stores without a poll of their own; this store's poll does their steps in one call (the storage suite tests them)
    async claim(tenantId, agentId, max, now, deadline) {
      const inbox = inboxes.get(key(tenantId, agentId));
      return inbox ? claimFrom(inbox, max, now, deadline) : [];
    },
    // Stryker restore all
    // Stryker disable next-line BlockStatement: a send that claims nothing for a live stream wakes it instead, and the stream reads the same messages from its queue (a claim at send only saves that read)
    waitingOf(tenantId, agentId) {
      // Stryker disable next-line LogicalOperator: a send that claims nothing for a live stream wakes it instead, and the stream reads the same messages from its queue (a claim at send only saves that read)
      return inboxes.get(key(tenantId, agentId))?.waiting ?? 0;
    },
    claimWaiting(tenantId, agentId, deadline) {
      const inbox = inboxes.get(key(tenantId, agentId));
      const out: ClaimedDelivery[] = [];
      // Stryker disable next-line BooleanLiteral,ConditionalExpression: a send that claims nothing for a live stream wakes it instead, and the stream reads the same messages from its queue (a claim at send only saves that read); the backend claims only for an agent it found messages waiting for, whose queue exists
      if (!inbox) return out;
      for (let e = inbox.shift(); e; e = inbox.shift()) out.push(claimEntry(inbox, e, deadline));
      return out;
    },
    async ack(tenantId, agentId, deliveryIds, now) {
      const inbox = inboxes.get(key(tenantId, agentId));
      return deliveryIds.map((id): SettleOutcome => {
        const e = inbox?.inFlight.get(id);
        if (!e || !inbox) return repeated(inbox, id, "ack", now);
        if (e.deadline <= now) return "stale";
        inbox.inFlight.delete(id);
        inbox.settle(id, "ack", now);
        held(tenantId, -1);
        return "ok";
      });
    },
    async nack(tenantId, agentId, deliveryIds, now, options: NackOptions) {
      const inbox = inboxes.get(key(tenantId, agentId));
      return deliveryIds.map((id): SettleOutcome => {
        const e = inbox?.inFlight.get(id);
        if (!e || !inbox) return repeated(inbox, id, "nack", now);
        if (e.deadline <= now) return "stale";
        inbox.inFlight.delete(id);
        inbox.settle(id, "nack", now);
        e.lastError = options.error;
        if (options.deadLetter || e.attempts >= options.maxAttempts) held(tenantId, -1);
        if (options.deadLetter) toDead(inbox, agentId, e, DeadLetterReason.REJECTED, now);
        else if (e.attempts >= options.maxAttempts)
          toDead(inbox, agentId, e, DeadLetterReason.MAX_DELIVERY_ATTEMPTS, now);
        else {
          e.availableAt = options.availableAt;
          inbox.retries.push(e);
        }
        return "ok";
      });
    },
    // Stryker disable all: the hub calls claim, reap, nextWake, backlog and inFlight only through pollByParts, for stores without a poll of their own; this store's poll does their steps in one call (the storage suite tests them)
    async reap(tenantId, agentId, now, maxAttempts) {
      const inbox = inboxes.get(key(tenantId, agentId));
      return inbox
        ? reapInbox(inbox, agentId, now, maxAttempts)
        : { redelivered: 0, deadLettered: 0 };
    },
    async nextWake(tenantId, agentId) {
      const inbox = inboxes.get(key(tenantId, agentId));
      return inbox ? nextWakeOf(inbox) : undefined;
    },
    // Stryker restore all
    // The steps of pollByParts in one synchronous call: one promise per look at a queue.
    async poll(tenantId, agentId, o) {
      const inbox = inboxes.get(key(tenantId, agentId));
      if (!inbox) return { deliveries: [], inFlight: 0, nextWake: undefined };
      const due = nextWakeOf(inbox);
      // Stryker disable next-line LogicalOperator: reapInbox checks each deadline itself, so reaping whenever something is in flight or waits changes nothing
      if (due !== undefined && due <= o.now) reapInbox(inbox, agentId, o.now, o.maxAttempts);
      const before = inbox.inFlight.size;
      const deliveries =
        before < o.limit ? claimFrom(inbox, o.limit - before, o.now, o.deadline) : [];
      return { deliveries, inFlight: inbox.inFlight.size, nextWake: nextWakeOf(inbox) };
    },
    // Stryker disable all: the hub calls claim, reap, nextWake, backlog and inFlight only through pollByParts, for stores without a poll of their own; this store's poll does their steps in one call (the storage suite tests them)
    async backlog(tenantId, agentId) {
      return inboxes.get(key(tenantId, agentId))?.waiting ?? 0;
    },
    async inFlight(tenantId, agentId) {
      return inboxes.get(key(tenantId, agentId))?.inFlight.size ?? 0;
    },
    // Stryker restore all
    async listDeadLetters(tenantId, agentId, afterId, limit) {
      const all: DeadLetterRecord[] = [];
      for (const [k, inbox] of inboxes) {
        if (!k.startsWith(`${tenantId}\u0000`)) continue;
        if (agentId !== undefined && k !== key(tenantId, agentId)) continue;
        for (const d of inbox.dead.values()) if (d.id > afterId) all.push(d);
      }
      all.sort((a, b) => (a.id < b.id ? -1 : 1));
      // Stryker disable next-line MethodExpression: the service asks for one more than a page and cuts the page itself; ReplayDeadLetters and PurgeDeadLetters with all read on until a batch is short
      return all.slice(0, limit).map((d) => structuredClone(d));
    },
    async getDeadLetter(tenantId, id) {
      for (const [k, inbox] of inboxes) {
        if (!k.startsWith(`${tenantId}\u0000`)) continue;
        const d = inbox.dead.get(id);
        if (d) return structuredClone(d);
      }
      return undefined;
    },
    async replayDeadLetter(tenantId, id, expiresAt) {
      for (const [k, inbox] of inboxes) {
        // Stryker disable next-line StringLiteral: the service replays and purges only dead letters it found in the caller's tenant (getDeadLetter, listDeadLetters), and one process mints every dead-letter id, each unique (ids.ts), so no other tenant's inbox holds the id
        if (!k.startsWith(`${tenantId}\u0000`)) continue;
        const d = inbox.dead.get(id);
        if (!d) continue;
        inbox.dead.delete(id);
        held(tenantId, 1);
        inbox.push({
          seq: ++entrySeq,
          message: { ...d.message, expiresAt },
          attempts: 0,
          availableAt: 0,
          // Stryker disable next-line StringLiteral: set when the entry is claimed, never read before
          deliveryId: "",
          deadline: 0,
          lastError: "",
        });
        return true;
      }
      return false;
    },
    async purgeDeadLetter(tenantId, id) {
      for (const [k, inbox] of inboxes) {
        // Stryker disable next-line StringLiteral: the service replays and purges only dead letters it found in the caller's tenant (getDeadLetter, listDeadLetters), and one process mints every dead-letter id, each unique (ids.ts), so no other tenant's inbox holds the id
        if (k.startsWith(`${tenantId}\u0000`) && inbox.dead.delete(id)) return true;
      }
      return false;
    },
    async deleteAgent(tenantId, agentId) {
      const inbox = inboxes.get(key(tenantId, agentId));
      if (!inbox) return;
      inboxes.delete(key(tenantId, agentId));
      held(tenantId, -inbox.held);
      // Stryker disable next-line OptionalChaining: an inbox is made with its tenant's record (inboxOf), and both go together (deleteTenant)
      tenants.get(tenantId)?.inboxes.delete(inbox);
    },
    async deleteTenant(tenantId) {
      for (const k of [...inboxes.keys()]) if (k.startsWith(`${tenantId}\u0000`)) inboxes.delete(k);
      tenants.delete(tenantId);
    },
  };
}
