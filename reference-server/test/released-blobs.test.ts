// The blob of a replaced large value, with several hub nodes over one backend (PGlite: the SQL
// stores and blob store a PostgreSQL cluster shares): a download running on node B survives node
// A's update, because the released blob is recorded with a delete-not-before time and kept until
// then; once it is due, a sweep deletes it (one that a download on the sweeping node still reads
// is postponed). Deleting the tenant deletes what is still waiting.

import { createHash, randomBytes } from "node:crypto";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateDevKeys } from "../src/auth/token-service.js";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import { createPgliteBackend } from "../src/storage/postgres/postgres-backend.js";
import type { Backend, StorageRefRecord } from "../src/storage/types.js";
import { type Clients, clientsOf, startTestHub, transport } from "./security-harness.js";

const KiB = 1024;
const GRACE_MS = 10 * 60_000; // the hub default (limits.releasedBlobGraceMs)
const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Two hubs over one PGlite backend, with one clock; the backend outlives them. */
async function twoNodes() {
  const backend = await createPgliteBackend();
  cleanups.push(() => backend.close());
  const shared: Backend = { ...backend, close: async () => {} };
  const clock = new ManualClock();
  const keys = await generateDevKeys();
  const hubs: Hub[] = [];
  cleanups.push(() => Promise.all(hubs.map((h) => h.close())).then(() => {}));
  const start = async () => {
    const hub = await createHub({ backend: shared, clock, keys, logger: silentLogger });
    hubs.push(hub);
    return { hub, url: (await hub.listen({ host: "127.0.0.1", port: 0 })).url };
  };
  const a = await start();
  const b = await start();
  const admin = clientsOf(transport(a.url, await a.hub.issueAdminToken()));
  const tenantId = `t-${randomBytes(4).toString("hex")}`;
  await admin.admin.createTenant({ tenantId });
  const res = await admin.auth.issueToken({ tenantId, agentId: "alice", roles: [Role.AGENT_FULL] });
  const token = res.tokens?.accessToken ?? "";
  const onA = clientsOf(transport(a.url, token));
  const onB = clientsOf(transport(b.url, token));
  await onA.registry.register({ agentId: "alice", type: "test" });
  return { backend, clock, admin, tenantId, onA, onB };
}

/** Uploads `data` as the context `contextId` (1 MiB chunks) and returns the committed blob's ref. */
async function upload(c: Clients, contextId: string, data: Uint8Array): Promise<StorageRefRecord> {
  const begun = await c.large.beginUpload({
    contextId,
    type: "blob",
    totalSize: BigInt(data.length),
  });
  const uploadId = begun.upload?.id ?? "";
  for (let at = 0; at < data.length; at += 1024 * KiB) {
    const piece = data.subarray(at, at + 1024 * KiB);
    await c.large.appendChunk({
      uploadId,
      chunk: { offset: BigInt(at), data: piece, sha256: sha(piece) },
    });
  }
  const ref = (await c.large.commitUpload({ uploadId, sha256: sha(data) })).context?.storageRef;
  if (!ref) throw new Error("committed without a storage ref");
  return { backend: ref.backend, bucket: ref.bucket, key: ref.key, size: Number(ref.size) };
}

describe("the blob of a replaced large value", () => {
  it("is kept for a download on another node until its grace period ends, then deleted", async () => {
    const { backend, clock, tenantId, onA, onB } = await twoNodes();
    const data = randomBytes(1024 * KiB);
    const ref = await upload(onA, "doc", data);
    const started = clock.now();

    // Node B starts reading revision 1 in 64 KiB chunks, and pauses after the first.
    const reading = onB.large
      .downloadContext({ contextId: "doc", chunkSize: 64 * KiB })
      [Symbol.asyncIterator]();
    const header = await reading.next();
    expect(header.value?.item.case).toBe("header");
    const parts: Uint8Array[] = [];
    const first = await reading.next();
    if (first.value?.item.case === "chunk") parts.push(first.value.item.value.data);

    // Node A replaces the value: its blob is released, to be deleted a grace period from now.
    await onA.contexts.updateContext({
      contextId: "doc",
      payload: { contentType: "text/plain", data: new TextEncoder().encode("short now") },
    });
    expect(await backend.releasedBlobs.list(tenantId)).toEqual([
      { tenantId, ref, deleteAt: started + GRACE_MS },
    ]);
    expect(await backend.blobs.exists(ref)).toBe(true);

    // B's download reads on to the end, byte for byte the released revision.
    for (let next = await reading.next(); !next.done; next = await reading.next()) {
      if (next.value.item.case === "chunk") parts.push(next.value.item.value.data);
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);

    // Up to its time the blob stays; once it is due, a sweep deletes it and forgets the record.
    clock.advance(GRACE_MS - 1);
    expect(await backend.blobs.exists(ref)).toBe(true);
    expect(await backend.releasedBlobs.list(tenantId)).toHaveLength(1);
    clock.advance(1);
    await vi.waitFor(async () => {
      expect(await backend.blobs.exists(ref)).toBe(false);
      expect(await backend.releasedBlobs.list(tenantId)).toEqual([]);
    });
  });

  it("is kept another grace period while a download on the sweeping node still reads it", async () => {
    const backend = createMemoryBackend();
    const t = await startTestHub({ backend });
    cleanups.push(() => t.close());
    const tenantId = await t.newTenant();
    const alice = await t.agentIn(tenantId, "alice");
    const data = randomBytes(1024 * KiB);
    const ref = await upload(alice, "doc", data);
    const started = t.clock.now();
    const reading = alice.large
      .downloadContext({ contextId: "doc", chunkSize: 64 * KiB })
      [Symbol.asyncIterator]();
    await reading.next(); // the header: the download holds the blob from here
    await alice.contexts.updateContext({
      contextId: "doc",
      payload: { contentType: "text/plain", data: new TextEncoder().encode("short now") },
    });
    // Due while the download still reads it here: postponed by one grace period, not deleted.
    t.clock.advance(GRACE_MS);
    await vi.waitFor(async () =>
      expect((await backend.releasedBlobs.list(tenantId))[0]?.deleteAt).toBe(
        started + 2 * GRACE_MS,
      ),
    );
    expect(await backend.blobs.exists(ref)).toBe(true);
    const parts: Uint8Array[] = [];
    for (let next = await reading.next(); !next.done; next = await reading.next()) {
      if (next.value.item.case === "chunk") parts.push(next.value.item.value.data);
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // The download ended: at the postponed time the blob goes.
    t.clock.advance(GRACE_MS);
    await vi.waitFor(async () => expect(await backend.blobs.exists(ref)).toBe(false));
    expect(await backend.releasedBlobs.list(tenantId)).toEqual([]);
  });

  it("deleting the tenant deletes the released blobs still waiting, and their records", async () => {
    const { backend, admin, tenantId, onA } = await twoNodes();
    const old = await upload(onA, "doc", randomBytes(100 * KiB));
    const current = await upload(onA, "other", randomBytes(10 * KiB));
    await onA.contexts.deleteContext({ contextId: "doc" });
    expect((await backend.releasedBlobs.list(tenantId)).map((r) => r.ref)).toEqual([old]);
    expect(await backend.blobs.exists(old)).toBe(true);

    await admin.admin.deleteTenant({ tenantId });
    expect(await backend.releasedBlobs.list(tenantId)).toEqual([]);
    expect(await backend.blobs.exists(old)).toBe(false);
    expect(await backend.blobs.exists(current)).toBe(false);
  });
});
