// CommitUpload while the storage is out of reach: a hub over PostgreSQL (reached through a relay
// the test cuts right after the object is published) answers UNAVAILABLE with RetryInfo and keeps
// the fully uploaded object; once the database is back, the same commit succeeds without a byte
// sent again, the value downloads intact, and nothing stays staged or is published twice. A
// commit whose write went through but whose answer was lost is recognised on the retry.

import { createHash, randomBytes } from "node:crypto";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Code as HubCode, hubError } from "../src/errors.js";
import { createPostgresBackend } from "../src/storage/postgres/postgres-backend.js";
import {
  createTestSchema,
  startRelay,
  testPostgresUrl,
} from "../src/storage/postgres/postgres-test-db.js";
import type { Backend, BlobStore, ContextStore } from "../src/storage/types.js";
import { type Agent, expectCode, startTestHub, type TestHub } from "./security-harness.js";

const url = testPostgresUrl();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

/** A hub over a fresh PostgreSQL schema reached through a relay, with the backend it uses. */
async function hubOverRelay(wrap: (backend: Backend, cut: () => void) => Backend) {
  const base = url ?? "";
  const schema = await createTestSchema(base);
  cleanups.push(schema.drop);
  const relay = await startRelay(new URL(base));
  cleanups.push(() => relay.close());
  const backend = await createPostgresBackend({
    url: relay.url,
    schema: schema.schema,
    role: schema.role,
    poolSize: 4,
    retryForMs: 300, // give up on an unreachable database quickly
  });
  const t: TestHub = await startTestHub({ backend: wrap(backend, () => relay.cut()) });
  cleanups.push(() => t.close());
  const tenantId = await t.newTenant();
  const agent = await t.agentIn(tenantId, "uploader");
  return { t, backend, relay, tenantId, agent };
}

/** Begins an upload of `data` and sends all of it, in two chunks. */
async function uploadAll(agent: Agent, contextId: string, data: Uint8Array) {
  const begun = await agent.large.beginUpload({
    contextId,
    type: "blob",
    totalSize: BigInt(data.length),
  });
  const uploadId = begun.upload?.id ?? "";
  const half = Math.floor(data.length / 2);
  for (const [offset, piece] of [
    [0, data.subarray(0, half)],
    [half, data.subarray(half)],
  ] as const) {
    await agent.large.appendChunk({
      uploadId,
      chunk: { offset: BigInt(offset), data: piece, sha256: sha(piece) },
    });
  }
  return uploadId;
}

async function download(agent: Agent, contextId: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const res of agent.large.downloadContext({ contextId })) {
    if (res.item.case === "chunk") parts.push(res.item.value.data);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** The blob rows stored under `key`: how many staged and how many published objects. */
async function blobRows(backend: Awaited<ReturnType<typeof createPostgresBackend>>, key: string) {
  const tenant = key.split("/")[0] ?? "";
  return backend.db.tx(tenant, async (c) => {
    const r = await c.query<{ published: boolean; n: unknown }>(
      `SELECT published, count(*) AS n FROM acb_blob_objects WHERE key = $1 GROUP BY published`,
      [key],
    );
    const of = (p: boolean) => Number(r.rows.find((row) => row.published === p)?.n ?? 0);
    const chunks = await c.query<{ n: unknown }>(
      "SELECT count(*) AS n FROM acb_blob_chunks WHERE key = $1 AND published = false",
      [key],
    );
    return { staged: of(false), published: of(true), stagedChunks: Number(chunks.rows[0]?.n) };
  });
}

describe.skipIf(!url)("CommitUpload while the storage is out of reach", () => {
  it("answers UNAVAILABLE with retry info, keeps the object, and the retried commit succeeds", async () => {
    let cutAfterPublish = false;
    let publishes = 0;
    const { backend, relay, tenantId, agent } = await hubOverRelay((inner, cut) => {
      const blobs: BlobStore = Object.create(inner.blobs);
      blobs.publish = async (key) => {
        const ref = await inner.blobs.publish(key);
        publishes++;
        if (cutAfterPublish) {
          cutAfterPublish = false;
          cut(); // the database goes away between the publish and the context write
        }
        return ref;
      };
      return { ...inner, blobs };
    });
    const data = randomBytes(300_000);
    const uploadId = await uploadAll(agent, "big", data);
    const key = `${tenantId}/${uploadId}`;

    cutAfterPublish = true;
    const err = await expectCode(
      agent.large.commitUpload({ uploadId, sha256: sha(data) }),
      Code.Unavailable,
    );
    expect(err.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    expect(publishes).toBe(1);

    relay.restore();
    // The session is still OPEN with every byte verified, and its object is kept (published).
    const status = await agent.large.getUploadStatus({ uploadId });
    expect(status.upload?.state).toBe(UploadState.OPEN);
    expect(status.upload?.verifiedOffset).toBe(BigInt(data.length));
    expect(await blobRows(backend, key)).toEqual({ staged: 0, published: 1, stagedChunks: 0 });

    // The retry sends no chunk: the commit alone makes the value visible.
    const committed = await agent.large.commitUpload({ uploadId, sha256: sha(data) });
    expect(committed.upload?.state).toBe(UploadState.COMMITTED);
    expect(committed.context?.revision).toBe(1n);
    expect(committed.context?.storageRef?.key).toBe(key);
    expect(Buffer.from(await download(agent, "big")).equals(data)).toBe(true);
    expect(await blobRows(backend, key)).toEqual({ staged: 0, published: 1, stagedChunks: 0 });
    // A third commit answers the same result.
    expect((await agent.large.commitUpload({ uploadId })).context?.revision).toBe(1n);
  });

  /** A hub whose next context replace, once armed, is stored but answered UNAVAILABLE. */
  async function hubLosingAnswers() {
    const armed = { loseAnswer: false };
    const hub = await hubOverRelay((inner) => {
      const contexts: ContextStore = Object.create(inner.contexts);
      contexts.replace = async (next, expectedRevision, event) => {
        const result = await inner.contexts.replace(next, expectedRevision, event);
        if (armed.loseAnswer && result.ok) {
          armed.loseAnswer = false;
          // What the driver answers when the connection breaks while COMMIT is under way.
          throw hubError(HubCode.Unavailable, "the database cannot be reached; retry later");
        }
        return result;
      };
      return { ...inner, contexts };
    });
    const { agent } = hub;
    const first = randomBytes(1000);
    await agent.large.commitUpload({
      uploadId: await uploadAll(agent, "doc", first),
      sha256: sha(first),
    });
    // An UPDATE upload of a second value, all sent; its commit's answer is lost.
    const second = randomBytes(200_000);
    const begun = await agent.large.beginUpload({
      contextId: "doc",
      mode: UploadMode.UPDATE,
      type: "blob",
      totalSize: BigInt(second.length),
    });
    const uploadId = begun.upload?.id ?? "";
    await agent.large.appendChunk({
      uploadId,
      chunk: { offset: 0n, data: second, sha256: sha(second) },
    });
    armed.loseAnswer = true;
    await expectCode(agent.large.commitUpload({ uploadId, sha256: sha(second) }), Code.Unavailable);
    expect(armed.loseAnswer).toBe(false);
    return { ...hub, uploadId, second };
  }

  it("recognises on the retry a commit whose write went through but whose answer was lost", async () => {
    const { backend, tenantId, agent, uploadId, second } = await hubLosingAnswers();
    // Revision 2 holds the new object; the retry answers it rather than writing revision 3.
    const retried = await agent.large.commitUpload({ uploadId, sha256: sha(second) });
    expect(retried.upload?.state).toBe(UploadState.COMMITTED);
    expect(retried.context?.revision).toBe(2n);
    expect(Buffer.from(await download(agent, "doc")).equals(second)).toBe(true);
    expect(await blobRows(backend, `${tenantId}/${uploadId}`)).toEqual({
      staged: 0,
      published: 1,
      stagedChunks: 0,
    });
  });

  it("an abort after a lost commit that went through finds it COMMITTED and keeps the value", async () => {
    const { backend, tenantId, agent, uploadId, second } = await hubLosingAnswers();
    await expectCode(agent.large.abortUpload({ uploadId }), Code.FailedPrecondition);
    const status = await agent.large.getUploadStatus({ uploadId });
    expect(status.upload?.state).toBe(UploadState.COMMITTED);
    expect(status.upload?.committedRevision).toBe(2n);
    expect(Buffer.from(await download(agent, "doc")).equals(second)).toBe(true);
    expect((await blobRows(backend, `${tenantId}/${uploadId}`)).published).toBe(1);
  });

  it("an upload left after a failed commit, then aborted, reclaims its published object", async () => {
    let cutAfterPublish = false;
    const { backend, relay, tenantId, agent } = await hubOverRelay((inner, cut) => {
      const blobs: BlobStore = Object.create(inner.blobs);
      blobs.publish = async (key) => {
        const ref = await inner.blobs.publish(key);
        if (cutAfterPublish) {
          cutAfterPublish = false;
          cut();
        }
        return ref;
      };
      return { ...inner, blobs };
    });
    const data = randomBytes(50_000);
    const uploadId = await uploadAll(agent, "gone", data);
    cutAfterPublish = true;
    await expectCode(agent.large.commitUpload({ uploadId, sha256: sha(data) }), Code.Unavailable);
    relay.restore();
    const aborted = await agent.large.abortUpload({ uploadId });
    expect(aborted.upload?.state).toBe(UploadState.ABORTED);
    expect(await blobRows(backend, `${tenantId}/${uploadId}`)).toEqual({
      staged: 0,
      published: 0,
      stagedChunks: 0,
    });
    await expectCode(download(agent, "gone"), Code.NotFound);
  });
});
