import {
  type ContextService,
  SubscribeContextsResponse_Kind as Kind,
} from "@acb/gen/acb/v1/contexts_pb";
import { type Client, Code } from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { backoffDelay, wait } from "./backoff.js";
import { isRetryable } from "./errors.js";
import type { PayloadCodec } from "./payload-codec.js";
import { type SharedContext, sharedContext } from "./records.js";
import type { StreamOptions, StreamState, WatchedStreamOptions } from "./stream-options.js";

export type { StreamState };

/** The kind of change a subscriber is told about. */
export type ContextChangeKind = "created" | "updated" | "deleted" | "expired";

/** One change delivered to a subscription handler. */
export interface ContextChange<T = unknown> {
  kind: ContextChangeKind;
  context: SharedContext<T>;
  /** Resume point just past this change. */
  cursor: string;
  time: Date | undefined;
}

/** Options of {@link AcbClient.subscribe} and {@link ContextsApi.watch}. */
export interface SubscribeOptions<T> extends StreamOptions {
  /** Only contexts whose metadata contains all of these pairs. */
  filter?: Record<string, string>;
  /** Resume after this cursor (e.g. a previous subscription's `cursor`); default: from now. */
  cursor?: string;
  /** Decodes values; default: JSON by media type, bytes otherwise. */
  codec?: PayloadCodec<T>;
  /** Leave payloads out of events (read them with getContext). Default false. */
  omitPayloads?: boolean;
}

/** A live, self-resuming context subscription. */
export interface Subscription {
  /** The position after the last change handled; a new subscription given it misses nothing. */
  readonly cursor: string;
  readonly state: StreamState;
  /** Resolves when the hub confirmed the subscription is live (replayed changes are handled first). */
  readonly ready: Promise<void>;
  /** Settles when the subscription ends: resolves after close(), rejects with the error that ended it for good. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

const kinds: Partial<Record<Kind, ContextChangeKind>> = {
  [Kind.CREATED]: "created",
  [Kind.UPDATED]: "updated",
  [Kind.DELETED]: "deleted",
  [Kind.EXPIRED]: "expired",
};

/**
 * Runs a subscription: reads the hub's stream, hands each change to the handler in order, and after
 * a dropped connection reconnects with backoff from the cursor of the last handled change, so no
 * change is missed and none is handled twice.
 */
export function startSubscription<T>(
  client: Client<typeof ContextService>,
  types: string[],
  handler: (change: ContextChange<T>) => void | Promise<void>,
  options: SubscribeOptions<T> & WatchedStreamOptions,
): Subscription {
  const abort = new AbortController();
  options.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  let cursor = options.cursor ?? "";
  let inHandler = false;
  let state: StreamState = "connecting";
  let markReady: () => void = () => {};
  let failReady: (e: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // The same error is reported through `done`.
  const setState = (next: StreamState) => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };

  async function run(): Promise<void> {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        const stream = client.subscribeContexts(
          {
            types,
            metadata: options.filter ?? {},
            cursor,
            omitPayloads: options.omitPayloads ?? false,
          },
          { signal: abort.signal },
        );
        for await (const event of stream) {
          if (event.kind === Kind.READY) {
            cursor = event.cursor;
            attempt = 0;
            setState("live");
            markReady();
            continue;
          }
          const kind = kinds[event.kind];
          if (kind && event.context) {
            const change: ContextChange<T> = {
              kind,
              context: sharedContext(event.context, options.codec),
              cursor: event.cursor,
              time:
                event.time && new Date(Number(event.time.seconds) * 1000 + event.time.nanos / 1e6),
            };
            inHandler = true;
            try {
              await handler(change);
            } catch (err) {
              options.onError?.(err);
            } finally {
              inHandler = false;
            }
          }
          cursor = event.cursor;
        }
        // The hub ended the stream (it is draining): resume like after a dropped connection.
      } catch (err) {
        if (abort.signal.aborted) break;
        if (!isRetryable(err)) {
          // New credentials may cure the refusal; a cursor of another epoch cannot be cured.
          setState("reconnecting");
          if ((await options.retryAfter?.(err)) && !abort.signal.aborted) continue;
          if (abort.signal.aborted) break;
          const error = AcbError.from(err);
          setState("closed");
          failReady(error);
          options.onError?.(error);
          throw error;
        }
      }
      if (abort.signal.aborted) break;
      setState("reconnecting");
      await wait(backoffDelay(attempt++, options.backoff), abort.signal);
    }
    setState("closed");
  }

  const done = run();
  return {
    get cursor() {
      return cursor;
    },
    get state() {
      return state;
    },
    ready,
    done,
    async close() {
      abort.abort();
      failReady(acbError(Code.Canceled, "subscription closed before it was live"));
      // A handler may close its own subscription; waiting for the loop (which waits for that
      // handler) would never finish, so only wait when called from outside a handler.
      if (!inHandler) await done.catch(() => {});
    },
  };
}
