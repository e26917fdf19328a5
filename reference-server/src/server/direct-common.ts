// What the direct paths (direct-streams.ts, direct-unary.ts) share: the handler context they
// hand the implementation, the interceptors applied as the protocol library applies them, header
// conversions between Node and Fetch, and the library's reasons for a client's reset.

import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import { getAbortSignalReason } from "@connectrpc/connect/protocol";

/** The request's headers as name-value pairs (pseudo-headers left out). */
export function headerPairs(headers: NodeJS.Dict<string | string[]>): [string, string][] {
  const out: [string, string][] = [];
  for (const key of Object.keys(headers)) {
    if (key.startsWith(":")) continue;
    const value = headers[key];
    if (Array.isArray(value)) for (const v of value) out.push([key, v]);
    else if (value !== undefined) out.push([key, value]);
  }
  return out;
}

/** Node's headers from Fetch API headers; a repeated one (Set-Cookie) as a list, as the library. */
export function nodeHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, key) => {
    addNodeHeader(out, key, value);
  });
  return out;
}

/** Adds a header to Node's headers: a second value of a name makes its values a list. */
export function addNodeHeader(
  out: Record<string, string | string[]>,
  key: string,
  value: string,
): void {
  const had = out[key];
  if (had === undefined) out[key] = value;
  else if (Array.isArray(had)) had.push(value);
  else out[key] = [had, value];
}

/** The call's handler context, for the implementation at the end of the interceptor chain. */
export const directContextKey = createContextKey<HandlerContext | undefined>(undefined, {
  description: "the handler context of a call served directly",
});

/** What a call's {@link DirectContext} is made of. */
export interface DirectContextInit {
  service: DescService;
  method: DescMethod;
  protocolName: string;
  url: string;
  /** The request's timeout (from its timeout header), if it has one. */
  timeoutMs?: number | undefined;
  /** Aborts the call's signal with its reason (the hub draining). */
  shutdownSignal?: AbortSignal | undefined;
  requestHeader: Headers;
  responseHeader: Headers;
  responseTrailer: Headers;
  contextValues: ContextValues;
}

/** The remaining time of a call without a timeout: none. */
const noTimeout = (): undefined => undefined;

/**
 * A call's handler context as the library's createHandlerContext makes it (the same signal,
 * deadline, timeoutMs and abort), in one object: the library's links a deadline controller, a
 * second controller and a listener closure for each signal, and spreads its fields into an object
 * whose properties spill into a second array. An open stream holds its context for its whole life.
 * The call's signal aborts at the deadline (DEADLINE_EXCEEDED), when the shutdown signal aborts
 * (with its reason), or at {@link DirectContext.abort}, whichever comes first.
 */
export class DirectContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocolName: string;
  readonly url: string;
  readonly requestHeader: Headers;
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
  readonly values: ContextValues;
  readonly signal: AbortSignal;
  readonly timeoutMs: () => number | undefined;
  private readonly controller = new AbortController();
  private readonly shutdown: AbortSignal | undefined;
  private deadline: ReturnType<typeof setTimeout> | undefined;

  constructor(init: DirectContextInit) {
    this.service = init.service;
    this.method = init.method;
    this.protocolName = init.protocolName;
    this.url = init.url;
    this.requestHeader = init.requestHeader;
    this.responseHeader = init.responseHeader;
    this.responseTrailer = init.responseTrailer;
    this.values = init.contextValues;
    this.signal = this.controller.signal;
    const timeout = init.timeoutMs;
    if (timeout === undefined) {
      this.timeoutMs = noTimeout;
    } else {
      const at = Date.now() + timeout;
      this.timeoutMs = () => at - Date.now();
    }
    // As the library links them: an expired deadline first, then the shutdown signal.
    if (timeout !== undefined && timeout <= 0) this.timedOut();
    const shutdown = init.shutdownSignal;
    if (shutdown && !this.signal.aborted) {
      if (shutdown.aborted) {
        this.controller.abort(getAbortSignalReason(shutdown));
      } else {
        this.shutdown = shutdown;
        // The context itself listens (handleEvent): no closure per call.
        shutdown.addEventListener("abort", this);
      }
    }
    if (timeout !== undefined && timeout > 0 && !this.signal.aborted) {
      this.deadline = setTimeout(() => this.timedOut(), timeout);
    }
  }

  /** The shutdown signal aborted. */
  handleEvent(): void {
    this.stop(getAbortSignalReason(this.shutdown as AbortSignal));
  }

  /** Aborts the call's signal with `reason` (unless it aborted already) and stops its deadline. */
  abort(reason?: unknown): void {
    this.stop(reason);
  }

  private timedOut(): void {
    this.stop(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  }

  private stop(reason: unknown): void {
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
    this.shutdown?.removeEventListener("abort", this);
    if (!this.signal.aborted) this.controller.abort(reason);
  }
}

/**
 * The handler context an implementation gets: the call's own (set under {@link directContextKey}),
 * with the service, headers, signal and values the interceptors passed on, as the library merges
 * them; the call's own context itself when the interceptors passed those on unchanged (an open
 * stream holds it for its whole life: one object, not two).
 */
export function handlerContextOf(r: {
  service: DescService;
  header: Headers;
  signal: AbortSignal;
  contextValues: ContextValues;
}): HandlerContext {
  const context = r.contextValues.get(directContextKey) as HandlerContext;
  if (
    context.service === r.service &&
    context.requestHeader === r.header &&
    context.signal === r.signal &&
    context.values === r.contextValues
  ) {
    return context;
  }
  return {
    ...context,
    service: r.service,
    requestHeader: r.header,
    signal: r.signal,
    values: r.contextValues,
  };
}

/** `invoke` inside the interceptors, outermost first, as the library applies them. */
export function withInterceptors<R>(
  invoke: (request: R) => Promise<unknown>,
  interceptors: readonly Interceptor[],
): (request: R) => Promise<unknown> {
  let next = invoke;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = (interceptors[i] as Interceptor)(next as never) as typeof next;
  }
  return next;
}

/** The library's reason for a request aborted by the client's RST_STREAM, by its error code. */
const resetCodes: Readonly<Record<number, readonly [string, Code]>> = {
  1: ["PROTOCOL_ERROR", Code.Internal],
  2: ["INTERNAL_ERROR", Code.Internal],
  3: ["FLOW_CONTROL_ERROR", Code.Internal],
  4: ["SETTINGS_TIMEOUT", Code.Internal],
  6: ["FRAME_SIZE_ERROR", Code.Internal],
  7: ["REFUSED_STREAM", Code.Unavailable],
  8: ["CANCEL", Code.Canceled],
  9: ["COMPRESSION_ERROR", Code.Internal],
  10: ["CONNECT_ERROR", Code.Internal],
  11: ["ENHANCE_YOUR_CALM", Code.ResourceExhausted],
  12: ["INADEQUATE_SECURITY", Code.PermissionDenied],
  13: ["HTTP_1_1_REQUIRED", Code.PermissionDenied],
};

/**
 * Why the request was aborted when its stream closed with `rstCode`, worded as connect-node words
 * it; undefined (a plain abort) for NO_ERROR, STREAM_CLOSED and unknown codes.
 */
export function resetError(rstCode: number): ConnectError | undefined {
  const known = resetCodes[rstCode];
  if (!known) return undefined;
  return new ConnectError(
    `http/2 stream closed with error code ${known[0]} (0x${rstCode.toString(16)})`,
    known[1],
  );
}

/**
 * The reason a call's signal aborts with when the call is over, as the library's plain
 * `abort()` gives it (an AbortError). One instance for every call: building a DOMException, with
 * its stack, for each finished call was a measurable share of a unary call's cost.
 */
export const callFinished: unknown = new DOMException("This operation was aborted", "AbortError");

const urls = new Map<string, string>();

/**
 * The call's URL as the library builds it (`new URL(path, scheme://authority).href`), kept for
 * the few distinct paths and authorities a hub sees (at most 256, then built anew each time).
 */
export function callUrl(path: string | undefined, authority: string | undefined, tls: boolean) {
  const key = `${tls ? "s" : ""}\u0000${authority ?? ""}\u0000${path ?? ""}`;
  let url = urls.get(key);
  if (url === undefined) {
    url = new URL(path ?? "", `${tls ? "https" : "http"}://${authority ?? "localhost"}`).href;
    if (urls.size < 256) urls.set(key, url);
  }
  return url;
}

/** Makes `to` hold exactly the headers of `from`. */
export function replaceHeaders(to: Headers, from: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  from.forEach((value, key) => {
    to.set(key, value);
  });
}
