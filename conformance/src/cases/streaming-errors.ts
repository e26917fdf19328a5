// Streaming profile, the documented errors of uploads and downloads: BeginUpload's refusals, the
// chunk rules in their order (with their reasons and metadata), the commit's errors that leave the
// session OPEN and the one that aborts it, closed and unknown sessions, and download ranges.

import { ContextScope } from "@acb/gen/acb/v1/contexts_pb";
import { ChunkCheck, UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import type { ConnectError } from "@connectrpc/connect";
import { type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, type TestAgent } from "../harness.js";
import { Code, expectCode, expectReason, patternBytes, sameBytes, sha256 } from "../wire.js";

const requires = ["large-contexts"];
const CHUNK = 64 * 1024;

/** The chunk of `data` at `offset` (at most `size` bytes), with its SHA-256. */
function chunk(data: Uint8Array, offset: number, size = CHUNK) {
  const bytes = data.subarray(offset, Math.min(offset + size, data.length));
  return { offset: BigInt(offset), data: bytes, sha256: sha256(bytes) };
}

async function status(agent: TestAgent, uploadId: string) {
  const { upload } = await agent.large.getUploadStatus({ uploadId });
  if (!upload) throw new Error("GetUploadStatus returned no upload");
  return upload;
}

/** Checks an upload's state and verified offset as GetUploadStatus reports them. */
async function expectStatus(
  agent: TestAgent,
  uploadId: string,
  state: UploadState,
  verified: number,
  what: string,
) {
  const u = await status(agent, uploadId);
  check(
    u.state === state && u.verifiedOffset === BigInt(verified),
    `${what}: the upload is ${UploadState[u.state]} at ${u.verifiedOffset}, not ${UploadState[state]} at ${verified}`,
  );
  return u;
}

/** Downloads `contextId` from `offset` (`length` bytes, 0: to the end); the bytes and chunk count. */
async function downloadRange(
  t: CaseContext,
  agent: TestAgent,
  contextId: string,
  offset: number,
  length = 0,
) {
  const parts: Uint8Array[] = [];
  let headers = 0;
  for await (const item of agent.large.downloadContext(
    { contextId, offset: BigInt(offset), length: BigInt(length), chunkCheck: ChunkCheck.SHA256 },
    { signal: t.signal },
  )) {
    if (item.item.case === "header") headers++;
    else if (item.item.case === "chunk") parts.push(item.item.value.data);
  }
  check(headers === 1, `a download of ${contextId} sent ${headers} headers`);
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

export const streamingErrorCases: ConformanceCase[] = [
  {
    id: "streaming.begin-errors",
    level: "MUST",
    profile: "streaming",
    description:
      "BeginUpload refuses a total_size past max_object_bytes (OBJECT_TOO_LARGE, its metadata) but not one equal to it, a bad access, an UPDATE of another type, and an UPDATE by a non-owner that sets access or ttl; an owner's UPDATE sets both at commit",
    spec: "acb.v1.LargeContextService.BeginUpload",
    rules: ["large.begin-errors"],
    requires: [...requires, "contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("bge-a");
      const b = await tenant.agent("bge-b");
      const max = (await a.info.getServerInfo({})).limits?.maxObjectBytes ?? 0n;
      check(max > 0n, "GetServerInfo gives no max_object_bytes");
      const meta = await expectReason(
        a.large.beginUpload({ contextId: "bge-big", type: "bge", totalSize: max + 1n }),
        Code.InvalidArgument,
        "OBJECT_TOO_LARGE",
        "BeginUpload of max_object_bytes + 1",
      );
      check(
        meta["max_object_bytes"] === String(max),
        `OBJECT_TOO_LARGE's metadata max_object_bytes is "${meta["max_object_bytes"]}", not "${max}"`,
      );
      // Exactly the maximum is not too large (the tenant's storage quota may still refuse it).
      try {
        const { upload } = await a.large.beginUpload({
          contextId: "bge-max",
          type: "bge",
          totalSize: max,
        });
        if (upload) await a.large.abortUpload({ uploadId: upload.id });
      } catch (err) {
        const e = err as ConnectError;
        check(
          e.code === Code.ResourceExhausted,
          `BeginUpload of exactly max_object_bytes failed with ${Code[e.code]} (${e.rawMessage})`,
        );
      }
      await expectCode(
        a.large.beginUpload({
          contextId: "bge-acc",
          type: "bge",
          totalSize: 10n,
          access: { scope: ContextScope.PUBLIC, allowedIds: ["bge-b"] },
        }),
        Code.InvalidArgument,
        "a CREATE BeginUpload with PUBLIC access naming allowed_ids",
      );
      const enc = new TextEncoder();
      await a.contexts.createContext({
        contextId: "bge-c",
        type: "bge",
        payload: { data: enc.encode("v1") },
      });
      const update = { mode: UploadMode.UPDATE, contextId: "bge-c", totalSize: 4n };
      await expectCode(
        a.large.beginUpload({ ...update, type: "bge-other" }),
        Code.InvalidArgument,
        "an UPDATE BeginUpload naming a type other than the context's",
      );
      await expectCode(
        a.large.beginUpload({
          ...update,
          access: { scope: ContextScope.PRIVATE, allowedIds: ["bge-b"] },
        }),
        Code.InvalidArgument,
        "an owner's UPDATE BeginUpload with PRIVATE access naming allowed_ids",
      );
      await expectCode(
        b.large.beginUpload({ ...update, access: { scope: ContextScope.PRIVATE } }),
        Code.PermissionDenied,
        "a non-owner's UPDATE BeginUpload that sets access",
      );
      await expectCode(
        b.large.beginUpload({ ...update, ttl: duration(60_000) }),
        Code.PermissionDenied,
        "a non-owner's UPDATE BeginUpload that sets a ttl",
      );
      // Neither access nor ttl: a reader may update (PUBLIC), naming the type or not.
      for (const type of ["", "bge"]) {
        const { upload } = await b.large.beginUpload({ ...update, type });
        check(upload?.type === "bge", `b's UPDATE upload has type "${upload?.type}", not bge`);
        await b.large.abortUpload({ uploadId: upload.id });
      }
      // The owner's UPDATE with both: the committed revision carries them.
      const data = enc.encode("v2v2");
      const { upload } = await a.large.beginUpload({
        ...update,
        sha256: sha256(data),
        access: { scope: ContextScope.PRIVATE },
        ttl: duration(3_600_000),
      });
      if (!upload) throw new Error("BeginUpload returned no upload");
      await a.large.appendChunk({ uploadId: upload.id, chunk: chunk(data, 0) });
      const { context } = await a.large.commitUpload({ uploadId: upload.id });
      check(
        context?.revision === 2n && context.access?.scope === ContextScope.PRIVATE,
        `the owner's UPDATE committed revision ${context?.revision} with scope ${ContextScope[context?.access?.scope ?? 0]}, not revision 2, PRIVATE`,
      );
      check(context.expiresAt !== undefined, "the owner's UPDATE with a ttl left no expires_at");
      await expectCode(
        b.contexts.getContext({ contextId: "bge-c" }),
        Code.NotFound,
        "GetContext by another agent after the owner's upload made the context PRIVATE",
      );
    },
  },
  {
    id: "streaming.chunk-rules",
    level: "MUST",
    profile: "streaming",
    description:
      "AppendChunk applies the chunk rules in order: CHUNK_TOO_LARGE (chunk_size), a repeat of stored bytes acknowledged without effect, OFFSET_MISMATCH for other bytes below or a gap above, PAST_TOTAL_SIZE (total_size); each with verified_offset, the session OPEN, bytes_received counting every chunk",
    spec: "acb.v1.LargeContextService.AppendChunk",
    rules: ["large.chunk-rules"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("chr-a");
      const size = 3 * CHUNK + 3_000;
      const data = patternBytes(size, 41);
      const { upload } = await a.large.beginUpload({
        contextId: "chr",
        type: "chr",
        totalSize: BigInt(size),
        sha256: sha256(data),
        chunkSize: CHUNK,
      });
      if (!upload) throw new Error("BeginUpload returned no upload");
      const uploadId = upload.id;
      check(upload.chunkSize === CHUNK, `the upload's chunk_size is ${upload.chunkSize}`);
      let received = 0;
      const append = (c: ReturnType<typeof chunk>) => {
        received += c.data.length;
        return a.large.appendChunk({ uploadId, chunk: c });
      };
      const tooLarge = await expectReason(
        append(chunk(data, 0, CHUNK + 1)),
        Code.InvalidArgument,
        "CHUNK_TOO_LARGE",
        "a chunk one byte longer than the chunk size",
      );
      check(
        tooLarge["chunk_size"] === String(CHUNK) && tooLarge["verified_offset"] === "0",
        `CHUNK_TOO_LARGE's metadata is ${JSON.stringify(tooLarge)}, not chunk_size ${CHUNK}, verified_offset 0`,
      );
      await expectStatus(a, uploadId, UploadState.OPEN, 0, "after CHUNK_TOO_LARGE");
      await append(chunk(data, 0));
      await append(chunk(data, CHUNK));
      // A retry of stored bytes whose answer was lost: acknowledged, nothing changes.
      const again = await append(chunk(data, 0));
      check(
        again.upload?.verifiedOffset === BigInt(2 * CHUNK),
        `a repeat of the first chunk answered verified_offset ${again.upload?.verifiedOffset}, not ${2 * CHUNK}`,
      );
      // Other bytes at a verified range are no repeat: OFFSET_MISMATCH.
      const other = patternBytes(CHUNK, 43);
      const below = await expectReason(
        append(chunk(other, 0)),
        Code.FailedPrecondition,
        "OFFSET_MISMATCH",
        "a chunk of other bytes at offset 0, below the verified offset",
      );
      check(
        below["verified_offset"] === String(2 * CHUNK),
        `OFFSET_MISMATCH's verified_offset is "${below["verified_offset"]}", not ${2 * CHUNK}`,
      );
      // A repeat that runs past the verified offset is not a repeat either.
      await expectReason(
        append(chunk(data, CHUNK + 100)),
        Code.FailedPrecondition,
        "OFFSET_MISMATCH",
        "a chunk that starts below the verified offset and ends past it",
      );
      await expectReason(
        append(chunk(data, 3 * CHUNK)),
        Code.FailedPrecondition,
        "OFFSET_MISMATCH",
        "a chunk past the verified offset (a gap)",
      );
      await append(chunk(data, 2 * CHUNK));
      // The last chunk with bytes past the total size.
      const past = patternBytes(3_001, 47);
      const pastMeta = await expectReason(
        append({ ...chunk(past, 0), offset: BigInt(3 * CHUNK) }),
        Code.OutOfRange,
        "PAST_TOTAL_SIZE",
        "a chunk that ends one byte past total_size",
      );
      check(
        pastMeta["total_size"] === String(size) &&
          pastMeta["verified_offset"] === String(3 * CHUNK),
        `PAST_TOTAL_SIZE's metadata is ${JSON.stringify(pastMeta)}, not total_size ${size}, verified_offset ${3 * CHUNK}`,
      );
      const open = await expectStatus(
        a,
        uploadId,
        UploadState.OPEN,
        3 * CHUNK,
        "after the refused chunks",
      );
      check(
        open.bytesReceived === BigInt(received),
        `bytes_received is ${open.bytesReceived}, not the ${received} bytes of every chunk sent`,
      );
      await append(chunk(data, 3 * CHUNK));
      const { context } = await a.large.commitUpload({ uploadId });
      check(
        context?.size === BigInt(size) && sameBytes(context.sha256, sha256(data)),
        "the upload committed after the refused chunks is not the object sent",
      );
    },
  },
  {
    id: "streaming.commit-errors",
    level: "MUST",
    profile: "streaming",
    description:
      "CommitUpload's UPLOAD_INCOMPLETE, CHECKSUM_MISSING and CHECKSUM_CONFLICT leave the session OPEN and a fixed commit succeeds; OBJECT_CHECKSUM_MISMATCH (DATA_LOSS) aborts it; a COMMITTED session commits again to the same context and refuses chunks and AbortUpload (UPLOAD_NOT_OPEN)",
    spec: "acb.v1.LargeContextService.CommitUpload",
    rules: ["large.commit-errors", "large.session-states"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cme-a");
      const size = CHUNK + 5_000;
      const data = patternBytes(size, 53);
      const wrong = sha256(patternBytes(size, 54));
      // No sha256 at BeginUpload.
      const first = (
        await a.large.beginUpload({
          contextId: "cme-1",
          type: "cme",
          totalSize: BigInt(size),
          chunkSize: CHUNK,
        })
      ).upload;
      if (!first) throw new Error("BeginUpload returned no upload");
      await a.large.appendChunk({ uploadId: first.id, chunk: chunk(data, 0) });
      const incomplete = await expectReason(
        a.large.commitUpload({ uploadId: first.id, sha256: sha256(data) }),
        Code.FailedPrecondition,
        "UPLOAD_INCOMPLETE",
        "CommitUpload with one chunk of two",
      );
      check(
        incomplete["verified_offset"] === String(CHUNK) &&
          incomplete["total_size"] === String(size),
        `UPLOAD_INCOMPLETE's metadata is ${JSON.stringify(incomplete)}`,
      );
      await expectStatus(a, first.id, UploadState.OPEN, CHUNK, "after UPLOAD_INCOMPLETE");
      await a.large.appendChunk({ uploadId: first.id, chunk: chunk(data, CHUNK) });
      await expectReason(
        a.large.commitUpload({ uploadId: first.id }),
        Code.InvalidArgument,
        "CHECKSUM_MISSING",
        "CommitUpload without a sha256 of an upload that declared none",
      );
      await expectStatus(a, first.id, UploadState.OPEN, size, "after CHECKSUM_MISSING");
      await expectReason(
        a.large.commitUpload({ uploadId: first.id, sha256: wrong }),
        Code.DataLoss,
        "OBJECT_CHECKSUM_MISMATCH",
        "CommitUpload with a sha256 the bytes do not hash to",
      );
      await expectStatus(a, first.id, UploadState.ABORTED, size, "after OBJECT_CHECKSUM_MISMATCH");
      const aborted = await expectReason(
        a.large.commitUpload({ uploadId: first.id, sha256: sha256(data) }),
        Code.FailedPrecondition,
        "UPLOAD_NOT_OPEN",
        "CommitUpload of the aborted upload",
      );
      check(
        aborted["state"] === "UPLOAD_STATE_ABORTED",
        `UPLOAD_NOT_OPEN's metadata state is "${aborted["state"]}"`,
      );
      await expectCode(
        a.contexts.getContext({ contextId: "cme-1" }),
        Code.NotFound,
        "GetContext of the context whose upload was aborted",
      );
      // The sha256 declared at BeginUpload.
      const second = (
        await a.large.beginUpload({
          contextId: "cme-2",
          type: "cme",
          totalSize: BigInt(size),
          chunkSize: CHUNK,
          sha256: sha256(data),
        })
      ).upload;
      if (!second) throw new Error("BeginUpload returned no upload");
      await a.large.appendChunk({ uploadId: second.id, chunk: chunk(data, 0) });
      await a.large.appendChunk({ uploadId: second.id, chunk: chunk(data, CHUNK) });
      await expectReason(
        a.large.commitUpload({ uploadId: second.id, sha256: wrong }),
        Code.InvalidArgument,
        "CHECKSUM_CONFLICT",
        "CommitUpload with a sha256 other than the one declared at BeginUpload",
      );
      await expectStatus(a, second.id, UploadState.OPEN, size, "after CHECKSUM_CONFLICT");
      const committed = (await a.large.commitUpload({ uploadId: second.id })).context;
      check(
        committed?.revision === 1n && sameBytes(committed.sha256, sha256(data)),
        "the commit with the declared sha256 did not make revision 1 of the object",
      );
      const again = (await a.large.commitUpload({ uploadId: second.id })).context;
      check(
        again?.id === committed.id && again.revision === committed.revision,
        `a second commit answered ${again?.id} revision ${again?.revision}, not ${committed.id} revision ${committed.revision}`,
      );
      const u = await expectStatus(a, second.id, UploadState.COMMITTED, size, "after the commit");
      check(u.committedRevision === 1n, `committed_revision is ${u.committedRevision}, not 1`);
      // Each call is made only when awaited: a refusal nobody awaits yet is an unhandled rejection.
      for (const [what, call] of [
        ["AppendChunk", () => a.large.appendChunk({ uploadId: second.id, chunk: chunk(data, 0) })],
        ["AbortUpload", () => a.large.abortUpload({ uploadId: second.id })],
      ] as const) {
        const meta = await expectReason(
          call(),
          Code.FailedPrecondition,
          "UPLOAD_NOT_OPEN",
          `${what} of a committed upload`,
        );
        check(
          meta["state"] === "UPLOAD_STATE_COMMITTED",
          `${what}'s UPLOAD_NOT_OPEN metadata state is "${meta["state"]}"`,
        );
      }
    },
  },
  {
    id: "streaming.session-states",
    level: "MUST",
    profile: "streaming",
    description:
      "An aborted upload reports ABORTED, aborts again without effect and refuses chunks (UPLOAD_NOT_OPEN, state); an unknown upload id and another agent's are NOT_FOUND (UPLOAD_NOT_FOUND) for every upload RPC",
    spec: "acb.v1.LargeContextService.AbortUpload",
    rules: ["large.session-states"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sst-a");
      const b = await tenant.agent("sst-b");
      const data = patternBytes(1_000, 59);
      const begin = async (contextId: string) => {
        const { upload } = await a.large.beginUpload({
          contextId,
          type: "sst",
          totalSize: BigInt(data.length),
          sha256: sha256(data),
        });
        if (!upload) throw new Error("BeginUpload returned no upload");
        return upload.id;
      };
      const uploadId = await begin("sst-1");
      const first = (await a.large.abortUpload({ uploadId })).upload;
      check(
        first?.state === UploadState.ABORTED,
        `AbortUpload answered ${UploadState[first?.state ?? 0]}`,
      );
      const second = (await a.large.abortUpload({ uploadId })).upload;
      check(
        second?.state === UploadState.ABORTED,
        `a second AbortUpload answered ${UploadState[second?.state ?? 0]}`,
      );
      await expectStatus(a, uploadId, UploadState.ABORTED, 0, "GetUploadStatus after AbortUpload");
      const meta = await expectReason(
        a.large.appendChunk({ uploadId, chunk: chunk(data, 0) }),
        Code.FailedPrecondition,
        "UPLOAD_NOT_OPEN",
        "AppendChunk of an aborted upload",
      );
      check(
        meta["state"] === "UPLOAD_STATE_ABORTED",
        `UPLOAD_NOT_OPEN's state is "${meta["state"]}"`,
      );
      // The aborted CREATE holds its id no more.
      const next = await begin("sst-1");
      await a.large.appendChunk({ uploadId: next, chunk: chunk(data, 0) });
      const mine = next;
      for (const [who, agent, id] of [
        ["an unknown id", a, "upl_00000000000000000000000000"],
        ["another agent's upload", b, mine],
      ] as const) {
        // Made one at a time, as awaited (see commit-errors).
        const calls = [
          ["GetUploadStatus", () => agent.large.getUploadStatus({ uploadId: id })],
          ["AppendChunk", () => agent.large.appendChunk({ uploadId: id, chunk: chunk(data, 0) })],
          ["CommitUpload", () => agent.large.commitUpload({ uploadId: id })],
          ["AbortUpload", () => agent.large.abortUpload({ uploadId: id })],
        ] as const;
        for (const [rpc, call] of calls) {
          await expectReason(call(), Code.NotFound, "UPLOAD_NOT_FOUND", `${rpc} of ${who}`);
        }
      }
      // b's calls changed nothing of a's upload.
      await expectStatus(a, mine, UploadState.OPEN, data.length, "a's upload after b's calls");
      const { context } = await a.large.commitUpload({ uploadId: mine });
      check(context?.id === "sst-1", `a's commit made "${context?.id}", not sst-1`);
    },
  },
  {
    id: "streaming.download-range",
    level: "MUST",
    profile: "streaming",
    description:
      "DownloadContext serves [offset, offset + length) of inline and uploaded values, cut at the end; an offset equal to the size gives the header and no bytes; one past it is OUT_OF_RANGE",
    spec: "acb.v1.DownloadContextRequest.offset",
    rules: ["large.download-range"],
    requires: [...requires, "contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dlr-a");
      const inline = patternBytes(3_000, 61);
      await a.contexts.createContext({
        contextId: "dlr-i",
        type: "dlr",
        payload: { data: inline },
      });
      const size = 2 * CHUNK + 999;
      const blob = patternBytes(size, 67);
      const { upload } = await a.large.beginUpload({
        contextId: "dlr-u",
        type: "dlr",
        totalSize: BigInt(size),
        sha256: sha256(blob),
        chunkSize: CHUNK,
      });
      if (!upload) throw new Error("BeginUpload returned no upload");
      for (let off = 0; off < size; off += CHUNK)
        await a.large.appendChunk({ uploadId: upload.id, chunk: chunk(blob, off) });
      await a.large.commitUpload({ uploadId: upload.id });
      for (const [id, data] of [
        ["dlr-i", inline],
        ["dlr-u", blob],
      ] as const) {
        const n = data.length;
        for (const [offset, length] of [
          [100, 1_000],
          [n - 10, 1_000],
          [7, 0],
          [0, n],
        ] as const) {
          const got = await downloadRange(t, a, id, offset, length);
          const want = data.subarray(offset, length === 0 ? n : Math.min(n, offset + length));
          check(
            sameBytes(got.bytes, want),
            `${id} downloaded at offset ${offset}, length ${length}: ${got.bytes.length} bytes, not the ${want.length} of the range`,
          );
        }
        const end = await downloadRange(t, a, id, n);
        check(
          end.bytes.length === 0,
          `${id} downloaded at its size gave ${end.bytes.length} bytes`,
        );
        await expectCode(
          downloadRange(t, a, id, n + 1),
          Code.OutOfRange,
          `a download of ${id} at one byte past its size`,
        );
      }
    },
  },
  {
    id: "streaming.context-not-found",
    level: "MUST",
    profile: "streaming",
    description:
      "DownloadContext and an UPDATE BeginUpload of a missing or unreadable context are NOT_FOUND with reason CONTEXT_NOT_FOUND; so is the commit of an UPDATE whose context was deleted meanwhile, which aborts the session",
    spec: "acb.v1.LargeContextService",
    rules: ["large.context-not-found"],
    requires: [...requires, "contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cnf-a");
      const b = await tenant.agent("cnf-b");
      const enc = new TextEncoder();
      await b.contexts.createContext({
        contextId: "cnf-private",
        type: "cnf",
        payload: { data: enc.encode("b's") },
        access: { scope: ContextScope.PRIVATE },
      });
      for (const contextId of ["cnf-missing", "cnf-private"]) {
        await expectReason(
          downloadRange(t, a, contextId, 0),
          Code.NotFound,
          "CONTEXT_NOT_FOUND",
          `DownloadContext of ${contextId}`,
        );
        await expectReason(
          a.large.beginUpload({ mode: UploadMode.UPDATE, contextId, totalSize: 3n }),
          Code.NotFound,
          "CONTEXT_NOT_FOUND",
          `an UPDATE BeginUpload of ${contextId}`,
        );
      }
      await a.contexts.createContext({
        contextId: "cnf-gone",
        type: "cnf",
        payload: { data: enc.encode("v1") },
      });
      const data = enc.encode("v2");
      const { upload } = await a.large.beginUpload({
        mode: UploadMode.UPDATE,
        contextId: "cnf-gone",
        totalSize: BigInt(data.length),
        sha256: sha256(data),
      });
      if (!upload) throw new Error("BeginUpload returned no upload");
      await a.large.appendChunk({ uploadId: upload.id, chunk: chunk(data, 0) });
      await a.contexts.deleteContext({ contextId: "cnf-gone" });
      await expectReason(
        a.large.commitUpload({ uploadId: upload.id }),
        Code.NotFound,
        "CONTEXT_NOT_FOUND",
        "CommitUpload of an UPDATE whose context was deleted",
      );
      await expectStatus(a, upload.id, UploadState.ABORTED, data.length, "after that commit");
    },
  },
  {
    id: "streaming.update-metadata",
    level: "MUST",
    profile: "streaming",
    description:
      "An UPDATE upload keeps the context's metadata when it gives none, replaces it when it gives some, clears it with replace_metadata and none, and sets a non-empty schema_version",
    spec: "acb.v1.BeginUploadRequest.metadata",
    rules: ["large.update-fields"],
    requires: [...requires, "contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("upm-a");
      const enc = new TextEncoder();
      await a.contexts.createContext({
        contextId: "upm",
        type: "upm",
        payload: { data: enc.encode("v1") },
        metadata: { k: "1" },
        schemaVersion: "s1",
      });
      const steps: [string, Record<string, unknown>, Record<string, string>, string][] = [
        ["no metadata", {}, { k: "1" }, "s1"],
        ["metadata {k: 2}", { metadata: { k: "2" }, schemaVersion: "s2" }, { k: "2" }, "s2"],
        ["replace_metadata and no metadata", { replaceMetadata: true }, {}, "s2"],
      ];
      for (const [what, fields, metadata, schemaVersion] of steps) {
        const data = enc.encode(what);
        const { upload } = await a.large.beginUpload({
          mode: UploadMode.UPDATE,
          contextId: "upm",
          totalSize: BigInt(data.length),
          sha256: sha256(data),
          ...fields,
        });
        if (!upload) throw new Error("BeginUpload returned no upload");
        await a.large.appendChunk({ uploadId: upload.id, chunk: chunk(data, 0) });
        await a.large.commitUpload({ uploadId: upload.id });
        const { context } = await a.contexts.getContext({ contextId: "upm" });
        check(
          JSON.stringify(context?.metadata) === JSON.stringify(metadata) &&
            context?.schemaVersion === schemaVersion,
          `after an UPDATE upload with ${what} the context has metadata ${JSON.stringify(context?.metadata)} and schema_version "${context?.schemaVersion}", not ${JSON.stringify(metadata)} and "${schemaVersion}"`,
        );
      }
    },
  },
];
