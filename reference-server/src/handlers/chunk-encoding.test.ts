import { DownloadContextResponseSchema } from "@acb/gen/acb/v1/large_contexts_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { chunkResponse } from "./chunk-encoding.js";

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

/** What the generated encoder writes for the same chunk. */
function generated(
  offset: number,
  data: Uint8Array,
  check: { sha256: Uint8Array } | { crc32: number },
) {
  return toBinary(
    DownloadContextResponseSchema,
    create(DownloadContextResponseSchema, {
      item: { case: "chunk", value: { offset: BigInt(offset), data, ...check } },
    }),
  );
}

// Sizes around every varint width boundary of the data's and the chunk message's lengths, up to
// the protocol's largest chunk (4 MiB).
const sizes = [
  0, 1, 7, 8, 9, 90, 127, 128, 129, 16_383, 16_384, 16_385, 65_536, 1_048_576, 2_097_151, 2_097_152,
  4_194_304,
];
// Offsets of every varint width, past 2^32 (objects up to 10 GiB) and up to 2^53 - 1.
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

describe("chunkResponse", () => {
  it("writes the bytes the generated encoder writes, for every size, offset and check", () => {
    const next = generator(15);
    let cases = 0;
    for (const size of sizes) {
      const data = bytes(size, next);
      for (const offset of offsets) {
        const checks = [
          { sha256: bytes(32, next) },
          { sha256: new Uint8Array() },
          { crc32: Math.floor(next() * 0x1_0000_0000) },
          { crc32: 0 },
          { crc32: 0xffff_ffff },
        ];
        for (const check of checks) {
          const ours = toBinary(DownloadContextResponseSchema, chunkResponse(offset, data, check));
          expect(Buffer.compare(ours, generated(offset, data, check)), `${size} ${offset}`).toBe(0);
          cases++;
        }
      }
    }
    expect(cases).toBe(sizes.length * offsets.length * 5);
  });

  it("writes random chunks that decode to the same chunk", () => {
    const next = generator(4242);
    for (let i = 0; i < 200; i++) {
      const data = bytes(Math.floor(next() * 70_000), next);
      const offset = Math.floor(next() * 2 ** 40);
      const check =
        next() < 0.5 ? { sha256: bytes(32, next) } : { crc32: Math.floor(next() * 0x1_0000_0000) };
      const ours = toBinary(DownloadContextResponseSchema, chunkResponse(offset, data, check));
      expect(Buffer.compare(ours, generated(offset, data, check))).toBe(0);
      const decoded = fromBinary(DownloadContextResponseSchema, ours);
      expect(decoded.item.case).toBe("chunk");
      if (decoded.item.case !== "chunk") continue;
      expect(decoded.item.value.offset).toBe(BigInt(offset));
      expect(Buffer.compare(decoded.item.value.data, data)).toBe(0);
    }
  });
});
