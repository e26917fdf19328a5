// Streaming calls served without the protocol library's per-message pipeline.
//
// The protocol library runs every message of a stream through about a dozen async-generator
// layers (split envelopes, decompress, parse, normalize, invoke, serialize, compress, join, catch,
// write), each costing promise turns and allocations per message. For the hub's hot streams
// (a Receive that delivers, a SendStream that sends and acks) that machinery was most of the
// hub's CPU per message and most of an idle stream's memory; for the large-context transfers
// (UploadChunks, DownloadContext) its copies of every 1 MiB chunk were. This module serves those
// calls in the common case — HTTP/2, binary protobuf, Connect or gRPC, no compression — with one
// read loop and one write loop, and runs the same interceptors, request gate and handler as the
// library would: the same messages, headers, trailers and errors reach the client. Request
// envelopes are cut from the pieces HTTP/2 delivers, copying a message's bytes at most once;
// a download's chunk messages are written in parts, their data handed to the stream as it is
// (chunk-envelopes.ts). Anything else (JSON, gRPC-Web, HTTP/1.1, compressed requests, a client
// accepting a response compression the method offers, a timeout header the library would refuse,
// a server-streaming body that is not exactly one clean message) goes to the library's path.
// direct-streams.test.ts and direct-transfers.test.ts compare the two paths.

import { finished as streamFinished } from "node:stream";
import {
  create,
  type DescMessage,
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
import { binaryOf } from "../binary-encoding.js";
import { idleKeepaliveKey } from "../idle-keepalive.js";
import { takeRequestBytes } from "../request-bytes.js";
import { type EnvelopeParts, partsEncoderFor } from "./chunk-envelopes.js";
import {
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
import { tooLarge } from "./protocol-errors.js";
import { fastRequestDecoder } from "./request-decode.js";
import { RequestHeaders } from "./request-headers.js";

/** A streaming method's implementation, as registered with the router. */
export interface DirectMethod {
  readonly service: DescService;
  readonly method: DescMethod & {
    methodKind: "server_streaming" | "client_streaming" | "bidi_streaming";
  };
  /** The handler: a stream of responses, or (client streaming) the one response's promise. */
  // biome-ignore lint/suspicious/noExplicitAny: the router's implementations are typed per method
  readonly impl: (input: any, context: HandlerContext) => AsyncIterable<any> | Promise<any>;
  /** The names of the compressions the method accepts (the library may compress responses). */
  readonly compression: readonly string[];
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
  readonly destroyed: boolean;
  readonly readableEnded: boolean;
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersionMajor: number;
  readonly headers: NodeJS.Dict<string | string[]>;
  readonly authority?: string;
  readonly stream?: { readonly rstCode?: number };
  readonly socket?: { readonly encrypted?: boolean } | null;
  once(event: "close", listener: () => void): unknown;
  on(event: "data", listener: (piece: Buffer) => void): unknown;
  off(event: "data", listener: (piece: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
}

/** The response side of an HTTP/2 compatibility response, as far as it is used here. */
export interface DirectResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
  addTrailers(trailers: Record<string, string | string[]>): void;
  end(cb?: () => void): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

type Protocol = "connect" | "grpc";

const CONNECT_STREAM_PROTO = "application/connect+proto";
const GRPC_PROTO = "application/grpc+proto";
const COMPRESSED_FLAG = 0b01;
const END_STREAM_FLAG = 0b10;
const endStream = createEndStreamSerialization({});

/**
 * The protocol of a request the direct path can serve, or undefined: HTTP/2, POST, binary Connect
 * or gRPC content type, no request compression, no response compression the client accepts and the
 * method offers (`compression`), a timeout header (if any) that parses.
 */
export function directProtocol(
  req: DirectRequest,
  compression: readonly string[],
): Protocol | undefined {
  if (req.httpVersionMajor !== 2 || req.method !== "POST") return undefined;
  const h = req.headers;
  const contentType = String(h["content-type"] ?? "").toLowerCase();
  let protocol: Protocol;
  let encoding: unknown;
  let accepted: unknown;
  if (contentType === CONNECT_STREAM_PROTO) {
    protocol = "connect";
    encoding = h["connect-content-encoding"];
    accepted = h["connect-accept-encoding"];
    if (h["connect-timeout-ms"] !== undefined) {
      if (parseConnectTimeout(String(h["connect-timeout-ms"]), Number.MAX_SAFE_INTEGER).error)
        return undefined;
    }
  } else if (contentType === "application/grpc" || contentType === GRPC_PROTO) {
    protocol = "grpc";
    encoding = h["grpc-encoding"];
    accepted = h["grpc-accept-encoding"];
    if (h["grpc-timeout"] !== undefined) {
      if (parseGrpcTimeout(String(h["grpc-timeout"]), Number.MAX_SAFE_INTEGER).error)
        return undefined;
    }
  } else {
    return undefined;
  }
  if (encoding !== undefined && encoding !== "identity") return undefined;
  if (compression.length > 0 && accepted !== undefined) {
    for (const name of String(accepted).split(",")) {
      if (compression.includes(name.trim())) return undefined;
    }
  }
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

/**
 * Chunks from which whole envelopes are taken as they complete. Each envelope's bytes are copied
 * at most once (a large message arrives in many small HTTP/2 frames), and not at all when one
 * chunk holds it whole. A large envelope spread over several chunks is copied into memory from
 * the request-bytes pool (request-bytes.ts), which its handler may give back once done with it.
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

  /** The byte at `pos` of the buffered bytes. */
  private byteAt(pos: number): number {
    for (const c of this.chunks) {
      if (pos < c.length) return c[pos] ?? 0;
      pos -= c.length;
    }
    return 0;
  }

  /**
   * The first length over `limit` that a complete envelope header in the buffer announces. The
   * envelopes before it are not taken either: the hub's limit (limitMessages) refuses the whole
   * chunk in which such a header completes before the library's pipeline sees any of it.
   */
  oversized(limit: number): number | undefined {
    for (let at = 0; at + 5 <= this.size; ) {
      const length =
        ((this.byteAt(at + 1) << 24) >>> 0) +
        (this.byteAt(at + 2) << 16) +
        (this.byteAt(at + 3) << 8) +
        this.byteAt(at + 4);
      if (length > limit) return length;
      at += 5 + length;
    }
    return undefined;
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
    // Memory lent by the pool for a large message; the handler gives it back, if it ever does.
    const out = takeRequestBytes(n);
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

/**
 * What the library's pipeline does with a request envelope's flags: a compressed one (no request
 * compression reaches this path) is refused; Connect's end-of-stream envelope is skipped; any other
 * bit is ignored (gRPC has no end-of-stream flag: that envelope is a message like any other).
 */
function envelopeAction(flags: number, protocol: Protocol): "parse" | "skip" {
  if ((flags & COMPRESSED_FLAG) !== 0) {
    throw new ConnectError(
      "received compressed envelope, but do not know how to decompress",
      Code.Internal,
    );
  }
  return protocol === "connect" && (flags & END_STREAM_FLAG) !== 0 ? "skip" : "parse";
}

/** Bytes of request body waiting for the handler above which the request is paused. */
const REQUEST_HIGH_WATER = 1024 * 1024;

/**
 * The messages of a request stream (client streaming, bidirectional), decoded as they arrive,
 * with the errors the library's pipeline raises (a message over the limit is refused from its
 * header, before its bytes arrive, as limitMessages does, and so are the envelopes of the same
 * batch before it). A message's bytes fields are views of the envelope's bytes, not copies.
 *
 * The body is read from its `data` events: the pieces HTTP/2 delivered since the last batch was
 * taken are handed to the envelope reader as they are (a for-await over the request would join
 * them into a new buffer, a copy of every byte of a large message; the reader copies a message
 * spread over several pieces once instead). While more than REQUEST_HIGH_WATER bytes wait, the
 * request is paused, so flow control holds the client back. It ends, fails and is released as
 * the for-await would: the same error (finished() reports it, a premature close included),
 * nothing more once the request is destroyed, and the request destroyed when the reader stops
 * before the end (an HTTP/2 request does not destroy itself at its end or on an error:
 * autoDestroy is off).
 *
 * One iterator object rather than async generators (a batch generator under a message one, as it
 * was): each item of a SendStream, the calls that carry most messages, went through both
 * generators' frames, promises and queues. Calls are answered in order as a generator answers
 * them, `return()` included (it takes effect once the calls before it are answered).
 */
class RequestMessages implements AsyncIterableIterator<Message> {
  private readonly reader = new EnvelopeReader();
  private readonly fast: ((bytes: Uint8Array) => Message | undefined) | undefined;
  /** Pieces that arrived since the reader last took a batch, and their size. */
  private incoming: Buffer[] = [];
  private incomingBytes = 0;
  private paused = false;
  /** Set when the body has ended (null) or failed. */
  private outcome: { error: Error | null } | undefined;
  /** Set once the iterator has ended, failed or been returned: every later call is done. */
  private over = false;
  /** Calls waiting for their answer, in the order they were made. */
  private readonly calls: {
    kind: "next" | "return";
    resolve: (r: IteratorResult<Message>) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private readonly stopWatching: () => void;
  private readonly onData = (piece: Buffer) => {
    this.incoming.push(piece);
    this.incomingBytes += piece.length;
    if (this.incomingBytes > REQUEST_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.req.pause();
    }
    this.answerSoon();
  };
  /** Whether a microtask to answer the waiting calls is queued. */
  private answering = false;

  /**
   * Answers the waiting calls in a microtask, as a generator woken by the event would resume:
   * after the stream's own next-tick work (its end, read in the same turn, comes first).
   */
  private answerSoon(): void {
    if (this.answering || this.calls.length === 0) return;
    this.answering = true;
    queueMicrotask(() => {
      this.answering = false;
      this.answer();
    });
  }

  constructor(
    private readonly req: DirectRequest,
    private readonly method: DescMethod,
    private readonly protocol: Protocol,
    private readonly readMaxBytes: number,
  ) {
    this.fast = fastRequestDecoder(method.input);
    req.on("data", this.onData);
    this.stopWatching = streamFinished(req as never, { writable: false }, (err) => {
      this.outcome = { error: err ?? null };
      this.answerSoon();
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.calls.length === 0) {
      const r = this.step();
      if (r !== undefined) return "error" in r ? Promise.reject(r.error) : Promise.resolve(r);
    }
    return new Promise((resolve, reject) => this.calls.push({ kind: "next", resolve, reject }));
  }

  return(): Promise<IteratorResult<Message>> {
    if (this.calls.length === 0) {
      this.finish();
      return Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve, reject) => this.calls.push({ kind: "return", resolve, reject }));
  }

  /** Answers the waiting calls, in order, as far as what has arrived allows. */
  private answer(): void {
    while (this.calls.length > 0) {
      const call = this.calls[0] as (typeof this.calls)[number];
      let r: IteratorResult<Message> | { error: unknown } | undefined;
      if (call.kind === "return") {
        this.finish();
        r = { done: true, value: undefined };
      } else {
        r = this.step();
        if (r === undefined) return;
      }
      this.calls.shift();
      if ("error" in r) call.reject(r.error);
      else call.resolve(r);
    }
  }

  /** The next message, the end or a failure (both final), or undefined until more arrives. */
  private step(): IteratorResult<Message> | { error: unknown } | undefined {
    if (this.over) return { done: true, value: undefined };
    try {
      for (;;) {
        const envelope = this.reader.take();
        if (envelope) {
          if (envelopeAction(envelope.flags, this.protocol) === "skip") continue;
          return { done: false, value: this.decode(envelope.data) };
        }
        if (this.incoming.length > 0 && !this.req.destroyed) {
          for (const piece of this.incoming) this.reader.push(piece);
          this.incoming = [];
          this.incomingBytes = 0;
          if (this.paused) {
            this.paused = false;
            this.req.resume();
          }
          const oversized = this.reader.oversized(this.readMaxBytes);
          if (oversized !== undefined) throw tooLarge(this.readMaxBytes, oversized);
          continue;
        }
        if (!this.outcome) return undefined;
        if (this.outcome.error) throw this.outcome.error;
        if (this.reader.pending > 0) {
          throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
        }
        this.finish();
        return { done: true, value: undefined };
      }
    } catch (error) {
      this.finish();
      return { error };
    }
  }

  private decode(bytes: Uint8Array): Message {
    try {
      return this.fast?.(bytes) ?? fromBinary(this.method.input, bytes);
    } catch (err) {
      throw new ConnectError(
        `parse binary: ${err instanceof Error ? err.message : String(err)}`,
        Code.Internal,
      );
    }
  }

  /** Stops reading; destroys the request unless its body ended (or it destroys itself). */
  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.req.off("data", this.onData);
    this.stopWatching();
    const state = (this.req as { _readableState?: { autoDestroy?: boolean } })._readableState;
    if (this.outcome === undefined || state?.autoDestroy === true) this.req.destroy();
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
 * The keepalive a handler handed to the stream (idle-keepalive.ts): written `everyMs` after the
 * stream last wrote a message, and again every `everyMs` while it stays silent. One timer per
 * stream, moved on after each message (no allocation); the handler's stream is not woken for it.
 */
class IdleWriter {
  private timer: NodeJS.Timeout | undefined;
  /** Set while a message is being written or waits for the client to read: nothing goes then. */
  busy = false;

  constructor(
    private readonly res: DirectResponse,
    private readonly everyMs: number,
    private readonly bytes: Uint8Array,
  ) {}

  /** After each message written: the silence counts from now (from the first, it is watched). */
  wrote(): void {
    this.busy = false;
    if (this.timer) {
      this.timer.refresh();
    } else {
      this.timer = setInterval(this.tick, this.everyMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  // Made once per stream: the timer holds it.
  private readonly tick = (): void => {
    const res = this.res;
    if (this.busy || res.destroyed || res.writableEnded) return;
    res.write(this.bytes);
  };
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
  const context = new DirectContext({
    service,
    method,
    protocolName: protocol,
    url: callUrl(req.url, req.authority, encrypted),
    timeoutMs: timeout,
    shutdownSignal: options.shutdownSignal,
    requestHeader: new RequestHeaders(req.headers),
    responseHeader: new Headers({
      "content-type": protocol === "connect" ? CONNECT_STREAM_PROTO : GRPC_PROTO,
    }),
    responseTrailer: new Headers(protocol === "grpc" ? { "grpc-status": "0" } : undefined),
    contextValues,
  });
  contextValues.set(directContextKey, context);
  // A handler may hand its keepalive to this loop (idle-keepalive.ts), which writes it from one
  // timer when the stream has been silent for the interval.
  let idle: IdleWriter | undefined;
  contextValues.set(idleKeepaliveKey, (everyMs, message) => {
    idle?.stop();
    idle = new IdleWriter(res, everyMs, envelope(0, serialize(method.output, message)));
  });
  const next = chain(target, options.interceptors);
  const inParts = partsEncoderFor(method.output);

  let finished = false;
  let out: AsyncIterator<unknown> | undefined;
  req.once("close", () => {
    if (finished) return;
    // The client left: the call's signal aborts (as the library's request signal would), and the
    // handler's stream ends, so its finally blocks run even while it waits.
    context.abort(resetError(req.stream?.rstCode ?? 0));
    out?.return?.().catch(() => {});
  });
  let failure: ConnectError | undefined;
  try {
    options.onCall?.(context);
    const input: AsyncIterable<Message> =
      single !== undefined
        ? oneMessage(single)
        : new RequestMessages(req, method, protocol, options.readMaxBytes);
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
      const parts = inParts?.(r.value as Message);
      if (parts) {
        if (!res.headersSent) res.writeHead(200, nodeHeaders(context.responseHeader));
        // The handler may reuse the buffer of a chunk's data once it asks for the next chunk.
        if (idle) idle.busy = true;
        await writeParts(res, parts);
        idle?.wrote();
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = serialize(method.output, r.value as Message);
      } catch (err) {
        // As the library's pipeline: the handler's stream is ended (its finally blocks run) under
        // a plain abort, and then the call fails.
        context.abort(callFinished);
        await out.return?.().catch(() => {});
        throw err;
      }
      if (!res.headersSent) res.writeHead(200, nodeHeaders(context.responseHeader));
      if (!writeEnvelope(res, bytes)) {
        if (idle) idle.busy = true;
        await drained(res);
      }
      idle?.wrote();
    }
    replaceHeaders(context.responseTrailer, response.trailer);
  } catch (err) {
    failure =
      err instanceof ConnectError
        ? err
        : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  } finally {
    finished = true;
    idle?.stop();
    context.abort(failure ?? callFinished);
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

/**
 * The request stream of a server-streaming call: its one message, then the end (what an async
 * generator yielding it gives, without the generator's frame, which the call would hold while open).
 */
function oneMessage(message: Message): AsyncIterable<Message> {
  let left: Message | undefined = message;
  const it: AsyncIterator<Message> = {
    next() {
      const value = left;
      left = undefined;
      return Promise.resolve(
        value === undefined ? { done: true, value: undefined } : { done: false, value },
      );
    },
    return(value?: unknown) {
      left = undefined;
      return Promise.resolve({ done: true, value });
    },
  };
  return { [Symbol.asyncIterator]: () => it };
}

type Next = (request: StreamRequest) => Promise<StreamResponse>;

/** Each method's interceptor chain, built once (the library builds one per call). */
const chains = new WeakMap<DirectMethod, Next>();

function chain(target: DirectMethod, interceptors: readonly Interceptor[]): Next {
  let next = chains.get(target);
  if (next) return next;
  const { service, method } = target;
  const invoke: Next = async (r) => {
    const merged = handlerContextOf(r);
    if (method.methodKind === "client_streaming") {
      const output = create(method.output, await target.impl(r.message, merged));
      return {
        stream: true,
        service,
        method,
        header: merged.responseHeader,
        trailer: merged.responseTrailer,
        message: (async function* () {
          yield output;
        })(),
      } as StreamResponse;
    }
    const input: unknown =
      method.methodKind === "server_streaming" ? await onlyMessage(r.message) : r.message;
    return {
      stream: true,
      service,
      method,
      header: merged.responseHeader,
      trailer: merged.responseTrailer,
      // Interceptors see whole messages, whatever the handler yields (initializers included).
      message: normalized(method.output, target.impl(input, merged) as AsyncIterable<unknown>),
    } as StreamResponse;
  };
  next = withInterceptors(invoke, interceptors) as Next;
  chains.set(target, next);
  return next;
}

/** The messages of `source` made whole (create() returns a message as it is), as the library does. */
function normalized(desc: DescMessage, source: AsyncIterable<unknown>): AsyncIterable<Message> {
  return new WholeMessages(desc, source[Symbol.asyncIterator]());
}

/** See {@link normalized}: one object per stream, no closures (an open stream holds it). */
class WholeMessages implements AsyncIterableIterator<Message> {
  constructor(
    private readonly desc: DescMessage,
    private readonly it: AsyncIterator<unknown>,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Message>> {
    return this.it.next().then(this.whole);
  }

  return(value?: unknown): Promise<IteratorResult<Message>> {
    const it = this.it;
    if (!it.return) return Promise.resolve({ done: true, value: value as Message });
    return it.return(value).then(this.whole);
  }

  throw(error?: unknown): Promise<IteratorResult<Message>> {
    const it = this.it;
    if (!it.throw) return Promise.reject(error);
    return it.throw(error).then(this.whole);
  }

  private readonly whole = (r: IteratorResult<unknown>): IteratorResult<Message> =>
    r.done === true ? r : { done: false, value: create(this.desc, r.value as never) };
}

/** A response message's bytes, or the error the library's serialization gives. */
function serialize(desc: DescMessage, message: Message): Uint8Array {
  try {
    return binaryOf(desc, message);
  } catch (err) {
    throw new ConnectError(
      `serialize binary: ${err instanceof Error ? err.message : String(err)}`,
      Code.Internal,
    );
  }
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

/**
 * Writes one envelope's parts and resolves once the last has left for the socket (HTTP/2 holds
 * the buffers it is given until then, so the caller may reuse them after), or the response closed.
 * Waiting for the write itself also respects flow control: a slow reader holds the next chunk back.
 */
function writeParts(res: DirectResponse, parts: EnvelopeParts): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off("close", done);
      resolve();
    };
    res.once("close", done);
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) res.write(parts[i] as Uint8Array);
    res.write(parts[last] as Uint8Array, done);
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
