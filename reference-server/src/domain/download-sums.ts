// The checks a download's chunks carry, and the whole object's SHA-256, computed on the hash
// thread (hash-thread.ts) a chunk ahead of the one being sent.
//
// The hub's main thread used to hash every downloaded byte itself: each chunk's check (SHA-256, or
// CRC-32 when the client asks for it) and, reading the whole object, its running SHA-256, about
// half of the main thread's CPU per downloaded byte. Here each piece goes to the hash thread as it
// is read, in one message that returns the chunk's check and feeds the bytes into the object's
// hash, and the pieces are pipelined: while piece k is being written to the client, piece k+1 is
// read and summed, and the blob store reads piece k+2. Only one piece is ever ahead of the one
// being sent, and the next is asked for only when the consumer asks for more (it writes a chunk
// once the previous one has left for the socket), so a slow reader holds the pipeline back instead
// of growing the hub's memory: a download holds three pieces, whatever the client's speed.
//
// The pieces come from the blob store through reused buffers in shared memory (`reuse`, `hold`,
// `shared`: storage/types.ts), which the hash thread reads where they are and the client is sent
// from as they are: no copy of a chunk's bytes on the way. A store that hands out other memory
// (PostgreSQL's fresh buffers, an inline value) has its pieces copied into the hash thread's
// reused slabs, as an upload's chunks are.
//
// The rules stay: a chunk carries its own check; reading the whole object, the object is verified
// before its last chunk is handed out (DATA_LOSS when the bytes at rest no longer match); a range
// is not whole-object verified. If the hash thread stops during a download (its hash of the object
// is lost with it), the download fails UNAVAILABLE: retryable, and clients resume a download from
// the last chunk they verified. Hashing the rest on the main thread instead would need the object's
// hash again, by re-reading every byte sent so far, to spare a retry of a rare failure.

import { createHash, hash, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";
import { ChunkCheck } from "@acb/gen/acb/v1/large_contexts_pb";
import { Code, hubError } from "../errors.js";
import type { HashThread, ObjectHash } from "./hash-thread.js";

/** The check a chunk carries: its SHA-256 or its CRC-32. */
export type ChunkSum = { sha256: Uint8Array } | { crc32: number };

/** A piece of a download with its check; its bytes are valid until the next one is asked for. */
export interface SummedPiece {
  data: Uint8Array;
  check: ChunkSum;
}

/**
 * Downloads of fewer bytes are summed on the main thread. A round trip to the hash thread costs
 * the main thread 15–20 µs whatever the size; SHA-256 costs it about 0.6 µs per KiB and CRC-32
 * 0.16 µs, so below 32 KiB posting costs about what hashing would.
 */
export const THREAD_MIN_BYTES = 32 * 1024;

/**
 * How many of the latest pieces the summing holds at once (the blob store's `hold`): the one being
 * sent and the one being summed.
 */
export const PIECES_HELD = 2;

export interface SumOptions {
  /** The check each chunk carries (UNSPECIFIED: SHA-256). */
  check: ChunkCheck;
  /** The bytes the pieces add up to. */
  length: number;
  /**
   * The whole object's SHA-256 when the pieces are the whole object, verified before the last
   * piece is handed out; undefined for a range.
   */
  sha256: Uint8Array | undefined;
  /** Names the object in errors, e.g. `context "c"`. */
  name: string;
}

/**
 * `pieces` with each one's check, in order. Reading the whole object (`sha256` given), a last
 * piece whose object does not match `sha256` is not handed out: DATA_LOSS instead. A download of
 * `THREAD_MIN_BYTES` or more is summed on `thread`, a piece ahead: `pieces` must then keep each
 * piece intact until `PIECES_HELD` more have been asked for. UNAVAILABLE when the thread stops.
 */
export function summedPieces(
  pieces: AsyncIterable<Uint8Array>,
  thread: HashThread,
  o: SumOptions,
): AsyncGenerator<SummedPiece> {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: which thread sums a download is not seen on the wire (both give the same checks)
  return o.length < THREAD_MIN_BYTES ? summedHere(pieces, o) : summedOnThread(pieces, thread, o);
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);

// Stryker disable next-line all: only bytes damaged at rest under the hub fail the verification, which no wire client can make (download-sums.test.ts does)
function damaged(o: SumOptions) {
  // Stryker disable next-line all: see above
  return hubError(Code.DataLoss, `the stored bytes of ${o.name} no longer match its sha256`);
}

/** A small download, summed on the main thread. */
async function* summedHere(
  pieces: AsyncIterable<Uint8Array>,
  o: SumOptions,
): AsyncGenerator<SummedPiece> {
  const whole = o.sha256 && createHash("sha256");
  let position = 0;
  for await (const data of pieces) {
    const start = position;
    // Stryker disable next-line all: the position only finds the last piece, for the verification: only bytes damaged at rest under the hub fail the verification, which no wire client can make (download-sums.test.ts does)
    position += data.length;
    const check: ChunkSum =
      o.check === ChunkCheck.CRC32
        ? { crc32: crc32(data) }
        : { sha256: hash("sha256", data, "buffer") };
    if (whole && o.sha256) {
      const last = position >= o.length;
      // A whole object in one piece with its SHA-256 as its check: that is the object's digest.
      if (start === 0 && last && "sha256" in check) {
        if (!same(check.sha256, o.sha256)) throw damaged(o);
      } else {
        whole.update(data);
        if (last && !same(whole.digest(), o.sha256)) throw damaged(o);
      }
    }
    yield { data, check };
  }
}

/** A piece summed on the thread, with whether its object matched (its last piece only). */
interface Summed extends SummedPiece {
  intact: boolean;
  last: boolean;
}

/** A download summed on the hash thread, one piece ahead of the one handed out. */
async function* summedOnThread(
  pieces: AsyncIterable<Uint8Array>,
  thread: HashThread,
  o: SumOptions,
): AsyncGenerator<SummedPiece> {
  // Stryker disable next-line StringLiteral: the hash thread sums SHA-256 for any kind but "crc32"
  const kind = o.check === ChunkCheck.CRC32 ? "crc32" : "sha256";
  const it = pieces[Symbol.asyncIterator]();
  let whole: ObjectHash | undefined;
  let asked = 0;
  /** Reads the next piece and sums it on the thread (and, at the last, digests the object). */
  const next = async (): Promise<Summed | undefined> => {
    const r = await it.next();
    if (r.done) return undefined;
    const data = r.value;
    const start = asked;
    asked += data.length;
    const last = asked >= o.length;
    // A whole object in one piece with its SHA-256 as its check: that is the object's digest.
    const single = start === 0 && last && kind === "sha256";
    if (o.sha256 && !single) whole ??= thread.createHash();
    let check: ChunkSum;
    let digest: Uint8Array | undefined;
    try {
      const summing = thread.sum(data, kind, single ? undefined : whole);
      // Posted right behind the sum, so it is answered after the last bytes went in.
      const digesting = o.sha256 && last && !single ? whole?.digest() : undefined;
      digesting?.catch(() => {}); // awaited below; not unhandled if the sum fails first
      check = await summing;
      digest = o.sha256 && single && "sha256" in check ? check.sha256 : await digesting;
    } catch (err) {
      throw hubError(
        Code.Unavailable,
        `the hash thread stopped while ${o.name} was being sent: resume the download`,
        { cause: err },
      );
    }
    const intact = o.sha256 === undefined || digest === undefined || same(digest, o.sha256);
    return { data, check, intact, last };
  };
  let ahead: Promise<Summed | undefined> | undefined = next();
  try {
    for (;;) {
      const current = await ahead;
      ahead = undefined;
      if (!current) return;
      if (!current.intact) throw damaged(o);
      // The next piece is read and summed while this one is sent.
      if (!current.last) {
        ahead = next();
        // Stryker disable next-line all: an unhandled rejection only, when the consumer stops and the read ahead fails
        ahead.catch(() => {}); // surfaced when awaited; not unhandled if the consumer stops
      }
      yield { data: current.data, check: current.check };
    }
  } finally {
    // Stopped early: the piece in flight must be done with its buffer before the read is closed.
    await ahead?.catch(() => {});
    await it.return?.();
    whole?.drop();
  }
}
