// The chunk messages of a download written as envelopes in parts, the chunk's bytes untouched.
//
// protobuf-es's toBinary encodes a DownloadContextResponse that carries a 1 MiB chunk into a
// writer that grows by doubling to 2 MiB, slices the result into a new buffer, and an envelope then
// copies it once more: about 4 MiB of fresh buffers per MiB sent, whose collection was the largest
// share of the hub's CPU per downloaded byte. Every length of a chunk message is known up front, so
// its bytes can be written as three parts instead: the envelope prefix and the fields before
// `data` (a few bytes), `data` itself as the caller's buffer, and the fields after it. The parts
// are exactly what toBinary and the envelope would give (chunk-envelopes.test.ts compares them for
// every varint width and field present); a message this module does not know how to write (unknown
// fields, a negative or unsafe offset, empty data) gets undefined, for toBinary to encode.

import {
  type ContextChunk,
  type DownloadContextResponse,
  DownloadContextResponseSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import type { DescMessage, Message } from "@bufbuild/protobuf";

/** The bytes of one response envelope, in order; the parts after the first may be large. */
export type EnvelopeParts = Uint8Array[];

/** Writes a message's envelope in parts, or undefined to leave it to toBinary. */
export type PartsEncoder = (message: Message) => EnvelopeParts | undefined;

/** The messages written in parts, by their schema. */
const encoders = new Map<DescMessage, PartsEncoder>([
  [DownloadContextResponseSchema, (m) => downloadChunkParts(m as DownloadContextResponse)],
]);

/** The parts encoder for messages of `desc`, if it has one. */
export function partsEncoderFor(desc: DescMessage): PartsEncoder | undefined {
  return encoders.get(desc);
}

// Tags: (field number << 3) | wire type.
const TAG_CHUNK = (2 << 3) | 2; // DownloadContextResponse.chunk, length-delimited
const TAG_OFFSET = (1 << 3) | 0; // ContextChunk.offset, varint
const TAG_DATA = (2 << 3) | 2; // ContextChunk.data, length-delimited
const TAG_SHA256 = (3 << 3) | 2; // ContextChunk.sha256, length-delimited
const TAG_CRC32 = (4 << 3) | 5; // ContextChunk.crc32, fixed32

/** Bytes of a varint of `n` (a non-negative safe integer). */
function varintLength(n: number): number {
  let length = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

/** Writes `n` (a non-negative safe integer) as a varint at `at`; returns the position after it. */
function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 128) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/**
 * A chunk response as [prefix, data, suffix] (suffix left out when empty), or undefined for
 * anything else: the header, a message with unknown fields, a chunk whose offset is negative or
 * past 2^53, empty data (toBinary leaves the field out), a crc32 that is not a uint32.
 */
export function downloadChunkParts(message: DownloadContextResponse): EnvelopeParts | undefined {
  if (message.item.case !== "chunk" || message.$unknown?.length) return undefined;
  const chunk: ContextChunk = message.item.value;
  if (chunk.$typeName !== "acb.v1.ContextChunk" || chunk.$unknown?.length) return undefined;
  const { data, sha256 } = chunk;
  if (typeof chunk.offset !== "bigint" || data.length === 0) return undefined;
  if (chunk.offset < 0n || chunk.offset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const offset = Number(chunk.offset);
  // An optional field is written when it is set (an own property), as toBinary decides; a value
  // that is not a uint32 is left to toBinary, which refuses it.
  const crc32 =
    chunk.crc32 !== undefined && Object.hasOwn(chunk, "crc32") ? chunk.crc32 : undefined;
  if (crc32 !== undefined && !(Number.isInteger(crc32) && crc32 >= 0 && crc32 <= 0xffffffff)) {
    return undefined;
  }

  // ContextChunk's fields in number order: offset (when not 0), data, sha256 (when not empty),
  // crc32 (when set).
  const offsetBytes = offset === 0 ? 0 : 1 + varintLength(offset);
  const dataHead = 1 + varintLength(data.length);
  const suffixBytes =
    (sha256.length === 0 ? 0 : 1 + varintLength(sha256.length) + sha256.length) +
    (crc32 === undefined ? 0 : 5);
  const chunkBytes = offsetBytes + dataHead + data.length + suffixBytes;
  const messageBytes = 1 + varintLength(chunkBytes) + chunkBytes;
  const prefixBytes = 5 + messageBytes - chunkBytes + offsetBytes + dataHead;

  const small = Buffer.allocUnsafe(prefixBytes + suffixBytes);
  small[0] = 0; // envelope flags: a message, not compressed
  small.writeUInt32BE(messageBytes, 1);
  let at = 5;
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
    small.writeUInt32LE(crc32, at);
    at += 4;
  }
  return [prefix, data, small.subarray(prefix.length, at)];
}
