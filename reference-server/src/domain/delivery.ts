import type { Identity } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, type ConnectError, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { ClaimedDelivery, ClaimedFor, ClaimOffer, SettleOutcome } from "../storage/types.js";
import { inboxChannel, receiverChannel, TENANTS_CHANNEL } from "./channels.js";
import { DeliveryTurns } from "./delivery-turns.js";
import type { Registry } from "./registry.js";

/** A live Receive stream of one agent on this node. */
interface Receiver {
  id: string;
  tenantId: string;
  /** The incarnation of the tenant its credential was issued in (Identity.tenantIncarnation). */
  tenantIncarnation: string | undefined;
  /** Ends the stream with `error` (e.g. replaced by a newer stream, agent unregistered). */
  end(error: ConnectError): void;
  /** Wakes the stream when its flow-control window is full (a settlement freed a slot). */
  settled(): void;
  /**
   * Reserves room in its window for `rows` messages being stored now and answers their ack
   * deadline (undefined, reserving nothing, once it is ending, or without that much room as far
   * as it knows); {@link unreserve} gives the room back once the write answered (after
   * {@link take} of what it claimed).
   */
  offer(now: number, rows: number): number | undefined;
  /** Gives back room that {@link offer} reserved. */
  unreserve(rows: number): void;
  /** A delivery claimed for it as its message was stored: sent next, before any it reads. */
  take(delivery: ClaimedDelivery): void;
}

/** What the Receive loop yields. */
export type ReceiveItem =
  | { kind: "ready"; streamId: string; maxInFlight: number; ackDeadlineMs: number }
  | { kind: "deliveries"; deliveries: ClaimedDelivery[] }
  | { kind: "keepalive" };

/** How a Receive stream is served. */
export interface ReceiveOptions {
  /**
   * Whether the stream yields a keepalive after the hub's receiveKeepaliveMs without anything
   * sent (default true); false when the transport writes them (idle-keepalive.ts).
   */
  keepalive?: boolean;
}

/**
 * Streams that may read their queues and write their deliveries in one event-loop turn: enough to
 * keep the throughput of a few busy streams, few enough that 1,000 streams woken by one topic
 * message leave the loop every ~32 streams (a few milliseconds) for I/O and timers.
 */
const STREAM_TURNS_PER_TICK = 32;

/**
 * The delivery engine: one live stream per agent, fed from the agent's queue in the message store.
 * A stream claims at most max_in_flight deliveries at a time; acks and nacks free slots; a timer
 * at the queue's next deadline returns unacknowledged deliveries for redelivery (or the
 * dead-letter queue). Senders wake the recipients' streams after their messages are durable,
 * through the backend's Notifier, so a stream on any node hears of a message stored by any node;
 * a stream also re-reads its queue every notificationPollMs (on a shared tick: see pollTick) in
 * case a notification was lost, unless the notifier cannot lose one (Notifier.reliable: the
 * memory backend, one process). A newer stream of the same agent, on any node, ends the older
 * one.
 *
 * Each look at the queue is one MessageStore.poll (reap, claim, in-flight count and next wake in
 * one step). A stream looks again only when woken, at its next deadline, or at the poll interval:
 * a poll that claimed less than the window allowed has emptied what was deliverable, and one that
 * filled the window waits for a settlement. Acks and nacks wake a stream only while its window is
 * full (acks of a stream on this node without a notification at all); a changed tenant setting
 * (ack deadline, attempts) applies from a stream's first poll after notificationPollMs.
 */
export class DeliveryEngine {
  private readonly receivers = new Map<string, Receiver>();
  /** The subscription to tenant changes (made with the first stream), and how to end it. */
  private tenantWatch: Promise<() => void> | undefined;
  /** Turns of the streams on this node: at most this many look at their queues per loop turn. */
  private readonly turns = new DeliveryTurns(STREAM_TURNS_PER_TICK);

  constructor(
    private readonly hub: HubContext,
    private readonly registry: Registry,
  ) {
    // The registry dropped the agent's queues with it; its stream (on whichever node) ends.
    registry.onUnregistered(async (tenantId, agentId) => {
      await hub.backend.notifier.publish(receiverChannel(tenantId, agentId), UNREGISTERED);
    });
  }

  /** How long a Receive stream may send nothing before it sends a keepalive. */
  get keepaliveMs(): number {
    return this.hub.limits.receiveKeepaliveMs;
  }

  /** Wakes the live streams of these agents, on any node (after their messages became durable). */
  async notify(tenantId: string, agentIds: Iterable<string>): Promise<void> {
    const { notifier } = this.hub.backend;
    try {
      await Promise.all([...agentIds].map((a) => notifier.publish(inboxChannel(tenantId, a))));
    } catch (err) {
      // The messages are durable already: a lost wake-up delays them (streams look at their
      // queues every notificationPollMs), it does not undo the send.
      // Stryker disable next-line CallExpression: a log line
      this.hub.logger.log(
        // Stryker disable next-line all: a log line
        "warn",
        // Stryker disable next-line all: a log line
        "waking receivers failed; they will find the messages by polling",
        // Stryker disable next-line all: a log line
        {
          tenant_id: tenantId,
          err,
        },
      );
    }
  }

  /**
   * Tells the agent's stream that deliveries were settled (slots of its window are free): the
   * stream on this node directly, otherwise through the Notifier, to whichever node has it.
   */
  private async settled(tenantId: string, agentId: string): Promise<void> {
    const local = this.receivers.get(key(tenantId, agentId));
    if (local) local.settled();
    else await this.hub.backend.notifier.publish(inboxChannel(tenantId, agentId), SETTLED);
  }

  /**
   * The offers of the live streams on this node among the recipients of a write (`rows`: how
   * many of its messages go to each), for SendEffects.claim: a store that claims may hand their
   * new messages straight to them ({@link handoff}), with no wake-up and no read of the queue.
   * Each offer reserves room in its stream's window until `release()`, which the caller calls once
   * the write answered and its claims were handed off (or it failed).
   */
  // Stryker disable BlockStatement: without offers a send wakes its recipients' streams instead, which read the same messages from their queues (offers only save that read); the messaging service reads the answer with ?.
  offers(
    tenantId: string,
    rows: ReadonlyMap<string, number>,
  ): { offers: ClaimOffer[]; release: () => void } {
    // Stryker restore BlockStatement
    const offers: ClaimOffer[] = [];
    /** The receivers that reserved room, and how much each (given back once, by release). */
    const reserved: Receiver[] = [];
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: without offers a send wakes its recipients' streams instead, which read the same messages from their queues (offers only save that read); with no stream here the loop finds none
    if (this.receivers.size > 0) {
      const now = this.hub.clock.now();
      // Stryker disable next-line BlockStatement: without offers a send wakes its recipients' streams instead, which read the same messages from their queues (offers only save that read)
      for (const [agentId, n] of rows) {
        const receiver = this.receivers.get(key(tenantId, agentId));
        const deadline = receiver?.offer(now, n);
        if (receiver === undefined || deadline === undefined) continue;
        // Stryker disable next-line CallExpression: room never given back only makes the stream's later offers refuse, and those sends wake the stream, which reads the same messages from its queue
        reserved.push(receiver);
        // Stryker disable next-line ObjectLiteral: an offer without its agent names none, whose queue the store finds empty, so it claims nothing for it (the send wakes the stream instead), and its room is never given back, which only makes the stream's later offers refuse
        offers.push({ agentId, room: n, deadline, channel: inboxChannel(tenantId, agentId) });
      }
    }
    // Stryker disable next-line BlockStatement: room never given back only makes the streams' later offers refuse, and those sends wake the streams, which read the same messages from their queues
    const release = () => {
      // Stryker disable next-line OptionalChaining,LogicalOperator,CallExpression: each reserving receiver has its offer at the same index; room never given back only makes later offers refuse (the streams then read the messages from their queues)
      for (const [i, receiver] of reserved.entries()) receiver.unreserve(offers[i]?.room ?? 0);
      reserved.length = 0;
    };
    return { offers, release };
  }

  /**
   * Gives deliveries claimed as their messages were stored to their agents' streams on this
   * node. A stream that ended meanwhile leaves them in flight: they come again after their
   * deadline, as a delivery written to a stream that broke would.
   */
  handoff(tenantId: string, claimed: readonly ClaimedFor[]): void {
    for (const { agentId, delivery } of claimed) {
      this.receivers.get(key(tenantId, agentId))?.take(delivery);
    }
  }

  async ack(identity: Identity, deliveryIds: string[]): Promise<SettleOutcome[]> {
    const out = await this.hub.backend.messages.ack(
      identity.tenantId,
      identity.agentId,
      deliveryIds,
      this.hub.clock.now(),
    );
    await this.settled(identity.tenantId, identity.agentId);
    return out;
  }

  async nack(
    identity: Identity,
    deliveryIds: string[],
    delayMs: number,
    deadLetter: boolean,
    error: string,
  ): Promise<SettleOutcome[]> {
    const tenant = await this.hub.tenant(identity.tenantId);
    const now = this.hub.clock.now();
    const out = await this.hub.backend.messages.nack(
      identity.tenantId,
      identity.agentId,
      deliveryIds,
      now,
      {
        availableAt: now + delayMs,
        deadLetter,
        // Stryker disable next-line StringLiteral: the text kept for a Nack given no error; last_error is "the error given to the last Nack", and none was
        error: error || "negatively acknowledged",
        maxAttempts: tenant.settings.maxDeliveryAttempts,
      },
    );
    await this.notify(identity.tenantId, [identity.agentId]);
    return out;
  }

  /**
   * The Receive stream of the calling agent. Replaces an older stream of the same agent (which
   * ends with ABORTED), keeps the agent ONLINE while open, and yields deliveries as flow control
   * allows until `signal` aborts.
   */
  async *receive(
    identity: Identity,
    maxInFlight: number,
    signal: AbortSignal,
    options: ReceiveOptions = {},
  ): AsyncGenerator<ReceiveItem> {
    const { tenantId, agentId } = identity;
    if (!(await this.hub.backend.registry.get(tenantId, agentId))) {
      // Stryker disable next-line StringLiteral: an error message; the code and the ErrorInfo reason are what the protocol fixes
      throw hubError(Code.FailedPrecondition, `agent "${agentId}" must register before receiving`, {
        reason: "AGENT_NOT_REGISTERED",
      });
    }
    const tenant = await this.hub.tenant(tenantId);
    const store = this.hub.backend.messages;
    const clock = this.hub.clock;
    const limit = maxInFlight > 0 ? maxInFlight : 256;
    const k = key(tenantId, agentId);
    const keepaliveMs = options.keepalive === false ? undefined : this.keepaliveMs;

    let ended: ConnectError | undefined;
    /** Whether the queue must be read (a wake-up, a settlement, a timer). */
    let woken = true;
    /** Whether the last poll left the window full: only then does a settlement matter. */
    // Stryker disable next-line BooleanLiteral: a settlement before the first poll then wakes the stream, which only reads its queue once more
    let full = false;
    /** Deliveries claimed for this stream as their messages were stored (take). */
    let handed: ClaimedDelivery[] = [];
    /**
     * Entries in flight as far as this stream knows: its last poll's count plus what was handed
     * to it since. Acks only lower the real count, so this is never below it; room reserved by
     * writes in progress (offer) counts on top.
     */
    let known = 0;
    let reserved = 0;
    /** Deliveries handed while a poll ran: its count may not include them. */
    // Stryker disable next-line BooleanLiteral: handedWhilePolling is set to 0 as each poll starts and read only once it answered, so what is counted before the first poll is never read
    let polling = false;
    let handedWhilePolling = 0;
    let settings = tenant.settings;
    let resolveWait: (() => void) | undefined;
    const wake = () => {
      woken = true;
      resolveWait?.();
    };
    const receiver: Receiver = {
      // Stryker disable next-line StringLiteral: the proto fixes no format for stream_id
      id: newId("rcv_", clock.now()),
      tenantId,
      tenantIncarnation: identity.tenantIncarnation,
      end(error) {
        ended = error;
        wake();
      },
      settled() {
        if (full) wake();
      },
      // Stryker disable next-line BlockStatement: without offers a send wakes the stream instead, which reads the same messages from its queue (offers only save that read)
      offer(now, rows) {
        if (ended || signal.aborted || known + reserved + rows > limit) return undefined;
        reserved += rows;
        return now + settings.ackDeadlineMs;
      },
      // Stryker disable next-line BlockStatement: room never given back only makes later offers refuse, and those sends wake the stream, which reads the same messages from its queue
      unreserve(rows) {
        // Stryker disable next-line AssignmentOperator: room never given back only makes later offers refuse, and those sends wake the stream, which reads the same messages from its queue
        reserved -= rows;
      },
      take(delivery) {
        // Stryker disable next-line LogicalOperator: a delivery taken by a stream that is ending is never sent either: it stays in flight until its deadline, as when it is not taken
        if (ended || signal.aborted) return;
        handed.push(delivery);
        known += 1;
        if (polling) handedWhilePolling += 1;
        resolveWait?.();
      },
    };
    // Subscribed before the first read of the queue, so no message stored after it is missed.
    const { notifier } = this.hub.backend;
    const unsubscribeInbox = await notifier.subscribe(inboxChannel(tenantId, agentId), (payload) =>
      payload === SETTLED ? receiver.settled() : wake(),
    );
    const unsubscribeReceiver = await notifier.subscribe(
      receiverChannel(tenantId, agentId),
      (payload) => {
        if (payload === UNREGISTERED) {
          receiver.end(
            // Stryker disable next-line StringLiteral: an error message; the code and the ErrorInfo reason are what the protocol fixes
            hubError(Code.FailedPrecondition, `agent "${agentId}" was unregistered`, {
              reason: "AGENT_NOT_REGISTERED",
            }),
          );
        } else if (payload !== `stream:${receiver.id}`) {
          receiver.end(
            hubError(
              Code.Aborted,
              // Stryker disable next-line StringLiteral: an error message; the code and the ErrorInfo reason are what the protocol fixes
              `a newer Receive stream of agent "${agentId}" replaced this one`,
              { reason: "STREAM_REPLACED" },
            ),
          );
        }
      },
    );
    this.receivers.set(k, receiver);
    // A tenant deleted (or deleted and created again) ends its streams: watched from now on, and
    // checked once here for a deletion announced before this stream was in the map.
    await this.watchTenants();
    await this.endIfTenantGone(tenantId, receiver);
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: an aborted signal never fires again, so a listener kept after it fired is never called twice
    signal.addEventListener("abort", wake, { once: true });
    // Ends older streams of this agent, here and on other nodes.
    await notifier.publish(receiverChannel(tenantId, agentId), `stream:${receiver.id}`);

    // An open stream counts as presence: touch the registry now and every heartbeat interval.
    await this.registry.touchLive(tenantId, agentId);
    // Stryker disable next-line all: a log line
    const presenceFailed = (err: unknown) =>
      // Stryker disable next-line all: a log line
      this.hub.logger.log("warn", "presence update failed", { err, agent_id: agentId });
    const touch = () => {
      this.registry.touchLive(tenantId, agentId).catch(presenceFailed);
    };
    // One timer for the stream's life where the clock repeats one (a stream holds it while open).
    const interval = tenant.settings.heartbeatIntervalMs;
    let presenceTimer: Timer;
    // Stryker disable next-line ConditionalExpression: both ways touch the registry every interval (the hub's system clock repeats a timer itself)
    if (clock.setRepeating) {
      presenceTimer = clock.setRepeating(interval, touch);
    } else {
      // Stryker disable next-line all: clocks without setRepeating (test clocks) only; the hub's system clock has it
      const renew = () => {
        touch();
        presenceTimer = clock.setTimer(interval, renew);
      };
      presenceTimer = clock.setTimer(interval, renew);
    }
    let wakeTimer: Timer | undefined;
    /** The instant wakeTimer was set for (infinite: no timer). */
    let wakeAt = Number.POSITIVE_INFINITY;
    // Stryker disable next-line BooleanLiteral: the first wait then counts as a timer's, which only reads the queue once more (a keepalive still waits for its instant)
    let timerFired = false;
    // One callback for every wait of the stream (a waiting stream holds its wait's timer).
    const onTimer = () => {
      timerFired = true;
      resolveWait?.();
    };
    let lastSent = clock.now();
    /** When the queue next changes by itself (a deadline or a delayed retry), as last known. */
    let nextWake: number | undefined;

    try {
      yield {
        kind: "ready",
        streamId: receiver.id,
        maxInFlight: limit,
        ackDeadlineMs: tenant.settings.ackDeadlineMs,
      };
      let settingsReadAt = clock.now();
      for (;;) {
        // Waits while other streams use this event-loop turn (a fan-out woke many at once).
        const turn = this.turns.take();
        // Stryker disable next-line ConditionalExpression: turns only spread the streams' reads over event-loop turns; skipping the wait, or awaiting an undefined turn, changes when a stream reads, not what it sends
        if (turn) await turn;
        if (ended) throw ended;
        if (signal.aborted) return;
        let batch: ClaimedDelivery[] = [];
        if (woken) {
          woken = false;
          const now = clock.now();
          if (now - settingsReadAt >= this.hub.limits.notificationPollMs) {
            settings = (await this.hub.findTenant(tenantId))?.settings ?? settings;
            settingsReadAt = now;
          }
          polling = true;
          handedWhilePolling = 0;
          // Stryker disable BlockStatement: the statement's one block is .finally's; polling left true only counts handed deliveries between polls, and handedWhilePolling is set to 0 as the next poll starts, before it is read
          const polled = await store
            .poll(tenantId, agentId, {
              limit,
              now,
              deadline: now + settings.ackDeadlineMs,
              maxAttempts: settings.maxDeliveryAttempts,
            })
            .finally(() => {
              // Stryker disable next-line BooleanLiteral: polling left true only counts handed deliveries between polls, and handedWhilePolling is set to 0 as the next poll starts, before it is read
              polling = false;
            });
          // Stryker restore BlockStatement
          known = polled.inFlight + handedWhilePolling;
          full = polled.inFlight >= limit;
          batch = polled.deliveries;
          nextWake = polled.nextWake;
        }
        if (handed.length > 0) {
          const claimed = handed;
          handed = [];
          for (const d of claimed) nextWake = Math.min(nextWake ?? d.deadline, d.deadline);
          batch = batch.length > 0 ? inQueueOrder([...batch, ...claimed]) : claimed;
        }
        if (batch.length > 0) {
          lastSent = clock.now();
          // Stryker disable next-line StringLiteral: the handlers tell a ready item and a keepalive by their kinds, and send every other item as deliveries
          yield { kind: "deliveries", deliveries: this.observed(identity, batch) };
        }
        // Stryker disable next-line LogicalOperator: with && the loop goes on to the wait below, which resolves at once on the same test (woken or handed), so it reads and sends the same
        if (woken || handed.length > 0) continue;
        // Nothing more to send for now: sleep until woken, handed deliveries, the next deadline,
        // the keepalive interval, or the next poll (a notification may be lost).
        const keepaliveAt =
          keepaliveMs === undefined ? Number.POSITIVE_INFINITY : lastSent + keepaliveMs;
        // A notifier that loses nothing (one process) needs no re-read: an idle stream then wakes
        // only when told, at a deadline, or for its keepalive (if it sends its own).
        const pollAt = notifier.reliable
          ? Number.POSITIVE_INFINITY
          : pollTick(clock.now() + this.hub.limits.notificationPollMs);
        const at = Math.min(nextWake ?? keepaliveAt, keepaliveAt, pollAt);
        // The timer set for the same instant is kept while it has not fired (deliveries handed
        // to a stream rarely move its next deadline: the oldest in flight stays the earliest).
        if (timerFired || at !== wakeAt) {
          // Stryker disable next-line CallExpression: a timer left set only wakes the stream once more, which reads its queue and finds nothing due
          wakeTimer?.cancel();
          // With nothing due (the transport keeps the stream alive, nothing in flight, no
          // re-reads), the stream waits for a wake-up alone.
          wakeTimer =
            at === Number.POSITIVE_INFINITY
              ? undefined
              : // Stryker disable next-line MethodExpression,ArithmeticOperator: a timer that fires before `at` only makes the stream read its queue sooner and set it again (a poll takes only what is due; Node fires a delay beyond 2^31 - 1 ms after 1 ms)
                clock.setTimer(Math.max(0, at - clock.now()), onTimer);
          wakeAt = at;
        }
        // Stryker disable next-line BooleanLiteral: a wake-up taken for the timer only reads the queue once more (a keepalive still waits for its instant)
        timerFired = false;
        await new Promise<void>((resolve) => {
          resolveWait = resolve;
          // Stryker disable next-line LogicalOperator: nothing changed since the loop checked woken and handed above (no await between; an end or an abort sets woken too), so a stricter test resolves the same
          if (woken || ended || signal.aborted || handed.length > 0) resolve();
        });
        resolveWait = undefined;
        if (timerFired) {
          if (!woken && handed.length === 0 && clock.now() >= keepaliveAt) {
            lastSent = clock.now();
            yield { kind: "keepalive" };
          }
          // A deadline, a retry or the re-read interval is due: the queue is read again.
          woken = true;
        }
      }
    } finally {
      // Stryker disable next-line CallExpression: a timer left running only calls onTimer of a stream that has ended, which sets a flag nothing reads
      wakeTimer?.cancel();
      presenceTimer.cancel();
      // Stryker disable next-line CallExpression: a subscription left on the notifier only wakes or ends a stream that has ended already (a leak, not a delivery)
      unsubscribeInbox();
      // Stryker disable next-line CallExpression: a subscription left on the notifier only wakes or ends a stream that has ended already (a leak, not a delivery)
      unsubscribeReceiver();
      // Stryker disable next-line all: a listener left on a signal that is done never fires again
      signal.removeEventListener("abort", wake);
      // Stryker disable next-line all: the map only routes settlements and hand-offs to this node's stream: without the entry they go through the notifier to the same stream, and a stale one belongs to a stream that ended, which a newer stream's entry replaces
      if (this.receivers.get(k) === receiver) this.receivers.delete(k);
    }
  }

  /** Counts deliveries in the metrics (once per batch) and continues each message's trace. */
  private observed(identity: Identity, batch: ClaimedDelivery[]): ClaimedDelivery[] {
    // Stryker disable all: metrics, and the traceparent header, which the hub rewrites only with a tracer configured (a non-recording tracer keeps the sender's)
    const now = this.hub.clock.now();
    const ages: number[] = [];
    let bytes = 0;
    for (const [i, d] of batch.entries()) {
      const m = d.message;
      ages.push((now - m.createdAt) / 1000);
      bytes += m.data.length;
      const headers = this.hub.messageTracing.delivered(
        m.headers,
        identity.tenantId,
        identity.agentId,
        m.id,
        d.attempt,
      );
      if (headers !== m.headers) batch[i] = { ...d, message: { ...m, headers } };
    }
    this.hub.metrics.messagesDelivered(identity.tenantId, identity.agentId, ages, bytes);
    // Stryker restore all
    return batch;
  }

  /** Subscribes to tenant changes once (with the first stream); a failed subscription is retried. */
  private watchTenants(): Promise<() => void> {
    if (!this.tenantWatch) {
      this.tenantWatch = this.hub.backend.notifier
        .subscribe(TENANTS_CHANNEL, (id) => {
          // After the other listeners of the announcement: the tenant cache drops its copy in one.
          queueMicrotask(() => void this.endIfTenantGone(id));
        })
        .catch((err: unknown) => {
          this.tenantWatch = undefined; // the next stream tries again
          throw err;
        });
    }
    return this.tenantWatch;
  }

  /**
   * Ends the streams of `tenantId` on this node (only `one`, when given) whose credential was
   * issued in a tenant that no longer exists: deleted, or deleted and created again with the same
   * id, whose agents and messages are not theirs. As the auth interceptor refuses such a
   * credential on every new call, its open streams end UNAUTHENTICATED.
   */
  private async endIfTenantGone(tenantId: string, one?: Receiver): Promise<void> {
    let tenant: Awaited<ReturnType<HubContext["findTenant"]>>;
    try {
      tenant = await this.hub.findTenant(tenantId);
    } catch (err) {
      // Stryker disable next-line all: a log line
      this.hub.logger.log("warn", "checking a changed tenant's streams failed", {
        tenant_id: tenantId,
        err,
      });
      return;
    }
    const gone = (r: Receiver) =>
      r.tenantId === tenantId &&
      (tenant === undefined ||
        (r.tenantIncarnation !== undefined && r.tenantIncarnation !== tenant.incarnation));
    for (const r of one ? [one] : this.receivers.values()) {
      if (!gone(r)) continue;
      r.end(
        hubError(
          Code.Unauthenticated,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `tenant "${tenantId}" was deleted; its credentials no longer authenticate`,
        ),
      );
    }
  }

  /** Ends every live stream (hub shutdown): clients reconnect to another node or after restart. */
  close(): void {
    void this.tenantWatch?.then((unsubscribe) => unsubscribe());
    this.tenantWatch = undefined;
    for (const r of this.receivers.values()) {
      r.end(
        hubError(Code.Unavailable, "the hub is draining (shutting down); reconnect", {
          reason: "DRAINING",
          retryAfterMs: 1_000,
        }),
      );
    }
    this.receivers.clear();
  }
}

/**
 * Deliveries a poll claimed and deliveries claimed as their messages were stored, in the order a
 * poll hands out: due retries first (as the poll ordered them), then first attempts in queue
 * order. A write claims only when nothing of the queue waits, but a poll that was running
 * meanwhile may answer after it with entries queued before or after its messages.
 */
export function inQueueOrder(deliveries: ClaimedDelivery[]): ClaimedDelivery[] {
  const rank = (d: ClaimedDelivery) => (d.attempt > 1 ? 0 : 1);
  return deliveries.sort((a, b) => {
    const r = rank(a) - rank(b);
    if (r !== 0 || rank(a) === 0) return r;
    return (a.order ?? 0) - (b.order ?? 0);
  });
}

/**
 * The instant an idle stream re-reads its queue (in case a notification was lost): the last
 * multiple of POLL_TICK_MS at or before `at`, so the re-reads of the idle streams of this node
 * that fall due within one tick run in the same event-loop turn, where a backend can answer them
 * together (one statement for up to STREAM_TURNS_PER_TICK streams on PostgreSQL) instead of
 * each at its own moment. Never later than `at`.
 */
function pollTick(at: number): number {
  return Math.floor(at / POLL_TICK_MS) * POLL_TICK_MS;
}

/** See {@link pollTick}: at most an eighth of the default notificationPollMs (2 s). */
const POLL_TICK_MS = 250;

/** The inbox payload of a settlement (ack): it wakes a stream only while its window is full. */
const SETTLED = "settled";

/** The receiver-channel payload that ends an unregistered agent's stream. */
// Stryker disable next-line StringLiteral: its one publisher and its one subscriber share the constant, and no other payload of the channel is empty
const UNREGISTERED = "unregistered";

function key(tenantId: string, agentId: string): string {
  return `${tenantId}\u0000${agentId}`;
}
