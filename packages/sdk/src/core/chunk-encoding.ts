import {
  type UploadChunksRequest,
  UploadChunksRequestSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { Chunk } from "./chunk-feed.js";

/** One protobuf-es unknown-field entry: written as the varint `(no << 3) | wireType`, then `data`. */
interface UnknownField {
  no: number;
  wireType: WireType;
  data: Uint8Array;
}

/**
 * An UploadChunks message whose chunk is encoded in one pass.
 *
 * The generated encoder writes ContextChunk as a nested message: it reserves one byte for the
 * message's length, writes the chunk's data after it, and then, since a 1 MiB chunk's length takes
 * three bytes, moves the whole megabyte on to make room. Here the lengths are known up front, so
 * every byte lands in its place the first time. The seam is protobuf-es's unknown fields: a
 * message's `$unknown` entries are written verbatim after its known fields (here `upload_id`,
 * field 1). The chunk (field 2) is three to four entries: the chunk message's length, its `offset`
 * and the tag of `data`; then the data's length and the data, as an entry whose "tag" varint is
 * that length, so the data is copied only into the encoder's output; then the checks. The bytes
 * are those the generated encoder writes for the same message (chunk-encoding.test.ts compares
 * them). Only for binary transports: JSON has no unknown fields (UploadChunks is the Node entry
 * point's, which always speaks binary).
 */
export function uploadChunksRequest(uploadId: string, chunk: Chunk): UploadChunksRequest {
  const req = create(UploadChunksRequestSchema, { uploadId });
  req.$unknown = chunkField(2, chunk);
  return req;
}

/** The unknown-field entries that write `chunk` as ContextChunk field `no` of a message. */
export function chunkField(no: number, chunk: Chunk): UnknownField[] {
  const { offset, data, sha256, crc32 } = chunk;
  // ContextChunk: offset (1, varint; left out when 0), data (2; left out when empty), sha256 (3;
  // left out when empty), crc32 (4, fixed32, optional: written when set, even to 0).
  const offsetSize = offset === 0 ? 0 : 1 + varintSize(offset);
  const dataSize = data.length === 0 ? 0 : 1 + varintSize(data.length) + data.length;
  const shaSize = sha256.length === 0 ? 0 : 1 + varintSize(sha256.length) + sha256.length;
  const chunkSize = offsetSize + dataSize + shaSize + (crc32 === undefined ? 0 : 5);
  const head = new Uint8Array(varintSize(chunkSize) + offsetSize + (dataSize === 0 ? 0 : 1));
  let at = writeVarint(head, 0, chunkSize);
  if (offset !== 0) {
    head[at++] = (1 << 3) | WireType.Varint;
    at = writeVarint(head, at, offset);
  }
  const entries: UnknownField[] = [{ no, wireType: WireType.LengthDelimited, data: head }];
  if (dataSize !== 0) {
    head[at] = (2 << 3) | WireType.LengthDelimited;
    // The encoder writes `(no << 3) | wireType` as a varint: here, the data's length.
    entries.push({ no: data.length >>> 3, wireType: data.length & 7, data });
  }
  if (shaSize !== 0) {
    const sha = new Uint8Array(varintSize(sha256.length) + sha256.length);
    sha.set(sha256, writeVarint(sha, 0, sha256.length));
    entries.push({ no: 3, wireType: WireType.LengthDelimited, data: sha });
  }
  if (crc32 !== undefined) {
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32, true);
    entries.push({ no: 4, wireType: WireType.Bit32, data: crc });
  }
  return entries;
}

/** Bytes of the varint of a non-negative safe integer. */
function varintSize(v: number): number {
  let size = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/** Writes the varint of a non-negative safe integer at `at`; returns the position after it. */
function writeVarint(buf: Uint8Array, at: number, v: number): number {
  while (v >= 128) {
    buf[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}
