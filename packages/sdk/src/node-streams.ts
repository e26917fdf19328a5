// Streams from Node without the protocol library's per-message pipeline.
//
// Connect's transport passes every message of a stream through a chain of async generators:
// serialize, envelope and join on the way out; split, decompress, parse and the end-of-stream
// checks on the way in. Each is a down-levelled generator that costs several promises, a closure
// and a resumption per message, and a fresh copy of each envelope's bytes besides the one parsed.
// For the SDK's long-lived streams (Receive, SendStream), where a message is small and frequent,
// that chain cost the client more CPU per message than the hub spent on it. Here a stream's
// request messages are written to the request body as envelopes by one iterator, and the response
// body is split, parsed and checked by one reader that hands out each message as it is parsed.
// UploadChunks requests keep their chunk's bytes uncopied (node-upload.ts).
//
// The call is otherwise Connect's: the same URL, request headers, interceptors, deadline and abort
// handling (runStreamingCall), HTTP client (connect-node's, on the same HTTP/2 session as every
// other call), response validation, end-of-stream parsing, and errors worded as Connect words
// them. A response the hub compresses is split and inflated by Connect's own steps first.
// node-streams.test.ts compares both paths against a recording server.

import type { DescMethod, Message } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  type Compression,
  createMethodSerializationLookup,
  createMethodUrl,
  pipe,
  runStreamingCall,
  type Serialization,
  transformDecompressEnvelope,
  transformJoinEnvelopes,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import {
  createEndStreamSerialization,
  endStreamFlag,
  requestHeaderWithCompression,
  validateResponseWithCompression,
} from "@connectrpc/connect/protocol-connect";
import {
  compressionBrotli,
  compressionGzip,
  createNodeHttpClient,
  type Http2SessionManager,
} from "@connectrpc/connect-node";
import { withFastDecoding } from "./core/wire-decode.js";
import { fastEnvelopeWriter } from "./core/wire-encode.js";
import { uploadChunkParts } from "./node-upload.js";

/** Options of {@link withLeanStreams}. */
export interface LeanStreamOptions {
  /** The hub's base URL, as given to the Connect transport. */
  baseUrl: string;
  /** The HTTP/2 session manager the Connect transport uses (so streams share its connection). */
  sessionManager: Http2SessionManager;
  /** The Connect transport's interceptors, run on streams too. Default: none. */
  interceptors?: Interceptor[];
}

/** What the Connect transport accepts by default (connect-node): responses may be compressed. */
const acceptCompression: Compression[] = [compressionGzip, compressionBrotli];
/** Connect's default message size limits (none beyond what an envelope can say). */
const MAX_BYTES = 0xffffffff;
const COMPRESSED_FLAG = 0b00000001;
const UPLOAD_CHUNKS_REQUEST = "acb.v1.UploadChunksRequest";

type EndStream = ReturnType<typeof createEndStreamSerialization>;
/** A method's request serialization, and its response parse. */
interface MethodSerialization {
  input: Serialization<Message>;
  parse: (data: Uint8Array) => unknown;
  /** A request's whole envelope, written in one pass (core/wire-encode.ts), where it can be. */
  envelope: ((message: unknown) => Uint8Array | undefined) | undefined;
}

/**
 * `inner` (a Connect transport over HTTP/2 in the Connect protocol, binary), with every streaming
 * call made without the protocol library's per-message pipeline; unary calls go to `inner`.
 */
export function withLeanStreams(inner: Transport, options: LeanStreamOptions): Transport {
  const { sessionManager, baseUrl } = options;
  const interceptors = options.interceptors ?? [];
  const httpClient = createNodeHttpClient({
    httpVersion: "2",
    sessionProvider: () => sessionManager,
  });
  const endStream = createEndStreamSerialization({});
  // Made once per method (Connect's transport makes them on every call), with the fast decoding
  // of the responses agents read most (core/wire-decode.ts) in front of Connect's parse.
  const serializations = new Map<DescMethod, MethodSerialization>();
  const serializationOf = (method: DescMethod) => {
    let s = serializations.get(method);
    if (!s) {
      const lookup = createMethodSerializationLookup(method, undefined, undefined, {
        readMaxBytes: MAX_BYTES,
        writeMaxBytes: MAX_BYTES,
      });
      const output = lookup.getO(true);
      s = {
        input: lookup.getI(true),
        parse: withFastDecoding(method.output, (data) => output.parse(data)),
        envelope: fastEnvelopeWriter(method.input),
      };
      serializations.set(method, s);
    }
    return s;
  };

  return {
    unary: (...args) => inner.unary(...args),
    stream(method, signal, timeoutMs, header, messages, contextValues) {
      const serialization = serializationOf(method);
      // As Connect's transport: no deadline for 0 or less (the SDK's transports set no default).
      const deadline = timeoutMs === undefined || timeoutMs <= 0 ? undefined : timeoutMs;
      return runStreamingCall({
        interceptors,
        ...(signal && { signal }),
        ...(deadline !== undefined && { timeoutMs: deadline }),
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(baseUrl, method),
          header: requestHeaderWithCompression(
            method.methodKind,
            true,
            deadline,
            header,
            acceptCompression,
            null,
            true,
          ),
          contextValues: contextValues ?? (createContextValues() as ContextValues),
          message: messages,
        },
        next: async (req) => {
          const uRes = await httpClient({
            url: req.url,
            method: "POST",
            header: req.header,
            signal: req.signal,
            body: new RequestEnvelopes(
              req.message[Symbol.asyncIterator](),
              serialization.input,
              method.input.typeName === UPLOAD_CHUNKS_REQUEST,
              serialization.envelope,
            ),
          });
          const { compression } = validateResponseWithCompression(
            method.methodKind,
            acceptCompression,
            true,
            uRes.status,
            uRes.header,
          );
          const trailer = new Headers();
          // A compressed response is split and inflated by Connect's own steps first.
          const body = compression
            ? pipe(
                uRes.body,
                transformSplitEnvelope(MAX_BYTES),
                transformDecompressEnvelope(compression, MAX_BYTES),
                transformJoinEnvelopes(),
              )
            : uRes.body;
          const message = new ResponseMessages(
            body,
            serialization.parse,
            endStream,
            uRes.header,
            trailer,
          );
          return { ...req, header: uRes.header, trailer, message } as never;
        },
      }) as never;
    },
  };
}

/**
 * A request stream's body: each message as one envelope (an UploadChunks message as a few parts
 * around its chunk's own bytes). Failures and the end of the call reach the messages' iterator
 * through `throw` and `return`, as through Connect's pipeline.
 */
class RequestEnvelopes implements AsyncIterableIterator<Uint8Array> {
  private parts: Uint8Array[] = [];
  private at = 0;

  constructor(
    private readonly messages: AsyncIterator<unknown>,
    private readonly input: Serialization<Message>,
    private readonly uploads: boolean,
    private readonly fast: ((message: unknown) => Uint8Array | undefined) | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.at < this.parts.length) {
      const value = this.parts[this.at++] as Uint8Array;
      return Promise.resolve({ done: false, value });
    }
    return this.messages.next().then(this.encoded);
  }

  throw(err?: unknown): Promise<IteratorResult<Uint8Array>> {
    if (this.messages.throw) return this.messages.throw(err).then(() => done);
    return Promise.reject(err);
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    if (this.messages.return) return this.messages.return().then(() => done);
    return Promise.resolve(done);
  }

  private readonly encoded = (r: IteratorResult<unknown>): IteratorResult<Uint8Array> => {
    if (r.done === true) return done;
    const parts = this.uploads ? uploadChunkParts(r.value as never) : undefined;
    if (parts) {
      this.parts = parts;
      this.at = 1;
      return { done: false, value: parts[0] as Uint8Array };
    }
    const whole = this.fast?.(r.value);
    if (whole !== undefined) return { done: false, value: whole };
    const bytes = this.input.serialize(r.value as Message);
    const out = new Uint8Array(5 + bytes.length);
    new DataView(out.buffer).setUint32(1, bytes.length); // out[0] = 0: a message, not compressed
    out.set(bytes, 5);
    return { done: false, value: out };
  };
}

const done: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * A response stream's messages, split from the body, parsed, and ended by Connect's end-of-stream
 * message (its error thrown with the response headers added to its metadata, its metadata put in
 * `trailer`). Each message is parsed from a copy of its envelope's bytes, as Connect's reader
 * makes, so a message's bytes fields hold no network buffer alive.
 */
class ResponseMessages implements AsyncIterableIterator<unknown> {
  private readonly body: AsyncIterator<Uint8Array>;
  /** Parsed messages not yet handed out, from `head` on. */
  private ready: unknown[] = [];
  private head = 0;
  /** Bytes of an envelope not yet whole (its header included). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The size of the envelope begun in `pending`, once its header is in (else 0). */
  private need = 0;
  private ended = false;
  private finished = false;
  /** What ended the stream, thrown once the messages parsed before it are handed out. */
  private failure: { error: unknown } | undefined;

  constructor(
    body: AsyncIterable<Uint8Array>,
    private readonly parse: (data: Uint8Array) => unknown,
    private readonly endStream: EndStream,
    private readonly header: Headers,
    private readonly trailer: Headers,
  ) {
    this.body = body[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.head < this.ready.length) {
      const value = this.ready[this.head];
      this.ready[this.head++] = undefined;
      if (this.head === this.ready.length) {
        this.ready = [];
        this.head = 0;
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.finished) return Promise.resolve(done);
    return this.body.next().then(this.read);
  }

  return(): Promise<IteratorResult<unknown>> {
    this.finished = true;
    this.ready = [];
    this.head = 0;
    if (this.body.return) return this.body.return().then(() => done);
    return Promise.resolve(done);
  }

  private readonly read = (
    r: IteratorResult<Uint8Array>,
  ): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
    if (r.done === true) {
      this.finished = true;
      if (this.pendingBytes > 0) {
        throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
      }
      if (!this.ended) {
        throw new ConnectError("protocol error: missing EndStreamResponse", Code.InvalidArgument);
      }
      return done;
    }
    this.split(r.value);
    return this.next();
  };

  /** Takes every envelope `chunk` completes. */
  private split(chunk: Uint8Array): void {
    let bytes = chunk;
    /** Whether `bytes` is this reader's own buffer (pieces joined), not the network's. */
    let owned = false;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      // The pieces of a large envelope are joined once, when it is whole, not at every piece.
      if (this.pendingBytes < this.needed()) return;
      bytes = concat(this.pending, this.pendingBytes);
      owned = true;
      this.pending = [];
      this.pendingBytes = 0;
      this.need = 0;
    }
    let at = 0;
    while (bytes.length - at >= 5) {
      const flags = bytes[at] as number;
      const length = lengthAt(bytes, at);
      const end = at + 5 + length;
      if (end > bytes.length) break;
      // A copy, so the network's buffers are not kept alive by the message's bytes fields; but
      // not of joined pieces holding this envelope alone, which are this reader's already.
      const data =
        owned && at === 0 && end === bytes.length
          ? bytes.subarray(5)
          : Uint8Array.prototype.slice.call(bytes, at + 5, end);
      at = end;
      try {
        this.envelope(flags, data);
      } catch (error) {
        // As Connect's pipeline, which parses as it is read: the messages before it come first.
        this.failure = { error };
        this.finished = true;
        return;
      }
    }
    if (at < bytes.length) {
      const rest = bytes.subarray(at);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
  }

  /** The bytes the envelope begun in `pending` takes in all (5, its header, until that is in). */
  private needed(): number {
    if (this.need > 0) return this.need;
    if (this.pendingBytes < 5) return 5;
    const first = this.pending[0] as Uint8Array;
    const head = first.length >= 5 ? first : concat(this.pending, this.pendingBytes);
    this.need = 5 + lengthAt(head, 0);
    return this.need;
  }

  private envelope(flags: number, data: Uint8Array): void {
    if ((flags & COMPRESSED_FLAG) === COMPRESSED_FLAG) {
      throw new ConnectError(
        "received compressed envelope, but do not know how to decompress",
        Code.Internal,
      );
    }
    if ((flags & endStreamFlag) === endStreamFlag) {
      const end = this.endStream.parse(data);
      if (this.ended) {
        throw new ConnectError(
          "protocol error: received extra EndStreamResponse",
          Code.InvalidArgument,
        );
      }
      this.ended = true;
      if (end.error) {
        const error = end.error;
        this.header.forEach((value, key) => {
          error.metadata.append(key, value);
        });
        throw error;
      }
      end.metadata.forEach((value, key) => {
        this.trailer.set(key, value);
      });
      return;
    }
    const message = this.parse(data);
    if (this.ended) {
      throw new ConnectError(
        "protocol error: received extra message after EndStreamResponse",
        Code.InvalidArgument,
      );
    }
    this.ready.push(message);
  }
}

/** An envelope's length: the 4 bytes after its flags, big-endian. */
function lengthAt(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at + 1] as number) << 24) >>> 0) +
    ((bytes[at + 2] as number) << 16) +
    ((bytes[at + 3] as number) << 8) +
    (bytes[at + 4] as number)
  );
}

function concat(pieces: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
