import { Code, type CallOptions as ConnectCallOptions, ConnectError } from "@connectrpc/connect";
import { AcbError } from "./acb-error.js";

/** Cancellation and deadline of one call; every convenience method that talks to the hub takes them. */
export interface CallOptions {
  /** Cancels the call when aborted (it fails with Code.Canceled). Default: not cancellable. */
  signal?: AbortSignal;
  /**
   * Fails the call with Code.DeadlineExceeded after this many milliseconds (the hub is told the
   * deadline too). Default: the client's `timeoutMs`, or none.
   */
  timeoutMs?: number;
  /** Request headers of this call only (e.g. `traceparent`). Default: none. */
  headers?: HeadersInit;
}

/** The Connect call options for `o` (absent fields left out, as exactOptionalPropertyTypes wants). */
export function callOptions(o: CallOptions | undefined): ConnectCallOptions {
  const out: ConnectCallOptions = {};
  if (o?.signal) out.signal = o.signal;
  if (o?.timeoutMs !== undefined) out.timeoutMs = o.timeoutMs;
  if (o?.headers !== undefined) out.headers = o.headers;
  return out;
}

/**
 * Settles like `p`, or rejects early (Code.Canceled, Code.DeadlineExceeded) when `o.signal` aborts
 * or `o.timeoutMs` passes. For calls that cannot take Connect call options (sends multiplexed on
 * one stream); the call itself may still complete, so a retry needs an idempotency key.
 */
export function abortable<T>(p: Promise<T>, o: CallOptions | undefined): Promise<T> {
  if (!o?.signal && o?.timeoutMs === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              finish(() =>
                reject(new AcbError(new ConnectError("deadline exceeded", Code.DeadlineExceeded))),
              ),
            o.timeoutMs,
          );
    const onAbort = () =>
      finish(() => reject(new AcbError(new ConnectError("call cancelled", Code.Canceled))));
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      settle();
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(AcbError.from(e))),
    );
  });
}
