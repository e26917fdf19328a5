import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type AckResponse,
  type MessagingService,
  type NackRequestSchema,
  type NackResponse,
  type SendRequestSchema,
  type SendResponse,
  type SendStreamRequest,
  SendStreamRequestSchema,
  type SendStreamResponse,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, ConnectError } from "@connectrpc/connect";

type Result = SendStreamResponse["result"];

interface Pending {
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/** Close an idle stream after this long, so an idle client holds no open request. */
const IDLE_CLOSE_MS = 2_000;

/** One SendStream call: its own queue of unwritten items and its own items awaiting results. */
class StreamCall {
  queue: SendStreamRequest[] = [];
  readonly pending = new Map<bigint, Pending>();
  /** Set once idle: the request side ends; new items go to a new call. */
  ending = false;
  private wakeWriter: (() => void) | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the stream last had nothing waiting (its last answer). */
  private idleSince = 0;

  constructor(messaging: Client<typeof MessagingService>, signal: AbortSignal | undefined) {
    const run = async () => {
      try {
        const requests = new QueuedItems(this);
        for await (const res of messaging.sendStream(requests, signal && { signal })) {
          const p = this.pending.get(res.ref);
          this.pending.delete(res.ref);
          p?.resolve(res.result);
          if (this.pending.size === 0 && this.queue.length === 0) this.armIdleClose();
        }
        this.fail(new ConnectError("send stream ended before answering every item", 14));
      } catch (err) {
        this.fail(err);
      }
    };
    void run();
  }

  /** Resolves when an item is pushed or the call starts ending. */
  woken(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeWriter = () => {
        this.wakeWriter = undefined;
        resolve();
      };
    });
  }

  push(item: SendStreamRequest, pending: Pending, ref: bigint): void {
    this.pending.set(ref, pending);
    this.queue.push(item);
    this.wakeWriter?.();
  }

  /**
   * Closes the stream once nothing was waiting for IDLE_CLOSE_MS. One timer serves many answers:
   * it is not cleared and set again for each item (a timer per message), but checks when it fires
   * how long the stream has been idle, and waits for the rest.
   */
  private armIdleClose(): void {
    this.idleSince = Date.now();
    if (this.idleTimer === undefined) this.idleTimer = setTimeout(this.idleCheck, IDLE_CLOSE_MS);
  }

  private readonly idleCheck = (): void => {
    this.idleTimer = undefined;
    // Busy: the answer that empties the stream again arms the timer again.
    if (this.pending.size > 0 || this.queue.length > 0) return;
    const idleFor = Date.now() - this.idleSince;
    if (idleFor < IDLE_CLOSE_MS) {
      this.idleTimer = setTimeout(this.idleCheck, IDLE_CLOSE_MS - idleFor);
      return;
    }
    this.ending = true;
    this.wakeWriter?.();
  };

  private fail(err: unknown): void {
    this.ending = true;
    this.wakeWriter?.();
    const error = ConnectError.from(err);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.queue = [];
  }
}

/**
 * A call's request messages: its queue, taken a batch at a time as it fills, until the call ends.
 * An iterator of its own rather than an async generator, which costs a promise and a resumption
 * per item it yields.
 */
class QueuedItems implements AsyncIterableIterator<SendStreamRequest> {
  private batch: (SendStreamRequest | undefined)[] = [];
  private at = 0;
  private finished = false;

  constructor(private readonly call: StreamCall) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<SendStreamRequest>> {
    for (;;) {
      if (this.finished) return Promise.resolve({ done: true, value: undefined });
      if (this.at < this.batch.length) {
        const value = this.batch[this.at] as SendStreamRequest;
        this.batch[this.at++] = undefined;
        return Promise.resolve({ done: false, value });
      }
      const call = this.call;
      if (call.queue.length > 0) {
        this.batch = call.queue;
        this.at = 0;
        call.queue = [];
        continue;
      }
      if (call.ending) {
        this.finished = true;
        continue;
      }
      return call.woken().then(() => this.next());
    }
  }

  return(): Promise<IteratorResult<SendStreamRequest>> {
    this.finished = true;
    this.batch = [];
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(err?: unknown): Promise<IteratorResult<SendStreamRequest>> {
    this.finished = true;
    this.batch = [];
    return Promise.reject(err);
  }
}

/**
 * Sends and settles over one MessagingService.SendStream instead of one call per item (HTTP/2
 * transports only). Items are written as they come; each promise settles with the item's result.
 * A stream opens on first use and closes after a quiet spell, so an idle client holds no open
 * request. When a stream breaks, every item of it still waiting is rejected with the stream's
 * error: those sends may or may not have been stored, as with a failed unary call, so retry them
 * with an idempotency key.
 */
export class SendStreamChannel {
  private call: StreamCall | undefined;
  private nextRef = 1n;

  constructor(
    private readonly messaging: Client<typeof MessagingService>,
    /** Ends the open stream (and fails its waiting items) when aborted: the client closed. */
    private readonly signal?: AbortSignal,
  ) {}

  async send(request: MessageInitShape<typeof SendRequestSchema>): Promise<SendResponse> {
    const r = await this.submit({ case: "send", value: request });
    return r.case === "send" ? r.value : unexpected(r);
  }

  async ack(deliveryIds: string[]): Promise<AckResponse> {
    const r = await this.submit({ case: "ack", value: { deliveryIds } });
    return r.case === "ack" ? r.value : unexpected(r);
  }

  async nack(request: MessageInitShape<typeof NackRequestSchema>): Promise<NackResponse> {
    const r = await this.submit({ case: "nack", value: request });
    return r.case === "nack" ? r.value : unexpected(r);
  }

  private async submit(
    item: MessageInitShape<typeof SendStreamRequestSchema>["item"],
  ): Promise<Result> {
    if (this.call === undefined || this.call.ending) {
      this.call = new StreamCall(this.messaging, this.signal);
    }
    const ref = this.nextRef++;
    const request = create(SendStreamRequestSchema, { ref, ...(item && { item }) });
    const r = await new Promise<Result>((resolve, reject) =>
      this.call?.push(request, { resolve, reject }, ref),
    );
    if (r.case === "error") {
      const { retryInfo, errorInfo } = r.value;
      const details = [
        ...(retryInfo ? [{ desc: RetryInfoSchema, value: retryInfo }] : []),
        ...(errorInfo ? [{ desc: ErrorInfoSchema, value: errorInfo }] : []),
      ];
      throw new ConnectError(r.value.message, r.value.code, undefined, details);
    }
    return r;
  }
}

function unexpected(r: Result): never {
  throw new ConnectError(`send stream answered an item with "${r.case ?? "nothing"}"`, 13);
}
