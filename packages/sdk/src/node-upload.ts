// UploadChunks from Node without copying each chunk: its messages go out as a few bytes of
// envelope and fields around the chunk's own data.
//
// Connect's transport encodes every message with protobuf-es's toBinary, whose writer grows to
// 2 MiB for a 1 MiB chunk and is sliced, and copies the result into a new envelope: about 4 MiB of
// fresh buffers per MiB uploaded, whose collection was most of the uploading process's CPU. The
// lengths of an UploadChunksRequest are known up front, so it is written as three buffers instead:
// the envelope prefix and the bytes before `data`, `data` itself (the chunk the SDK keeps until the
// hub has verified it anyway), and the bytes after it. The Node entry point's streams
// (node-streams.ts) write UploadChunks messages this way; a message this module does not write
// exactly (unknown fields, an unusual offset) is encoded by Connect's serialization.
// node-upload.test.ts compares the bytes with toBinary's.

import type { UploadChunksRequest } from "@acb/gen/acb/v1/large_contexts_pb";

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
