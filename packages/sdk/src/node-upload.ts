// UploadChunks from Node without copying each chunk: its messages go out as a few bytes of
// envelope and fields around the chunk's own data.
//
// Connect's transport encodes every message with protobuf-es's toBinary, whose writer grows to
// 2 MiB for a 1 MiB chunk and is sliced, and copies the result into a new envelope: about 4 MiB of
// fresh buffers per MiB uploaded, whose collection was most of the uploading process's CPU. The
// lengths of an UploadChunksRequest are known up front, so it is written as three buffers instead:
// the envelope prefix and the bytes before `data`, `data` itself (the chunk the SDK keeps until the
// hub has verified it anyway), and the bytes after it. The call is otherwise Connect's: the same
// URL, headers, interceptors, deadline, response parsing and errors (the transport's own pieces
// from @connectrpc/connect/protocol and protocol-connect), over the same HTTP/2 session as every
// other call. A message this module does not write exactly (unknown fields, an unusual offset)
// is encoded by Connect's serialization. node-upload.test.ts compares the bytes with toBinary's.

import { LargeContextService, type UploadChunksRequest } from "@acb/gen/acb/v1/large_contexts_pb";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamResponse,
  type Transport,
} from "@connectrpc/connect";
import {
  type Compression,
  createMethodSerializationLookup,
  createMethodUrl,
  pipe,
  runStreamingCall,
  transformDecompressEnvelope,
  transformParseEnvelope,
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

/** Options of {@link withLeanUploads}. */
export interface LeanUploadOptions {
  /** The hub's base URL, as given to the Connect transport. */
  baseUrl: string;
  /** The HTTP/2 session manager the Connect transport uses (so uploads share its connection). */
  sessionManager: Http2SessionManager;
  /** The Connect transport's interceptors, run on uploads too. Default: none. */
  interceptors?: Interceptor[];
}

const uploadChunks = LargeContextService.method.uploadChunks;
/** What the Connect transport accepts by default (connect-node): responses may be compressed. */
const acceptCompression: Compression[] = [compressionGzip, compressionBrotli];
const MAX_BYTES = 0xffffffff;

/**
 * `inner` (a Connect transport over HTTP/2 in the Connect protocol, binary), with UploadChunks
 * sent without copying its chunks; every other call goes to `inner` unchanged.
 */
export function withLeanUploads(inner: Transport, options: LeanUploadOptions): Transport {
  const { sessionManager } = options;
  const httpClient = createNodeHttpClient({
    httpVersion: "2",
    sessionProvider: () => sessionManager,
  });
  const serialization = createMethodSerializationLookup(uploadChunks, undefined, undefined, {
    readMaxBytes: MAX_BYTES,
    writeMaxBytes: MAX_BYTES,
  });
  const input = serialization.getI(true);
  const endStream = createEndStreamSerialization({});

  /** The request body: each message as envelope parts, the chunk's data among them as it is. */
  async function* body(messages: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
    for await (const message of messages) {
      const parts = uploadChunkParts(message as unknown as UploadChunksRequest);
      if (parts) {
        yield* parts;
        continue;
      }
      const bytes = input.serialize(message as UploadChunksRequest);
      const head = new Uint8Array(5);
      new DataView(head.buffer).setUint32(1, bytes.length);
      yield head;
      yield bytes;
    }
  }

  return {
    unary: (...args) => inner.unary(...args),
    stream(method, signal, timeoutMs, header, messages, contextValues) {
      if (method !== (uploadChunks as DescMethod)) {
        return inner.stream(method, signal, timeoutMs, header, messages, contextValues);
      }
      // As Connect's transport: no deadline for 0 or less (the SDK's transports set no default).
      const deadline = timeoutMs === undefined || timeoutMs <= 0 ? undefined : timeoutMs;
      return runStreamingCall({
        interceptors: options.interceptors ?? [],
        ...(signal && { signal }),
        ...(deadline !== undefined && { timeoutMs: deadline }),
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(options.baseUrl, method),
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
            body: body(req.message),
          });
          const { compression } = validateResponseWithCompression(
            method.methodKind,
            acceptCompression,
            true,
            uRes.status,
            uRes.header,
          );
          const res = {
            ...req,
            header: uRes.header,
            trailer: new Headers(),
          } as unknown as StreamResponse<never, never>;
          const parsed = pipe(
            uRes.body,
            transformSplitEnvelope(MAX_BYTES),
            transformDecompressEnvelope(compression ?? null, MAX_BYTES),
            transformParseEnvelope(serialization.getO(true), endStreamFlag, endStream),
          );
          (res as { message: AsyncIterable<unknown> }).message = endStreamChecked(
            parsed,
            uRes.header,
            res.trailer,
          );
          return res as never;
        },
      }) as never;
    },
  };
}

/** The response messages, ending at Connect's end-of-stream message, as Connect's transport. */
async function* endStreamChecked(
  source: AsyncIterable<
    | { end: false; value: unknown }
    | { end: true; value: { error?: ConnectError; metadata: Headers } }
  >,
  header: Headers,
  trailer: Headers,
): AsyncGenerator<unknown> {
  let ended = false;
  for await (const chunk of source) {
    if (chunk.end) {
      if (ended) {
        throw new ConnectError(
          "protocol error: received extra EndStreamResponse",
          Code.InvalidArgument,
        );
      }
      ended = true;
      const { error, metadata } = chunk.value;
      if (error) {
        header.forEach((value, key) => {
          error.metadata.append(key, value);
        });
        throw error;
      }
      metadata.forEach((value, key) => {
        trailer.set(key, value);
      });
      continue;
    }
    if (ended) {
      throw new ConnectError(
        "protocol error: received extra message after EndStreamResponse",
        Code.InvalidArgument,
      );
    }
    yield chunk.value;
  }
  if (!ended)
    throw new ConnectError("protocol error: missing EndStreamResponse", Code.InvalidArgument);
}

// Tags: (field number << 3) | wire type.
const TAG_UPLOAD_ID = (1 << 3) | 2; // UploadChunksRequest.upload_id
const TAG_CHUNK = (2 << 3) | 2; // UploadChunksRequest.chunk
const TAG_OFFSET = (1 << 3) | 0; // ContextChunk.offset, varint
const TAG_DATA = (2 << 3) | 2; // ContextChunk.data
const TAG_SHA256 = (3 << 3) | 2; // ContextChunk.sha256
const TAG_CRC32 = (4 << 3) | 5; // ContextChunk.crc32, fixed32

const utf8 = new TextEncoder();

function varintLength(n: number): number {
  let length = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/**
 * An UploadChunksRequest's envelope as [prefix, data, suffix] (suffix left out when empty),
 * byte for byte what toBinary and the envelope give; undefined for what it does not write exactly:
 * no chunk, unknown fields, an offset that is negative or past 2^53, empty data, a crc32 that is
 * not a uint32.
 */
export function uploadChunkParts(message: UploadChunksRequest): Uint8Array[] | undefined {
  if (message.$typeName !== "acb.v1.UploadChunksRequest" || message.$unknown?.length) {
    return undefined;
  }
  const chunk = message.chunk;
  if (chunk?.$typeName !== "acb.v1.ContextChunk" || chunk.$unknown?.length) {
    return undefined;
  }
  const { data, sha256 } = chunk;
  if (typeof chunk.offset !== "bigint" || data.length === 0) return undefined;
  if (chunk.offset < 0n || chunk.offset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const offset = Number(chunk.offset);
  const crc32 =
    chunk.crc32 !== undefined && Object.hasOwn(chunk, "crc32") ? chunk.crc32 : undefined;
  if (crc32 !== undefined && !(Number.isInteger(crc32) && crc32 >= 0 && crc32 <= 0xffffffff)) {
    return undefined;
  }
  const uploadId = message.uploadId === "" ? undefined : utf8.encode(message.uploadId);

  // Fields in number order: upload_id (when not empty), then chunk: offset (when not 0), data,
  // sha256 (when not empty), crc32 (when set).
  const idBytes = uploadId ? 1 + varintLength(uploadId.length) + uploadId.length : 0;
  const offsetBytes = offset === 0 ? 0 : 1 + varintLength(offset);
  const dataHead = 1 + varintLength(data.length);
  const suffixBytes =
    (sha256.length === 0 ? 0 : 1 + varintLength(sha256.length) + sha256.length) +
    (crc32 === undefined ? 0 : 5);
  const chunkBytes = offsetBytes + dataHead + data.length + suffixBytes;
  const messageBytes = idBytes + 1 + varintLength(chunkBytes) + chunkBytes;
  const prefixBytes = 5 + idBytes + 1 + varintLength(chunkBytes) + offsetBytes + dataHead;

  const small = new Uint8Array(prefixBytes + suffixBytes);
  const view = new DataView(small.buffer);
  view.setUint32(1, messageBytes); // small[0] = 0: a message, not compressed
  let at = 5;
  if (uploadId) {
    small[at++] = TAG_UPLOAD_ID;
    at = writeVarint(small, at, uploadId.length);
    small.set(uploadId, at);
    at += uploadId.length;
  }
  small[at++] = TAG_CHUNK;
  at = writeVarint(small, at, chunkBytes);
  if (offset !== 0) {
    small[at++] = TAG_OFFSET;
    at = writeVarint(small, at, offset);
  }
  small[at++] = TAG_DATA;
  at = writeVarint(small, at, data.length);
  const prefix = small.subarray(0, at);
  if (suffixBytes === 0) return [prefix, data];
  if (sha256.length > 0) {
    small[at++] = TAG_SHA256;
    at = writeVarint(small, at, sha256.length);
    small.set(sha256, at);
    at += sha256.length;
  }
  if (crc32 !== undefined) {
    small[at++] = TAG_CRC32;
    view.setUint32(at, crc32, true);
    at += 4;
  }
  return [prefix, data, small.subarray(prefix.length, at)];
}
