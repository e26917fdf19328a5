import { Code, type Transport } from "@connectrpc/connect";
import { AcbError } from "./acb-error.js";
import type { TokenSource } from "./credentials.js";

/**
 * The credential generation each UNAUTHENTICATED answer refused: a refusal of a credential that has
 * since been replaced says nothing about the new one (see ConnectionMonitor.retryAfter).
 */
const refusedGenerations = new WeakMap<AcbError, number>();

/** The credential generation `error` refused; undefined when it is no credential refusal. */
export function refusedGeneration(error: unknown): number | undefined {
  return error instanceof AcbError ? refusedGenerations.get(error) : undefined;
}

/** Options of {@link wrapTransport}. */
export interface TransportWrapOptions {
  /** The credential sent as `Authorization: Bearer …` on every call, read per call. Default: none. */
  credential?: () => TokenSource | undefined;
  /** Changes whenever the credential is replaced. Default: it never is. */
  credentialGeneration?: () => number;
  /** Deadline of unary calls that set none. Default: none. */
  defaultTimeoutMs?: number | undefined;
  /** Awaited before a call goes out, when it returns a promise ("package.Service/Method"). */
  beforeCall?: (procedure: string) => Promise<void> | undefined;
  /** Called after every unary call the hub answered, with the hub's refusal if it refused. */
  onAnswer?: (procedure: string, error?: AcbError) => void;
}

/**
 * Wraps a transport so every failure, of unary calls and of streams alike, surfaces as an
 * {@link AcbError} (errors raised before the interceptors run, like a refused connection, are
 * covered too), unary calls get the default deadline, and every call carries the credential.
 */
export function wrapTransport(transport: Transport, options: TransportWrapOptions = {}): Transport {
  const answered = options.onAnswer ?? (() => {});
  const generation = options.credentialGeneration ?? (() => 0);
  /** The error as an AcbError; a credential refusal remembers which credential it refused. */
  const refusal = (err: unknown, sentWith: number) => {
    const e = AcbError.from(err);
    if (e.code === Code.Unauthenticated && e.isWireError) refusedGenerations.set(e, sentWith);
    return e;
  };
  const prepare = async (
    procedure: string,
    header: HeadersInit | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ) => {
    const gate = options.beforeCall?.(procedure);
    if (gate) await untilSettledOr(gate, signal, timeoutMs);
    const token = options.credential?.();
    if (token === undefined) return header;
    const h = new Headers(header);
    h.set("Authorization", `Bearer ${typeof token === "string" ? token : await token()}`);
    return h;
  };
  const nameOf = (method: { parent: { typeName: string }; name: string }) =>
    `${method.parent.typeName}/${method.name}`;
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => {
      const sentWith = generation();
      return prepare(nameOf(method), header, signal, timeoutMs ?? options.defaultTimeoutMs)
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
            answered(nameOf(method));
            return res;
          },
          (err: unknown) => {
            const e = refusal(err, sentWith);
            if (e.isWireError) answered(nameOf(method), e);
            throw e;
          },
        );
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) => {
      const sentWith = generation();
      return prepare(nameOf(method), header, signal, timeoutMs)
        .then((h) => transport.stream(method, signal, timeoutMs, h, input, contextValues))
        .then(
          (res) => ({
            ...res,
            message: new Rethrowing(res.message, (err) => refusal(err, sentWith)),
          }),
          (err: unknown) => {
            throw refusal(err, sentWith);
          },
        );
    },
  };
}

/**
 * A stream's messages with each failure turned into the error `fail` makes. An iterator of its
 * own rather than an async generator delegating with `yield*`, which adds a promise and a
 * resumption to every message the stream delivers. Like the generator, it asks the stream for
 * its iterator at the first step, ends after a failure, and passes `return` on to the stream.
 */
class Rethrowing<T> implements AsyncIterableIterator<T> {
  private inner: AsyncIterator<T> | undefined;
  private ended = false;

  constructor(
    private readonly messages: AsyncIterable<T>,
    private readonly fail: (err: unknown) => Error,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    try {
      this.inner ??= this.messages[Symbol.asyncIterator]();
      return this.inner.next().then(this.stepped, this.failed);
    } catch (err) {
      return this.failed(err);
    }
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    const inner = this.inner;
    this.ended = true;
    if (!inner?.return) return Promise.resolve({ done: true, value: value as T });
    try {
      return inner.return(value).then(() => ({ done: true, value: value as T }), this.failed);
    } catch (err) {
      return this.failed(err);
    }
  }

  private readonly stepped = (r: IteratorResult<T>): IteratorResult<T> => {
    if (!r.done) return r;
    this.ended = true;
    return { done: true, value: undefined };
  };

  private readonly failed = (err: unknown): Promise<never> => {
    this.ended = true;
    return Promise.reject(this.fail(err));
  };
}

/**
 * Waits for `gate`, but no longer than the call it holds up may last: the call's own abort or
 * deadline then applies to the call itself.
 */
function untilSettledOr(
  gate: Promise<void>,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): Promise<void> {
  if (!signal && timeoutMs === undefined) return gate;
  return new Promise<void>((resolve) => {
    const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    if (signal?.aborted) return done();
    signal?.addEventListener("abort", done, { once: true });
    void gate.then(done, done);
  });
}
