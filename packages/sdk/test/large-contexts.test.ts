// Large contexts end to end: a real hub (files in a temporary blob directory) and SDK clients over
// real sockets. Time moves only through the hub's ManualClock; connection drops are made with the
// TCP proxy, and every wait is on an explicit event (a progress callback, a promise).

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import {
  createHub,
  createMemoryBackend,
  type Hub,
  type Listener,
  ManualClock,
  silentLogger,
} from "@acb/hub";
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient as createFetchClient } from "../src/index.js";
import {
  type AcbClient,
  Code,
  ConnectError,
  createClient,
  receiveContextReadable,
  type StreamProgress,
} from "../src/node.js";
import { startTcpProxy } from "./tcp-proxy.js";

const MiB = 1024 * 1024;
const IDLE_MS = 60_000;
const MAX_OBJECT = 300 * MiB;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
const reason = (e: ConnectError) => e.findDetails(ErrorInfoSchema)[0];

/** Deterministic pseudo-random bytes made on the fly, so a 200 MB source costs no memory. */
async function* generated(
  size: number,
  seed: number,
  pieceSize = 256 * 1024,
): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let at = 0; at < size; at += pieceSize) {
    const piece = new Uint8Array(Math.min(pieceSize, size - at));
    const words = new Uint32Array(piece.buffer, 0, piece.length >>> 2);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    yield piece;
  }
}

async function hashOf(source: AsyncIterable<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const piece of source) {
    h.update(piece);
    bytes += piece.length;
  }
  return { hex: h.digest("hex"), bytes };
}

/** `data` as a stream of 100,000-byte pieces (not aligned with chunks), read once. */
async function* generatedFrom(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

describe("large contexts over the wire", () => {
  let clock: ManualClock;
  let hub: Hub;
  let listener: Listener;
  let blobDir: string;
  let tenantId: string;
  let tokenFor: (agentId: string) => Promise<string>;

  beforeEach(async () => {
    clock = new ManualClock();
    blobDir = mkdtempSync(join(tmpdir(), "acb-large-test-"));
    hub = await createHub({
      clock,
      logger: silentLogger,
      backend: createMemoryBackend({ blobs: { dir: blobDir } }),
      limits: { uploadIdleTimeoutMs: IDLE_MS, maxObjectBytes: MAX_OBJECT },
    });
    listener = await hub.listen();
    const admin = createConnectTransport({
      baseUrl: listener.url,
      httpVersion: "1.1",
      interceptors: [bearer(await hub.issueAdminToken())],
    });
    tenantId = `t-${Math.random().toString(36).slice(2, 10)}`;
    await createConnectClient(AdminService, admin).createTenant({ tenantId });
    const auth = createConnectClient(AuthService, admin);
    tokenFor = async (agentId) =>
      (await auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens
        ?.accessToken ?? "";
  });

  afterEach(async () => {
    await hub.close();
    rmSync(blobDir, { recursive: true, force: true });
  });

  const nodeClient = async (agentId: string, baseUrl = listener.url): Promise<AcbClient> =>
    createClient({ baseUrl, token: await tokenFor(agentId) });
  /** Files under the blob directory (staged and published), relative paths. */
  const files = (under: "staging" | "objects") => {
    try {
      return readdirSync(join(blobDir, under), { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => d.name);
    } catch {
      return [];
    }
  };

  it("round-trips 10 MB with matching checksums, visible as a context with a storage ref", async () => {
    const alice = await nodeClient("alice");
    const data = randomBytes(10_000_000);
    const progress: StreamProgress[] = [];
    const ctx = await alice
      .streamContext("dataset", { metadata: { kind: "csv" } })
      .fromReader(data)
      .onProgress((p) => progress.push(p))
      .send();
    expect(ctx.sha256).toBe(sha(data));
    expect(ctx.size).toBe(data.length);
    expect(ctx.revision).toBe(1);
    expect(progress.at(-1)).toMatchObject({ bytes: data.length, fraction: 1, resumes: 0 });
    expect(progress.map((p) => p.bytes)).toEqual(
      [...progress.map((p) => p.bytes)].sort((a, b) => a - b),
    );

    const stored = await alice.services.contexts.getContext({ contextId: ctx.id });
    expect(stored.context?.storageRef).toMatchObject({ backend: "fs", size: 10_000_000n });
    expect(stored.context?.payload).toBeUndefined();
    expect(files("objects")).toHaveLength(1);
    expect(files("staging")).toEqual([]);

    const bob = await nodeClient("bob");
    const back = await readAll(bob.receiveContextStream(ctx.id));
    expect(sha(back)).toBe(sha(data));
  });

  it("round-trips 200 MB from a stream with bounded memory", async () => {
    const SIZE = 200 * 1_000_000;
    const alice = await nodeClient("alice");
    const expected = await hashOf(generated(SIZE, 7));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().rss);
    };
    const ctx = await alice
      .streamContext("model-weights")
      .fromReader(generated(SIZE, 7), SIZE)
      .onProgress(sample)
      .send();
    expect(ctx.sha256).toBe(expected.hex);

    const got = await hashOf(
      receiveContextReadable(alice, ctx.id, { onProgress: sample }) as AsyncIterable<Uint8Array>,
    );
    expect(got).toEqual(expected);
    // Hub and client share this process; both hold only chunks in flight (windows, batches), not
    // the 200 MB object.
    expect((peak - before) / MiB).toBeLessThan(150);
  }, 180_000); // 200 MB through both sides: minutes, not seconds, on a loaded 2-core machine

  it("rejects a corrupt chunk with DATA_LOSS and keeps nothing of it", async () => {
    const alice = await nodeClient("alice");
    const raw = alice.services.largeContexts;
    const data = randomBytes(300_000);
    const { upload } = await raw.beginUpload({
      type: "blob",
      totalSize: 300_000n,
      chunkSize: 65_536,
    });
    const uploadId = upload?.id ?? "";
    const first = data.subarray(0, 65_536);
    await raw.appendChunk({
      uploadId,
      chunk: { offset: 0n, data: first, sha256: createHash("sha256").update(first).digest() },
    });

    const second = Buffer.from(data.subarray(65_536, 131_072));
    const digest = createHash("sha256").update(second).digest();
    second[100] = (second[100] ?? 0) ^ 0xff; // flipped on the way
    const err = await errorOf(
      raw.appendChunk({ uploadId, chunk: { offset: 65_536n, data: second, sha256: digest } }),
    );
    expect(err.code).toBe(Code.DataLoss);
    expect(reason(err)).toMatchObject({
      reason: "CHUNK_CHECKSUM_MISMATCH",
      metadata: { verified_offset: "65536" },
    });

    const status = (await raw.getUploadStatus({ uploadId })).upload;
    expect(status?.verifiedOffset).toBe(65_536n);
    expect(status?.bytesReceived).toBe(131_072n);
    expect(status?.state).toBe(UploadState.OPEN);
    // Only the verified chunk is on disk, and nothing is visible as a context.
    expect(files("staging")).toHaveLength(1);
    const incomplete = await errorOf(
      raw.commitUpload({ uploadId, sha256: createHash("sha256").update(data).digest() }),
    );
    expect(incomplete.code).toBe(Code.FailedPrecondition);
    expect(reason(incomplete)?.reason).toBe("UPLOAD_INCOMPLETE");
    expect((await errorOf(alice.getContext(upload?.contextId ?? ""))).code).toBe(Code.NotFound);
    expect(files("objects")).toEqual([]);
  });

  it("aborts an upload whose bytes do not hash to the declared sha256 at commit", async () => {
    const alice = await nodeClient("alice");
    const raw = alice.services.largeContexts;
    const data = randomBytes(100_000);
    const { upload } = await raw.beginUpload({
      type: "blob",
      totalSize: 100_000n,
      sha256: new Uint8Array(32).fill(7),
    });
    const uploadId = upload?.id ?? "";
    await raw.appendChunk({
      uploadId,
      chunk: { offset: 0n, data, sha256: createHash("sha256").update(data).digest() },
    });
    const err = await errorOf(raw.commitUpload({ uploadId }));
    expect(err.code).toBe(Code.DataLoss);
    expect(reason(err)?.reason).toBe("OBJECT_CHECKSUM_MISMATCH");
    expect((await raw.getUploadStatus({ uploadId })).upload?.state).toBe(UploadState.ABORTED);
    expect(files("staging")).toEqual([]);
    expect((await errorOf(alice.getContext(upload?.contextId ?? ""))).code).toBe(Code.NotFound);
  });

  it("resumes an upload cut at ~60% without re-sending verified bytes", async () => {
    const SIZE = 40 * MiB;
    const data = randomBytes(SIZE);
    const proxy = await startTcpProxy(listener.port);
    const alice = await nodeClient("alice", proxy.url);
    const events: StreamProgress[] = [];
    let cut = false;
    const ctx = await alice
      .streamContext("video", { backoff: { initialDelayMs: 1, maxDelayMs: 5 } })
      .fromReader(data)
      .onProgress((p) => {
        events.push(p);
        if (!cut && p.fraction >= 0.6) {
          cut = true;
          proxy.cut(); // drops the connection with chunks in flight
          proxy.restore(); // and lets the client reconnect
        }
      })
      .send();
    await proxy.close();
    expect(ctx.sha256).toBe(sha(data));

    const firstAfter = events.findIndex((e) => e.resumes === 1);
    expect(firstAfter).toBeGreaterThan(0);
    const resumedAt = (events[firstAfter] as StreamProgress).bytes - MiB;
    // The client continued at the hub's verified offset, never more than its 16 MiB window back.
    expect(resumedAt).toBeGreaterThanOrEqual(0.6 * SIZE - 16 * MiB);
    expect(resumedAt).toBeLessThanOrEqual(0.6 * SIZE + MiB);
    // Bytes offered after the resume are exactly the rest of the object.
    const last = events.at(-1) as StreamProgress;
    const wireBefore = (events[firstAfter - 1] as StreamProgress).wireBytes;
    expect(last.wireBytes - wireBefore).toBe(SIZE - resumedAt);
    const direct = await nodeClient("alice");
    expect(sha(await readAll(direct.receiveContextStream(ctx.id)))).toBe(sha(data));
  });

  it("resumes a download from an offset and after a dropped connection", async () => {
    const alice = await nodeClient("alice");
    const data = randomBytes(12 * MiB + 5);
    const ctx = await alice.streamContext("archive").fromReader(data).send();

    const tail = await readAll(alice.receiveContextStream(ctx.id, { offset: 5 * MiB + 3 }));
    expect(tail.equals(data.subarray(5 * MiB + 3))).toBe(true);
    const middle = await readAll(alice.receiveContextStream(ctx.id, { offset: MiB, length: 100 }));
    expect(middle.equals(data.subarray(MiB, MiB + 100))).toBe(true);
    expect(
      (await errorOf(readAll(alice.receiveContextStream(ctx.id, { offset: data.length + 1 }))))
        .code,
    ).toBe(Code.OutOfRange);

    const proxy = await startTcpProxy(listener.port);
    const viaProxy = await nodeClient("bob", proxy.url);
    let cut = false;
    let resumes = 0;
    const whole = await readAll(
      viaProxy.receiveContextStream(ctx.id, {
        backoff: { initialDelayMs: 1, maxDelayMs: 5 },
        onProgress: (p) => {
          resumes = p.resumes;
          if (!cut && p.fraction >= 0.5) {
            cut = true;
            proxy.cut();
            proxy.restore();
          }
        },
      }),
    );
    await proxy.close();
    expect(resumes).toBeGreaterThanOrEqual(1);
    expect(sha(whole)).toBe(sha(data));
  });

  it("verifies an upload and a download each cut at 20 random points", async () => {
    const SIZE = 80 * MiB + 4321;
    const CUTS = 20;
    const data = randomBytes(SIZE);
    // The cut points: 20 distinct random chunk boundaries (the seed is in every failure message).
    const seed = randomBytes(4).readUInt32LE();
    let x = seed || 1;
    const random = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    // In the first 60 MiB: each cut waits for the resume from the one before, so cuts drift
    // later than their points (a download delivers the few MiB it had received before it notices
    // the cut), and the last ones must still find the transfer running.
    const cutPoints = () => {
      const chunks = 60;
      const picked = new Set<number>();
      while (picked.size < CUTS) picked.add(1 + Math.floor(random() * (chunks - 1)));
      return [...picked].sort((a, b) => a - b).map((c) => c * MiB);
    };
    const proxy = await startTcpProxy(listener.port);
    /**
     * Cuts the connection when progress reaches each point, in order, each time only once the
     * transfer has resumed from the cut before (so every cut interrupts a live transfer).
     */
    const cutter = (points: number[]) => {
      let cuts = 0;
      const cutAt = (p: StreamProgress) => {
        const point = points[cuts];
        if (point === undefined || p.resumes < cuts || p.bytes < point) return;
        cuts++;
        proxy.cut(); // drops the connection with chunks in flight
        proxy.restore(); // and lets the client reconnect
      };
      return Object.assign(cutAt, { count: () => cuts });
    };
    const backoff = { initialDelayMs: 1, maxDelayMs: 5 };
    const alice = await nodeClient("alice", proxy.url);

    const up: StreamProgress[] = [];
    const onUp = cutter(cutPoints());
    const ctx = await alice
      .streamContext("cut-up", { backoff })
      .fromReader(generatedFrom(data), SIZE)
      .onProgress((p) => {
        up.push(p);
        onUp(p);
      })
      .send();
    expect(ctx.sha256, `seed ${seed}`).toBe(sha(data));
    expect(onUp.count(), `seed ${seed}`).toBe(CUTS);
    expect((up.at(-1) as StreamProgress).resumes, `seed ${seed}`).toBeGreaterThanOrEqual(CUTS);

    let downResumes = 0;
    const onDown = cutter(cutPoints());
    const got = await readAll(
      alice.receiveContextStream(ctx.id, {
        backoff,
        onProgress: (p) => {
          downResumes = p.resumes;
          onDown(p);
        },
      }),
    );
    await proxy.close();
    expect(onDown.count(), `seed ${seed}`).toBe(CUTS);
    expect(downResumes, `seed ${seed}`).toBeGreaterThanOrEqual(CUTS);
    expect(got.length, `seed ${seed}`).toBe(SIZE);
    expect(sha(got), `seed ${seed}`).toBe(sha(data));
  });

  it("refuses the 11th concurrent stream of an agent with RESOURCE_EXHAUSTED and RetryInfo", async () => {
    const alice = await nodeClient("alice");
    const raw = alice.services.largeContexts;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await raw.beginUpload({ type: "blob", totalSize: 10n })).upload?.id ?? "");
    const err = await errorOf(raw.beginUpload({ type: "blob", totalSize: 10n }));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("agent.concurrent_streams");
    // Downloads count too.
    const small = await alice.shareContext("note", { hello: "world" });
    expect((await errorOf(readAll(alice.receiveContextStream(small.id)))).code).toBe(
      Code.ResourceExhausted,
    );
    // Another agent has its own slots; aborting one upload frees a slot.
    const bob = await nodeClient("bob");
    expect(
      (await bob.services.largeContexts.beginUpload({ type: "blob", totalSize: 10n })).upload
        ?.state,
    ).toBe(UploadState.OPEN);
    await raw.abortUpload({ uploadId: ids[0] ?? "" });
    const text = new TextDecoder().decode(await readAll(alice.receiveContextStream(small.id)));
    expect(JSON.parse(text)).toEqual({ hello: "world" });
  });

  it("refuses an oversize upload at BeginUpload before reading the source", async () => {
    const alice = await nodeClient("alice");
    let pulled = 0;
    async function* source() {
      pulled++;
      yield new Uint8Array(1);
    }
    const err = await errorOf(
      alice
        .streamContext("huge")
        .fromReader(source(), MAX_OBJECT + 1)
        .send(),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(reason(err)).toMatchObject({
      reason: "OBJECT_TOO_LARGE",
      metadata: { max_object_bytes: String(MAX_OBJECT) },
    });
    expect(pulled).toBe(0);
  });

  it("expires an abandoned upload after its idle timeout and reclaims its bytes", async () => {
    const alice = await nodeClient("alice");
    const raw = alice.services.largeContexts;
    const { upload } = await raw.beginUpload({ type: "blob", totalSize: 200_000n });
    const uploadId = upload?.id ?? "";
    const data = randomBytes(100_000);
    const chunk = { offset: 0n, data, sha256: createHash("sha256").update(data).digest() };
    await raw.appendChunk({ uploadId, chunk });
    expect(files("staging")).toHaveLength(1);

    clock.advance(IDLE_MS - 1);
    expect((await raw.getUploadStatus({ uploadId })).upload?.state).toBe(UploadState.OPEN);
    clock.advance(1);
    const status = (await raw.getUploadStatus({ uploadId })).upload;
    expect(status?.state).toBe(UploadState.EXPIRED);
    expect(files("staging")).toEqual([]);
    const late = await errorOf(
      raw.appendChunk({ uploadId, chunk: { ...chunk, offset: 100_000n } }),
    );
    expect(late.code).toBe(Code.FailedPrecondition);
    expect(reason(late)).toMatchObject({
      reason: "UPLOAD_NOT_OPEN",
      metadata: { state: "UPLOAD_STATE_EXPIRED" },
    });
    // Its stream slot is free again: ten new uploads fit.
    for (let i = 0; i < 10; i++) await raw.beginUpload({ type: "blob", totalSize: 1n });
  });

  it("uploads from a browser-style client with unary AppendChunk calls over fetch", async () => {
    const browser = createFetchClient({ baseUrl: listener.url, token: await tokenFor("browser") });
    const data = randomBytes(3 * MiB + 17);
    let calls = 0;
    const ctx = await browser
      .streamContext("upload", { scope: "private" })
      .fromReader(new Blob([data]))
      .withChunkSize(MiB)
      .onProgress(() => calls++)
      .send();
    expect(calls).toBe(4); // one AppendChunk per chunk
    expect(ctx.sha256).toBe(sha(data));
    expect(ctx.scope).toBe("private");
    expect(sha(await readAll(browser.receiveContextStream(ctx.id)))).toBe(sha(data));
    // Scopes apply as in ContextService: another agent does not see a private value.
    const other = await nodeClient("mallory");
    expect((await errorOf(readAll(other.receiveContextStream(ctx.id)))).code).toBe(Code.NotFound);
  });

  it("replaces a value with a new revision and reclaims the old blob", async () => {
    const alice = await nodeClient("alice");
    const v1 = randomBytes(2 * MiB);
    const v2 = randomBytes(3 * MiB);
    const first = await alice.streamContext("doc").fromReader(v1).send();
    const second = await alice
      .streamContext("doc", { replaces: first.id, expectedRevision: 1 })
      .fromReader(v2)
      .send();
    expect(second.revision).toBe(2);
    expect(sha(await readAll(alice.receiveContextStream(first.id)))).toBe(sha(v2));
    // The old blob is kept a grace period (the hub default, 10 min) for downloads still reading
    // it, then deleted by the hub's sweep.
    expect(files("objects")).toHaveLength(2);
    clock.advance(10 * 60_000);
    await vi.waitFor(() => expect(files("objects")).toHaveLength(1));
    const stale = await errorOf(
      alice.streamContext("doc", { replaces: first.id, expectedRevision: 1 }).fromReader(v1).send(),
    );
    expect(stale.code).toBe(Code.Aborted);
  });

  it("cancels an upload through its AbortSignal and aborts the hub session", async () => {
    const alice = await nodeClient("alice");
    const abort = new AbortController();
    const data = randomBytes(8 * MiB);
    const err = await errorOf(
      alice
        .streamContext("big", { signal: abort.signal })
        .fromReader(data)
        .withChunkSize(MiB)
        .onProgress((p) => {
          if (p.bytes >= 2 * MiB) abort.abort(new ConnectError("user cancelled", Code.Canceled));
        })
        .send(),
    );
    expect(err.code).toBe(Code.Canceled);
    // The session was aborted, its slot freed and its bytes reclaimed: ten new uploads fit.
    const raw = alice.services.largeContexts;
    const ids = [];
    for (let i = 0; i < 10; i++)
      ids.push((await raw.beginUpload({ type: "blob", totalSize: 1n })).upload?.id);
    expect(ids).toHaveLength(10);
    expect(files("staging")).toEqual([]);
  });
});
