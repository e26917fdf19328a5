import type { Transport } from "@connectrpc/connect";
import { AcbError } from "./acb-error.js";
import type { TokenSource } from "./credentials.js";

async function* rethrowing<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw AcbError.from(err);
  }
}

/** Options of {@link wrapTransport}. */
export interface TransportWrapOptions {
  /** Sent as `Authorization: Bearer …` on every call. Default: none. */
  token?: TokenSource | undefined;
  /** Deadline of unary calls that set none. Default: none. */
  defaultTimeoutMs?: number | undefined;
  /** Called after every unary call the hub answered (successfully or with an error of its own). */
  onReachable?: () => void;
}

/**
 * Wraps a transport so every failure, of unary calls and of streams alike, surfaces as an
 * {@link AcbError} (errors raised before the interceptors run, like a refused connection, are
 * covered too), unary calls get the default deadline, and every call carries the credential.
 */
export function wrapTransport(transport: Transport, options: TransportWrapOptions = {}): Transport {
  const reached = options.onReachable ?? (() => {});
  const { token } = options;
  const withCredential = async (header: HeadersInit | undefined) => {
    if (token === undefined) return header;
    const h = new Headers(header);
    h.set("Authorization", `Bearer ${typeof token === "string" ? token : await token()}`);
    return h;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      withCredential(header)
        .then((h) =>
          transport.unary(
            method,
            signal,
            timeoutMs ?? options.defaultTimeoutMs,
            h,
            input,
            contextValues,
          ),
        )
        .then(
          (res) => {
            reached();
            return res;
          },
          (err: unknown) => {
            const e = AcbError.from(err);
            if (e.isWireError) reached();
            throw e;
          },
        ),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      withCredential(header)
        .then((h) => transport.stream(method, signal, timeoutMs, h, input, contextValues))
        .then(
          (res) => ({ ...res, message: rethrowing(res.message) }),
          (err: unknown) => {
            throw AcbError.from(err);
          },
        ),
  };
}
