import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSharedArrayBuffer } from "node:util/types";
import { crc32 } from "node:zlib";
import { ChunkCheck } from "@acb/gen/acb/v1/large_contexts_pb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../errors.js";
import { createFsBlobStore } from "../storage/fs/fs-blob-store.js";
import type { BlobStore, StorageRefRecord } from "../storage/types.js";
import { PIECES_HELD, type SummedPiece, summedPieces, THREAD_MIN_BYTES } from "./download-sums.js";
import { HashThread } from "./hash-thread.js";

const KiB = 1024;
const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

let dir: string;
let blobs: BlobStore;
let thread: HashThread;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "acb-download-sums-"));
  blobs = createFsBlobStore({ dir });
  thread = new HashThread();
});
afterEach(async () => {
  await thread.close();
  await blobs.close();
  rmSync(dir, { recursive: true, force: true });
});

async function stored(data: Uint8Array): Promise<StorageRefRecord> {
  const key = `t/${randomBytes(6).toString("hex")}`;
  await blobs.append(key, 0, data);
  return blobs.publish(key);
}

/** The pieces of [offset, offset + length) as a download reads them: reused shared buffers. */
const read = (ref: StorageRefRecord, offset: number, length: number, pieceSize: number) =>
  blobs.read(ref, offset, length, pieceSize, { reuse: true, hold: PIECES_HELD, shared: true });

/**
 * Each piece's bytes and check as handed out, copied at once (the buffers are reused), then the
 * error that ended the stream, if any.
 */
async function collect(pieces: AsyncIterable<SummedPiece>) {
  const got: { data: Buffer; check: SummedPiece["check"]; shared: boolean }[] = [];
  try {
    for await (const { data, check } of pieces) {
      got.push({ data: Buffer.from(data), check, shared: isSharedArrayBuffer(data.buffer) });
    }
  } catch (err) {
    return { got, err: ConnectError.from(err) };
  }
  return { got, err: undefined };
}

/** Expects each piece to be the next `pieceSize` bytes of `data`, with its own check. */
function expectPieces(
  got: { data: Buffer; check: SummedPiece["check"] }[],
  data: Uint8Array,
  pieceSize: number,
  check: ChunkCheck,
) {
  got.forEach((p, i) => {
    const want = data.subarray(i * pieceSize, (i + 1) * pieceSize);
    if (!p.data.equals(want)) expect.fail(`piece ${i} is not the bytes at ${i * pieceSize}`);
    // A SHA-256 as bytes, whether the thread's Uint8Array or the main thread's Buffer.
    const sum = "sha256" in p.check ? { sha256: new Uint8Array(p.check.sha256) } : p.check;
    expect(sum).toEqual(
      check === ChunkCheck.CRC32 ? { crc32: crc32(want) } : { sha256: sha256(want) },
    );
  });
}

/** Flips one byte of a published object at rest. */
function damage(ref: StorageRefRecord, at: number) {
  const path = join(dir, ref.bucket, ref.key);
  const bytes = readFileSync(path);
  bytes[at] = (bytes[at] ?? 0) ^ 0x40;
  writeFileSync(path, bytes);
}

describe("summedPieces: a download's checks on the hash thread", () => {
  it("hands out every piece with its own check, from shared memory, a whole object verified", async () => {
    const data = randomBytes(2 * 1024 * KiB + 12_345);
    const ref = await stored(data);
    for (const check of [ChunkCheck.SHA256, ChunkCheck.CRC32, ChunkCheck.UNSPECIFIED]) {
      for (const pieceSize of [64 * KiB, 1024 * KiB]) {
        const { got, err } = await collect(
          summedPieces(read(ref, 0, data.length, pieceSize), thread, {
            check,
            length: data.length,
            sha256: sha256(data),
            name: "the object",
          }),
        );
        expect(err).toBeUndefined();
        expect(got.length).toBe(Math.ceil(data.length / pieceSize));
        expectPieces(got, data, pieceSize, check);
        // Straight from the blob store's shared buffers: no copy on the way.
        expect(got.every((p) => p.shared)).toBe(true);
      }
    }
    // A range: no whole-object check, each piece still its own.
    const range = data.subarray(100_000, 900_000);
    const { got, err } = await collect(
      summedPieces(read(ref, 100_000, range.length, 64 * KiB), thread, {
        check: ChunkCheck.SHA256,
        length: range.length,
        sha256: undefined,
        name: "the object",
      }),
    );
    expect(err).toBeUndefined();
    expectPieces(got, range, 64 * KiB, ChunkCheck.SHA256);
  });

  it("ends a whole object damaged at rest with DATA_LOSS before its last piece, on either thread", async () => {
    const cases = [
      { size: 5 * 64 * KiB + 7, pieceSize: 64 * KiB, at: 3 * 64 * KiB + 1 }, // the hash thread
      { size: 1024 * KiB, pieceSize: 1024 * KiB, at: 500 }, // one piece: its SHA-256 is the digest
      { size: THREAD_MIN_BYTES - 1, pieceSize: 8 * KiB, at: 9_000 }, // small: the main thread
    ];
    for (const { size, pieceSize, at } of cases) {
      for (const check of [ChunkCheck.SHA256, ChunkCheck.CRC32]) {
        const data = randomBytes(size);
        const ref = await stored(data);
        damage(ref, at);
        const { got, err } = await collect(
          summedPieces(read(ref, 0, size, pieceSize), thread, {
            check,
            length: size,
            sha256: sha256(data),
            name: "the object",
          }),
        );
        expect(err?.code).toBe(Code.DataLoss);
        expect(err?.rawMessage).toMatch(/no longer match its sha256/);
        // Every piece but the last went out, each with the check of the bytes it carried.
        const pieces = Math.ceil(size / pieceSize);
        expect(got.length).toBe(pieces - 1);
        const damaged = Buffer.from(data);
        damaged[at] = (damaged[at] ?? 0) ^ 0x40;
        expectPieces(got, damaged, pieceSize, check);
        // A range over the same bytes is not verified as a whole: it is served as stored.
        const range = await collect(
          summedPieces(read(ref, 0, size, pieceSize), thread, {
            check,
            length: size,
            sha256: undefined,
            name: "the object",
          }),
        );
        expect(range.err).toBeUndefined();
        expect(range.got.length).toBe(pieces);
      }
    }
  });

  it("fails UNAVAILABLE when the hash thread stops mid-download, and the next download goes on", async () => {
    const data = randomBytes(16 * 64 * KiB);
    const ref = await stored(data);
    const pieces = summedPieces(read(ref, 0, data.length, 64 * KiB), thread, {
      check: ChunkCheck.CRC32,
      length: data.length,
      sha256: sha256(data),
      name: "the object",
    });
    const got: Uint8Array[] = [];
    let err: ConnectError | undefined;
    try {
      for await (const { data: piece } of pieces) {
        got.push(Buffer.from(piece));
        // The thread stops, and the object's hash with it, while the next piece is read and summed.
        if (got.length === 3) await thread.close();
      }
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toMatch(/resume the download/);
    expect(got.length).toBe(3);
    // A new thread serves the download resumed from where the client got to.
    const rest = await collect(
      summedPieces(read(ref, 3 * 64 * KiB, data.length - 3 * 64 * KiB, 64 * KiB), thread, {
        check: ChunkCheck.SHA256,
        length: data.length - 3 * 64 * KiB,
        sha256: undefined,
        name: "the object",
      }),
    );
    expect(rest.err).toBeUndefined();
    expectPieces(rest.got, data.subarray(3 * 64 * KiB), 64 * KiB, ChunkCheck.SHA256);
  });

  it("reads one piece ahead of the one handed out, and releases the read when stopped", async () => {
    const data = randomBytes(40 * 64 * KiB);
    let asked = 0;
    let released = false;
    async function* counted() {
      try {
        for (let at = 0; at < data.length; at += 64 * KiB) {
          asked++;
          yield data.subarray(at, at + 64 * KiB);
        }
      } finally {
        released = true;
      }
    }
    const pieces = summedPieces(counted(), thread, {
      check: ChunkCheck.SHA256,
      length: data.length,
      sha256: sha256(data),
      name: "the object",
    });
    // A consumer that takes five pieces and then holds on, as a slow reader does: the sixth is
    // read and summed, no more (a sum asked after it answers after it).
    const it = pieces[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) expect((await it.next()).done).toBe(false);
    await thread.sum(new Uint8Array(1), "crc32");
    expect(asked).toBe(6);
    expect(released).toBe(false);
    await it.return(undefined);
    expect(released).toBe(true);
  });
});
