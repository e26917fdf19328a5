import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import { type Identity, isAdmin } from "../auth/identity.js";
import { Code, ConnectError, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type {
  ClaimOffer,
  DeadLetterRecord,
  EnqueueItem,
  EnqueueOptions,
  EnqueueResult,
  MessageRecord,
  MessageStore,
  SendEffects,
  TenantRecord,
  TopicSubscriptionRecord,
} from "../storage/types.js";
import { backlogFullError } from "./backlog.js";
import { conversationChannel, inboxChannel, requestChannel } from "./channels.js";
import type { Conversations } from "./conversations.js";
import { decodePageToken, encodePageToken, pageSize } from "./cursor.js";
import type { DeliveryEngine } from "./delivery.js";
import type { KnownAgents } from "./known-agents.js";
import { backlogLimitsOf } from "./tenant-defaults.js";
import { Waiter } from "./waiter.js";

/**
 * A message as a sender submits it (validated by the proto rules already): the stored record's
 * content, without what the hub assigns (id, tenant, sender, times), and with the expiry as given.
 */
export type SendInput = Omit<
  MessageRecord,
  "tenantId" | "id" | "senderId" | "type" | "createdAt" | "expiresAt"
> & {
  type: MessageType;
  /** Absolute expiry, or a lifetime; neither means the tenant's default. */
  expiresAt: number | undefined;
  ttlMs: number | undefined;
};

export interface SendResult {
  messageId: string;
  duplicate: boolean;
}

/** Counters the hub exposes for observation and tests. */
export interface MessagingStats {
  /** Replies to a Request call that had already ended, dropped instead of delivered. */
  lateRepliesDropped: number;
}

/**
 * Sending (direct, topic, broadcast, batch), request-reply and dead-letter handling. A send is
 * acknowledged only after the message store has it for every recipient (with its idempotency key
 * and conversation entry, in one step); then the recipients' live streams are woken through the
 * backend's Notifier, on whichever node they are.
 */
export class Messaging {
  readonly stats: MessagingStats = { lateRepliesDropped: 0 };

  constructor(
    private readonly hub: HubContext,
    private readonly delivery: DeliveryEngine,
    private readonly conversations: Conversations,
    private readonly knownAgents: KnownAgents,
  ) {}

  async send(identity: Identity, input: SendInput): Promise<SendResult> {
    const tenant = await this.hub.tenant(identity.tenantId);
    return this.sendWithTenant(identity, tenant, input);
  }

  /**
   * Sends items independently; each item's error is returned in its place. Runs of plain items
   * (no conversation, not a reply to a waiting Request) are charged, stored and announced
   * together; any other item is sent on its own between them, so items keep their order.
   */
  async sendBatch(identity: Identity, inputs: SendInput[]): Promise<(SendResult | ConnectError)[]> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const out: (SendResult | ConnectError)[] = new Array(inputs.length);
    let run: number[] = [];
    const flush = async () => {
      if (run.length > 0) await this.sendRun(identity, tenant, inputs, run, out);
      run = [];
    };
    for (const [i, input] of inputs.entries()) {
      const plain =
        input.conversationId === "" &&
        !(input.type === MessageType.RESPONSE && input.correlationId !== "");
      if (plain) {
        run.push(i);
        continue;
      }
      await flush();
      out[i] = await this.sendWithTenant(identity, tenant, input).catch(
        (err: unknown) => err as ConnectError,
      );
    }
    await flush();
    return out;
  }

  /** Sends the plain items `indexes` of `inputs` together, writing each result into `out`. */
  private async sendRun(
    identity: Identity,
    tenant: TenantRecord,
    inputs: SendInput[],
    indexes: number[],
    out: (SendResult | ConnectError)[],
  ): Promise<void> {
    const now = this.hub.clock.now();
    const started = performance.now();
    const { backend } = this.hub;
    // Retries inside the dedupe window answer at once, before any quota is charged.
    const todo: { i: number; input: SendInput }[] = [];
    for (const i of indexes) {
      const input = inputs[i] as SendInput;
      if (input.idempotencyKey !== "") {
        const existing = await backend.idempotency.lookup(
          identity.tenantId,
          identity.agentId,
          input.idempotencyKey,
          now,
        );
        if (existing !== undefined) {
          out[i] = { messageId: existing, duplicate: true };
          continue;
        }
      }
      todo.push({ i, input });
    }
    if (todo.length === 0) return;
    // Over a limit together: the items that still fit (the first ones) go through, the others
    // are refused with the same error, found with a few checks however many items there are.
    let fit: Awaited<ReturnType<typeof this.hub.quotas.chargeMessagesThatFit>>;
    try {
      fit = await this.hub.quotas.chargeMessagesThatFit(
        identity,
        todo.map((t) => t.input.data.length),
        tenant,
        // Usage counts what is stored: metered by the store's write, or after it (storeRun).
        { meter: false },
      );
    } catch (err) {
      for (const { i } of todo) out[i] = ConnectError.from(err);
      return;
    }
    const { refusal } = fit;
    const rest = todo.slice(fit.charged);
    todo.length = fit.charged;
    // A later, smaller item may still fit a byte limit: those are tried one by one, after the
    // items before them are stored (items keep their order).
    const oneByOne = refusal?.findDetails(RetryInfoSchema)[0]?.limit.includes("bytes") ?? false;
    if (refusal && !oneByOne) for (const { i } of rest) out[i] = refusal;
    if (todo.length > 0) await this.storeRun(identity, tenant, todo, out, now, started);
    if (oneByOne) {
      for (const { i, input } of rest) {
        out[i] = await this.sendWithTenant(identity, tenant, input).catch(
          (e: unknown) => e as ConnectError,
        );
      }
    }
  }

  /** Stores the charged plain items `todo` together and wakes their recipients. */
  private async storeRun(
    identity: Identity,
    tenant: TenantRecord,
    todo: { i: number; input: SendInput }[],
    out: (SendResult | ConnectError)[],
    now: number,
    started: number,
  ): Promise<void> {
    const { backend } = this.hub;
    // The recipients of each target of the run, resolved once per target.
    const recipientsOf = new Map<string, Promise<string[]>>();
    const resolved = new Map<string, string[]>();
    const items: (EnqueueItem & { i: number })[] = [];
    const backlog = backlogLimitsOf(tenant, now);
    for (const { i, input } of todo) {
      const type = input.type === MessageType.UNSPECIFIED ? MessageType.EVENT : input.type;
      const message = this.buildMessage(identity, tenant, newId("msg_", now), input, now, type);
      const t = message.target;
      const target =
        t.kind === "agent" ? `a:${t.recipientId}` : t.kind === "topic" ? `t:${t.topic}` : "b";
      let known = resolved.get(target);
      try {
        if (known === undefined) {
          let recipients = recipientsOf.get(target);
          if (!recipients) {
            recipients = this.recipientsOf(identity, message);
            recipientsOf.set(target, recipients);
          }
          known = await recipients;
          resolved.set(target, known);
        }
        items.push({
          i,
          message,
          recipients: known,
          backlog,
          ...(input.idempotencyKey !== "" && {
            idempotency: { expiresAt: now + tenant.settings.dedupeWindowMs, now },
          }),
        });
      } catch (err) {
        out[i] = err as ConnectError;
      }
    }
    this.refuseWhileUnavailable();
    const folds = backend.messages.folds;
    const rows = new Map<string, number>();
    for (const item of items) for (const a of item.recipients) rows.set(a, (rows.get(a) ?? 0) + 1);
    const claim = folds?.claim ? this.delivery.offers(identity.tenantId, rows) : undefined;
    /** Agents some of whose messages were claimed for their streams here (not to be woken). */
    const handed = new Set<string>();
    let results: EnqueueResult[];
    try {
      results = await backend.messages.enqueueMany(
        items,
        this.effects(identity.tenantId, rows.keys(), folds, claim?.offers),
      );
      for (const result of results) {
        if (!result.ok || !result.claimed) continue;
        this.delivery.handoff(identity.tenantId, result.claimed);
        for (const c of result.claimed) handed.add(c.agentId);
      }
    } finally {
      claim?.release(); // after every handoff: the streams count what they took
    }
    const woken = new Set<string>();
    // Metered once per message type of the run, not per message.
    const sent = new Map<number, { count: number; bytes: number }>();
    for (const [k, item] of items.entries()) {
      const result = results[k];
      const { message } = item;
      if (result && !result.ok && "duplicateOf" in result) {
        out[item.i] = { messageId: result.duplicateOf, duplicate: true };
        continue;
      }
      if (result && !result.ok && "backlogFull" in result) {
        out[item.i] = backlogFullError(identity.tenantId, result.backlogFull);
        continue;
      }
      for (const r of item.recipients) woken.add(r);
      out[item.i] = { messageId: message.id, duplicate: false };
      const m = sent.get(message.type) ?? { count: 0, bytes: 0 };
      m.count++;
      m.bytes += message.data.length;
      sent.set(message.type, m);
    }
    if (!folds?.meter) {
      let count = 0;
      let bytes = 0;
      for (const m of sent.values()) {
        count += m.count;
        bytes += m.bytes;
      }
      await this.hub.quotas.meterMessages(identity.tenantId, count, bytes);
    }
    // Stryker disable all: the send metrics (Prometheus, /metrics), which the protocol does not define; reference-server/test/observability.test.ts checks them
    const seconds = (performance.now() - started) / 1000;
    for (const [type, m] of sent) {
      this.hub.metrics.messageSent(
        identity.tenantId,
        identity.agentId,
        MessageType[type] ?? "UNSPECIFIED",
        m.bytes,
        seconds,
        m.count,
      );
    }
    // Stryker restore all
    if (!folds?.wake) {
      // A store that claims does so for all of an agent's messages of the call, or none.
      for (const a of handed) woken.delete(a);
      await this.delivery.notify(identity.tenantId, woken);
    }
  }

  /**
   * The send effects the message store commits with what it stores (its `folds`): the usage
   * meter and the recipients' wake-ups. The hub does the others itself.
   */
  private effects(
    tenantId: string,
    recipients: Iterable<string>,
    folds: MessageStore["folds"],
    claim: readonly ClaimOffer[] = [],
  ): SendEffects {
    if (!folds) return {};
    const offered = new Set(claim.map((o) => o.agentId));
    const rest = offered.size > 0 ? [...recipients].filter((a) => !offered.has(a)) : recipients;
    return {
      ...(folds.meter && { meter: { hourStart: this.hub.quotas.hourStart() } }),
      ...(folds.wake && { wake: [...rest].map((a) => inboxChannel(tenantId, a)) }),
      ...(claim.length > 0 && { claim }),
    };
  }

  private async sendWithTenant(
    identity: Identity,
    tenant: TenantRecord,
    input: SendInput,
  ): Promise<SendResult> {
    const now = this.hub.clock.now();
    const started = performance.now();
    const type = input.type === MessageType.UNSPECIFIED ? MessageType.EVENT : input.type;
    const messageId = newId("msg_", now);

    // A retry inside the dedupe window answers at once, before any quota is charged. The key is
    // written (and checked again) by the store together with the message.
    const dedupe = input.idempotencyKey !== "";
    if (dedupe) {
      const existing = await this.hub.backend.idempotency.lookup(
        identity.tenantId,
        identity.agentId,
        input.idempotencyKey,
        now,
      );
      if (existing !== undefined) return { messageId: existing, duplicate: true };
    }

    const message = this.buildMessage(identity, tenant, messageId, input, now, type);

    // A reply to a blocking Request call goes to the waiting call (on whichever node it waits),
    // never to a queue; one to a call that already ended is dropped.
    if (type === MessageType.RESPONSE && input.correlationId !== "") {
      const answered = await this.hub.backend.requests.answer(message, now);
      if (answered === "accepted") {
        await this.hub.backend.notifier.publish(
          requestChannel(identity.tenantId, input.correlationId),
        );
        return { messageId, duplicate: false };
      }
      if (answered === "late") {
        // Stryker disable next-line UpdateOperator: a counter for the hub's own tests
        this.stats.lateRepliesDropped++;
        return { messageId, duplicate: false };
      }
    }

    const stored = await this.deliver(
      identity,
      tenant,
      message,
      dedupe ? { expiresAt: now + tenant.settings.dedupeWindowMs, now } : undefined,
    );
    if (!stored.ok && "duplicateOf" in stored) {
      return { messageId: stored.duplicateOf, duplicate: true };
    }
    // Stryker disable all: the send metrics (Prometheus, /metrics), which the protocol does not define; reference-server/test/observability.test.ts checks them
    this.hub.metrics.messageSent(
      identity.tenantId,
      identity.agentId,
      MessageType[type] ?? "UNSPECIFIED",
      message.data.length,
      (performance.now() - started) / 1000,
    );
    // Stryker restore all
    return { messageId, duplicate: false };
  }

  private buildMessage(
    identity: Identity,
    tenant: TenantRecord,
    id: string,
    input: SendInput,
    now: number,
    type: MessageType = input.type,
  ): MessageRecord {
    return {
      tenantId: identity.tenantId,
      id,
      senderId: identity.agentId,
      target: input.target,
      type,
      kind: input.kind,
      contentType: input.contentType,
      data: input.data,
      contextId: input.contextId,
      correlationId: input.correlationId,
      replyTo: input.replyTo,
      conversationId: input.conversationId,
      idempotencyKey: input.idempotencyKey,
      metadata: input.metadata,
      // With a traceparent, the stored header names the hub's send span (tracing.ts).
      headers: this.hub.messageTracing.sent(input.headers, identity.tenantId, identity.agentId, id),
      createdAt: now,
      expiresAt: input.expiresAt ?? now + (input.ttlMs ?? tenant.settings.defaultMessageTtlMs),
    };
  }

  /**
   * Makes the message durable for every recipient, with its idempotency key and its conversation
   * entry (one atomic step of the store), then wakes the receivers.
   */
  private async deliver(
    identity: Identity,
    tenant: TenantRecord,
    message: MessageRecord,
    idempotency: EnqueueOptions["idempotency"],
  ): Promise<EnqueueResult> {
    this.refuseWhileUnavailable();
    // A plain send's usage and wake-ups go in the write that stores it where the store can.
    const plain = message.conversationId === "";
    const folds = plain ? this.hub.backend.messages.folds : undefined;
    // Usage counts what is stored: metered by the store's write, or below once stored.
    await this.hub.quotas.chargeMessages(identity, 1, message.data.length, tenant, {
      meter: false,
    });
    const recipients = await this.recipientsOf(identity, message);
    const backlog = backlogLimitsOf(tenant, this.hub.clock.now());
    // Streams here that can take the message as it is stored (a store that claims). Where a
    // wake-up is an in-process call that cannot be lost (a reliable notifier: the memory
    // backend), a message to one recipient wakes its stream as before: claiming it there saved
    // the hub no CPU per message and did not lower the send→deliver p50 (docs/load.md); a
    // fan-out is claimed, as its wake-ups and reads of a queue per subscriber cost more.
    let claim: ReturnType<DeliveryEngine["offers"]> | undefined;
    if (
      plain &&
      folds?.claim &&
      (recipients.length > 1 || this.hub.backend.notifier.reliable !== true)
    ) {
      const rows = new Map<string, number>();
      for (const a of recipients) rows.set(a, 1);
      claim = this.delivery.offers(identity.tenantId, rows);
    }
    let result: EnqueueResult;
    try {
      result = plain
        ? await this.hub.backend.messages.enqueue(message, recipients, {
            ...(idempotency && { idempotency }),
            backlog,
            effects: this.effects(identity.tenantId, recipients, folds, claim?.offers),
          })
        : await this.conversations.send(identity, message, recipients, idempotency, backlog);
      if (result.ok && result.claimed) this.delivery.handoff(identity.tenantId, result.claimed);
    } finally {
      claim?.release(); // after the handoff, and whatever the store answered
    }
    if (!result.ok && "backlogFull" in result)
      throw backlogFullError(identity.tenantId, result.backlogFull);
    const claimed = result.ok ? result.claimed : undefined;
    if (result.ok && !folds?.meter) {
      await this.hub.quotas.meterMessages(identity.tenantId, 1, message.data.length);
    }
    if (result.ok && !folds?.wake) {
      // Streams handed the message need no wake-up; most sends have one recipient, handed it.
      const woken = claimed && claimed.length > 0 ? unclaimed(recipients, claimed) : recipients;
      if (woken.length > 0) await this.delivery.notify(identity.tenantId, woken);
    }
    return result;
  }

  /**
   * While the backend cannot reach one of its stores (the hub reports NOT_SERVING), a send is
   * refused before anything of it is stored, so the client's retry cannot store it twice.
   */
  private refuseWhileUnavailable(): void {
    if (this.hub.backend.isAvailable?.() === false)
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.Unavailable, "the hub's storage cannot be reached now; retry later", {
        retryAfterMs: 1_000,
      });
  }

  private async recipientsOf(identity: Identity, message: MessageRecord): Promise<string[]> {
    const { registry, topics } = this.hub.backend;
    switch (message.target.kind) {
      case "agent": {
        const { recipientId } = message.target;
        if (!(await this.knownAgents.exists(identity.tenantId, recipientId)))
          throw notFound("agent", recipientId);
        return [recipientId];
      }
      case "topic":
        return topics.match(identity.tenantId, message.target.topic);
      case "broadcast": {
        const all: string[] = [];
        let after = "";
        for (;;) {
          const page = await registry.list(identity.tenantId, {}, after, 1000);
          for (const a of page) if (a.id !== identity.agentId) all.push(a.id);
          const last = page[page.length - 1];
          if (page.length < 1000 || !last) return all;
          after = last.id;
        }
      }
    }
  }

  /**
   * Sends a QUERY or COMMAND and waits for the RESPONSE correlated with it, up to `timeoutMs`.
   * The request message expires when the wait ends. The wait is recorded in the backend's request
   * store, so a reply sent through any node reaches it: that node stores the reply and notifies;
   * this call re-reads the store when notified, and on a bounded interval in case a notification
   * is lost.
   */
  async request(
    identity: Identity,
    input: Omit<SendInput, "expiresAt" | "ttlMs" | "correlationId" | "replyTo" | "idempotencyKey">,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ requestId: string; reply: MessageRecord }> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const { clock, backend } = this.hub;
    const { tenantId } = identity;
    const start = clock.now();
    const deadline = start + timeoutMs;
    const forgetAt = () => clock.now() + Math.max(tenant.settings.dedupeWindowMs, timeoutMs);
    // The id is chosen before sending so that a reply arriving before Send returns finds the call.
    const requestId = newId("msg_", start);
    await backend.requests.open({
      tenantId,
      id: requestId,
      requesterId: identity.agentId,
      conversationId: input.conversationId,
      forgetAt: forgetAt(),
    });
    const waiter = new Waiter(clock, signal);
    const unsubscribe = [
      await backend.notifier.subscribe(requestChannel(tenantId, requestId), waiter.wake),
      ...(input.conversationId === ""
        ? []
        : [
            await backend.notifier.subscribe(
              conversationChannel(tenantId, input.conversationId),
              waiter.wake,
            ),
          ]),
    ];
    let ended = false;
    const end = async () => {
      ended = true;
      return backend.requests.end(tenantId, requestId, forgetAt());
    };
    try {
      const message = this.buildMessage(
        identity,
        tenant,
        requestId,
        {
          ...input,
          type: input.type === MessageType.UNSPECIFIED ? MessageType.QUERY : input.type,
          correlationId: "",
          replyTo: identity.agentId,
          idempotencyKey: "",
          expiresAt: deadline,
          ttlMs: undefined,
        },
        start,
      );
      await this.deliver(identity, tenant, message, undefined);
      for (;;) {
        waiter.reset();
        const pending = await backend.requests.get(tenantId, requestId);
        if (pending?.reply) return { requestId, reply: pending.reply };
        if (input.conversationId !== "") {
          const reason = await this.conversations.endedReason(tenantId, input.conversationId);
          if (reason !== undefined) {
            throw hubError(
              Code.FailedPrecondition,
              // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
              `conversation "${input.conversationId}" ended while waiting`,
              { reason },
            );
          }
        }
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        if (signal.aborted) throw hubError(Code.Canceled, "the request call was cancelled");
        if (clock.now() >= deadline) {
          // A reply accepted at the last moment still counts.
          const last = await end();
          if (last?.reply) return { requestId, reply: last.reply };
          throw hubError(
            Code.DeadlineExceeded,
            // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
            `no reply to request "${requestId}" within ${timeoutMs} ms`,
          );
        }
        await waiter.wait(Math.min(deadline, clock.now() + this.hub.limits.notificationPollMs));
      }
    } finally {
      for (const u of unsubscribe) u();
      waiter.dispose();
      if (!ended) await end();
    }
  }

  async subscribeTopic(
    identity: Identity,
    pattern: string,
  ): Promise<{ sub: TopicSubscriptionRecord; created: boolean }> {
    await this.requireRegistered(identity);
    const sub = {
      tenantId: identity.tenantId,
      agentId: identity.agentId,
      pattern,
      createdAt: this.hub.clock.now(),
    };
    const created = await this.hub.backend.topics.subscribe(sub);
    const existing = created
      ? sub
      : (await this.hub.backend.topics.list(identity.tenantId, identity.agentId)).find(
          (s) => s.pattern === pattern,
        );
    return { sub: existing ?? sub, created };
  }

  async unsubscribeTopic(identity: Identity, pattern: string): Promise<void> {
    if (
      !(await this.hub.backend.topics.unsubscribe(identity.tenantId, identity.agentId, pattern))
    ) {
      throw notFound("topic subscription", pattern);
    }
  }

  async listTopicSubscriptions(identity: Identity, size: number, token: string) {
    const all = await this.hub.backend.topics.list(identity.tenantId, identity.agentId);
    const after = decodePageToken(token);
    const limit = pageSize(size);
    const rest = all.filter((s) => s.pattern > after);
    const page = rest.slice(0, limit);
    const last = page[page.length - 1];
    return {
      subscriptions: page,
      nextPageToken: rest.length > limit && last ? encodePageToken(last.pattern) : "",
    };
  }

  private async requireRegistered(identity: Identity): Promise<void> {
    if (!(await this.hub.backend.registry.get(identity.tenantId, identity.agentId))) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.FailedPrecondition, `agent "${identity.agentId}" must register first`, {
        reason: "AGENT_NOT_REGISTERED",
      });
    }
  }

  /** Whose dead letters a call may see: its own, or (admins) a named agent's or every agent's ("*"). */
  private deadLetterScope(identity: Identity, agentId: string): string | undefined {
    if (agentId === "" || agentId === identity.agentId) return identity.agentId;
    if (!isAdmin(identity)) {
      throw hubError(
        Code.PermissionDenied,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `only an admin may read the dead letters of "${agentId}"`,
      );
    }
    return agentId === "*" ? undefined : agentId;
  }

  async listDeadLetters(
    identity: Identity,
    agentId: string,
    reason: number,
    size: number,
    token: string,
  ) {
    const scope = this.deadLetterScope(identity, agentId);
    const limit = pageSize(size);
    let after = decodePageToken(token);
    const page: DeadLetterRecord[] = [];
    for (;;) {
      const batch = await this.hub.backend.messages.listDeadLetters(
        identity.tenantId,
        scope,
        after,
        limit + 1,
      );
      for (const d of batch) if (reason === 0 || d.reason === reason) page.push(d);
      const last = batch[batch.length - 1];
      if (page.length > limit || batch.length <= limit || !last) break;
      after = last.id;
    }
    const items = page.slice(0, limit);
    const last = items[items.length - 1];
    return {
      deadLetters: items,
      nextPageToken: page.length > limit && last ? encodePageToken(last.id) : "",
    };
  }

  async getDeadLetter(identity: Identity, id: string): Promise<DeadLetterRecord> {
    const d = await this.hub.backend.messages.getDeadLetter(identity.tenantId, id);
    if (!d || (d.agentId !== identity.agentId && !isAdmin(identity)))
      throw notFound("dead letter", id);
    return d;
  }

  /** Replays or purges dead letters by id or all of an agent's; unknown ids are returned. */
  async settleDeadLetters(
    identity: Identity,
    action: "replay" | "purge",
    ids: string[],
    all: boolean,
    agentId: string,
  ): Promise<{ count: number; notFound: string[] }> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const store = this.hub.backend.messages;
    let targets: DeadLetterRecord[] = [];
    const notFoundIds: string[] = [];
    if (all) {
      const scope = this.deadLetterScope(identity, agentId);
      let after = "";
      for (;;) {
        const batch = await store.listDeadLetters(identity.tenantId, scope, after, 1000);
        targets.push(...batch);
        const last = batch[batch.length - 1];
        if (batch.length < 1000 || !last) break;
        after = last.id;
      }
    } else {
      for (const id of ids) {
        const d = await store.getDeadLetter(identity.tenantId, id);
        if (!d || (d.agentId !== identity.agentId && !isAdmin(identity))) notFoundIds.push(id);
        else targets.push(d);
      }
    }
    const now = this.hub.clock.now();
    let count = 0;
    const woken = new Set<string>();
    for (const d of targets) {
      const ok =
        action === "replay"
          ? await store.replayDeadLetter(
              identity.tenantId,
              d.id,
              now + tenant.settings.defaultMessageTtlMs,
            )
          : await store.purgeDeadLetter(identity.tenantId, d.id);
      if (ok) {
        count++;
        woken.add(d.agentId);
      } else notFoundIds.push(d.id);
    }
    targets = [];
    if (action === "replay") await this.delivery.notify(identity.tenantId, woken);
    return { count, notFound: notFoundIds };
  }
}

/** The recipients none of whose deliveries were claimed for a stream as the message was stored. */
function unclaimed(
  recipients: readonly string[],
  claimed: readonly { agentId: string }[],
): string[] {
  if (recipients.length === 1) {
    return claimed.some((c) => c.agentId === recipients[0]) ? [] : [...recipients];
  }
  const handed = new Set(claimed.map((c) => c.agentId));
  return recipients.filter((a) => !handed.has(a));
}
