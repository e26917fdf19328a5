// Streaming calls served without the protocol library's per-message pipeline.
//
// The protocol library runs every message of a stream through about a dozen async-generator
// layers (split envelopes, decompress, parse, normalize, invoke, serialize, compress, join, catch,
// write), each costing promise turns and allocations per message. For the hub's hot streams
// (a Receive that delivers, a SendStream that sends and acks) that machinery was most of the
// hub's CPU per message and most of an idle stream's memory. This module serves those calls in
// the common case — HTTP/2, binary protobuf, Connect or gRPC, no compression — with one read loop
// and one write loop, and runs the same interceptors, request gate and handler as the library
// would: the same messages, headers, trailers and errors reach the client. Anything else (JSON,
// gRPC-Web, HTTP/1.1, compressed requests, a timeout header the library would refuse, a
// server-streaming body that is not exactly one clean message) goes to the library's path.

import {
  create,
  type DescMethod,
  type DescService,
  fromBinary,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  createHandlerContext,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import {
  createEndStreamSerialization,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import {
  parseTimeout as parseGrpcTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import { tooLarge } from "./protocol-errors.js";

/** A streaming method's implementation, as registered with the router. */
export interface DirectMethod {
  readonly service: DescService;
  readonly method: DescMethod & { methodKind: "server_streaming" | "bidi_streaming" };
  // biome-ignore lint/suspicious/noExplicitAny: the router's implementations are typed per method
  readonly impl: (input: any, context: HandlerContext) => AsyncIterable<any>;
}

/** What the direct path shares with the library's path. */
export interface DirectStreamOptions {
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  readonly shutdownSignal?: AbortSignal | undefined;
  /** Sees every call first (the request gate's hook). */
  readonly onCall?: ((context: HandlerContext) => void) | undefined;
}

/** The request side of an HTTP/2 compatibility request, as far as it is used here. */
export interface DirectRequest extends AsyncIterable<Buffer> {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersionMajor: number;
  readonly headers: NodeJS.Dict<string | string[]>;
  readonly authority?: string;
  readonly stream?: { readonly rstCode?: number };
  readonly socket?: { readonly encrypted?: boolean } | null;
  once(event: "close", listener: () => void): unknown;
}

/** The response side of an HTTP/2 compatibility response, as far as it is used here. */
export interface DirectResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Uint8Array): boolean;
  addTrailers(trailers: Record<string, string>): void;
  end(cb?: () => void): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

type Protocol = "connect" | "grpc";

const CONNECT_STREAM_PROTO = "application/connect+proto";
const GRPC_PROTO = "application/grpc+proto";
const END_STREAM_FLAG = 0b10;
const endStream = createEndStreamSerialization({});

/**
 * The protocol of a request the direct path can serve, or undefined: HTTP/2, POST, binary Connect
 * or gRPC content type, no request compression, a timeout header (if any) that parses.
 */
export function directProtocol(req: DirectRequest): Protocol | undefined {
  if (req.httpVersionMajor !== 2 || req.method !== "POST") return undefined;
  const h = req.headers;
  const contentType = String(h["content-type"] ?? "").toLowerCase();
  let protocol: Protocol;
  let encoding: unknown;
  if (contentType === CONNECT_STREAM_PROTO) {
    protocol = "connect";
    encoding = h["connect-content-encoding"];
    if (h["connect-timeout-ms"] !== undefined) {
      if (parseConnectTimeout(String(h["connect-timeout-ms"]), Number.MAX_SAFE_INTEGER).error)
        return undefined;
    }
  } else if (contentType === "application/grpc" || contentType === GRPC_PROTO) {
    protocol = "grpc";
    encoding = h["grpc-encoding"];
    if (h["grpc-timeout"] !== undefined) {
      if (parseGrpcTimeout(String(h["grpc-timeout"]), Number.MAX_SAFE_INTEGER).error)
        return undefined;
    }
  } else {
    return undefined;
  }
  if (encoding !== undefined && encoding !== "identity") return undefined;
  return protocol;
}

function timeoutOf(req: DirectRequest, protocol: Protocol): number | undefined {
  const h = req.headers;
  const value =
    protocol === "connect" ? h["connect-timeout-ms"] : (h["grpc-timeout"] as string | undefined);
  if (value === undefined) return undefined;
  return protocol === "connect"
    ? parseConnectTimeout(String(value), Number.MAX_SAFE_INTEGER).timeoutMs
    : parseGrpcTimeout(String(value), Number.MAX_SAFE_INTEGER).timeoutMs;
}

/** The request's headers as name-value pairs (pseudo-headers left out). */
function headerPairs(headers: NodeJS.Dict<string | string[]>): [string, string][] {
  const out: [string, string][] = [];
  for (const key of Object.keys(headers)) {
    if (key.startsWith(":")) continue;
    const value = headers[key];
    if (Array.isArray(value)) for (const v of value) out.push([key, v]);
    else if (value !== undefined) out.push([key, value]);
  }
  return out;
}

function nodeHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/**
 * Chunks from which whole envelopes are taken as they complete. Each envelope's bytes are copied
 * at most once (a large message arrives in many small HTTP/2 frames), and not at all when one
 * chunk holds it whole.
 */
class EnvelopeReader {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The flags and length of the next envelope, once its header has arrived. */
  private header(): { flags: number; length: number } | undefined {
    if (this.size < 5) return undefined;
    const first = this.chunks[0] as Buffer;
    if (first.length >= 5) return { flags: first[0] ?? 0, length: first.readUInt32BE(1) };
    const head = this.peek(5);
    return { flags: head[0] ?? 0, length: head.readUInt32BE(1) };
  }

  /** The length the next envelope announces, once its header has arrived. */
  announced(): number | undefined {
    return this.header()?.length;
  }

  /** The next whole envelope, or undefined until it has arrived. */
  take(): { flags: number; data: Uint8Array } | undefined {
    const h = this.header();
    if (!h || this.size < 5 + h.length) return undefined;
    const bytes = this.consume(5 + h.length);
    return { flags: h.flags, data: bytes.subarray(5) };
  }

  get pending(): number {
    return this.size;
  }

  /** The first `n` bytes, without consuming them. */
  private peek(n: number): Buffer {
    const parts: Buffer[] = [];
    let have = 0;
    for (const c of this.chunks) {
      parts.push(c);
      have += c.length;
      if (have >= n) break;
    }
    return Buffer.concat(parts, have).subarray(0, n);
  }

  /** Removes and returns the first `n` bytes. */
  private consume(n: number): Buffer {
    this.size -= n;
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0] as Buffer;
      const take = Math.min(c.length, n - at);
      c.copy(out, at, 0, take);
      at += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    return out;
  }
}

/** An envelope the protocol library would refuse, with the error it would give. */
function envelopeError(flags: number, protocol: Protocol): ConnectError | undefined {
  if (flags === 0) return undefined;
  if (protocol === "connect" && (flags & END_STREAM_FLAG) !== 0) {
    return new ConnectError("unexpected end flag", Code.InvalidArgument);
  }
  return new ConnectError(
    "received compressed envelope, but do not know how to decompress",
    Code.Internal,
  );
}

/**
 * Decodes the messages of a bidirectional stream's request body as they arrive, with the errors
 * the library's pipeline raises (a message over the limit is refused from its header, before its
 * bytes arrive, as limitMessages does).
 */
async function* requestMessages(
  req: DirectRequest,
  method: DescMethod,
  protocol: Protocol,
  readMaxBytes: number,
): AsyncGenerator<Message> {
  const reader = new EnvelopeReader();
  for await (const chunk of req) {
    reader.push(chunk);
    for (;;) {
      const announced = reader.announced();
      if (announced !== undefined && announced > readMaxBytes) {
        throw tooLarge(readMaxBytes, announced);
      }
      const envelope = reader.take();
      if (!envelope) break;
      const refused = envelopeError(envelope.flags, protocol);
      if (refused) throw refused;
      let message: Message;
      try {
        message = fromBinary(method.input, envelope.data);
      } catch (err) {
        throw new ConnectError(
          `parse binary: ${err instanceof Error ? err.message : String(err)}`,
          Code.Internal,
        );
      }
      yield message;
    }
  }
  if (reader.pending > 0) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
}

/**
 * Reads a server-streaming call's body: its one message when the body is exactly one clean
 * envelope within the limit, else undefined with the bytes read, for the library's path to judge
 * and word (it refuses each kind of bad body in its own way).
 */
export async function readSingle(
  req: DirectRequest,
  method: DescMethod,
  readMaxBytes: number,
): Promise<{ message: Message } | { chunks: Buffer[]; rest: AsyncIterator<Buffer> | undefined }> {
  const it = req[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    chunks.push(r.value);
    size += r.value.length;
    if (size > readMaxBytes + 5) return { chunks, rest: it };
  }
  const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (body.length >= 5 && body[0] === 0) {
    const length = body.readUInt32BE(1);
    if (length <= readMaxBytes && body.length === 5 + length) {
      try {
        return { message: fromBinary(method.input, body.subarray(5)) };
      } catch {
        // the library's path words the error
      }
    }
  }
  return { chunks, rest: undefined };
}

/** Writes one message envelope: small ones in one buffer, large ones without copying their bytes. */
function writeEnvelope(res: DirectResponse, data: Uint8Array): boolean {
  if (data.length < 16_384) return res.write(envelope(0, data));
  const head = Buffer.allocUnsafe(5);
  head[0] = 0;
  head.writeUInt32BE(data.length, 1);
  res.write(head);
  return res.write(data);
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/**
 * Serves one streaming call. `single` is the decoded request message of a server-streaming call
 * (read by {@link readSingle}); a bidirectional call's messages are read as the handler asks.
 */
export async function serveDirect(
  req: DirectRequest,
  res: DirectResponse,
  target: DirectMethod,
  protocol: Protocol,
  options: DirectStreamOptions,
  contextValues: ContextValues,
  single?: Message,
): Promise<void> {
  const { service, method } = target;
  const encrypted = req.socket?.encrypted === true;
  const timeout = timeoutOf(req, protocol);
  const context = createHandlerContext({
    service,
    method,
    protocolName: protocol,
    requestMethod: "POST",
    url: new URL(req.url ?? "", `${encrypted ? "https" : "http"}://${req.authority ?? "localhost"}`)
      .href,
    ...(timeout !== undefined && { timeoutMs: timeout }),
    ...(options.shutdownSignal && { shutdownSignal: options.shutdownSignal }),
    requestHeader: headerPairs(req.headers),
    responseHeader: { "content-type": protocol === "connect" ? CONNECT_STREAM_PROTO : GRPC_PROTO },
    responseTrailer: protocol === "grpc" ? { "grpc-status": "0" } : {},
    contextValues,
  });
  contextValues.set(contextKey, context);
  const next = chain(target, options.interceptors);

  let finished = false;
  let out: AsyncIterator<unknown> | undefined;
  req.once("close", () => {
    if (finished) return;
    // The client left: the call's signal aborts (as the library's request signal would), and the
    // handler's stream ends, so its finally blocks run even while it waits.
    const rst = req.stream?.rstCode ?? 0;
    context.abort(
      rst === 0
        ? undefined
        : new ConnectError(`http/2 stream closed with error code ${rst}`, Code.Canceled),
    );
    out?.return?.().catch(() => {});
  });
  let failure: ConnectError | undefined;
  try {
    options.onCall?.(context);
    const input: AsyncIterable<Message> =
      single !== undefined
        ? (async function* () {
            yield single;
          })()
        : requestMessages(req, method, protocol, options.readMaxBytes);
    const response = await next({
      stream: true,
      service,
      method,
      requestMethod: "POST",
      url: context.url,
      signal: context.signal,
      header: context.requestHeader,
      contextValues: context.values,
      message: input,
    } as StreamRequest);
    replaceHeaders(context.responseHeader, response.header);
    out = response.message[Symbol.asyncIterator]();
    // Headers go with the first message (or the end), so the handler may still set some.
    for (let r = await out.next(); r.done !== true; r = await out.next()) {
      if (res.destroyed || res.writableEnded) return;
      if (!res.headersSent) res.writeHead(200, nodeHeaders(context.responseHeader));
      const bytes = toBinary(method.output, create(method.output, r.value as never));
      if (!writeEnvelope(res, bytes)) await drained(res);
    }
    replaceHeaders(context.responseTrailer, response.trailer);
  } catch (err) {
    failure =
      err instanceof ConnectError
        ? err
        : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  } finally {
    finished = true;
    context.abort(failure);
  }
  if (res.destroyed || res.writableEnded) return;
  if (!res.headersSent) res.writeHead(200, nodeHeaders(context.responseHeader));
  if (protocol === "connect") {
    res.write(
      envelope(
        END_STREAM_FLAG,
        endStream.serialize({
          metadata: context.responseTrailer,
          ...(failure && { error: failure }),
        }),
      ),
    );
  } else {
    if (failure) setTrailerStatus(context.responseTrailer, failure);
    res.addTrailers(nodeHeaders(context.responseTrailer));
  }
  await new Promise<void>((resolve) => res.end(resolve));
}

/** The call's handler context, for the implementation at the end of the interceptor chain. */
const contextKey = createContextKey<HandlerContext | undefined>(undefined, {
  description: "the handler context of a direct stream",
});

type Next = (request: StreamRequest) => Promise<StreamResponse>;

/** Each method's interceptor chain, built once (the library builds one per call). */
const chains = new WeakMap<DirectMethod, Next>();

/** The interceptors around the implementation, outermost first, as the library applies them. */
function chain(target: DirectMethod, interceptors: readonly Interceptor[]): Next {
  let next = chains.get(target);
  if (next) return next;
  const { service, method } = target;
  const invoke: Next = async (r) => {
    const context = r.contextValues.get(contextKey) as HandlerContext;
    const merged = {
      ...context,
      service: r.service,
      requestHeader: r.header,
      signal: r.signal,
      values: r.contextValues,
    };
    const input: unknown =
      method.methodKind === "server_streaming" ? await onlyMessage(r.message) : r.message;
    return {
      stream: true,
      service,
      method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: target.impl(input, merged),
    } as StreamResponse;
  };
  next = invoke;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = (interceptors[i] as Interceptor)(next as never) as Next;
  }
  chains.set(target, next);
  return next;
}

async function onlyMessage(messages: AsyncIterable<unknown>): Promise<unknown> {
  const it = messages[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) {
    throw new ConnectError(
      "protocol error: missing input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  const second = await it.next();
  if (second.done !== true) {
    throw new ConnectError(
      "protocol error: received extra input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  return first.value;
}

function replaceHeaders(to: Headers, from: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  from.forEach((value, key) => {
    to.set(key, value);
  });
}

/** Resolves when the response can take more, or has closed. */
function drained(res: DirectResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
