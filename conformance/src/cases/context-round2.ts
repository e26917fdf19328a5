// Contexts profile, what the context service's surviving mutants showed no case checked: the audit
// records of context reads and writes, the type and metadata filters of a subscription, and the
// ids the hub assigns. No case waits for anything but the hub's answers, its events and (for audit
// records, which a hub may write a moment later) a bounded poll.

import { type AuditRecord, Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type Context,
  SubscribeContextsResponse_Kind as ContextKind,
  ContextSchema,
  ContextScope,
  type SubscribeContextsResponse,
} from "@acb/gen/acb/v1/contexts_pb";
import { UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import { WatchAgentsResponse_Kind as AgentKind } from "@acb/gen/acb/v1/registry_pb";
import { toJson } from "@bufbuild/protobuf";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import { type CaseContext, type Clients, duration, type TestAgent } from "../harness.js";
import {
  Code,
  expectCode,
  hex,
  patternBytes,
  poll,
  type StreamReader,
  sameBytes,
  sha256,
} from "../wire.js";
import { endsUnauthenticated } from "./registry-round3.js";

const requires = ["contexts"];
const enc = new TextEncoder();
const json = (v: unknown) => ({
  contentType: "application/json",
  data: enc.encode(JSON.stringify(v)),
});

/** The records of `tenantId` whose action starts with "context.", oldest first. */
async function contextRecords(admin: Clients, tenantId: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const res = await admin.admin.queryAuditLog({
      tenantId,
      action: "context.",
      pageSize: 1000,
      pageToken,
    });
    records.push(...res.records);
    if (res.nextPageToken === "") return records;
    pageToken = res.nextPageToken;
  }
  throw new CaseFailure("QueryAuditLog did not end within 20 pages");
}

/** A record as "action outcome actor target {details}", for comparing and for failure messages. */
const describeRecord = (r: AuditRecord) =>
  `${r.action} ${r.outcome} ${r.actor} ${r.target} ${JSON.stringify(
    Object.fromEntries(Object.entries(r.details).sort(([a], [b]) => (a < b ? -1 : 1))),
  )}`;

/** Opens a subscription and waits for its READY. */
async function subscribed(
  t: CaseContext,
  open: (signal: AbortSignal) => AsyncIterable<SubscribeContextsResponse>,
  what: string,
): Promise<StreamReader<SubscribeContextsResponse>> {
  const stream = t.stream(open);
  await stream.waitFor((e) => e.kind === ContextKind.READY, `${what}: READY`, t.settings.waitMs);
  return stream;
}

/** The events of `stream` as "KIND:id", up to and including the CREATED event of `last`. */
async function eventsUntil(
  t: CaseContext,
  stream: StreamReader<SubscribeContextsResponse>,
  last: string,
  what: string,
): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const e = await stream.next(`${what}: the CREATED event of ${last}`, t.settings.waitMs);
    if (e.kind === ContextKind.READY) continue;
    const label = `${ContextKind[e.kind]}:${e.context?.id}`;
    seen.push(label);
    if (label === `CREATED:${last}`) return seen;
  }
}

/** BeginUpload (CREATE) of `data` under `contextId`; returns the upload id. */
async function beginUpload(agent: TestAgent, contextId: string, data: Uint8Array): Promise<string> {
  const { upload } = await agent.large.beginUpload({
    mode: UploadMode.CREATE,
    contextId,
    type: "blob",
    totalSize: BigInt(data.length),
    sha256: sha256(data),
  });
  if (!upload) throw new CaseFailure("BeginUpload returned no upload");
  return upload.id;
}

/** AppendChunk of `data`'s bytes [from, to). */
function append(agent: TestAgent, uploadId: string, data: Uint8Array, from: number, to: number) {
  const bytes = data.subarray(from, to);
  return agent.large.appendChunk({
    uploadId,
    chunk: { offset: BigInt(from), data: bytes, sha256: sha256(bytes) },
  });
}

/** Fails unless `call` is RESOURCE_EXHAUSTED with RetryInfo naming limit "tenant.storage_bytes". */
async function refusedStorage(call: Promise<unknown>, what: string): Promise<void> {
  const err = await expectCode(call, Code.ResourceExhausted, what);
  const limit = err.findDetails(RetryInfoSchema)[0]?.limit;
  check(
    limit === "tenant.storage_bytes",
    `${what}: RetryInfo names limit "${limit}", not "tenant.storage_bytes"`,
  );
}

/** The fields of `c` as JSON, less those an update moves (revision, updated_at) and `skip`. */
function fieldsOf(c: Context | undefined, skip: string[] = []): string {
  const all = c ? (toJson(ContextSchema, c) as Record<string, unknown>) : {};
  for (const k of ["revision", "updatedAt", ...skip]) delete all[k];
  return JSON.stringify(
    Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
}

export const contextRound2Cases: ConformanceCase[] = [
  {
    id: "contexts.audit-records",
    level: "MUST",
    profile: "contexts",
    description:
      "GetContext, CreateContext, UpdateContext, DeleteContext and SubscribeContexts are each recorded in the caller's tenant's audit log (action, outcome, actor, target, revision); the reads on the way to a write and refused calls are not context records",
    spec: "acb.v1.ContextService.CreateContext",
    rules: ["contexts.audit"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cau-a");
      const b = await tenant.agent("cau-b");
      await a.contexts.createContext({ contextId: "cau", type: "cau-t", payload: json(1) });
      await b.contexts.getContext({ contextId: "cau" });
      await a.contexts.updateContext({ contextId: "cau", payload: json(2) });
      await a.contexts.updateContext({
        contextId: "cau",
        expectedRevision: 2n,
        metadata: { k: "v" },
      });
      // Refused calls: their records, if any, are not context.* successes.
      await expectCode(
        b.contexts.getContext({ contextId: "cau-missing" }),
        Code.NotFound,
        "GetContext of a context that does not exist",
      );
      await expectCode(
        a.contexts.updateContext({ contextId: "cau", expectedRevision: 1n, payload: json(3) }),
        Code.Aborted,
        "an update at a stale expected_revision",
      );
      const typed = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({ types: ["cau-t", "cau-u"] }, { signal }),
        "SubscribeContexts of two types",
      );
      typed.close();
      const all = await subscribed(
        t,
        (signal) => b.contexts.subscribeContexts({}, { signal }),
        "SubscribeContexts of every type",
      );
      all.close();
      await a.contexts.deleteContext({ contextId: "cau", expectedRevision: 3n });

      const want = [
        `context.create success ${a.id} context/cau {"revision":"1"}`,
        `context.read success ${b.id} context/cau {"revision":"1"}`,
        `context.update success ${a.id} context/cau {"revision":"2"}`,
        `context.update success ${a.id} context/cau {"revision":"3"}`,
        `context.subscribe success ${a.id} contexts/cau-t,cau-u {}`,
        `context.subscribe success ${b.id} contexts {}`,
        `context.delete success ${a.id} context/cau {"revision":"3"}`,
      ];
      // A hub may write its records a moment later.
      const records = await poll(
        async () => {
          const got = await contextRecords(t.admin, tenant.id);
          return got.length >= want.length ? got : undefined;
        },
        `${want.length} context.* records in the tenant's audit log`,
        t.settings.waitMs,
        t.signal,
        50,
      );
      // The rule fixes the records, not the order a hub writes them in.
      const got = records.map(describeRecord).sort();
      want.sort();
      check(
        got.join("; ") === want.join("; "),
        `the tenant's context.* records are [${got.join("; ")}], not [${want.join("; ")}]`,
      );
      check(
        records.every((r) => r.tenantId === tenant.id),
        "a context record of the tenant names another tenant",
      );
    },
  },
  {
    id: "contexts.subscribe-filters",
    level: "MUST",
    profile: "contexts",
    description:
      "A subscription with types, metadata or both delivers exactly the changes of contexts that match every filter given (each event matched against the context it carries), in order",
    spec: "acb.v1.SubscribeContextsRequest.types",
    rules: ["contexts.subscribe-filters"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("csf-a");
      const byType = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({ types: ["sf-a", "sf-b"] }, { signal }),
        "SubscribeContexts of types sf-a and sf-b",
      );
      const byMetadata = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({ metadata: { team: "x", k: "v" } }, { signal }),
        "SubscribeContexts of metadata team=x, k=v",
      );
      const byBoth = await subscribed(
        t,
        (signal) =>
          a.contexts.subscribeContexts({ types: ["sf-a"], metadata: { team: "x" } }, { signal }),
        "SubscribeContexts of type sf-a and metadata team=x",
      );
      const create = (contextId: string, type: string, metadata: Record<string, string>) =>
        a.contexts.createContext({ contextId, type, payload: json(contextId), metadata });
      await create("c1", "sf-a", { team: "x", k: "v" });
      await create("c2", "sf-b", { team: "y" });
      await create("c3", "sf-c", { team: "x", k: "v", z: "1" });
      await create("c4", "sf-a", { team: "x" });
      await create("c5", "sf-a", { team: "x", k: "w" });
      await a.contexts.updateContext({ contextId: "c2", metadata: { team: "x", k: "v" } });
      await a.contexts.updateContext({ contextId: "c4", metadata: { team: "y" } });
      await a.contexts.deleteContext({ contextId: "c1" });
      await create("end", "sf-a", { team: "x", k: "v" });
      const want: [StreamReader<SubscribeContextsResponse>, string, string[]][] = [
        [
          byType,
          "types sf-a and sf-b",
          ["CREATED:c1", "CREATED:c2", "CREATED:c4", "CREATED:c5", "UPDATED:c2", "UPDATED:c4"],
        ],
        [byMetadata, "metadata team=x, k=v", ["CREATED:c1", "CREATED:c3", "UPDATED:c2"]],
        [byBoth, "type sf-a and metadata team=x", ["CREATED:c1", "CREATED:c4", "CREATED:c5"]],
      ];
      for (const [stream, what, events] of want) {
        const all = [...events, "DELETED:c1", "CREATED:end"];
        const got = await eventsUntil(t, stream, "end", `the subscription of ${what}`);
        check(
          got.join(",") === all.join(","),
          `the subscription of ${what} delivered [${got.join(", ")}], not [${all.join(", ")}]`,
        );
      }
    },
  },
  {
    id: "contexts.assigned-id",
    level: "MUST",
    profile: "contexts",
    description:
      'CreateContext without a context_id creates the context under an id the hub assigns ("ctx_" and 26 characters), a new one each time, which GetContext reads',
    spec: "acb.v1.Context.id",
    rules: ["contexts.assigned-id"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cid-a");
      const ids: string[] = [];
      for (const v of [1, 2]) {
        const res = await a.contexts.createContext({ type: "cid", payload: json(v) });
        const id = res.context?.id ?? "";
        check(
          /^ctx_[A-Za-z0-9]{26}$/.test(id),
          `CreateContext without a context_id assigned the id "${id}", not "ctx_" and 26 letters or digits`,
        );
        const read = await a.contexts.getContext({ contextId: id });
        check(
          read.context?.id === id && read.context.revision === 1n,
          `GetContext of the assigned id "${id}" read "${read.context?.id}" at revision ${read.context?.revision}`,
        );
        ids.push(id);
      }
      check(ids[0] !== ids[1], `two CreateContext calls were assigned the same id "${ids[0]}"`);
    },
  },
  {
    id: "streaming.chunk-quota",
    level: "MUST",
    profile: "streaming",
    description:
      "A chunk that would take the bytes the tenant holds and stages past storage_bytes is RESOURCE_EXHAUSTED and not stored; one that reaches the quota exactly is stored; an aborted upload and a deleted tenant give their staged bytes back",
    spec: "acb.v1.LargeContextService.AppendChunk",
    rules: ["large.chunk-quota"],
    requires: ["large-contexts", "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-cq`;
      const quotas = { storageBytes: 10_000n };
      await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const a = await t.agentIn(tenantId, "cq-a");
      const d1 = patternBytes(6_000, 1);
      const d2 = patternBytes(6_000, 2);
      // Both fit when begun: nothing is held or staged yet.
      const u1 = await beginUpload(a, "cq-1", d1);
      const u2 = await beginUpload(a, "cq-2", d2);
      await append(a, u1, d1, 0, 6_000);
      await refusedStorage(
        append(a, u2, d2, 0, 6_000),
        "a chunk of 6,000 bytes with 6,000 of 10,000 storage bytes staged",
      );
      const status = async (what: string, offset: number) => {
        const { upload } = await a.large.getUploadStatus({ uploadId: u2 });
        check(
          upload?.state === UploadState.OPEN && upload.verifiedOffset === BigInt(offset),
          `${what}: the upload is ${UploadState[upload?.state ?? 0]} at verified offset ${upload?.verifiedOffset}, not OPEN at ${offset}`,
        );
      };
      await status("after the refused chunk", 0);
      // 6,000 staged and 4,000 more reach the quota exactly.
      await append(a, u2, d2, 0, 4_000);
      await refusedStorage(
        append(a, u2, d2, 4_000, 6_000),
        "a chunk of 2,000 bytes with all 10,000 storage bytes staged",
      );
      await status("after the second refused chunk", 4_000);
      await a.large.abortUpload({ uploadId: u1 });
      await append(a, u2, d2, 4_000, 6_000);
      await a.large.commitUpload({ uploadId: u2 });
      // 6,000 held: 4,000 more fit exactly at BeginUpload and in chunks, 4,001 do not.
      await refusedStorage(
        beginUpload(a, "cq-3", patternBytes(4_001, 3)),
        "BeginUpload of 4,001 bytes with 6,000 of 10,000 storage bytes held",
      );
      const d4 = patternBytes(4_000, 4);
      const u4 = await beginUpload(a, "cq-4", d4);
      await append(a, u4, d4, 0, 4_000);

      // The tenant created again with the same id stages nothing of the deleted one's uploads, and
      // the id its OPEN upload chose is free.
      await t.admin.admin.deleteTenant({ tenantId });
      await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas });
      const again = await t.agentIn(tenantId, "cq-b");
      const d5 = patternBytes(10_000, 5);
      const u5 = await beginUpload(again, "cq-4", d5);
      await append(again, u5, d5, 0, 10_000);
      await again.large.commitUpload({ uploadId: u5 });
    },
  },
  {
    id: "contexts.update-keeps",
    level: "MUST",
    profile: "contexts",
    description:
      "An UpdateContext without a payload keeps the value, inline or uploaded (payload, storage_ref, checksum, size), and every field it does not set; the uploaded value still downloads",
    spec: "acb.v1.UpdateContextRequest.payload",
    rules: ["contexts.update-keeps"],
    requires: [...requires, "large-contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cuk-a");
      await a.contexts.createContext({
        contextId: "cuk-i",
        type: "cuk",
        payload: json({ v: 1 }),
        metadata: { k: "v" },
        schemaVersion: "s1",
      });
      const data = patternBytes(3_000, 9);
      const u = await beginUpload(a, "cuk-l", data);
      await append(a, u, data, 0, data.length);
      await a.large.commitUpload({ uploadId: u });
      for (const id of ["cuk-i", "cuk-l"]) {
        const before = (await a.contexts.getContext({ contextId: id })).context;
        const byMetadata = (
          await a.contexts.updateContext({ contextId: id, metadata: { k: "w", k2: "x" } })
        ).context;
        check(
          fieldsOf(byMetadata, ["metadata"]) === fieldsOf(before, ["metadata"]) &&
            byMetadata?.metadata.k === "w" &&
            byMetadata.metadata.k2 === "x" &&
            byMetadata.revision === (before?.revision ?? 0n) + 1n,
          `an update of ${id}'s metadata alone gave ${fieldsOf(byMetadata)} at revision ${byMetadata?.revision}, not ${fieldsOf(before, ["metadata"])} with the new metadata`,
        );
        const bySchema = (await a.contexts.updateContext({ contextId: id, schemaVersion: "s2" }))
          .context;
        check(
          fieldsOf(bySchema, ["schemaVersion"]) === fieldsOf(byMetadata, ["schemaVersion"]) &&
            bySchema?.schemaVersion === "s2",
          `an update of ${id}'s schema_version alone gave ${fieldsOf(bySchema)}, not ${fieldsOf(byMetadata, ["schemaVersion"])} with schema_version s2`,
        );
        const read = (await a.contexts.getContext({ contextId: id })).context;
        check(
          fieldsOf(read) === fieldsOf(bySchema),
          `GetContext of ${id} reads ${fieldsOf(read)}, not what the update returned, ${fieldsOf(bySchema)}`,
        );
      }
      const parts: Uint8Array[] = [];
      for await (const item of a.large.downloadContext(
        { contextId: "cuk-l" },
        { signal: t.signal },
      )) {
        if (item.item.case === "chunk") parts.push(item.item.value.data);
      }
      check(
        sameBytes(Buffer.concat(parts), data),
        "the uploaded value, downloaded after two updates without a payload, is not the bytes uploaded",
      );
    },
  },
  {
    id: "contexts.ttl-id-free",
    level: "MUST",
    profile: "contexts",
    description:
      "A context whose TTL passed does not hold its id: CreateContext of the id right after succeeds (revision 1, the new value), and subscribers get the old context's EXPIRED before the new one's CREATED",
    spec: "acb.v1.CreateContextRequest.context_id",
    rules: ["contexts.ttl-id-free", "contexts.ttl-expiry"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ctf-a");
      const stream = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({ types: ["ctf"] }, { signal }),
        "SubscribeContexts",
      );
      // A TTL of 1 ms has passed, or nearly, when the next CreateContext arrives: the hub may not
      // have removed the context yet, but its id is free.
      const rounds = 10;
      for (let i = 0; i < rounds; i++) {
        await a.contexts.createContext({
          contextId: "ctf",
          type: "ctf",
          payload: json({ round: i, ttl: true }),
          ttl: duration(1),
        });
        const created = await a.contexts.createContext({
          contextId: "ctf",
          type: "ctf",
          payload: json({ round: i }),
        });
        check(
          created.context?.revision === 1n,
          `round ${i}: the context created again has revision ${created.context?.revision}`,
        );
        const read = await a.contexts.getContext({ contextId: "ctf" });
        check(
          read.context &&
            sameBytes(read.context.payload?.data ?? new Uint8Array(), json({ round: i }).data),
          `round ${i}: GetContext reads another value than the one created again`,
        );
        await a.contexts.deleteContext({ contextId: "ctf" });
      }
      const want = Array.from({ length: rounds }, () => "CREATED,EXPIRED,CREATED,DELETED").join(
        ",",
      );
      const got: string[] = [];
      while (got.length < rounds * 4) {
        const e = await stream.next(`event ${got.length + 1} of ${rounds * 4}`, t.settings.waitMs);
        if (e.kind !== ContextKind.READY) got.push(ContextKind[e.kind]);
      }
      check(
        got.join(",") === want,
        `the subscription delivered [${got.join(", ")}], not ${rounds} times [CREATED, EXPIRED, CREATED, DELETED]`,
      );
    },
  },
  {
    id: "contexts.admin-access",
    level: "MUST",
    profile: "contexts",
    description:
      "A tenant admin reads another agent's PRIVATE context (GetContext, ListContexts, SubscribeContexts), changes its access and TTL and deletes it, as its owner may; another agent may do none of it",
    spec: "acb.v1.AccessControl",
    rules: ["contexts.admin-access", "contexts.scopes"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const owner = await tenant.agent("caa-owner");
      const admin = await tenant.agent("caa-admin", { roles: [Role.ADMIN] });
      const other = await tenant.agent("caa-other");
      const events = await subscribed(
        t,
        (signal) => admin.contexts.subscribeContexts({ types: ["caa"] }, { signal }),
        "the admin's SubscribeContexts",
      );
      await owner.contexts.createContext({
        contextId: "caa",
        type: "caa",
        payload: json(1),
        access: { scope: ContextScope.PRIVATE },
      });
      const read = await admin.contexts.getContext({ contextId: "caa" });
      check(read.context?.ownerId === owner.id, "the admin's GetContext read another context");
      const listed = await admin.contexts.listContexts({ type: "caa" });
      check(
        listed.contexts.map((c) => c.id).join(",") === "caa",
        `the admin's ListContexts of type caa lists [${listed.contexts.map((c) => c.id).join(", ")}], not [caa]`,
      );
      await expectCode(
        other.contexts.updateContext({ contextId: "caa", ttl: duration(3_600_000) }),
        Code.NotFound,
        "another agent's UpdateContext of a PRIVATE context",
      );
      const updated = await admin.contexts.updateContext({
        contextId: "caa",
        ttl: duration(3_600_000),
        access: { scope: ContextScope.SHARED, allowedIds: [other.id] },
      });
      check(
        updated.context?.access?.scope === ContextScope.SHARED && updated.context.expiresAt,
        "the admin's UpdateContext of access and ttl did not change them",
      );
      // Now the other agent reads it, but may not change its access or delete it.
      await other.contexts.getContext({ contextId: "caa" });
      await expectCode(
        other.contexts.updateContext({ contextId: "caa", access: { scope: ContextScope.PUBLIC } }),
        Code.PermissionDenied,
        "a reader that is neither owner nor admin changing the access",
      );
      await expectCode(
        other.contexts.deleteContext({ contextId: "caa" }),
        Code.PermissionDenied,
        "a reader that is neither owner nor admin deleting the context",
      );
      await admin.contexts.deleteContext({ contextId: "caa" });
      await expectCode(
        owner.contexts.getContext({ contextId: "caa" }),
        Code.NotFound,
        "the context the admin deleted",
      );
      const seen: string[] = [];
      while (seen.length < 3) {
        const e = await events.next(`the admin's event ${seen.length + 1} of 3`, t.settings.waitMs);
        if (e.kind !== ContextKind.READY) seen.push(ContextKind[e.kind]);
      }
      check(
        seen.join(",") === "CREATED,UPDATED,DELETED",
        `the admin's subscription delivered [${seen.join(", ")}] of the PRIVATE context, not [CREATED, UPDATED, DELETED]`,
      );
    },
  },
  {
    id: "contexts.checksum-details",
    level: "MUST",
    profile: "contexts",
    description:
      "A CreateContext or UpdateContext whose sha256 differs is DATA_LOSS with reason CHECKSUM_MISMATCH and the hub's checksum in computed_sha256, and an UpdateContext with a sha256 but no payload is INVALID_ARGUMENT; neither changes the context",
    spec: "acb.v1.UpdateContextRequest.sha256",
    rules: ["contexts.checksum"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ccd-a");
      const v1 = json({ v: 1 });
      const v2 = json({ v: 2 });
      const wrong = sha256(enc.encode("something else"));
      const mismatch = async (call: Promise<unknown>, data: Uint8Array, what: string) => {
        const err = await expectCode(call, Code.DataLoss, what);
        const info = err.findDetails(ErrorInfoSchema)[0];
        check(
          info?.reason === "CHECKSUM_MISMATCH" &&
            info.metadata.computed_sha256 === hex(sha256(data)),
          `${what}: ErrorInfo reason "${info?.reason}" with computed_sha256 "${info?.metadata.computed_sha256}", not CHECKSUM_MISMATCH with ${hex(sha256(data))}`,
        );
      };
      await mismatch(
        a.contexts.createContext({ contextId: "ccd", type: "ccd", payload: v1, sha256: wrong }),
        v1.data,
        "CreateContext with a sha256 that does not match",
      );
      await a.contexts.createContext({
        contextId: "ccd",
        type: "ccd",
        payload: v1,
        sha256: sha256(v1.data),
      });
      await mismatch(
        a.contexts.updateContext({ contextId: "ccd", payload: v2, sha256: wrong }),
        v2.data,
        "UpdateContext with a sha256 that does not match",
      );
      await expectCode(
        a.contexts.updateContext({
          contextId: "ccd",
          metadata: { k: "v" },
          sha256: sha256(v1.data),
        }),
        Code.InvalidArgument,
        "UpdateContext with a sha256 and no payload",
      );
      const read = (await a.contexts.getContext({ contextId: "ccd" })).context;
      check(
        read?.revision === 1n &&
          sameBytes(read.payload?.data ?? new Uint8Array(), v1.data) &&
          Object.keys(read.metadata).length === 0,
        `the refused updates changed the context: revision ${read?.revision}, metadata ${JSON.stringify(read?.metadata)}`,
      );
      const updated = await a.contexts.updateContext({
        contextId: "ccd",
        payload: v2,
        sha256: sha256(v2.data),
      });
      check(
        updated.context?.revision === 2n && sameBytes(updated.context.sha256, sha256(v2.data)),
        `UpdateContext with the payload's own sha256 gave revision ${updated.context?.revision}`,
      );
    },
  },
  {
    id: "contexts.subscribe-resume-long",
    level: "MUST",
    profile: "contexts",
    description:
      "A subscription resumed from a cursor with 300 changes after it replays all of them before READY; one resumed from the latest change's cursor replays nothing; another tenant's cursor ahead of the tenant's changes is OUT_OF_RANGE",
    spec: "acb.v1.SubscribeContextsRequest.cursor",
    rules: ["contexts.subscribe-resume", "contexts.subscribe-cursor-ahead"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("crl-a");
      const live = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({}, { signal }),
        "SubscribeContexts",
      );
      const changes = 301;
      await a.contexts.createContext({ contextId: "crl", type: "crl", payload: json(0) });
      for (let i = 1; i < changes; i++) {
        await a.contexts.updateContext({ contextId: "crl", payload: json(i) });
      }
      const cursors: string[] = [];
      for (let i = 0; i < changes; i++) {
        const e = await live.next(`change ${i + 1} of ${changes}`, t.settings.waitMs);
        check(
          e.kind === (i === 0 ? ContextKind.CREATED : ContextKind.UPDATED) &&
            e.context?.revision === BigInt(i + 1),
          `the live stream's change ${i + 1} is ${ContextKind[e.kind]} at revision ${e.context?.revision}`,
        );
        cursors.push(e.cursor);
      }
      live.close();
      const replay = async (cursor: string, what: string) => {
        const resumed = t.stream((signal) => a.contexts.subscribeContexts({ cursor }, { signal }));
        const revisions: bigint[] = [];
        for (;;) {
          const e = await resumed.next(`${what}: the replay`, t.settings.waitMs);
          if (e.kind === ContextKind.READY) break;
          revisions.push(e.context?.revision ?? 0n);
        }
        resumed.close();
        return revisions;
      };
      const all = await replay(cursors[0] ?? "", "resumed after the first change");
      const want = Array.from({ length: changes - 1 }, (_, i) => BigInt(i + 2));
      check(
        all.join(",") === want.join(","),
        `resumed after the first of ${changes} changes, the hub replayed ${all.length} changes before READY (revisions ${all.slice(0, 3).join(", ")} … ${all.slice(-3).join(", ")}), not revisions 2 to ${changes}`,
      );
      const none = await replay(cursors[changes - 1] ?? "", "resumed after the latest change");
      check(
        none.length === 0,
        `resumed after the latest change, the hub replayed ${none.length} changes before READY`,
      );
      const other = await (await t.tenant()).agent("crl-b");
      await expectCode(
        (async () => {
          for await (const e of other.contexts.subscribeContexts(
            { cursor: cursors[changes - 1] ?? "" },
            { signal: t.signal },
          )) {
            if (e.kind === ContextKind.READY) return;
          }
        })(),
        Code.OutOfRange,
        "SubscribeContexts in a tenant without changes, from another tenant's cursor of its 301st change",
      );
    },
  },
  {
    id: "streaming.create-reserves",
    level: "MUST",
    profile: "streaming",
    description:
      "An OPEN CREATE upload holds its context id (chosen or assigned) against other CREATE uploads until it is aborted; a committed one's context holds it then; UPDATE uploads of one context may be open together",
    spec: "acb.v1.BeginUploadRequest.context_id",
    rules: ["large.create-reserves"],
    requires: ["large-contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("crs-a");
      const b = await tenant.agent("crs-b");
      const data = patternBytes(2_000, 6);
      const taken = (agent: TestAgent, id: string, what: string) =>
        expectCode(beginUpload(agent, id, data), Code.AlreadyExists, what);
      const u1 = await beginUpload(a, "crs", data);
      await taken(a, "crs", "a second CREATE BeginUpload of an id an OPEN upload holds");
      await taken(b, "crs", "another agent's CREATE BeginUpload of an id an OPEN upload holds");
      await append(a, u1, data, 0, 1_000);
      await taken(a, "crs", "a CREATE BeginUpload of an id held by an OPEN upload with bytes");
      await a.large.abortUpload({ uploadId: u1 });
      const u2 = await beginUpload(b, "crs", data);
      await append(b, u2, data, 0, data.length);
      await b.large.commitUpload({ uploadId: u2 });
      await taken(a, "crs", "a CREATE BeginUpload of the id of a committed upload's context");
      const updates: string[] = [];
      for (const agent of [a, b]) {
        const { upload } = await agent.large.beginUpload({
          mode: UploadMode.UPDATE,
          contextId: "crs",
          totalSize: BigInt(data.length),
        });
        check(upload, "an UPDATE BeginUpload returned no upload");
        updates.push(upload.id);
      }
      await a.large.abortUpload({ uploadId: updates[0] ?? "" });
      await b.large.abortUpload({ uploadId: updates[1] ?? "" });
      const { upload: assigned } = await a.large.beginUpload({
        mode: UploadMode.CREATE,
        type: "blob",
        totalSize: BigInt(data.length),
      });
      const id = assigned?.contextId ?? "";
      check(id !== "", "a CREATE BeginUpload without a context_id was assigned none");
      await taken(b, id, "a CREATE BeginUpload of the id assigned to an OPEN upload");
    },
  },
  {
    id: "admin.delete-tenant-streams-gone",
    level: "MUST",
    profile: "security",
    description:
      "SubscribeContexts and WatchAgents streams open under a tenant end UNAUTHENTICATED when it is deleted, with no tenant of its id created again",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-credentials"],
    requires: [...requires, "registry", "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const w = await tenant.agent("dsg-w", { register: false });
      const contexts = await subscribed(
        t,
        (signal) => w.contexts.subscribeContexts({}, { signal }),
        "SubscribeContexts",
      );
      const agents = t.stream((signal) => w.registry.watchAgents({}, { signal }));
      await agents.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await endsUnauthenticated(t, contexts, "SubscribeContexts", () => true, "change(s)");
      await endsUnauthenticated(t, agents, "WatchAgents", () => true, "change(s)");
    },
  },
  {
    id: "admin.usage-context-writes",
    level: "MUST",
    profile: "contexts",
    description:
      "GetUsage counts the payload bytes of context writes, inline or uploaded, and nothing for updates without a payload; storage_bytes follows the values replaced and deleted",
    spec: "acb.v1.AdminService.GetUsage",
    rules: ["admin.usage"],
    requires: [...requires, "large-contexts", "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("auc-a");
      const inline = patternBytes(300, 1);
      await a.contexts.createContext({
        contextId: "auc-i",
        type: "auc",
        payload: { contentType: "application/octet-stream", data: inline },
      });
      await a.contexts.updateContext({ contextId: "auc-i", metadata: { k: "v" } });
      await a.contexts.updateContext({ contextId: "auc-i", schemaVersion: "2" });
      const first = patternBytes(2_000, 2);
      const u1 = await beginUpload(a, "auc-l", first);
      await append(a, u1, first, 0, first.length);
      await a.large.commitUpload({ uploadId: u1 });
      const second = patternBytes(1_500, 3);
      const { upload } = await a.large.beginUpload({
        mode: UploadMode.UPDATE,
        contextId: "auc-l",
        totalSize: BigInt(second.length),
        sha256: sha256(second),
      });
      check(upload, "the UPDATE BeginUpload returned no upload");
      await append(a, upload.id, second, 0, second.length);
      await a.large.commitUpload({ uploadId: upload.id });
      await a.contexts.updateContext({ contextId: "auc-l", metadata: { k: "v" } });
      const small = patternBytes(100, 4);
      await a.contexts.createContext({
        contextId: "auc-d",
        type: "auc",
        payload: { contentType: "application/octet-stream", data: small },
      });
      await a.contexts.deleteContext({ contextId: "auc-d" });
      const want = { bytes: 300 + 2_000 + 1_500 + 100, storage: 300 + 1_500 };
      let last = "";
      await poll(
        async () => {
          const total = (await t.admin.admin.getUsage({ tenantId: tenant.id })).total;
          const got = {
            bytes: Number(total?.bytes ?? -1n),
            storage: Number(total?.storageBytes ?? -1n),
          };
          last = JSON.stringify(got);
          return last === JSON.stringify(want) ? got : undefined;
        },
        `GetUsage totals of ${JSON.stringify(want)}`,
        t.settings.waitMs,
        t.signal,
        100,
      ).catch((err: unknown) => {
        throw new CaseFailure(`${(err as Error).message}; GetUsage says ${last}`);
      });
    },
  },
  {
    id: "contexts.access-checks",
    level: "MUST",
    profile: "contexts",
    description:
      "allowed_ids with PUBLIC or PRIVATE, or none with GROUP or SHARED, is INVALID_ARGUMENT for CreateContext and UpdateContext and changes nothing; an access of scope UNSPECIFIED is PUBLIC",
    spec: "acb.v1.AccessControl",
    rules: ["contexts.access-checks"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cac-a");
      const b = await tenant.agent("cac-b");
      const bad = [
        { scope: ContextScope.PUBLIC, allowedIds: [b.id] },
        { scope: ContextScope.PRIVATE, allowedIds: [b.id] },
        { scope: ContextScope.GROUP, allowedIds: [] },
        { scope: ContextScope.SHARED, allowedIds: [] },
      ];
      for (const access of bad) {
        const what = `${ContextScope[access.scope]} with ${access.allowedIds.length} allowed ids`;
        await expectCode(
          a.contexts.createContext({ contextId: "cac-new", type: "cac", payload: json(1), access }),
          Code.InvalidArgument,
          `CreateContext of ${what}`,
        );
      }
      await expectCode(
        a.contexts.getContext({ contextId: "cac-new" }),
        Code.NotFound,
        "a context whose CreateContext was refused",
      );
      const created = await a.contexts.createContext({
        contextId: "cac",
        type: "cac",
        payload: json(1),
        access: { scope: ContextScope.UNSPECIFIED },
      });
      check(
        created.context?.access?.scope === ContextScope.PUBLIC,
        `a context created with scope UNSPECIFIED has scope ${ContextScope[created.context?.access?.scope ?? 0]}, not PUBLIC`,
      );
      await b.contexts.getContext({ contextId: "cac" });
      for (const access of bad) {
        const what = `${ContextScope[access.scope]} with ${access.allowedIds.length} allowed ids`;
        await expectCode(
          a.contexts.updateContext({ contextId: "cac", access }),
          Code.InvalidArgument,
          `UpdateContext to ${what}`,
        );
      }
      const read = await b.contexts.getContext({ contextId: "cac" });
      check(
        read.context?.revision === 1n && read.context.access?.scope === ContextScope.PUBLIC,
        `the refused updates changed the context: revision ${read.context?.revision}, scope ${ContextScope[read.context?.access?.scope ?? 0]}`,
      );
    },
  },
  {
    id: "contexts.list-page-size",
    level: "MUST",
    profile: "contexts",
    description:
      "ListContexts pages hold at most page_size contexts, and the page that holds the last one has an empty next_page_token (four contexts in pages of 2 and of 3)",
    spec: "acb.v1.ListContextsRequest.page_size",
    rules: ["contexts.list-pages"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("clp-a");
      for (const id of ["clp-1", "clp-2", "clp-3", "clp-4"]) {
        await a.contexts.createContext({ contextId: id, type: "clp", payload: json(id) });
      }
      for (const [size, want] of [
        [2, "clp-1,clp-2 more|clp-3,clp-4 end"],
        [3, "clp-1,clp-2,clp-3 more|clp-4 end"],
        [4, "clp-1,clp-2,clp-3,clp-4 end"],
      ] as const) {
        const pages: string[] = [];
        let pageToken = "";
        for (let i = 0; i < 5; i++) {
          const res = await a.contexts.listContexts({ type: "clp", pageSize: size, pageToken });
          pages.push(
            `${res.contexts.map((c) => c.id).join(",")} ${res.nextPageToken === "" ? "end" : "more"}`,
          );
          if (res.nextPageToken === "") break;
          pageToken = res.nextPageToken;
        }
        check(
          pages.join("|") === want,
          `ListContexts with page_size ${size} gave pages [${pages.join(" | ")}], not [${want.replaceAll("|", " | ")}]`,
        );
      }
    },
  },
  {
    id: "contexts.reader-writes",
    level: "MUST",
    profile: "contexts",
    description:
      "An agent that may read a PUBLIC context updates its value, but changing its ttl is PERMISSION_DENIED; a stale update or delete is ABORTED with current_revision; an update past tenant_bytes_per_minute is RESOURCE_EXHAUSTED",
    spec: "acb.v1.UpdateContextRequest.expected_revision",
    rules: [
      "contexts.reader-writes",
      "contexts.revision-cas",
      "contexts.delete-cas",
      "admin.quotas",
    ],
    requires: [...requires, "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-rw`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { tenantBytesPerMinute: 1_000n },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const a = await t.agentIn(tenantId, "crw-a");
      const b = await t.agentIn(tenantId, "crw-b");
      await a.contexts.createContext({ contextId: "crw", type: "crw", payload: json(1) });
      const updated = await b.contexts.updateContext({ contextId: "crw", payload: json(2) });
      check(
        updated.context?.revision === 2n && updated.context.ownerId === a.id,
        `a reader's update of a PUBLIC context gave revision ${updated.context?.revision}, owner "${updated.context?.ownerId}"`,
      );
      await expectCode(
        b.contexts.updateContext({ contextId: "crw", ttl: duration(3_600_000) }),
        Code.PermissionDenied,
        "a reader that is not the owner changing the ttl",
      );
      const stale = async (call: Promise<unknown>, what: string) => {
        const err = await expectCode(call, Code.Aborted, what);
        const info = err.findDetails(ErrorInfoSchema)[0];
        check(
          info?.reason === "REVISION_MISMATCH" && info.metadata.current_revision === "2",
          `${what}: ErrorInfo reason "${info?.reason}", current_revision "${info?.metadata.current_revision}", not REVISION_MISMATCH and 2`,
        );
      };
      await stale(
        a.contexts.updateContext({ contextId: "crw", expectedRevision: 1n, payload: json(3) }),
        "an update at a stale expected_revision",
      );
      await stale(
        a.contexts.deleteContext({ contextId: "crw", expectedRevision: 1n }),
        "a delete at a stale expected_revision",
      );
      const err = await expectCode(
        a.contexts.updateContext({
          contextId: "crw",
          payload: { contentType: "application/octet-stream", data: patternBytes(1_100, 7) },
        }),
        Code.ResourceExhausted,
        "an update of 1,100 payload bytes with tenant_bytes_per_minute 1,000",
      );
      const limit = err.findDetails(RetryInfoSchema)[0]?.limit;
      check(
        limit === "tenant.bytes_per_minute",
        `the refused update's RetryInfo names limit "${limit}", not "tenant.bytes_per_minute"`,
      );
      const read = (await a.contexts.getContext({ contextId: "crw" })).context;
      check(read?.revision === 2n, `the refused calls changed the revision to ${read?.revision}`);
    },
  },
  {
    id: "admin.usage-expired",
    level: "MUST",
    profile: "contexts",
    description:
      "A context removed by its TTL gives its storage back: GetUsage storage_bytes counts only the contexts left",
    spec: "acb.v1.AdminService.GetUsage",
    rules: ["admin.usage", "contexts.ttl-expiry"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("aue-a");
      const events = await subscribed(
        t,
        (signal) => a.contexts.subscribeContexts({ types: ["aue"] }, { signal }),
        "SubscribeContexts",
      );
      const bytes = (n: number, seed: number) => ({
        contentType: "application/octet-stream",
        data: patternBytes(n, seed),
      });
      await a.contexts.createContext({
        contextId: "aue-keep",
        type: "aue",
        payload: bytes(200, 1),
      });
      await a.contexts.createContext({
        contextId: "aue-ttl",
        type: "aue",
        payload: bytes(500, 2),
        ttl: duration(300),
      });
      await events.waitFor(
        (e) => e.kind === ContextKind.EXPIRED && e.context?.id === "aue-ttl",
        "KIND_EXPIRED of the context with a 300 ms TTL",
        300 + t.settings.waitMs,
      );
      let last = -1;
      await poll(
        async () => {
          const total = (await t.admin.admin.getUsage({ tenantId: tenant.id })).total;
          last = Number(total?.storageBytes ?? -1n);
          return last === 200 ? last : undefined;
        },
        "GetUsage storage_bytes of 200 after the 500-byte context expired",
        t.settings.waitMs,
        t.signal,
        100,
      ).catch((e: unknown) => {
        throw new CaseFailure(`${(e as Error).message}; GetUsage says ${last}`);
      });
    },
  },
  {
    id: "streaming.unlimited-storage",
    level: "MUST",
    profile: "streaming",
    description:
      "A tenant whose storage_bytes quota is zero (no limit) begins, sends and commits an upload",
    spec: "acb.v1.TenantQuotas.storage_bytes",
    rules: ["admin.quotas"],
    requires: ["large-contexts", "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-us`;
      await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas: {} });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const a = await t.agentIn(tenantId, "cus-a");
      const data = patternBytes(3_000, 8);
      const u = await beginUpload(a, "cus", data);
      await append(a, u, data, 0, 1_000);
      await append(a, u, data, 1_000, data.length);
      const { context } = await a.large.commitUpload({ uploadId: u });
      check(
        context?.size === BigInt(data.length),
        `the committed upload's context has size ${context?.size}, not ${data.length}`,
      );
    },
  },
  {
    id: "admin.delete-tenant-uploads",
    level: "MUST",
    profile: "streaming",
    description:
      "DeleteTenant of a tenant holding an uploaded value, the value it replaced (still within its grace period) and an OPEN upload succeeds; the tenant created again holds none of them and may use their ids",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges"],
    requires: ["large-contexts", "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-du`;
      await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas: {} });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const a = await t.agentIn(tenantId, "cdu-a");
      const first = patternBytes(2_000, 1);
      const u1 = await beginUpload(a, "cdu-l", first);
      await append(a, u1, first, 0, first.length);
      await a.large.commitUpload({ uploadId: u1 });
      const second = patternBytes(1_000, 2);
      const { upload } = await a.large.beginUpload({
        mode: UploadMode.UPDATE,
        contextId: "cdu-l",
        totalSize: BigInt(second.length),
        sha256: sha256(second),
      });
      check(upload, "the UPDATE BeginUpload returned no upload");
      await append(a, upload.id, second, 0, second.length);
      await a.large.commitUpload({ uploadId: upload.id });
      const open = patternBytes(1_500, 3);
      const u3 = await beginUpload(a, "cdu-o", open);
      await append(a, u3, open, 0, 500);
      await t.admin.admin.deleteTenant({ tenantId });
      await t.admin.admin.createTenant({ tenantId, tier: Tier.CUSTOM, quotas: {} });
      const b = await t.agentIn(tenantId, "cdu-b");
      const listed = await b.contexts.listContexts({});
      check(
        listed.contexts.length === 0,
        `the tenant created again lists [${listed.contexts.map((c) => c.id).join(", ")}]`,
      );
      for (const id of ["cdu-l", "cdu-o"]) {
        const data = patternBytes(700, 4);
        const u = await beginUpload(b, id, data);
        await append(b, u, data, 0, data.length);
        await b.large.commitUpload({ uploadId: u });
      }
    },
  },
];
