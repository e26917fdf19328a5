import {
  type DownloadContextResponse,
  DownloadContextResponseSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";

/**
 * A download's chunk response, encoded without the nested-message step.
 *
 * The generated encoder writes ContextChunk as a nested message: it reserves one byte for the
 * message's length, writes the chunk's data after it, and then, since a 1 MiB chunk's length takes
 * three bytes, moves the whole megabyte two bytes on to make room. This writes the same bytes in
 * one pass: the lengths are known up front, so every byte lands in its place the first time.
 *
 * The seam is protobuf-es's unknown fields (as in delivery-encoding.ts): a message's `$unknown`
 * entries are written after its known fields, each as the varint of `(no << 3) | wireType`
 * followed by its bytes, verbatim. The response has no known field set, and three entries:
 * 1. field 2 (`chunk`, length-delimited): the chunk message's length, its `offset` field, and the
 *    tag of its `data` field;
 * 2. the data's length and the data itself: an entry whose "tag" is that length (a varint is a
 *    varint), so the data is passed by reference and copied only into the encoder's output;
 * 3. the check: field 3 (`sha256`) or field 4 (`crc32`, fixed32).
 * Together they are the bytes the generated encoder writes for the same response
 * (chunk-encoding.test.ts compares them). JSON clients get the ordinary message: JSON has no
 * unknown fields.
 */
export function chunkResponse(
  offset: number,
  data: Uint8Array,
  check: { sha256: Uint8Array } | { crc32: number },
): DownloadContextResponse {
  const res = create(DownloadContextResponseSchema);
  res.$unknown =
    "crc32" in check
      ? chunkField(2, offset, data, new Uint8Array(), check.crc32)
      : chunkField(2, offset, data, check.sha256, undefined);
  return res;
}

/** The unknown-field entries that write a ContextChunk as message field `no` (see above). */
export function chunkField(
  no: number,
  offset: number,
  data: Uint8Array,
  sha256: Uint8Array,
  crc32: number | undefined,
): { no: number; wireType: WireType; data: Uint8Array }[] {
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
  const entries: { no: number; wireType: WireType; data: Uint8Array }[] = [
    { no, wireType: WireType.LengthDelimited, data: head },
  ];
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
