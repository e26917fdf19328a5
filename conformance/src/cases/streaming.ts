// Streaming profile: large contexts in verified chunks, corrupt chunks refused, upload and
// download resume.

import { crc32 } from "node:zlib";
import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { ChunkCheck, UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import { type ConformanceCase, check } from "../case.js";
import type { TestAgent } from "../harness.js";
import { Code, expectCode, patternBytes, reasonOf, sameBytes, sha256 } from "../wire.js";

const requires = ["large-contexts"];
const MiB = 1024 * 1024;
const CHUNK = MiB;

/** The chunk at `offset`, checked by its SHA-256 or (`crc`) by its CRC-32 alone. */
function chunkAt(data: Uint8Array, offset: number, crc = false) {
  const bytes = data.subarray(offset, Math.min(offset + CHUNK, data.length));
  return crc
    ? { offset: BigInt(offset), data: bytes, crc32: crc32(bytes) }
    : { offset: BigInt(offset), data: bytes, sha256: sha256(bytes) };
}

async function begin(agent: TestAgent, id: string, data: Uint8Array): Promise<string> {
  const { upload } = await agent.large.beginUpload({
    mode: UploadMode.CREATE,
    contextId: id,
    type: "blob",
    totalSize: BigInt(data.length),
    sha256: sha256(data),
    chunkSize: CHUNK,
  });
  if (!upload) throw new Error("BeginUpload returned no upload");
  return upload.id;
}

/**
 * Downloads [offset, end) of a context, checking every chunk's checksum (its SHA-256, or its CRC-32
 * with `chunkCheck` CRC32); returns the bytes.
 */
async function download(
  agent: TestAgent,
  id: string,
  signal: AbortSignal,
  from = 0,
  revision = 0n,
  chunkCheck = ChunkCheck.UNSPECIFIED,
): Promise<{ bytes: Uint8Array; whole: Uint8Array; revision: bigint }> {
  const parts: Uint8Array[] = [];
  let whole: Uint8Array = new Uint8Array();
  let rev = revision;
  let next = BigInt(from);
  for await (const item of agent.large.downloadContext(
    { contextId: id, offset: BigInt(from), revision, chunkCheck },
    { signal },
  )) {
    if (item.item.case === "header") {
      whole = item.item.value.sha256;
      rev = item.item.value.context?.revision ?? 0n;
    } else if (item.item.case === "chunk") {
      const c = item.item.value;
      check(c.offset === next, `a chunk starts at ${c.offset}, not ${next}`);
      if (chunkCheck === ChunkCheck.CRC32) {
        check(c.crc32 !== undefined, `the chunk at ${c.offset} carries no crc32`);
        check(c.crc32 === crc32(c.data), `the chunk at ${c.offset} does not match its crc32`);
      } else {
        check(
          sameBytes(sha256(c.data), c.sha256),
          `the chunk at ${c.offset} does not match its sha256`,
        );
      }
      parts.push(c.data);
      next += BigInt(c.data.length);
    }
  }
  return { bytes: Buffer.concat(parts), whole, revision: rev };
}

export const streamingCases: ConformanceCase[] = [
  {
    id: "streaming.large-roundtrip",
    level: "MUST",
    profile: "streaming",
    description:
      "A 10 MiB+ value uploads in verified chunks (SHA-256 and CRC-32 checked) and downloads byte for byte with its SHA-256, per-chunk SHA-256 or CRC-32 as asked",
    spec: "acb.v1.LargeContextService.UploadChunks",
    rules: ["large.roundtrip"],
    requires,
    timeoutMs: 60_000,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("big-a");
      const data = patternBytes(10 * MiB + 12_345, 7);
      const uploadId = await begin(a, "big", data);
      async function* chunks() {
        // Every other chunk carries only a CRC-32: the whole-object SHA-256 covers its bytes.
        for (let off = 0; off < data.length; off += CHUNK)
          yield { uploadId, chunk: chunkAt(data, off, (off / CHUNK) % 2 === 1) };
      }
      const sent = await a.large.uploadChunks(chunks(), { signal: t.signal });
      check(
        sent.upload?.verifiedOffset === BigInt(data.length),
        `verified_offset is ${sent.upload?.verifiedOffset} after every chunk`,
      );
      const { context } = await a.large.commitUpload({ uploadId });
      check(
        context && sameBytes(context.sha256, sha256(data)),
        "the committed context's sha256 is not the data's",
      );
      check(context.size === BigInt(data.length), `the committed size is ${context.size}`);
      const got = await download(a, "big", t.signal);
      check(
        got.bytes.length === data.length,
        `downloaded ${got.bytes.length} of ${data.length} bytes`,
      );
      check(sameBytes(got.bytes, data), "the downloaded bytes differ from the uploaded ones");
      check(sameBytes(got.whole, sha256(data)), "the download header's sha256 is not the data's");
      const crcs = await download(a, "big", t.signal, 0, 0n, ChunkCheck.CRC32);
      check(sameBytes(crcs.bytes, data), "the bytes downloaded with CRC-32 checks differ");
    },
  },
  {
    id: "streaming.corrupt-crc32-chunk-rejected",
    level: "MUST",
    profile: "streaming",
    description:
      "A chunk checked by CRC-32 whose bytes do not match it is DATA_LOSS and nothing of it is kept",
    spec: "acb.v1.ContextChunk.crc32",
    rules: ["large.corrupt-chunk"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("corrupt-crc-a");
      const data = patternBytes(2 * CHUNK, 19);
      const uploadId = await begin(a, "damaged-crc", data);
      const good = chunkAt(data, 0, true);
      const damaged = { ...good, data: good.data.slice() };
      damaged.data[4321] = (damaged.data[4321] ?? 0) ^ 0x01;
      const err = await expectCode(
        a.large.appendChunk({ uploadId, chunk: damaged }),
        Code.DataLoss,
        "AppendChunk with a chunk that does not match its crc32",
      );
      check(reasonOf(err) === "CHUNK_CHECKSUM_MISMATCH", `ErrorInfo reason is "${reasonOf(err)}"`);
      let status = await a.large.getUploadStatus({ uploadId });
      check(
        status.upload?.verifiedOffset === 0n,
        `verified_offset moved to ${status.upload?.verifiedOffset}`,
      );
      await a.large.appendChunk({ uploadId, chunk: good });
      status = await a.large.getUploadStatus({ uploadId });
      check(
        status.upload?.verifiedOffset === BigInt(CHUNK),
        `the intact chunk left verified_offset at ${status.upload?.verifiedOffset}`,
      );
      await a.large.abortUpload({ uploadId });
    },
  },
  {
    id: "streaming.corrupt-chunk-rejected",
    level: "MUST",
    profile: "streaming",
    description:
      "A chunk whose bytes do not match its SHA-256 is DATA_LOSS and nothing of it is kept",
    spec: "acb.v1.LargeContextService.AppendChunk",
    rules: ["large.corrupt-chunk"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("corrupt-a");
      const data = patternBytes(2 * CHUNK, 11);
      const uploadId = await begin(a, "damaged", data);
      const good = chunkAt(data, 0);
      const damaged = { ...good, data: good.data.slice() };
      damaged.data[100] = (damaged.data[100] ?? 0) ^ 0xff;
      const err = await expectCode(
        a.large.appendChunk({ uploadId, chunk: damaged }),
        Code.DataLoss,
        "AppendChunk with a corrupted chunk",
      );
      check(reasonOf(err) === "CHUNK_CHECKSUM_MISMATCH", `ErrorInfo reason is "${reasonOf(err)}"`);
      const status = await a.large.getUploadStatus({ uploadId });
      check(
        status.upload?.verifiedOffset === 0n,
        `verified_offset moved to ${status.upload?.verifiedOffset}`,
      );
      await a.large.abortUpload({ uploadId });
    },
  },
  {
    id: "streaming.upload-resume",
    level: "MUST",
    profile: "streaming",
    description:
      "After an interrupted upload, GetUploadStatus gives the verified offset and the upload continues there",
    spec: "acb.v1.LargeContextService.GetUploadStatus",
    rules: ["large.upload-resume"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("resume-a");
      const data = patternBytes(4 * CHUNK + 999, 13);
      const uploadId = await begin(a, "resumed", data);
      for (let off = 0; off < 2 * CHUNK; off += CHUNK)
        await a.large.appendChunk({ uploadId, chunk: chunkAt(data, off) });
      // The client "loses" its state here and asks the hub where to continue.
      const status = await a.large.getUploadStatus({ uploadId });
      const resumeAt = Number(status.upload?.verifiedOffset ?? -1);
      check(resumeAt === 2 * CHUNK, `verified_offset is ${resumeAt}, not ${2 * CHUNK}`);
      await expectCode(
        a.large.appendChunk({ uploadId, chunk: chunkAt(data, 3 * CHUNK) }),
        Code.FailedPrecondition,
        "a chunk past the verified offset",
      );
      for (let off = resumeAt; off < data.length; off += CHUNK)
        await a.large.appendChunk({ uploadId, chunk: chunkAt(data, off) });
      const { context } = await a.large.commitUpload({ uploadId });
      check(
        context && sameBytes(context.sha256, sha256(data)),
        "the resumed upload committed other bytes",
      );
    },
  },
  {
    id: "streaming.download-resume",
    level: "MUST",
    profile: "streaming",
    description:
      "A download reopened at an offset and revision returns exactly the remaining bytes",
    spec: "acb.v1.DownloadContextRequest.offset",
    rules: ["large.download-resume"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dl-a");
      const data = patternBytes(3 * CHUNK + 4321, 17);
      const uploadId = await begin(a, "dl", data);
      for (let off = 0; off < data.length; off += CHUNK)
        await a.large.appendChunk({ uploadId, chunk: chunkAt(data, off) });
      const { context } = await a.large.commitUpload({ uploadId });
      const from = CHUNK + 777;
      const rest = await download(a, "dl", t.signal, from, context?.revision ?? 0n);
      check(sameBytes(rest.bytes, data.subarray(from)), `the bytes from offset ${from} differ`);
      await expectCode(
        download(a, "dl", t.signal, 0, (context?.revision ?? 0n) + 5n),
        Code.Aborted,
        "a download of a revision that is not current",
      );
    },
  },
  {
    id: "streaming.stream-limits",
    level: "MUST",
    profile: "streaming",
    description:
      "BeginUpload and DownloadContext past the agent's concurrent streams are RESOURCE_EXHAUSTED until an upload ends or a download finishes; BeginUpload reserves its size against the storage quota",
    spec: "acb.v1.TenantQuotas.agent_concurrent_streams",
    rules: ["large.stream-limits"],
    requires: [...requires, "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-sl`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { agentConcurrentStreams: 2, storageBytes: 10_000n },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const agent = (name: string) => t.agentIn(tenantId, name);
      const a = await agent("sl-a");
      const b = await agent("sl-b");
      const small = patternBytes(100, 7);
      const refused = async (call: Promise<unknown>, limit: string, what: string) => {
        const err = await expectCode(call, Code.ResourceExhausted, what);
        const info = err.findDetails(RetryInfoSchema)[0];
        check(
          info?.limit === limit,
          `${what}: RetryInfo names limit "${info?.limit}", not "${limit}"`,
        );
      };
      const u1 = await begin(a, "sl-1", small);
      const u2 = await begin(a, "sl-2", small);
      await refused(
        begin(a, "sl-3", small),
        "agent.concurrent_streams",
        "a third BeginUpload of an agent with agent_concurrent_streams 2",
      );
      const other = await begin(b, "sl-b1", small);
      await a.large.abortUpload({ uploadId: u1 });
      const u3 = await begin(a, "sl-3", small);
      await a.large.appendChunk({ uploadId: u2, chunk: chunkAt(small, 0) });
      await a.large.commitUpload({ uploadId: u2 });
      const u4 = await begin(a, "sl-4", small);
      await refused(
        download(a, "sl-2", t.signal),
        "agent.concurrent_streams",
        "DownloadContext of an agent holding two open uploads",
      );
      await a.large.abortUpload({ uploadId: u4 });
      for (const n of [1, 2, 3]) {
        const got = await download(a, "sl-2", t.signal);
        check(sameBytes(got.bytes, small), `download ${n} of sl-2 returned other bytes`);
      }
      // Storage: 100 bytes held (sl-2), 9,500 staged in an open upload.
      const bigData = patternBytes(9_500, 3);
      const big = await begin(b, "sl-big", bigData);
      await b.large.appendChunk({ uploadId: big, chunk: chunkAt(bigData, 0) });
      await refused(
        begin(a, "sl-5", patternBytes(600, 4)),
        "tenant.storage_bytes",
        "BeginUpload of 600 bytes with 100 of 10,000 storage bytes held and 9,500 staged",
      );
      await b.large.abortUpload({ uploadId: big });
      await a.large.abortUpload({ uploadId: u3 });
      const u5 = await begin(a, "sl-5", patternBytes(600, 4));
      await a.large.abortUpload({ uploadId: u5 });
      await b.large.abortUpload({ uploadId: other });
    },
  },
  {
    id: "streaming.small-chunk-checks",
    level: "MUST",
    profile: "streaming",
    description:
      "Downloads of small objects, inline and uploaded, whole and from an offset, carry the per-chunk check asked for (CRC-32 or SHA-256) and the object's bytes",
    spec: "acb.v1.DownloadContextRequest.chunk_check",
    rules: ["large.roundtrip"],
    requires: [...requires, "contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("scc-a");
      // Below and above 32 KiB, where a hub may sum chunks on another thread.
      const small = patternBytes(5_000, 23);
      const larger = patternBytes(100_000, 29);
      await a.contexts.createContext({ contextId: "scc-s", type: "scc", payload: { data: small } });
      await a.contexts.createContext({
        contextId: "scc-l",
        type: "scc",
        payload: { data: larger },
      });
      const uploaded = patternBytes(10_000, 31);
      const uploadId = await begin(a, "scc-u", uploaded);
      await a.large.appendChunk({ uploadId, chunk: chunkAt(uploaded, 0, true) });
      await a.large.commitUpload({ uploadId });
      const objects: [string, Uint8Array][] = [
        ["scc-s", small],
        ["scc-l", larger],
        ["scc-u", uploaded],
      ];
      for (const [id, data] of objects) {
        for (const kind of [ChunkCheck.CRC32, ChunkCheck.SHA256]) {
          // download() checks every chunk's crc32 or sha256.
          for (const from of [0, 1_234]) {
            const got = await download(a, id, t.signal, from, 0n, kind);
            check(
              sameBytes(got.bytes, data.subarray(from)),
              `${id} downloaded from offset ${from} with ${ChunkCheck[kind]} checks is not its bytes`,
            );
            check(
              sameBytes(got.whole, sha256(data)),
              `the header of ${id}'s download does not carry the object's sha256`,
            );
          }
        }
      }
    },
  },
];
