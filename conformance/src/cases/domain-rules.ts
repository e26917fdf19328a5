// Rules of the hub's shared domain code on its less common inputs: a subscription resumed from
// a cursor far into a tenant's changes, and the change events of a context uploaded through
// LargeContextService (its storage_ref).

import {
  SubscribeContextsResponse_Kind as ContextKind,
  type SubscribeContextsResponse,
} from "@acb/gen/acb/v1/contexts_pb";
import { UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { patternBytes, sha256 } from "../wire.js";
import { nextIs } from "./context-events.js";

const enc = new TextEncoder();
const json = (v: unknown) => ({
  contentType: "application/json",
  data: enc.encode(JSON.stringify(v)),
});

/** The changes a subscription resumed from `cursor` replays before READY, as KIND:id. */
async function replayAfter(
  t: CaseContext,
  open: (signal: AbortSignal) => AsyncIterable<SubscribeContextsResponse>,
): Promise<string[]> {
  const resumed = t.stream(open);
  const replay: string[] = [];
  for (;;) {
    const e = await resumed.next("the replay after the cursor", t.settings.waitMs);
    if (e.kind === ContextKind.READY) break;
    replay.push(`${ContextKind[e.kind]}:${e.context?.id}`);
  }
  resumed.close();
  return replay;
}

/** Uploads `data` in one chunk (CREATE, or UPDATE of an existing context) and commits it. */
async function upload(agent: TestAgent, contextId: string, data: Uint8Array, mode: UploadMode) {
  const { upload } = await agent.large.beginUpload({
    mode,
    contextId,
    ...(mode === UploadMode.CREATE && { type: "large-ev" }),
    totalSize: BigInt(data.length),
    sha256: sha256(data),
    metadata: { upload: String(data.length) },
  });
  check(upload, `BeginUpload of ${contextId} returned no upload`);
  await agent.large.appendChunk({
    uploadId: upload.id,
    chunk: { offset: 0n, data, sha256: sha256(data) },
  });
  await agent.large.commitUpload({ uploadId: upload.id });
}

export const domainRuleCases: ConformanceCase[] = [
  {
    id: "contexts.subscribe-resume-far",
    level: "MUST",
    profile: "contexts",
    description:
      "A subscription resumed from the cursor of a late change (the 38th and the 39th of 40 in a fresh tenant) replays exactly the changes after it, then READY",
    spec: "acb.v1.SubscribeContextsRequest.cursor",
    rules: ["contexts.subscribe-resume"],
    requires: ["contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("far-a");
      const live = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await live.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const ids = Array.from({ length: 40 }, (_, i) => `far-${String(i).padStart(2, "0")}`);
      for (const [i, contextId] of ids.entries()) {
        await a.contexts.createContext({ contextId, type: "far", payload: json(i) });
      }
      const cursors: string[] = [];
      for (const id of ids) {
        const e = await live.next(`the CREATED event of ${id}`, t.settings.waitMs);
        check(
          e.kind === ContextKind.CREATED && e.context?.id === id,
          `the live stream sent ${ContextKind[e.kind]}:${e.context?.id}, not CREATED:${id}`,
        );
        check(e.cursor !== "", `the CREATED event of ${id} carries no cursor`);
        cursors.push(e.cursor);
      }
      live.close();
      for (const from of [37, 38]) {
        const replay = await replayAfter(t, (signal) =>
          a.contexts.subscribeContexts({ cursor: cursors[from] ?? "" }, { signal }),
        );
        const want = ids.slice(from + 1).map((id) => `CREATED:${id}`);
        check(
          replay.join(",") === want.join(","),
          `resumed from the cursor of change ${from + 1} of 40, the hub replayed [${replay.join(", ")}], not [${want.join(", ")}]`,
        );
      }
    },
  },
  {
    id: "contexts.subscribe-events-large",
    level: "MUST",
    profile: "contexts",
    description:
      "The CREATED and UPDATED events of a context uploaded through LargeContextService carry it as GetContext reads it (storage_ref, size, checksum, no payload); DELETED the context as it was",
    spec: "acb.v1.SubscribeContextsResponse.context",
    rules: ["contexts.subscribe-events"],
    requires: ["contexts", "large-contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("lev-a");
      const stream = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await stream.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const get = async () => (await a.contexts.getContext({ contextId: "lev" })).context;
      await upload(a, "lev", patternBytes(3_000, 5), UploadMode.CREATE);
      const created = await get();
      check(created?.storageRef, "GetContext of an uploaded context shows no storage_ref");
      await nextIs(t, stream, ContextKind.CREATED, created, "of the committed CREATE upload");
      await upload(a, "lev", patternBytes(5_000, 6), UploadMode.UPDATE);
      const updated = await get();
      await nextIs(t, stream, ContextKind.UPDATED, updated, "of the committed UPDATE upload");
      await a.contexts.deleteContext({ contextId: "lev" });
      await nextIs(t, stream, ContextKind.DELETED, updated, "of DeleteContext");
    },
  },
];
