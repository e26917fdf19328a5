import { Code, ConnectError, type Transport } from "@connectrpc/connect";

/**
 * Errors of the network stack that mean the request never left: nothing answered the connection
 * (the node is down, restarting, or no longer accepting because it drains), or the name does not
 * resolve. A call failing so may go to another node whatever it does.
 */
const notSentCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ERR_HTTP2_GOAWAY_SESSION",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Errors of the network stack that mean the connection dropped under the call. */
const droppedCodes = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
]);

/** Whether `err`, or an error it wraps, carries a network error code of `codes`. */
function causedBy(err: unknown, codes: Set<string>): boolean {
  const e = ConnectError.from(err);
  if (e.isWireError) return false;
  let cause: unknown = e.cause ?? err;
  for (let depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && codes.has(code)) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** Whether `err` (or an error it wraps) proves the request never reached a hub. */
export function neverSent(err: unknown): boolean {
  return causedBy(err, notSentCodes);
}

/**
 * Whether `err` says the node that answered (or failed to) cannot serve now: UNAVAILABLE (a
 * draining hub, a hub whose backends are down, a refused or reset connection), or the connection
 * dropped under the call (a reset socket; HTTP/2 reports CANCEL, a cut body a protocol error) or
 * could not be made. The next call, and
 * the next stream attempt, then go to another node. The caller rules out its own cancellation.
 */
export function nodeFailed(err: unknown): boolean {
  const e = ConnectError.from(err);
  if (e.code === Code.Unavailable) return true;
  if (e.isWireError) return false;
  return (
    e.code === Code.Canceled ||
    e.rawMessage.startsWith("protocol error") ||
    causedBy(e, droppedCodes) ||
    neverSent(e)
  );
}

/**
 * Unary methods that change nothing, or whose repetition changes nothing more: calling them again
 * on another node after an unknown outcome is safe.
 */
const repeatable = /\/(Get\w*|List\w*|Discover|WhoAmI|Heartbeat|Ack|Check|SubscribeTopic)$/;

/**
 * Whether a unary call that failed with `err` may be sent again to another node: it never left,
 * or it is repeatable, or it is a Send (or a SendBatch whose every item) carrying an idempotency
 * key, which the hub deduplicates across nodes.
 */
export function retrySafe(procedure: string, input: unknown, err: unknown): boolean {
  if (neverSent(err)) return true;
  if (!nodeFailed(err)) return false;
  if (repeatable.test(procedure)) return true;
  if (procedure.endsWith("/Send")) return hasKey(input);
  if (procedure.endsWith("/SendBatch")) {
    const requests = (input as { requests?: unknown[] }).requests ?? [];
    return requests.length > 0 && requests.every(hasKey);
  }
  return false;
}

function hasKey(request: unknown): boolean {
  const key = (request as { idempotencyKey?: unknown } | undefined)?.idempotencyKey;
  return typeof key === "string" && key !== "";
}

/** One hub node: its base URL and the transport that reaches it. */
export interface HubEndpoint {
  url: string;
  transport: Transport;
}

/** A transport over several nodes of one hub; which node it uses now. */
export interface FailoverTransport extends Transport {
  /** The base URL calls go to now. */
  readonly currentUrl: string;
}

/**
 * A transport over several nodes of one hub. Calls go to one node until it fails (see
 * {@link nodeFailed}); then to the next in the list, round the ring. A unary call that failed so is
 * sent again to the next node when {@link retrySafe} allows, each node tried at most once; any
 * other failure is the caller's, as with one node. Streams are never replayed here: the SDK's
 * receivers and subscriptions reconnect by themselves, and their next attempt reaches the next
 * node.
 */
export function failoverTransport(endpoints: HubEndpoint[]): FailoverTransport {
  if (endpoints.length === 0) throw new Error("failoverTransport needs at least one endpoint");
  let current = 0;
  /** Moves on from node `i`, unless another call already did. */
  const failed = (i: number) => {
    if (current === i) current = (i + 1) % endpoints.length;
  };
  const nameOf = (method: { parent: { typeName: string }; name: string }) =>
    `${method.parent.typeName}/${method.name}`;
  return {
    get currentUrl() {
      return endpoints[current]?.url ?? "";
    },
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      let lastError: unknown;
      for (let tried = 0; tried < endpoints.length; tried++) {
        const i = current;
        const endpoint = endpoints[i] as HubEndpoint;
        try {
          return await endpoint.transport.unary(
            method,
            signal,
            timeoutMs,
            header,
            input,
            contextValues,
          );
        } catch (err) {
          lastError = err;
          if (signal?.aborted || (!nodeFailed(err) && !neverSent(err))) throw err;
          failed(i);
          if (!retrySafe(nameOf(method), input, err)) throw err;
        }
      }
      throw lastError;
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const i = current;
      const endpoint = endpoints[i] as HubEndpoint;
      const res = await endpoint.transport
        .stream(method, signal, timeoutMs, header, input, contextValues)
        .catch((err: unknown) => {
          if (!signal?.aborted && (nodeFailed(err) || neverSent(err))) failed(i);
          throw err;
        });
      async function* watched<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
        try {
          yield* messages;
        } catch (err) {
          if (!signal?.aborted && (nodeFailed(err) || neverSent(err))) failed(i);
          throw err;
        }
      }
      return { ...res, message: watched(res.message) };
    },
  };
}
