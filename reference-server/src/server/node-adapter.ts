import { fromBinary, type Message } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
  createContextKey,
  createContextValues,
  createServiceImplSpec,
  type HandlerContext,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { peerKey } from "../audit/early-refusals.js";
import { procedureOf } from "../procedure.js";
import { type DirectMethod, directProtocol, readSingle, serveDirect } from "./direct-streams.js";
import {
  type DirectUnaryMethod,
  directUnaryEligible,
  readUnary,
  serveDirectUnary,
} from "./direct-unary.js";
import { jsonProblem } from "./json-problems.js";
import type { NodeHandlerFn } from "./listener.js";
import {
  limitMessages,
  type NodeResponse,
  refusalOf,
  tooLarge,
  unknownRoute,
  writeProtocolError,
} from "./protocol-errors.js";

/** Options of {@link createNodeAdapter}. */
export interface NodeAdapterOptions extends ConnectRouterOptions {
  /** Registers the services. */
  routes: (router: ConnectRouter) => void;
  /** Largest request body read; the pre-parse check below reads at most this much. */
  readMaxBytes: number;
  /** Reports handler failures that could not be written to the client. */
  onHandlerError: (procedure: string, reason: unknown) => void;
  /** Sees every call first, before any refusal or interceptor (the early-refusal auditor watches it). */
  onCall?: (context: HandlerContext) => void;
  /**
   * Methods ("package.Service/Method", or "package.Service/*" for all of a service's) served in the
   * common case without the protocol library's machinery: streams of any kind by direct-streams.ts
   * (HTTP/2, binary Connect or gRPC, no compression; a DownloadContext's chunks written without
   * copying their data, chunk-envelopes.ts), unary calls by direct-unary.ts (HTTP/2, binary
   * Connect, no request compression).
   * Not taken under the adapter options the direct path does not reproduce (`notReproduced`), nor
   * for a service registered with options of its own other than `acceptCompression`.
   */
  direct?: readonly string[];
}

/** Set when a request message is larger than the hub accepts. */
const tooLargeKey = createContextKey<ConnectError | undefined>(undefined, {
  description: "why the request body is too large",
});

/** Set when the request body is not valid protobuf binary for the method's input. */
const malformedBodyKey = createContextKey<string | undefined>(undefined, {
  description: "why the request body does not decode",
});

const binaryContentTypes =
  /^application\/(proto|connect\+proto|grpc|grpc\+proto|grpc-web|grpc-web\+proto)(;|$)/i;
const jsonContentTypes = /^application\/(json|connect\+json|grpc\+json|grpc-web\+json)(;|$)/i;

/**
 * Options under which the library's path answers differently from the direct path, which does not
 * reproduce them: set on the adapter, they keep every method on the library's path.
 */
const notReproduced = [
  "binaryOptions",
  // Written into the error JSON (the details' "debug"), which the direct paths write without them.
  "jsonOptions",
  "writeMaxBytes",
  "maxTimeoutMs",
  "requireConnectProtocolHeader",
  "connect",
  "grpc",
] as const;

/**
 * Serves the routes to node:http and node:http2 like connect-node's adapter, with these additions,
 * each answered in the caller's protocol (Connect, gRPC, gRPC-Web; protocol-errors.ts):
 * - A request body that is not valid protobuf binary is INVALID_ARGUMENT instead of the INTERNAL
 *   "parse binary" the protocol library would give (it parses the body before any interceptor can
 *   see it); JSON is read strictly, and an unknown field or enum name is INVALID_ARGUMENT naming
 *   it by path. For methods with one request message (unary, server-streaming), the body is read
 *   here first (bounded by readMaxBytes), each message is checked once, and the bytes are then
 *   handed on unchanged; a request gate turns a failed check into the error before the library
 *   parses anything.
 * - A message over readMaxBytes is RESOURCE_EXHAUSTED stating the limit in bytes people read.
 * - An unknown service or method, a verb or content type the method does not take, and a
 *   bidirectional stream over HTTP/1.1 get UNIMPLEMENTED naming the method, where the library
 *   answers a bare HTTP status.
 */
export function createNodeAdapter(options: NodeAdapterOptions): NodeHandlerFn {
  const routerOptions: ConnectRouterOptions = {
    acceptCompression: [compressionGzip, compressionBrotli],
    // JSON requests are strict: a misspelled field or an enum value that is not the enum's JSON
    // name ("MESSAGE_TYPE_RESPONSE") or number is INVALID_ARGUMENT naming it, never dropped.
    jsonOptions: { ignoreUnknownFields: false },
    ...options,
  };
  const router = createConnectRouter({
    ...routerOptions,
    requestGate(context) {
      options.onCall?.(context);
      const tooLarge = context.values.get(tooLargeKey);
      if (tooLarge !== undefined) throw tooLarge;
      const reason = context.values.get(malformedBodyKey);
      if (reason !== undefined) {
        throw new ConnectError(
          `request body is not a valid ${context.method.input.typeName}: ${reason}`,
          Code.InvalidArgument,
        );
      }
    },
  });
  // The implementations are recorded as they are registered, for the direct path.
  const directs = new Map<string, DirectMethod>();
  const directUnaries = new Map<string, DirectUnaryMethod>();
  const wanted = new Set(
    notReproduced.some((key) => options[key] !== undefined) ? [] : (options.direct ?? []),
  );
  options.routes({
    ...router,
    service(service, implementation, serviceOptions) {
      const spec = createServiceImplSpec(service, implementation);
      // A service's own options (but the compressions it accepts) are the library's alone.
      const own = Object.keys(serviceOptions ?? {}).some((key) => key !== "acceptCompression");
      const accepting =
        serviceOptions && "acceptCompression" in serviceOptions ? serviceOptions : routerOptions;
      const compression = (accepting.acceptCompression ?? []).map((c) => c.name);
      for (const m of Object.values(spec.methods)) {
        const kind = m.method.methodKind;
        if (own) continue;
        const named = `${service.typeName}/${m.method.name}`;
        if (!wanted.has(named) && !wanted.has(`${service.typeName}/*`)) continue;
        if (kind === "unary") {
          directUnaries.set(`/${named}`, {
            service,
            method: m.method as DirectUnaryMethod["method"],
            impl: m.impl as DirectUnaryMethod["impl"],
            compression: accepting.acceptCompression ?? [],
          });
          continue;
        }
        if (kind !== "server_streaming" && kind !== "client_streaming" && kind !== "bidi_streaming")
          continue;
        directs.set(`/${service.typeName}/${m.method.name}`, {
          service,
          method: m.method as DirectMethod["method"],
          impl: m.impl as DirectMethod["impl"],
          compression,
        });
      }
      router.service(service, implementation, serviceOptions);
      return this;
    },
  });
  const handlers = new Map<string, UniversalHandler>();
  for (const h of router.handlers) handlers.set(h.requestPath, h);
  const directOptions = {
    interceptors: options.interceptors ?? [],
    readMaxBytes: options.readMaxBytes,
    shutdownSignal: options.shutdownSignal,
    onCall: options.onCall,
    compressMinBytes: options.compressMinBytes,
  };

  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const found = handlers.get(path);
    if (!found) {
      writeProtocolError(
        req,
        res as NodeResponse,
        404,
        Code.Unimplemented,
        unknownRoute(path, router),
      );
      return;
    }
    const route: UniversalHandler = found;
    const procedure = procedureOf(found.method);
    // Made apart from this scope: a stream's call holds it (its promise's rejection handler) for
    // as long as the stream is open, and a closure made here would hold every variable of it.
    const failed = failureReporter(req, procedure, options.onHandlerError);
    const contextValues = createContextValues();
    contextValues.set(peerKey, req.socket?.remoteAddress ?? "");
    /**
     * Serves the call directly when the body `read` returns is one clean message; otherwise the
     * library's path reads the same bytes and words the refusal (too large, not valid protobuf).
     */
    const serveRead = (
      read: Promise<
        { message: Message } | { chunks: Buffer[]; rest: AsyncIterator<Buffer> | undefined }
      >,
      serve: (message: Message) => Promise<void>,
    ): Promise<void> =>
      // A promise chain, not an async function: a stream's call would hold that function's frame
      // (awaiting serve) for as long as the stream is open.
      read.then((body) =>
        "message" in body ? serve(body.message) : serveLibrary(replay(body.chunks, body.rest)),
      );
    const unary = directUnaries.get(path);
    if (unary && directUnaryEligible(req as never)) {
      serveRead(readUnary(req as never, unary.method, options.readMaxBytes), (message) =>
        serveDirectUnary(req as never, res as never, unary, directOptions, contextValues, message),
      ).catch(failed);
      return;
    }
    const direct = directs.get(path);
    const protocol = direct && directProtocol(req as never, direct.compression);
    if (direct && protocol) {
      const serve = (message?: Message) =>
        serveDirect(
          req as never,
          res as never,
          direct,
          protocol,
          directOptions,
          contextValues,
          message,
        );
      (direct.method.methodKind === "server_streaming"
        ? serveRead(readSingle(req as never, direct.method, options.readMaxBytes), serve)
        : serve()
      ).catch(failed);
      return;
    }
    serveLibrary(undefined).catch(failed);

    async function serveLibrary(
      readAlready: AsyncIterable<Uint8Array> | undefined,
      handler: UniversalHandler = route,
    ) {
      const uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
      if (readAlready) uReq.body = readAlready;
      const single =
        handler.method.methodKind === "unary" || handler.method.methodKind === "server_streaming";
      const contentType = uReq.header.get("content-type") ?? "";
      const enveloped = !/^application\/(proto|json)/i.test(contentType);
      // A declared length over the limit is refused before anything is read.
      const declared = Number(uReq.header.get("content-length") ?? Number.NaN);
      if (!enveloped && declared > options.readMaxBytes) {
        contextValues.set(tooLargeKey, tooLarge(options.readMaxBytes, declared));
      }
      const serve = async () => {
        // Every message is held to the hub's request limit before the protocol library reads it, so
        // an oversized one is refused in the hub's words rather than the library's.
        const body = isByteStream(uReq.body)
          ? limitMessages(uReq.body, enveloped, options.readMaxBytes)
          : uReq.body;
        uReq.body = body;
        const json = jsonContentTypes.test(contentType);
        if (single && isByteStream(body) && (json || binaryContentTypes.test(contentType))) {
          const compressed = !enveloped && uReq.header.has("content-encoding");
          try {
            const { chunks, rest } = await readUpTo(body, options.readMaxBytes);
            uReq.body = replay(chunks, rest);
            if (!compressed && rest === undefined) {
              const reason = checkBody(Buffer.concat(chunks), enveloped, handler, json);
              if (reason !== undefined) contextValues.set(malformedBodyKey, reason);
            }
          } catch (err) {
            if (!(err instanceof ConnectError && err.code === Code.ResourceExhausted)) throw err;
            contextValues.set(tooLargeKey, err);
            uReq.body = replay([], undefined);
          }
        }
        const uRes = await handler(uReq);
        const refusal = uRes.body === undefined ? refusalOf(uRes.status, req, handler) : undefined;
        if (refusal) {
          writeProtocolError(
            req,
            res as NodeResponse,
            uRes.status,
            Code.Unimplemented,
            refusal.message,
            refusal.header,
          );
          return;
        }
        await universalResponseToNodeResponse(endBodyOnClose(uRes, res), res);
      };
      await serve();
    }
  };
}

/**
 * Reports a call's failure to `onHandlerError`, unless it is the client's leaving: an ABORTED
 * error, or a request whose connection or stream is gone (the client left, or the listener closed
 * a request it abandoned, a connection timeout): nothing failed in the hub, and there is no one
 * left to tell.
 */
function failureReporter(
  req: Parameters<NodeHandlerFn>[0],
  procedure: string,
  onHandlerError: (procedure: string, reason: unknown) => void,
): (reason: unknown) => void {
  return (reason) => {
    if (ConnectError.from(reason).code === Code.Aborted) return;
    if (clientGone(req)) return;
    onHandlerError(procedure, reason);
  };
}

/** Whether the request's connection (HTTP/1.1) or stream (HTTP/2) is already gone. */
function clientGone(req: Parameters<NodeHandlerFn>[0]): boolean {
  const stream = (req as { stream?: { destroyed?: boolean; closed?: boolean } }).stream;
  if (stream) return stream.destroyed === true || stream.closed === true;
  return req.destroyed || req.socket?.destroyed === true;
}

/**
 * Ends the response body (calls return() on its iterator, which runs the handler's `finally`
 * blocks: stream slots, open blob files) when the connection or HTTP/2 stream closes.
 * The protocol library writes the next message only after the previous one drained; a peer that
 * disconnects meanwhile gets neither "drain" nor "error", so without this the handler's stream
 * would stay suspended until garbage collection.
 */
function endBodyOnClose<T extends { body?: unknown }>(
  response: T,
  res: { once(event: "close", listener: () => void): unknown },
): T {
  if (!isByteStream(response.body)) return response;
  const it = response.body[Symbol.asyncIterator]();
  // After a complete response the body has ended already and return() does nothing.
  res.once("close", () => {
    it.return?.().catch(() => {});
  });
  return { ...response, body: { [Symbol.asyncIterator]: () => it } };
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/** Reads chunks until the stream ends or `limit` bytes are exceeded (then `rest` continues it). */
async function readUpTo(
  body: AsyncIterable<Uint8Array>,
  limit: number,
): Promise<{ chunks: Uint8Array[]; rest: AsyncIterator<Uint8Array> | undefined }> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { chunks, rest: undefined };
    chunks.push(r.value);
    size += r.value.length;
    if (size > limit) return { chunks, rest: it };
  }
}

async function* replay(chunks: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined) {
  yield* chunks;
  if (!rest) return;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/**
 * Why the body does not decode as the method's input, or undefined when it does (or cannot tell).
 * JSON bodies are checked for unknown fields and enum names, which the answer names by path.
 */
function checkBody(
  body: Buffer,
  enveloped: boolean,
  handler: UniversalHandler,
  json: boolean,
): string | undefined {
  const decode = (bytes: Uint8Array) => {
    if (json) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        return undefined; // not JSON at all: the protocol library says so precisely
      }
      return jsonProblem(handler.method.input, parsed);
    }
    try {
      fromBinary(handler.method.input, bytes);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
  if (!enveloped) return decode(body);
  // Enveloped bodies: [flags:1][length:4][message]...; compressed or malformed framing is left to
  // the protocol library, which reports those precisely already.
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body[at] ?? 0;
    const length = body.readUInt32BE(at + 1);
    if (flags !== 0 || at + 5 + length > body.length) return undefined;
    const reason = decode(body.subarray(at + 5, at + 5 + length));
    if (reason !== undefined) return reason;
    at += 5 + length;
  }
  return undefined;
}
