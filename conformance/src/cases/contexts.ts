// Contexts profile: revisions and compare-and-set, checksums, TTL, scopes, resumable subscriptions.

import {
  type Context,
  SubscribeContextsResponse_Kind as ContextKind,
  ContextScope,
} from "@acb/gen/acb/v1/contexts_pb";
import { type ConformanceCase, check } from "../case.js";
import { duration } from "../harness.js";
import { Code, expectCode, hex, reasonOf, sameBytes, sha256 } from "../wire.js";
import { nextIs } from "./context-events.js";

const requires = ["contexts"];
const enc = new TextEncoder();
const json = (v: unknown) => ({
  contentType: "application/json",
  data: enc.encode(JSON.stringify(v)),
});

export const contextCases: ConformanceCase[] = [
  {
    id: "contexts.revision-cas",
    level: "MUST",
    profile: "contexts",
    description:
      "Revisions start at 1 and grow by 1; an update at a stale expected_revision is ABORTED",
    spec: "acb.v1.UpdateContextRequest.expected_revision",
    rules: ["contexts.revision-cas"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cas-a");
      const created = await a.contexts.createContext({
        contextId: "plan",
        type: "plan",
        payload: json({ v: 1 }),
      });
      check(
        created.context?.revision === 1n,
        `a new context has revision ${created.context?.revision}`,
      );
      const updated = await a.contexts.updateContext({
        contextId: "plan",
        expectedRevision: 1n,
        payload: json({ v: 2 }),
      });
      check(
        updated.context?.revision === 2n,
        `the first update gave revision ${updated.context?.revision}`,
      );
      const err = await expectCode(
        a.contexts.updateContext({
          contextId: "plan",
          expectedRevision: 1n,
          payload: json({ v: 3 }),
        }),
        Code.Aborted,
        "an update at a stale expected_revision",
      );
      check(
        reasonOf(err) === "REVISION_MISMATCH",
        `ErrorInfo reason is "${reasonOf(err)}", not REVISION_MISMATCH`,
      );
      const read = await a.contexts.getContext({ contextId: "plan" });
      check(
        read.context?.revision === 2n,
        `the refused update changed the revision to ${read.context?.revision}`,
      );
      check(
        new TextDecoder().decode(read.context?.payload?.data) === JSON.stringify({ v: 2 }),
        "the refused update changed the value",
      );
    },
  },
  {
    id: "contexts.checksum",
    level: "MUST",
    profile: "contexts",
    description:
      "The hub computes SHA-256 of the value; a writer's wrong sha256 is DATA_LOSS and stores nothing",
    spec: "acb.v1.CreateContextRequest.sha256",
    rules: ["contexts.checksum"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sum-a");
      const payload = json({ hello: "world" });
      const created = await a.contexts.createContext({ contextId: "c1", type: "note", payload });
      check(
        created.context && sameBytes(created.context.sha256, sha256(payload.data)),
        `the hub's sha256 is ${hex(created.context?.sha256 ?? new Uint8Array())}, not the value's`,
      );
      await expectCode(
        a.contexts.createContext({
          contextId: "c2",
          type: "note",
          payload,
          sha256: sha256(enc.encode("other")),
        }),
        Code.DataLoss,
        "CreateContext with a sha256 that does not match",
      );
      await expectCode(
        a.contexts.getContext({ contextId: "c2" }),
        Code.NotFound,
        "the refused context",
      );
    },
  },
  {
    id: "contexts.ttl-expiry",
    level: "MUST",
    profile: "contexts",
    description: "A context whose TTL passes is removed and subscribers get KIND_EXPIRED",
    spec: "acb.v1.SubscribeContextsResponse.Kind.KIND_EXPIRED",
    rules: ["contexts.ttl-expiry"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ttl-a");
      const sub = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await sub.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      await a.contexts.createContext({
        contextId: "brief",
        type: "note",
        payload: json(1),
        ttl: duration(300),
      });
      await sub.waitFor(
        (e) => e.kind === ContextKind.EXPIRED && e.context?.id === "brief",
        "KIND_EXPIRED of a context with a 300 ms TTL",
        t.settings.waitMs,
      );
      await expectCode(
        a.contexts.getContext({ contextId: "brief" }),
        Code.NotFound,
        "GetContext after expiry",
      );
    },
  },
  {
    id: "contexts.scopes",
    level: "MUST",
    profile: "contexts",
    description:
      "PRIVATE is the owner's only, SHARED reaches the allowed ids, GROUP the groups the credential grants (registering cannot join one); others get NOT_FOUND",
    spec: "acb.v1.AccessControl",
    rules: ["contexts.scopes"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const owner = await tenant.agent("scope-owner");
      const friend = await tenant.agent("scope-friend", { registration: { groups: ["analysts"] } });
      const stranger = await tenant.agent("scope-stranger");
      await owner.contexts.createContext({
        contextId: "p",
        type: "n",
        payload: json(1),
        access: { scope: ContextScope.PRIVATE },
      });
      await owner.contexts.createContext({
        contextId: "s",
        type: "n",
        payload: json(1),
        access: { scope: ContextScope.SHARED, allowedIds: ["scope-friend"] },
      });
      await owner.contexts.createContext({
        contextId: "g",
        type: "n",
        payload: json(1),
        access: { scope: ContextScope.GROUP, allowedIds: ["analysts"] },
      });
      await owner.contexts.getContext({ contextId: "p" });
      await expectCode(
        friend.contexts.getContext({ contextId: "p" }),
        Code.NotFound,
        "another agent reading a PRIVATE context",
      );
      await friend.contexts.getContext({ contextId: "s" });
      await friend.contexts.getContext({ contextId: "g" });
      await expectCode(
        stranger.contexts.getContext({ contextId: "s" }),
        Code.NotFound,
        "a SHARED context read by an agent not allowed",
      );
      await expectCode(
        stranger.contexts.getContext({ contextId: "g" }),
        Code.NotFound,
        "a GROUP context read outside the group",
      );
      // Membership comes from the credential: registering into the group does not widen access.
      await expectCode(
        stranger.registry.register({
          agentId: "scope-stranger",
          type: "conformance",
          groups: ["analysts"],
          takeOver: true,
        }),
        Code.PermissionDenied,
        "registering into a group the credential does not grant",
      );
      await expectCode(
        stranger.contexts.getContext({ contextId: "g" }),
        Code.NotFound,
        "a GROUP context read after trying to register into the group",
      );
      await expectCode(
        friend.contexts.deleteContext({ contextId: "s" }),
        Code.PermissionDenied,
        "a non-owner deleting a SHARED context it may read",
      );
    },
  },
  {
    id: "contexts.subscribe-resume",
    level: "MUST",
    profile: "contexts",
    description: "A subscriber resuming from a cursor gets every change after it, then READY",
    spec: "acb.v1.SubscribeContextsRequest.cursor",
    rules: ["contexts.subscribe-resume"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sub-a");
      const first = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await first.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      await a.contexts.createContext({ contextId: "one", type: "n", payload: json(1) });
      const seen = await first.waitFor(
        (e) => e.kind === ContextKind.CREATED,
        "CREATED of context one",
        t.settings.waitMs,
      );
      check(seen.cursor !== "", "the event carries no cursor");
      first.close();
      await a.contexts.createContext({ contextId: "two", type: "n", payload: json(2) });
      await a.contexts.updateContext({ contextId: "one", payload: json(3) });
      const resumed = t.stream((signal) =>
        a.contexts.subscribeContexts({ cursor: seen.cursor }, { signal }),
      );
      const replay: string[] = [];
      for (;;) {
        const e = await resumed.next("replay after the cursor", t.settings.waitMs);
        if (e.kind === ContextKind.READY) break;
        replay.push(`${ContextKind[e.kind]}:${e.context?.id}`);
      }
      check(
        replay.join(",") === "CREATED:two,UPDATED:one",
        `after the cursor the hub replayed [${replay.join(", ")}], not [CREATED:two, UPDATED:one]`,
      );
    },
  },
  {
    id: "contexts.subscribe-events",
    level: "MUST",
    profile: "contexts",
    description:
      "Each CREATED and UPDATED event carries the context as GetContext reads it after the change; DELETED the context as it was",
    spec: "acb.v1.SubscribeContextsResponse.context",
    rules: ["contexts.subscribe-events"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sev-a");
      const stream = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await stream.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const same = (kind: ContextKind, want: Context | undefined, what: string) =>
        nextIs(t, stream, kind, want, what);
      const get = async () => (await a.contexts.getContext({ contextId: "sev" })).context;
      await a.contexts.createContext({
        contextId: "sev",
        type: "sev-t",
        payload: json({ v: 1 }),
        metadata: { k: "v1" },
        ttl: duration(3_600_000),
        access: { scope: ContextScope.SHARED, allowedIds: ["sev-b"] },
      });
      await same(ContextKind.CREATED, await get(), "of CreateContext");
      await a.contexts.updateContext({
        contextId: "sev",
        payload: json({ v: 2 }),
        metadata: { k: "v2", k2: "w" },
      });
      const last = await get();
      await same(ContextKind.UPDATED, last, "of UpdateContext");
      await a.contexts.deleteContext({ contextId: "sev" });
      await same(ContextKind.DELETED, last, "of DeleteContext");
    },
  },
];
