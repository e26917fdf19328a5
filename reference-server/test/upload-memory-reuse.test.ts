// Upload chunks whose memory the hub reuses (request-bytes.ts): on the direct path a chunk message
// spread over several HTTP/2 frames is copied into memory lent by a pool, and the UploadChunks
// handler gives it back once the chunk is stored or refused. These uploads go over the wire, two
// at once and with refused chunks among them, and every stored byte is compared with what was
// sent: memory reused while a chunk was still being stored would store other bytes than the
// ones checked and hashed.

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkCheck } from "@acb/gen/acb/v1/large_contexts_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeRequestBuffers } from "../src/request-bytes.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import { type Agent, startTestHub, type TestHub } from "./security-harness.js";

const KiB = 1024;
const CHUNK = 256 * KiB;
const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

let dir: string;
let t: TestHub;
let agent: Agent;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "acb-reuse-"));
  t = await startTestHub({ backend: createMemoryBackend({ blobs: { dir } }) });
  agent = await t.agentIn(await t.newTenant(), "uploader");
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function begin(contextId: string, size: number): Promise<string> {
  const begun = await agent.large.beginUpload({
    contextId,
    type: "blob",
    totalSize: BigInt(size),
    chunkSize: CHUNK,
  });
  return begun.upload?.id ?? "";
}

/** One UploadChunks stream of `data`'s chunks, each with its SHA-256 (or `damage` applied). */
async function* chunks(
  uploadId: string,
  data: Uint8Array,
  from = 0,
  damage?: (at: number) => boolean,
) {
  for (let at = from; at < data.length; at += CHUNK) {
    const piece = Buffer.from(data.subarray(at, at + CHUNK));
    const check = sha256(piece);
    if (damage?.(at)) check[0] = (check[0] ?? 0) ^ 1;
    yield { uploadId, chunk: { offset: BigInt(at), data: piece, sha256: check } };
  }
}

async function downloaded(contextId: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const r of agent.large.downloadContext({ contextId, chunkCheck: ChunkCheck.CRC32 })) {
    if (r.item.case === "chunk") parts.push(r.item.value.data);
  }
  return Buffer.concat(parts);
}

describe("upload chunks in reused memory", () => {
  it("stores every byte sent, two uploads at once, and the pool gets the memory back", async () => {
    const a = randomBytes(24 * CHUNK);
    const b = randomBytes(24 * CHUNK + 1000);
    const [ua, ub] = [await begin("reuse-a", a.length), await begin("reuse-b", b.length)];
    const [ra, rb] = await Promise.all([
      agent.large.uploadChunks(chunks(ua, a)),
      agent.large.uploadChunks(chunks(ub, b)),
    ]);
    expect(Number(ra.upload?.verifiedOffset)).toBe(a.length);
    expect(Number(rb.upload?.verifiedOffset)).toBe(b.length);
    // The chunks arrived in many frames each, so they were copied into lent memory, given back.
    expect(freeRequestBuffers()).toBeGreaterThan(0);

    for (const [id, uploadId, data] of [
      ["reuse-a", ua, a],
      ["reuse-b", ub, b],
    ] as const) {
      const committed = await agent.large.commitUpload({ uploadId, sha256: sha256(data) });
      const ref = committed.context?.storageRef;
      if (!ref) throw new Error("committed without a storage ref");
      expect(readFileSync(join(dir, ref.bucket, ref.key)).equals(data)).toBe(true);
      expect((await downloaded(id)).equals(data)).toBe(true);
    }
  });

  it("a refused chunk's memory is reused without harm: the upload resumes and stores the bytes sent", async () => {
    const data = randomBytes(16 * CHUNK);
    const uploadId = await begin("reuse-refused", data.length);
    const refused = await agent.large
      .uploadChunks(chunks(uploadId, data, 0, (at) => at === 9 * CHUNK))
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(refused?.code).toBe(Code.DataLoss);
    const status = await agent.large.getUploadStatus({ uploadId });
    expect(Number(status.upload?.verifiedOffset)).toBe(9 * CHUNK);

    await agent.large.uploadChunks(chunks(uploadId, data, 9 * CHUNK));
    const committed = await agent.large.commitUpload({ uploadId, sha256: sha256(data) });
    expect(Number(committed.context?.storageRef?.size)).toBe(data.length);
    expect((await downloaded("reuse-refused")).equals(data)).toBe(true);
  });
});
