import { UploadChunksRequestSchema } from "@acb/gen/acb/v1/large_contexts_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { uploadChunksRequest } from "./chunk-encoding.js";
import type { Chunk } from "./chunk-feed.js";

/** A small deterministic generator (xorshift32), so a failure names a reproducible case. */
function generator(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function bytes(n: number, next: () => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Whether two byte arrays hold the same bytes. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the generated encoder writes for the same request. */
function generated(uploadId: string, c: Chunk): Uint8Array {
  return toBinary(
    UploadChunksRequestSchema,
    create(UploadChunksRequestSchema, {
      uploadId,
      chunk: {
        offset: BigInt(c.offset),
        data: c.data,
        sha256: c.sha256,
        ...(c.crc32 !== undefined && { crc32: c.crc32 }),
      },
    }),
  );
}

// Sizes around every varint width boundary of the data's and the chunk message's lengths, up to
// the protocol's largest chunk (4 MiB); offsets of every width, past 2^32 and up to 2^53 - 1.
const sizes = [
  0, 1, 7, 8, 9, 90, 127, 128, 129, 16_383, 16_384, 16_385, 65_536, 1_048_576, 2_097_151, 2_097_152,
  4_194_304,
];
const offsets = [
  0,
  1,
  127,
  128,
  16_384,
  1_048_576,
  2 ** 32 - 1,
  2 ** 32,
  10 * 2 ** 30,
  2 ** 53 - 1,
];

describe("uploadChunksRequest", () => {
  it("writes the bytes the generated encoder writes, for every size, offset and check", () => {
    const next = generator(15);
    let cases = 0;
    for (const size of sizes) {
      const data = bytes(size, next);
      for (const offset of offsets) {
        const checks: Pick<Chunk, "sha256" | "crc32">[] = [
          { sha256: bytes(32, next) },
          { sha256: new Uint8Array() },
          { sha256: new Uint8Array(), crc32: Math.floor(next() * 0x1_0000_0000) },
          { sha256: new Uint8Array(), crc32: 0 },
          { sha256: bytes(32, next), crc32: 0xffff_ffff },
        ];
        for (const check of checks) {
          for (const uploadId of ["", "up_01"]) {
            const chunk = { offset, data, ...check };
            const ours = toBinary(UploadChunksRequestSchema, uploadChunksRequest(uploadId, chunk));
            expect(same(ours, generated(uploadId, chunk)), `${size} ${offset}`).toBe(true);
            cases++;
          }
        }
      }
    }
    expect(cases).toBe(sizes.length * offsets.length * 5 * 2);
  });

  it("writes random chunks that decode to the same chunk", () => {
    const next = generator(4242);
    for (let i = 0; i < 200; i++) {
      const chunk: Chunk = {
        offset: Math.floor(next() * 2 ** 40),
        data: bytes(Math.floor(next() * 70_000), next),
        sha256: next() < 0.5 ? bytes(32, next) : new Uint8Array(),
      };
      if (next() < 0.5) chunk.crc32 = Math.floor(next() * 0x1_0000_0000);
      const ours = toBinary(UploadChunksRequestSchema, uploadChunksRequest("u", chunk));
      expect(same(ours, generated("u", chunk))).toBe(true);
      const decoded = fromBinary(UploadChunksRequestSchema, ours);
      expect(decoded.uploadId).toBe("u");
      expect(decoded.chunk?.offset).toBe(BigInt(chunk.offset));
      expect(same(decoded.chunk?.data ?? new Uint8Array(), chunk.data)).toBe(true);
      expect(decoded.chunk?.crc32).toBe(chunk.crc32);
    }
  });
});
