import { UploadChunksRequestSchema } from "@acb/gen/acb/v1/large_contexts_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { uploadChunkParts } from "./node-upload.js";

const MAX = 4 * 1024 * 1024 + 64;
const source = new Uint8Array(MAX).map((_, i) => (i * 2654435761) >>> 24);
const sha = new Uint8Array(32).map((_, i) => 255 - i);

function message(
  uploadId: string,
  offset: bigint,
  length: number,
  check: { sha256?: Uint8Array; crc32?: number },
) {
  return create(UploadChunksRequestSchema, {
    uploadId,
    chunk: { offset, data: source.subarray(3, 3 + length), ...check },
  });
}

/** What Connect sends for the message: the envelope around toBinary's bytes. */
function libraryEnvelope(m: ReturnType<typeof message>): Uint8Array {
  const bytes = toBinary(UploadChunksRequestSchema, m);
  const out = new Uint8Array(5 + bytes.length);
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, 5);
  return out;
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Lengths either side of each varint width (the message's lengths cross a few bytes later). */
function aroundWidths(): number[] {
  const out = new Set<number>([1, 1024 * 1024, 4 * 1024 * 1024]);
  for (const edge of [2 ** 7, 2 ** 14, 2 ** 21]) {
    for (let d = -60; d <= 3; d++) if (edge + d > 0) out.add(edge + d);
  }
  return [...out];
}

const offsets = [
  0n,
  1n,
  127n,
  128n,
  16_384n,
  2n ** 21n,
  2n ** 35n,
  BigInt(Number.MAX_SAFE_INTEGER),
];
const checks: { sha256?: Uint8Array; crc32?: number }[] = [
  { sha256: sha },
  { crc32: 0 },
  { crc32: 0xffffffff },
  { sha256: sha, crc32: 0x80000001 },
  {},
];
const ids = ["", "u", "upload-é-1"];

describe("node-upload: an UploadChunks message's envelope in parts", () => {
  it("is byte for byte Connect's envelope, for every varint width and field present", () => {
    let cases = 0;
    for (const length of aroundWidths()) {
      const large = length > 100_000;
      for (const uploadId of large ? ["", "u"] : ids) {
        for (const offset of large ? [0n, BigInt(Number.MAX_SAFE_INTEGER)] : offsets) {
          for (const check of large ? [checks[3] ?? {}, checks[4] ?? {}] : checks) {
            const m = message(uploadId, offset, length, check);
            const parts = uploadChunkParts(m);
            expect(parts).toBeDefined();
            if (!same(joined(parts ?? []), libraryEnvelope(m))) {
              expect.fail(`id "${uploadId}", offset ${offset}, length ${length}`);
            }
            cases++;
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(2000);
  }, 60_000);

  it("hands the chunk's data on as it is", () => {
    const m = message("u", 9n, 500, { crc32: 1 });
    expect(uploadChunkParts(m)?.[1]).toBe(m.chunk?.data);
  });

  it("leaves what it does not write exactly to Connect's serialization", () => {
    const unknownOuter = message("u", 0n, 10, { crc32: 1 });
    unknownOuter.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    const unknownInner = message("u", 0n, 10, { crc32: 1 });
    if (unknownInner.chunk) unknownInner.chunk.$unknown = unknownOuter.$unknown;
    for (const m of [
      create(UploadChunksRequestSchema, { uploadId: "u" }),
      unknownOuter,
      unknownInner,
      message("u", -1n, 10, { crc32: 1 }),
      message("u", 2n ** 53n, 10, { crc32: 1 }),
      message("u", 0n, 0, { crc32: 1 }),
      message("u", 0n, 10, { crc32: 2 ** 32 }),
    ]) {
      expect(uploadChunkParts(m)).toBeUndefined();
    }
  });
});
