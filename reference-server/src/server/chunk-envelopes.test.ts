import { ContextSchema } from "@acb/gen/acb/v1/contexts_pb";
import {
  ContextChunkSchema,
  type DownloadContextResponse,
  DownloadContextResponseSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { downloadChunkParts, partsEncoderFor } from "./chunk-envelopes.js";

/** What the library writes for a response message: the envelope around toBinary's bytes. */
function libraryEnvelope(message: DownloadContextResponse): Buffer {
  const bytes = toBinary(DownloadContextResponseSchema, message);
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

const MAX = 4 * 1024 * 1024 + 64;
/** Random-looking bytes, viewed at the lengths the cases ask for. */
const source = Buffer.alloc(MAX);
for (let i = 0; i < MAX; i++) source[i] = (i * 2654435761) >>> 24;

const sha = new Uint8Array(32).map((_, i) => 255 - i);

function chunkMessage(
  offset: bigint,
  length: number,
  check: { sha256?: Uint8Array; crc32?: number },
): DownloadContextResponse {
  return create(DownloadContextResponseSchema, {
    item: {
      case: "chunk",
      value: { offset, data: source.subarray(7, 7 + length), ...check },
    },
  });
}

/** Lengths either side of each varint width, for the data and (through it) the chunk and message. */
function aroundWidths(): number[] {
  const out = new Set<number>([1, 2, 1024 * 1024, 4 * 1024 * 1024]);
  for (const edge of [2 ** 7, 2 ** 14, 2 ** 21]) {
    // The chunk and message lengths cross the edge a few bytes after the data length does.
    for (let d = -50; d <= 3; d++) if (edge + d > 0) out.add(edge + d);
  }
  return [...out];
}

const offsets = [0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 21n, 2n ** 28n, 2n ** 35n, 2n ** 49n];
offsets.push(BigInt(Number.MAX_SAFE_INTEGER));
const checks: { sha256?: Uint8Array; crc32?: number }[] = [
  { sha256: sha },
  { crc32: 0 },
  { crc32: 0xffffffff },
  { crc32: 0x12345678 },
  { sha256: sha, crc32: 0x80000001 },
  {},
];

describe("chunk-envelopes: a download chunk's envelope in parts", () => {
  it("is byte for byte the library's envelope, for every varint width and field present", () => {
    let cases = 0;
    for (const length of aroundWidths()) {
      // Past 100 kB toBinary is slow: the lengths still cross each width under every combination
      // of the first and last offsets and checks (their overheads span the whole sweep).
      const large = length > 100_000;
      for (const offset of large ? [offsets[0] ?? 0n, offsets.at(-1) ?? 0n] : offsets) {
        for (const check of large ? [checks[4] ?? {}, checks[5] ?? {}] : checks) {
          const message = chunkMessage(offset, length, check);
          const parts = downloadChunkParts(message);
          expect(parts, `offset ${offset}, length ${length}`).toBeDefined();
          const joined = Buffer.concat(parts ?? []);
          const expected = libraryEnvelope(message);
          if (!joined.equals(expected)) {
            expect.fail(
              `offset ${offset}, length ${length}, ${JSON.stringify(Object.keys(check))}: ` +
                `${joined.subarray(0, 24).toString("hex")} != ${expected.subarray(0, 24).toString("hex")}`,
            );
          }
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(2000);
  }, 60_000);

  it("hands the data on as it is: the caller's buffer, not a copy", () => {
    const message = chunkMessage(5n, 1000, { crc32: 7 });
    const parts = downloadChunkParts(message) ?? [];
    expect(parts).toHaveLength(3);
    expect(parts[1]).toBe((message.item.value as { data: Uint8Array }).data);
    expect(parts[1]?.buffer).toBe(source.buffer);
  });

  it("leaves what it does not write exactly to toBinary", () => {
    const header = create(DownloadContextResponseSchema, {
      item: {
        case: "header",
        value: { context: create(ContextSchema, { id: "c" }), totalSize: 3n },
      },
    });
    const withUnknown = chunkMessage(0n, 10, { crc32: 1 });
    withUnknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    const chunkWithUnknown = chunkMessage(0n, 10, { crc32: 1 });
    const inner = chunkWithUnknown.item.value as { $unknown?: unknown };
    inner.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    const badCrc = chunkMessage(0n, 10, { crc32: 2 ** 32 });
    for (const message of [
      header,
      withUnknown,
      chunkWithUnknown,
      chunkMessage(-1n, 10, { crc32: 1 }),
      chunkMessage(2n ** 53n, 10, { crc32: 1 }),
      chunkMessage(0n, 0, { crc32: 1 }),
      badCrc,
      create(DownloadContextResponseSchema, {}),
    ]) {
      expect(downloadChunkParts(message)).toBeUndefined();
    }
    // An unset optional crc32 (no own property) is left out, as toBinary leaves it.
    const plain = chunkMessage(3n, 10, { sha256: sha });
    expect(Buffer.concat(downloadChunkParts(plain) ?? []).equals(libraryEnvelope(plain))).toBe(
      true,
    );
  });

  it("is found for DownloadContextResponse only", () => {
    expect(partsEncoderFor(DownloadContextResponseSchema)).toBeDefined();
    expect(partsEncoderFor(ContextChunkSchema)).toBeUndefined();
  });
});
