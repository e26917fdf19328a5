// Unary calls served without the protocol library's per-call machinery, in the common case.
//
// A unary call through the protocol library costs the hub more than most handlers do: universal
// request and response objects, Fetch headers converted both ways, body iterables, an async
// generator for the response body, and the interceptors applied anew for every call. Heartbeats
// of thousands of agents and single sends are all unary calls. This module serves a unary call
// in the Connect protocol over HTTP/2 with a binary body (`application/proto`, no request
// compression) from the body the adapter already read, runs the same request gate hook,
// interceptors and handler, and writes the same answer: status, headers (trailers as
// `trailer-` headers), the message or the error's JSON, compressed when the library would compress
// it. Everything else (gRPC, gRPC-Web, JSON, GET, HTTP/1.1, compressed requests, a timeout header
// the library would refuse) stays on the library's path.

import {
  create,
  type DescMethod,
  type DescService,
  fromBinary,
  type Message,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  type Compression,
  compressionNegotiate,
  mergeNonProtocolHeaders,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import { binaryOf } from "../binary-encoding.js";
import {
  addNodeHeader,
  callFinished,
  callUrl,
  DirectContext,
  directContextKey,
  handlerContextOf,
  nodeHeaders,
  replaceHeaders,
  resetError,
  withInterceptors,
} from "./direct-common.js";
import type { DirectRequest } from "./direct-streams.js";
import { fastRequestDecoder } from "./request-decode.js";
import { RequestHeaders } from "./request-headers.js";

/** A unary method's implementation, as registered with the router. */
export interface DirectUnaryMethod {
  readonly service: DescService;
  readonly method: DescMethod & { methodKind: "unary" };
  // biome-ignore lint/suspicious/noExplicitAny: the router's implementations are typed per method
  readonly impl: (input: any, context: HandlerContext) => Promise<any> | any;
  /** The compressions the method's service accepts (and compresses responses with). */
  readonly compression: readonly Compression[];
}

/** What the direct path shares with the library's path. */
export interface DirectUnaryOptions {
  readonly interceptors: readonly Interceptor[];
  readonly shutdownSignal?: AbortSignal | undefined;
  /** Sees every call first (the request gate's hook). */
  readonly onCall?: ((context: HandlerContext) => void) | undefined;
  /** Responses smaller than this are never compressed; the library's default when undefined. */
  readonly compressMinBytes?: number | undefined;
}

/** The request of an HTTP/2 compatibility request, as far as it is used here (its body aside). */
export type DirectUnaryRequest = Omit<DirectRequest, typeof Symbol.asyncIterator>;

/** The response of an HTTP/2 compatibility response, as far as it is used here. */
export interface DirectUnaryResponse {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  end(body: Uint8Array): unknown;
}

const CONTENT_TYPE = "application/proto";
/** Every response's first header, copied (a copy of Headers costs less than one from a record). */
const RESPONSE_HEADER = new Headers({ "content-type": CONTENT_TYPE });
/** The library's default: responses smaller than this are never compressed. */
const COMPRESS_MIN_BYTES = 1024;

/**
 * Whether the direct path can serve this unary request: HTTP/2, POST, binary Connect, no request
 * compression, a timeout header (if any) that parses.
 */
export function directUnaryEligible(req: DirectUnaryRequest): boolean {
  if (req.httpVersionMajor !== 2 || req.method !== "POST") return false;
  const h = req.headers;
  if (String(h["content-type"] ?? "").toLowerCase() !== CONTENT_TYPE) return false;
  const encoding = h["content-encoding"];
  if (encoding !== undefined && encoding !== "identity") return false;
  const timeout = h["connect-timeout-ms"];
  if (timeout !== undefined && parseTimeout(String(timeout), Number.MAX_SAFE_INTEGER).error) {
    return false;
  }
  return true;
}

type Next = (request: UnaryRequest) => Promise<UnaryResponse>;

/** Each method's interceptor chain, built once (the library builds one per call). */
const chains = new WeakMap<DirectUnaryMethod, Next>();

function chain(target: DirectUnaryMethod, interceptors: readonly Interceptor[]): Next {
  let next = chains.get(target);
  if (next) return next;
  const { service, method } = target;
  const invoke: Next = async (r) => {
    const merged = handlerContextOf(r);
    return {
      stream: false,
      service,
      method,
      header: merged.responseHeader,
      trailer: merged.responseTrailer,
      message: create(method.output, await target.impl(r.message, merged)),
    } as UnaryResponse;
  };
  next = withInterceptors(invoke, interceptors) as Next;
  chains.set(target, next);
  return next;
}

/** Each method's negotiated response compression per accept-encoding value seen (a few). */
const negotiations = new WeakMap<DirectUnaryMethod, Map<string | null, Negotiated>>();
type Negotiated = ReturnType<typeof compressionNegotiate>;

/** The library's negotiation of the response's compression, remembered per header value. */
function negotiated(target: DirectUnaryMethod, acceptEncoding: string | null): Negotiated {
  let byHeader = negotiations.get(target);
  if (!byHeader) {
    byHeader = new Map();
    negotiations.set(target, byHeader);
  }
  let found = byHeader.get(acceptEncoding);
  if (!found) {
    found = compressionNegotiate([...target.compression], null, acceptEncoding, "accept-encoding");
    // Clients send one of a few values; a peer sending ever new ones is not remembered.
    if (byHeader.size < 16) byHeader.set(acceptEncoding, found);
  }
  return found;
}

/** Serves one unary call whose request message the adapter has read and decoded. */
export async function serveDirectUnary(
  req: DirectUnaryRequest,
  res: DirectUnaryResponse,
  target: DirectUnaryMethod,
  options: DirectUnaryOptions,
  contextValues: ContextValues,
  input: Message,
): Promise<void> {
  const { service, method } = target;
  const encrypted = req.socket?.encrypted === true;
  const timeoutHeader = req.headers["connect-timeout-ms"];
  const timeout =
    timeoutHeader === undefined
      ? undefined
      : parseTimeout(String(timeoutHeader), Number.MAX_SAFE_INTEGER).timeoutMs;
  const context = new DirectContext({
    service,
    method,
    protocolName: "connect",
    url: callUrl(req.url, req.authority, encrypted),
    timeoutMs: timeout,
    shutdownSignal: options.shutdownSignal,
    requestHeader: new RequestHeaders(req.headers),
    responseHeader: new Headers(RESPONSE_HEADER),
    responseTrailer: new Headers(),
    contextValues,
  });
  contextValues.set(directContextKey, context);
  let finished = false;
  req.once("close", () => {
    if (!finished) context.abort(resetError(req.stream?.rstCode ?? 0));
  });
  const compression = negotiated(target, stringHeader(req.headers["accept-encoding"]));
  let status = 200;
  let body: Uint8Array;
  try {
    options.onCall?.(context);
    const response = await chain(
      target,
      options.interceptors,
    )({
      stream: false,
      service,
      method,
      requestMethod: "POST",
      url: context.url,
      signal: context.signal,
      header: context.requestHeader,
      contextValues: context.values,
      message: input,
    } as UnaryRequest);
    replaceHeaders(context.responseHeader, response.header);
    replaceHeaders(context.responseTrailer, response.trailer);
    try {
      body = binaryOf(method.output, response.message as Message);
    } catch (err) {
      throw new ConnectError(
        `serialize binary: ${err instanceof Error ? err.message : String(err)}`,
        Code.Internal,
      );
    }
  } catch (e) {
    context.abort(e);
    const error =
      e instanceof ConnectError
        ? e
        : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    status = codeToHttpStatus(error.code);
    context.responseHeader.set("content-type", "application/json");
    if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
    body = errorToJsonBytes(error, {});
  } finally {
    finished = true;
    context.abort(callFinished);
  }
  if (compression.response && body.byteLength >= (options.compressMinBytes ?? COMPRESS_MIN_BYTES)) {
    body = await compression.response.compress(body);
    context.responseHeader.set("content-encoding", compression.response.name);
  }
  if (res.destroyed || res.writableEnded) return;
  // The trailers go as "trailer-" headers (the library's trailerMux), written straight into
  // Node's header object rather than through a merged copy of the headers.
  const header = nodeHeaders(context.responseHeader);
  context.responseTrailer.forEach((value, key) => {
    addNodeHeader(header, `trailer-${key}`, value);
  });
  header["content-length"] = String(body.byteLength);
  res.writeHead(status, header);
  res.end(body);
}

function stringHeader(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(",") : value;
}

/** A request body as {@link readUnary} reads it: the compatibility request's readable side. */
export interface UnaryBody extends AsyncIterable<Buffer> {
  readonly headers: NodeJS.Dict<string | string[]>;
  readonly readableEnded: boolean;
  on(event: "data", listener: (piece: Buffer) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  off(event: "data", listener: (piece: Buffer) => void): unknown;
  off(event: "end" | "close", listener: () => void): unknown;
  off(event: "error", listener: (err: Error) => void): unknown;
  pause(): unknown;
}

/** What a body that closed before its end rejects with, as the stream's own iterator words it. */
function prematureClose(): Error {
  return Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}

/**
 * Reads a unary call's body: its message when the body is within `limit` and decodes, else the
 * bytes read, for the library's path to judge and word. It listens to the body's events rather
 * than iterating it: an async iterator of a stream costs a generator, its end-of-stream watcher's
 * listeners and a promise per piece, several kilobytes for the one piece a heartbeat sends.
 */
export function readUnary(
  req: UnaryBody,
  method: DescMethod,
  limit: number,
): Promise<{ message: Message } | { chunks: Buffer[]; rest: AsyncIterator<Buffer> | undefined }> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limit) return Promise.resolve({ chunks: [], rest: req[Symbol.asyncIterator]() });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    function onData(piece: Buffer) {
      chunks.push(piece);
      size += piece.length;
      if (size <= limit) return;
      // Over the limit: the rest is the library's to read, from where this stopped.
      stop();
      req.pause();
      resolve({ chunks, rest: req[Symbol.asyncIterator]() });
    }
    function onEnd() {
      stop();
      try {
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
        const fast = fastRequestDecoder(method.input);
        resolve({ message: fast?.(body) ?? fromBinary(method.input, body) });
      } catch {
        resolve({ chunks, rest: undefined });
      }
    }
    function onError(err: Error) {
      stop();
      reject(err);
    }
    function onClose() {
      // "end" comes before "close" when the whole body arrived.
      if (req.readableEnded) return;
      stop();
      reject(prematureClose());
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
