// A large value whose bytes were damaged at rest (a flipped bit in the blob store's file): reading
// the whole object, the hub sends every chunk but the last, each with the check of the bytes it
// carries, and ends the stream with DATA_LOSS instead of the last chunk; a range of the same
// bytes is served as stored (only a whole object is verified). Over the wire, through the direct
// path (HTTP/2, binary Connect), with the chunk checks and the object's hash on the hash thread.

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { ChunkCheck } from "@acb/gen/acb/v1/large_contexts_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import { type Agent, startTestHub, type TestHub } from "./security-harness.js";

const KiB = 1024;
const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

let dir: string;
let t: TestHub;
let agent: Agent;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "acb-at-rest-"));
  t = await startTestHub({ backend: createMemoryBackend({ blobs: { dir } }) });
  agent = await t.agentIn(await t.newTenant(), "keeper");
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Uploads `data` as `contextId` in 64 KiB chunks; returns the file that holds it at rest. */
async function upload(contextId: string, data: Uint8Array): Promise<string> {
  const begun = await agent.large.beginUpload({
    contextId,
    type: "blob",
    totalSize: BigInt(data.length),
    chunkSize: 64 * KiB,
  });
  const uploadId = begun.upload?.id ?? "";
  for (let at = 0; at < data.length; at += 64 * KiB) {
    const piece = data.subarray(at, at + 64 * KiB);
    await agent.large.appendChunk({
      uploadId,
      chunk: { offset: BigInt(at), data: piece, sha256: sha256(piece) },
    });
  }
  const ref = (await agent.large.commitUpload({ uploadId, sha256: sha256(data) })).context
    ?.storageRef;
  if (!ref) throw new Error("committed without a storage ref");
  return join(dir, ref.bucket, ref.key);
}

/** The chunks of a download as they arrived, each checked, and the error that ended it. */
async function download(contextId: string, chunkCheck: ChunkCheck, offset = 0, length = 0) {
  const chunks: { offset: number; data: Uint8Array }[] = [];
  try {
    for await (const r of agent.large.downloadContext({
      contextId,
      chunkCheck,
      chunkSize: 64 * KiB,
      offset: BigInt(offset),
      length: BigInt(length),
    })) {
      if (r.item.case !== "chunk") continue;
      const c = r.item.value;
      // Each chunk carries the check of its own bytes (as stored, damaged or not).
      if (chunkCheck === ChunkCheck.CRC32) expect(c.crc32).toBe(crc32(c.data));
      else expect(c.sha256).toEqual(sha256(c.data));
      chunks.push({ offset: Number(c.offset), data: c.data });
    }
  } catch (err) {
    return { chunks, err: ConnectError.from(err) };
  }
  return { chunks, err: undefined };
}

describe("a download of bytes damaged at rest", () => {
  it("ends with DATA_LOSS before the last chunk of the whole object; a range is served as stored", async () => {
    for (const [i, size] of [10 * 64 * KiB + 999, 64 * KiB, 20 * KiB].entries()) {
      const data = randomBytes(size);
      const file = await upload(`doc-${i}`, data);
      for (const check of [ChunkCheck.SHA256, ChunkCheck.CRC32]) {
        // Intact: every chunk, and a clean end.
        const intact = await download(`doc-${i}`, check);
        expect(intact.err).toBeUndefined();
        expect(Buffer.concat(intact.chunks.map((c) => c.data)).equals(data)).toBe(true);
      }
      const stored = readFileSync(file);
      stored[Math.floor(size / 3)] = (stored[Math.floor(size / 3)] ?? 0) ^ 0x01;
      writeFileSync(file, stored);
      const chunks = Math.ceil(size / (64 * KiB));
      for (const check of [ChunkCheck.SHA256, ChunkCheck.CRC32]) {
        const { chunks: got, err } = await download(`doc-${i}`, check);
        expect(err?.code).toBe(Code.DataLoss);
        expect(err?.rawMessage).toMatch(/no longer match its sha256/);
        expect(got.length).toBe(chunks - 1);
        expect(
          Buffer.concat(got.map((c) => c.data)).equals(stored.subarray(0, (chunks - 1) * 64 * KiB)),
        ).toBe(true);
      }
      // The same bytes as a range (all but the first byte): not verified as a whole object.
      const range = await download(`doc-${i}`, ChunkCheck.SHA256, 1);
      expect(range.err).toBeUndefined();
      expect(Buffer.concat(range.chunks.map((c) => c.data)).equals(stored.subarray(1))).toBe(true);
    }
  });
});
