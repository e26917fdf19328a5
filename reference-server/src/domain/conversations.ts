import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import type { Identity } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { ConversationRecord, MessageRecord } from "../storage/types.js";
import { decodePageToken, encodePageToken, pageSize } from "./cursor.js";

export interface StartInput {
  conversationId: string;
  mode: ConversationMode;
  participants: string[];
  subject: string;
  metadata: Record<string, string>;
  timeoutMs: number | undefined;
}

type EndedListener = (tenantId: string, conversationId: string, reason: string) => void;

/**
 * Conversations (seed 004): one-way, synchronous and asynchronous exchanges among a fixed set of
 * agents, with a state (OPEN → CLOSED or TIMED_OUT) and a history of the messages sent in them.
 * The inactivity timeout restarts with every message; a timer ends the conversation when it
 * passes, and reads apply an overdue timeout too, so the state is right even without the timer.
 */
export class Conversations {
  private readonly timers = new Map<string, Timer>();
  private readonly endedListeners: EndedListener[] = [];

  constructor(private readonly hub: HubContext) {}

  onEnded(listener: EndedListener): void {
    this.endedListeners.push(listener);
  }

  async start(identity: Identity, input: StartInput): Promise<ConversationRecord> {
    const others = input.participants.filter((p) => p !== identity.agentId);
    if (others.length === 0) {
      throw hubError(
        Code.InvalidArgument,
        "participants must name at least one agent besides the caller",
      );
    }
    for (const p of others) {
      if (!(await this.hub.backend.registry.get(identity.tenantId, p))) throw notFound("agent", p);
    }
    const now = this.hub.clock.now();
    const c: ConversationRecord = {
      tenantId: identity.tenantId,
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
        `conversation "${c.id}" already exists in tenant "${identity.tenantId}"`,
      );
    }
    this.armTimeout(c);
    return c;
  }

  /** The conversation if the caller takes part in it (with an overdue timeout applied); else NOT_FOUND. */
  async get(identity: Identity, id: string): Promise<ConversationRecord> {
    const c = await this.hub.backend.conversations.get(identity.tenantId, id);
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
        version: c.version + 1,
      };
      if (await this.hub.backend.conversations.replace(next, c.version)) {
        this.ended(next, "CONVERSATION_CLOSED");
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

  /** Checks that `identity` may send into the conversation, to these recipients. */
  async checkSend(identity: Identity, id: string, recipients: string[]): Promise<void> {
    const c = await this.get(identity, id);
    if (c.state !== ConversationState.OPEN) {
      const reason =
        c.state === ConversationState.CLOSED ? "CONVERSATION_CLOSED" : "CONVERSATION_TIMED_OUT";
      throw hubError(Code.FailedPrecondition, `conversation "${id}" is not open`, { reason });
    }
    if (c.mode === ConversationMode.ONE_WAY && c.initiatorId !== identity.agentId) {
      throw hubError(
        Code.FailedPrecondition,
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
        `"${outsider}" is not a participant of conversation "${id}"`,
        {
          reason: "NOT_A_PARTICIPANT",
        },
      );
    }
  }

  /** Appends an accepted message to its conversation's history and restarts the inactivity timeout. */
  async record(message: MessageRecord): Promise<void> {
    const store = this.hub.backend.conversations;
    await store.appendMessage(message.tenantId, message.conversationId, message);
    for (;;) {
      const c = await store.get(message.tenantId, message.conversationId);
      if (!c) return;
      const now = this.hub.clock.now();
      const next: ConversationRecord = {
        ...c,
        messageCount: c.messageCount + 1,
        updatedAt: now,
        timeoutAt: c.timeoutMs === undefined ? undefined : now + c.timeoutMs,
        version: c.version + 1,
      };
      if (await store.replace(next, c.version)) {
        this.armTimeout(next);
        return;
      }
    }
  }

  /** Stops timeout timers (hub shutdown). */
  stopTimers(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  private async applyTimeout(c: ConversationRecord): Promise<ConversationRecord> {
    const now = this.hub.clock.now();
    if (c.state !== ConversationState.OPEN || c.timeoutAt === undefined || c.timeoutAt > now)
      return c;
    const next: ConversationRecord = {
      ...c,
      state: ConversationState.TIMED_OUT,
      endedAt: c.timeoutAt,
      updatedAt: now,
      version: c.version + 1,
    };
    if (await this.hub.backend.conversations.replace(next, c.version)) {
      this.ended(next, "CONVERSATION_TIMED_OUT");
      return next;
    }
    const current = await this.hub.backend.conversations.get(c.tenantId, c.id);
    return current ? this.applyTimeout(current) : c;
  }

  private armTimeout(c: ConversationRecord): void {
    const k = `${c.tenantId}\u0000${c.id}`;
    this.timers.get(k)?.cancel();
    this.timers.delete(k);
    if (c.timeoutAt === undefined || c.state !== ConversationState.OPEN) return;
    this.timers.set(
      k,
      this.hub.clock.setTimer(c.timeoutAt - this.hub.clock.now(), () => {
        this.timers.delete(k);
        this.hub.backend.conversations
          .get(c.tenantId, c.id)
          .then((current) => current && this.applyTimeout(current))
          .catch((err: unknown) =>
            this.hub.logger.log("error", "conversation timeout failed", {
              err,
              conversation_id: c.id,
            }),
          );
      }),
    );
  }

  private ended(c: ConversationRecord, reason: string): void {
    const k = `${c.tenantId}\u0000${c.id}`;
    this.timers.get(k)?.cancel();
    this.timers.delete(k);
    for (const l of this.endedListeners) l(c.tenantId, c.id, reason);
  }
}
