import { ErrorInfoSchema, type Payload } from "@acb/gen/acb/v1/common_pb";
import {
  type Delivery,
  ReceiveResponse_Kind as Kind,
  type MessagingService,
  type NackRequestSchema,
  type SendRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { backoffDelay, wait } from "./backoff.js";
import { isRetryable } from "./errors.js";
import {
  type InboundMessage,
  inboundMessage,
  type SendOptions,
  type SendResult,
  sendRequest,
} from "./messaging.js";
import type { PayloadCodec } from "./payload-codec.js";
import type { StreamOptions, StreamState, WatchedStreamOptions } from "./stream-options.js";

/** A delivered message: the message plus this delivery attempt and its settlement. */
export interface ReceivedMessage<T = unknown> extends InboundMessage<T> {
  /** Identifies this attempt; settle it before `ackDeadline`. */
  deliveryId: string;
  /** 1 on the first delivery, +1 on each redelivery. */
  attempt: number;
  ackDeadline: Date | undefined;
  /** Acknowledges (manual-ack mode; automatic otherwise). */
  ack(): Promise<void>;
  /** Asks for redelivery after `delayMs`, or sends the message to the dead-letter queue. */
  nack(options?: { delayMs?: number; deadLetter?: boolean; error?: string }): Promise<void>;
  /** Sends a RESPONSE to the sender, correlated with this message. */
  reply<R>(value: R, options?: SendOptions<R>): Promise<SendResult>;
}

/** The W3C trace-context headers of a message (`traceparent`, `tracestate`), when it has them. */
function traceContextOf(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["traceparent", "tracestate"]) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * A message handler. In automatic-ack mode the delivery is acknowledged when it returns and
 * negatively acknowledged (redelivered later) when it throws. For a query or command, a value
 * other than undefined is sent back as the RESPONSE.
 */
export type MessageHandler<T = unknown> = (
  message: ReceivedMessage<T>,
) => unknown | Promise<unknown>;

/** Options of {@link AcbClient.receive} and {@link AcbClient.messages}. */
export interface ReceiveOptions extends StreamOptions {
  /** Deliveries the hub may have outstanding on the stream. Default 256. */
  maxInFlight?: number;
  /**
   * Leave acks to the application (message.ack()). Default false: receive() acknowledges when the
   * handler returns, messages() when the loop asks for the next message.
   */
  manualAck?: boolean;
  /** Delay before a message whose handler threw is redelivered. Default 1,000 ms. */
  retryDelayMs?: number;
}

/** The running Receive stream of this client's agent. */
export interface Receiver {
  readonly state: StreamState;
  /** Resolves when the hub confirmed the stream is live. */
  readonly ready: Promise<void>;
  /** Settles when the stream ends: resolves after close(), rejects with the error that ended it. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/**
 * Returned by a handler inside the SDK (messages()): neither reply nor settle this delivery, even
 * with automatic acks; the hub redelivers it after its ack deadline.
 */
export const LEAVE_UNSETTLED: unique symbol = Symbol("leave unsettled");

interface Route {
  handler: MessageHandler<never>;
  codec: PayloadCodec<unknown> | undefined;
}

/** Handlers by message kind, with a catch-all. */
export class MessageRouter {
  readonly routes = new Map<string, Route>();
  fallback: Route | undefined;
  /** Decrypts an end-to-end encrypted payload in place before it is decoded (the client's hook). */
  open: ((payload: Payload | undefined) => Promise<void>) | undefined;

  route(kind: string): Route | undefined {
    return this.routes.get(kind) ?? this.fallback;
  }
}

/**
 * How long an ack may wait for company. Acks only release flow-control slots and stop redelivery
 * (after the ack deadline, 30 s by default), so a short wait costs nothing and turns many Ack
 * calls into one.
 */
const ACK_FLUSH_MS = 100;

/** How deliveries are settled: unary Ack/Nack calls, or items of the client's SendStream. */
export interface Settler {
  ack(deliveryIds: string[]): Promise<unknown>;
  nack(request: MessageInitShape<typeof NackRequestSchema>): Promise<unknown>;
}

/** Collects acks and sends them in batches, so acknowledging costs far less than one call each. */
class AckBatcher {
  private pending: string[] = [];
  private scheduled = false;

  constructor(
    private readonly settler: Settler,
    private readonly onError: (e: unknown) => void,
  ) {}

  add(deliveryId: string): void {
    this.pending.push(deliveryId);
    if (this.pending.length >= 500) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(() => this.flush(), ACK_FLUSH_MS);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const ids = this.pending;
    this.pending = [];
    // A failed ack is not lost data: the hub redelivers after the ack deadline.
    this.settler.ack(ids).catch(this.onError);
  }
}

export function startReceiver(
  messaging: Client<typeof MessagingService>,
  settler: Settler,
  send: (request: MessageInitShape<typeof SendRequestSchema>) => Promise<SendResult>,
  router: MessageRouter,
  options: ReceiveOptions & WatchedStreamOptions,
): Receiver {
  const abort = new AbortController();
  options.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const onError = options.onError ?? (() => {});
  const acks = new AckBatcher(settler, onError);
  let state: StreamState = "connecting";
  let markReady: () => void = () => {};
  let failReady: (e: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {});
  const setState = (next: StreamState) => {
    if (state !== next) {
      state = next;
      options.onStateChange?.(next);
    }
  };

  async function handle(delivery: Delivery) {
    const raw = delivery.message;
    if (!raw) return;
    const route = router.route(raw.kind);
    try {
      await router.open?.(raw.payload);
    } catch (err) {
      // Undecryptable (no key, wrong key, tampered): retrying cannot help, so dead-letter it.
      onError(err);
      const reason = (err as { reason?: string }).reason;
      const text = err instanceof Error ? err.message : String(err);
      await settler
        .nack({
          deliveryIds: [delivery.deliveryId],
          deadLetter: true,
          error: reason ? `${reason}: ${text}` : text,
        })
        .catch(onError);
      return;
    }
    const base = inboundMessage(raw, route?.codec);
    let settled = false;
    const message: ReceivedMessage = {
      ...base,
      deliveryId: delivery.deliveryId,
      attempt: delivery.attempt,
      ackDeadline: delivery.ackDeadline && timestampDate(delivery.ackDeadline),
      async ack() {
        settled = true;
        await settler.ack([delivery.deliveryId]);
      },
      async nack(o = {}) {
        settled = true;
        await settler.nack({
          deliveryIds: [delivery.deliveryId],
          redeliverDelay: {
            seconds: BigInt(Math.floor((o.delayMs ?? 0) / 1000)),
            nanos: ((o.delayMs ?? 0) % 1000) * 1e6,
          },
          deadLetter: o.deadLetter ?? false,
          error: o.error ?? "",
        });
      },
      reply: (value, o = {}) =>
        send(
          sendRequest({ recipientId: base.replyTo || base.senderId }, base.kind, value, {
            ...o,
            // The reply continues the request's W3C trace, unless the caller sets those headers.
            headers: { ...traceContextOf(base.headers), ...o.headers },
            type: "response",
            correlationId: base.id,
          }),
        ),
    };
    if (!route) {
      // Nobody handles this kind: leave it to the ack deadline unless acks are automatic.
      if (!options.manualAck) acks.add(delivery.deliveryId);
      return;
    }
    try {
      const result = await (route.handler as MessageHandler)(message);
      if (result === LEAVE_UNSETTLED) return;
      if ((base.type === "query" || base.type === "command") && result !== undefined)
        await message.reply(result);
      if (!options.manualAck && !settled) acks.add(delivery.deliveryId);
    } catch (err) {
      onError(err);
      if (!options.manualAck && !settled) {
        await message
          .nack({
            delayMs: options.retryDelayMs ?? 1000,
            error: err instanceof Error ? err.message : String(err),
          })
          .catch(onError);
      }
    }
  }

  // A handler may close the receiver; then close() must not wait for the loop that awaits it.
  let inHandler = false;

  async function run(): Promise<void> {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        // Batched DELIVERY items: a busy stream pays the per-item cost once per batch.
        const stream = messaging.receive(
          { maxInFlight: options.maxInFlight ?? 0, batchDeliveries: true },
          { signal: abort.signal },
        );
        for await (const item of stream) {
          if (item.kind === Kind.READY) {
            attempt = 0;
            setState("live");
            markReady();
          } else if (item.kind === Kind.DELIVERY) {
            const deliveries = item.delivery ? [item.delivery] : item.deliveries;
            inHandler = true;
            try {
              for (const delivery of deliveries) {
                if (abort.signal.aborted) break;
                await handle(delivery);
              }
            } finally {
              inHandler = false;
            }
          }
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        const e = ConnectError.from(err);
        const replaced =
          e.code === Code.Aborted &&
          e.findDetails(ErrorInfoSchema).some((i) => i.reason === "STREAM_REPLACED");
        if (replaced || !isRetryable(e)) {
          // New credentials, or this agent's session registering again, may cure the refusal.
          setState("reconnecting");
          if (!replaced && (await options.retryAfter?.(e)) && !abort.signal.aborted) continue;
          if (abort.signal.aborted) break;
          acks.flush();
          setState("closed");
          failReady(e);
          const error = AcbError.from(e);
          onError(error);
          throw error;
        }
      }
      if (abort.signal.aborted) break;
      setState("reconnecting");
      await wait(backoffDelay(attempt++, options.backoff), abort.signal);
    }
    acks.flush();
    setState("closed");
  }

  const done = run();
  return {
    get state() {
      return state;
    },
    ready,
    done,
    async close() {
      abort.abort();
      failReady(acbError(Code.Canceled, "receiver closed before it was live"));
      if (!inHandler) await done.catch(() => {});
    },
  };
}
