// The hash thread's side of hash-thread.ts: checks the chunks of uploads (CRC-32, SHA-256),
// computes the check each chunk of a download carries, and keeps the running whole-object SHA-256
// of the uploads and downloads that the main thread feeds it. Messages are handled in the order
// they arrive, so a digest answers after every update posted before it. The chunk bytes arrive as
// views of shared memory (no copy); the main thread leaves them untouched until the answer about
// them has come back (a sum) or one posted after them has (a check, an update).
//
// The worker's code is a script evaluated by the Worker itself (`eval: true`): nothing is resolved
// on disk, so it runs the same from dist/, from src/ (the tests) and from a bundle of the hub (the
// `acb` CLI's).

/** What the main thread asks (hash-thread.ts posts exactly these shapes). */
export type HashRequest =
  | {
      op: "check";
      seq: number;
      data: Uint8Array;
      crc32: number | undefined;
      sha256: Uint8Array | undefined;
      /** The whole-object hash the chunk goes into when it is intact. */
      feed: number | undefined;
    }
  | {
      op: "sum";
      seq: number;
      data: Uint8Array;
      /** The check to compute: the chunk's CRC-32 or its SHA-256. */
      kind: "crc32" | "sha256";
      /** The whole-object hash the chunk also goes into, before the answer. */
      feed: number | undefined;
    }
  | { op: "update"; id: number; data: Uint8Array }
  | { op: "digest"; seq: number; id: number }
  | { op: "drop"; id: number };

/** The answers: a check's verdict, a sum, a digest, or the error one met. */
export type HashAnswer =
  | { seq: number; intact: boolean }
  | { seq: number; crc32: number }
  | { seq: number; sha256: Uint8Array }
  | { seq: number; digest: Uint8Array }
  | { seq: number; error: string };

/** The worker thread's code (CommonJS, as a Worker evaluates a script). */
export const HASH_WORKER_SOURCE = `
"use strict";
const { createHash, hash, timingSafeEqual } = require("node:crypto");
const { parentPort } = require("node:worker_threads");
const { crc32 } = require("node:zlib");

// The running hashes by id; null for one whose update failed (its digest is an error).
const hashes = new Map();

// Feeds data into hash id (started at its first bytes); a failure spoils the hash.
function update(id, data) {
  let h = hashes.get(id);
  if (h === null) return;
  try {
    if (h === undefined) {
      h = createHash("sha256");
      hashes.set(id, h);
    }
    h.update(data);
  } catch {
    hashes.set(id, null);
  }
}

function intact(m) {
  if (m.crc32 !== undefined && crc32(m.data) !== m.crc32) return false;
  if (m.sha256 === undefined) return true;
  return m.sha256.length === 32 && timingSafeEqual(hash("sha256", m.data, "buffer"), m.sha256);
}

function answer(a) {
  parentPort.postMessage(a);
}

parentPort.on("message", (m) => {
  switch (m.op) {
    case "check": {
      let ok;
      try {
        ok = intact(m);
      } catch (err) {
        answer({ seq: m.seq, error: String(err) });
        return;
      }
      // The verdict goes first: the main thread stores the chunk while its bytes are hashed here.
      answer({ seq: m.seq, intact: ok });
      if (ok && m.feed !== undefined) update(m.feed, m.data);
      return;
    }
    case "sum": {
      // The chunk's check, then its bytes into the object's hash while they are in cache, then
      // the answer: once it is back, the main thread may reuse the bytes.
      let sum;
      try {
        sum =
          m.kind === "crc32"
            ? { seq: m.seq, crc32: crc32(m.data) }
            : { seq: m.seq, sha256: new Uint8Array(hash("sha256", m.data, "buffer")) };
      } catch (err) {
        answer({ seq: m.seq, error: String(err) });
        return;
      }
      if (m.feed !== undefined) update(m.feed, m.data);
      answer(sum);
      return;
    }
    case "update":
      update(m.id, m.data);
      return;
    case "digest": {
      const h = hashes.get(m.id);
      hashes.delete(m.id);
      if (h === null) answer({ seq: m.seq, error: "hash " + m.id + " failed to take its bytes" });
      else answer({ seq: m.seq, digest: new Uint8Array((h ?? createHash("sha256")).digest()) });
      return;
    }
    case "drop":
      hashes.delete(m.id);
      return;
  }
});
`;
