import type { Identity } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, type ConnectError, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { ClaimedDelivery, SettleOutcome } from "../storage/types.js";
import { inboxChannel, receiverChannel } from "./channels.js";
import { DeliveryTurns } from "./delivery-turns.js";
import type { Registry } from "./registry.js";

/** A live Receive stream of one agent on this node. */
interface Receiver {
  id: string;
  /** Ends the stream with `error` (e.g. replaced by a newer stream, agent unregistered). */
  end(error: ConnectError): void;
  /** Wakes the stream when its flow-control window is full (a settlement freed a slot). */
  settled(): void;
}

/** What the Receive loop yields. */
export type ReceiveItem =
  | { kind: "ready"; streamId: string; maxInFlight: number; ackDeadlineMs: number }
  | { kind: "deliveries"; deliveries: ClaimedDelivery[] }
  | { kind: "keepalive" };

const KEEPALIVE_MS = 15_000;

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

  /** Wakes the live streams of these agents, on any node (after their messages became durable). */
  async notify(tenantId: string, agentIds: Iterable<string>): Promise<void> {
    const { notifier } = this.hub.backend;
    try {
      await Promise.all([...agentIds].map((a) => notifier.publish(inboxChannel(tenantId, a))));
    } catch (err) {
      // The messages are durable already: a lost wake-up delays them (streams look at their
      // queues every notificationPollMs), it does not undo the send.
      this.hub.logger.log(
        "warn",
        "waking receivers failed; they will find the messages by polling",
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

  /** Whether the agent has a live stream on this node. */
  isReceiving(tenantId: string, agentId: string): boolean {
    return this.receivers.has(key(tenantId, agentId));
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
  ): AsyncGenerator<ReceiveItem> {
    const { tenantId, agentId } = identity;
    if (!(await this.hub.backend.registry.get(tenantId, agentId))) {
      throw hubError(Code.FailedPrecondition, `agent "${agentId}" must register before receiving`, {
        reason: "AGENT_NOT_REGISTERED",
      });
    }
    const tenant = await this.hub.tenant(tenantId);
    const store = this.hub.backend.messages;
    const clock = this.hub.clock;
    const limit = maxInFlight > 0 ? maxInFlight : 256;
    const k = key(tenantId, agentId);

    let ended: ConnectError | undefined;
    let woken = true;
    /** Whether the last poll left the window full: only then does a settlement matter. */
    let full = false;
    let resolveWait: (() => void) | undefined;
    const wake = () => {
      woken = true;
      resolveWait?.();
    };
    const receiver: Receiver = {
      id: newId("rcv_", clock.now()),
      end(error) {
        ended = error;
        wake();
      },
      settled() {
        if (full) wake();
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
            hubError(Code.FailedPrecondition, `agent "${agentId}" was unregistered`, {
              reason: "AGENT_NOT_REGISTERED",
            }),
          );
        } else if (payload !== `stream:${receiver.id}`) {
          receiver.end(
            hubError(
              Code.Aborted,
              `a newer Receive stream of agent "${agentId}" replaced this one`,
              { reason: "STREAM_REPLACED" },
            ),
          );
        }
      },
    );
    this.receivers.set(k, receiver);
    signal.addEventListener("abort", wake, { once: true });
    // Ends older streams of this agent, here and on other nodes.
    await notifier.publish(receiverChannel(tenantId, agentId), `stream:${receiver.id}`);

    // An open stream counts as presence: touch the registry now and every heartbeat interval.
    await this.registry.touchLive(tenantId, agentId);
    const presenceFailed = (err: unknown) =>
      this.hub.logger.log("warn", "presence update failed", { err, agent_id: agentId });
    const touch = () => {
      this.registry.touchLive(tenantId, agentId).catch(presenceFailed);
    };
    // One timer for the stream's life where the clock repeats one (a stream holds it while open).
    const interval = tenant.settings.heartbeatIntervalMs;
    let presenceTimer: Timer;
    if (clock.setRepeating) {
      presenceTimer = clock.setRepeating(interval, touch);
    } else {
      const renew = () => {
        touch();
        presenceTimer = clock.setTimer(interval, renew);
      };
      presenceTimer = clock.setTimer(interval, renew);
    }
    let wakeTimer: Timer | undefined;
    let timerFired = false;
    // One callback for every wait of the stream (a waiting stream holds its wait's timer).
    const onTimer = () => {
      timerFired = true;
      resolveWait?.();
    };
    let lastSent = clock.now();

    try {
      yield {
        kind: "ready",
        streamId: receiver.id,
        maxInFlight: limit,
        ackDeadlineMs: tenant.settings.ackDeadlineMs,
      };
      let settings = tenant.settings;
      let settingsReadAt = clock.now();
      for (;;) {
        // Waits while other streams use this event-loop turn (a fan-out woke many at once).
        const turn = this.turns.take();
        if (turn) await turn;
        if (ended) throw ended;
        if (signal.aborted) return;
        woken = false;
        const now = clock.now();
        if (now - settingsReadAt >= this.hub.limits.notificationPollMs) {
          settings = (await this.hub.findTenant(tenantId))?.settings ?? settings;
          settingsReadAt = now;
        }
        const polled = await store.poll(tenantId, agentId, {
          limit,
          now,
          deadline: now + settings.ackDeadlineMs,
          maxAttempts: settings.maxDeliveryAttempts,
        });
        full = polled.inFlight >= limit;
        const batch = polled.deliveries;
        if (batch.length > 0) {
          lastSent = now;
          yield { kind: "deliveries", deliveries: this.observed(identity, batch) };
        }
        if (woken) continue;
        // Nothing more to send for now: sleep until woken, the next deadline, the keepalive
        // interval, or the next poll (a notification may be lost).
        const next = polled.nextWake;
        const keepaliveAt = lastSent + KEEPALIVE_MS;
        // A notifier that loses nothing (one process) needs no re-read: an idle stream then wakes
        // only when told, at a deadline, or for its keepalive.
        const pollAt = notifier.reliable
          ? Number.POSITIVE_INFINITY
          : pollTick(clock.now() + this.hub.limits.notificationPollMs);
        const at = Math.min(next ?? keepaliveAt, keepaliveAt, pollAt);
        timerFired = false;
        wakeTimer?.cancel();
        wakeTimer = clock.setTimer(Math.max(0, at - clock.now()), onTimer);
        await new Promise<void>((resolve) => {
          resolveWait = resolve;
          if (woken || ended || signal.aborted) resolve();
        });
        resolveWait = undefined;
        if (timerFired && !woken && clock.now() >= keepaliveAt) {
          lastSent = clock.now();
          yield { kind: "keepalive" };
        }
      }
    } finally {
      wakeTimer?.cancel();
      presenceTimer.cancel();
      unsubscribeInbox();
      unsubscribeReceiver();
      signal.removeEventListener("abort", wake);
      if (this.receivers.get(k) === receiver) this.receivers.delete(k);
    }
  }

  /** Counts deliveries in the metrics (once per batch) and continues each message's trace. */
  private observed(identity: Identity, batch: ClaimedDelivery[]): ClaimedDelivery[] {
    const now = this.hub.clock.now();
    const ages: number[] = [];
    let bytes = 0;
    for (const [i, d] of batch.entries()) {
      const m = d.message;
      ages.push((now - m.createdAt) / 1000);
      bytes += m.data.length;
      const headers = this.hub.messageTracing.delivered(m.headers, {
        "acb.tenant_id": identity.tenantId,
        "acb.recipient_id": identity.agentId,
        "acb.message_id": m.id,
        "acb.delivery_attempt": String(d.attempt),
      });
      if (headers !== m.headers) batch[i] = { ...d, message: { ...m, headers } };
    }
    this.hub.metrics.messagesDelivered(identity.tenantId, identity.agentId, ages, bytes);
    return batch;
  }

  /** Ends every live stream (hub shutdown): clients reconnect to another node or after restart. */
  close(): void {
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
const UNREGISTERED = "unregistered";

function key(tenantId: string, agentId: string): string {
  return `${tenantId}\u0000${agentId}`;
}
