// Writes and lifetimes across profiles: compare-and-set on every write that takes an expected
// revision, create-if-absent, paging, timers on more than their first occurrence, credential
// refresh, and DeleteTenant purging everything a tenant held.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  SubscribeContextsResponse_Kind as ContextKind,
  ContextScope,
} from "@acb/gen/acb/v1/contexts_pb";
import { UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import {
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { WatchAgentsResponse_Kind as AgentKind, AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { duration } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, reasonOf, sha256 } from "../wire.js";

/** Pages through a list with page size 2; returns every id in the order listed. */
async function pages(list: (pageToken: string) => Promise<{ ids: string[]; next: string }>) {
  const ids: string[] = [];
  let token = "";
  for (let page = 0; page < 100; page++) {
    const res = await list(token);
    ids.push(...res.ids);
    if (res.next === "") return ids;
    token = res.next;
  }
  throw new Error("the list did not end within 100 pages");
}

function checkComplete(ids: string[], expected: string[], what: string): void {
  const seen = [...ids].sort().join(",");
  check(
    seen === [...expected].sort().join(","),
    `${what} paged with page_size 2 returned [${ids.join(", ")}], not each of [${expected.join(", ")}] once`,
  );
}

export const lifecycleCases: ConformanceCase[] = [
  {
    id: "contexts.create-exists",
    level: "MUST",
    profile: "contexts",
    description: "CreateContext of a taken id is ALREADY_EXISTS and leaves the context as it was",
    spec: "acb.v1.ContextService.CreateContext",
    rules: ["contexts.create-exists"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dup-a");
      await a.contexts.createContext({ contextId: "taken", type: "n", payload: text("first") });
      await expectCode(
        a.contexts.createContext({ contextId: "taken", type: "n", payload: text("second") }),
        Code.AlreadyExists,
        "CreateContext of a taken id",
      );
      const got = await a.contexts.getContext({ contextId: "taken" });
      check(got.context?.revision === 1n, `the revision moved to ${got.context?.revision}`);
      check(
        new TextDecoder().decode(got.context?.payload?.data) === "first",
        "the refused create changed the payload",
      );
    },
  },
  {
    id: "contexts.delete-cas",
    level: "MUST",
    profile: "contexts",
    description:
      "DeleteContext with a stale expected_revision is ABORTED (REVISION_MISMATCH) and the context stays; the current one, or zero, deletes",
    spec: "acb.v1.DeleteContextRequest.expected_revision",
    rules: ["contexts.delete-cas"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dcas-a");
      await a.contexts.createContext({ contextId: "c", type: "n", payload: text("1") });
      await a.contexts.updateContext({ contextId: "c", payload: text("2") });
      const err = await expectCode(
        a.contexts.deleteContext({ contextId: "c", expectedRevision: 1n }),
        Code.Aborted,
        "DeleteContext at a stale revision",
      );
      check(reasonOf(err) === "REVISION_MISMATCH", `ErrorInfo reason is "${reasonOf(err)}"`);
      const still = await a.contexts.getContext({ contextId: "c" });
      check(still.context?.revision === 2n, "the refused delete changed the context");
      await a.contexts.deleteContext({ contextId: "c", expectedRevision: 2n });
      await expectCode(
        a.contexts.getContext({ contextId: "c" }),
        Code.NotFound,
        "GetContext after a delete at the current revision",
      );
      // Zero deletes unconditionally, at whatever revision the context is.
      await a.contexts.createContext({ contextId: "d", type: "n", payload: text("1") });
      await a.contexts.updateContext({ contextId: "d", payload: text("2") });
      await a.contexts.deleteContext({ contextId: "d", expectedRevision: 0n });
      await expectCode(
        a.contexts.getContext({ contextId: "d" }),
        Code.NotFound,
        "GetContext after a delete with expected_revision 0",
      );
    },
  },
  {
    id: "streaming.update-cas",
    level: "MUST",
    profile: "streaming",
    description:
      "An UPDATE upload whose expected_revision is stale at BeginUpload, or at CommitUpload, is ABORTED (REVISION_MISMATCH) and changes nothing",
    spec: "acb.v1.BeginUploadRequest.expected_revision",
    rules: ["large.update-cas"],
    requires: ["large-contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ucas-a");
      await a.contexts.createContext({ contextId: "c", type: "blob", payload: text("1") });
      await a.contexts.updateContext({ contextId: "c", payload: text("2") });
      const data = new TextEncoder().encode("3");
      const err = await expectCode(
        a.large.beginUpload({
          mode: UploadMode.UPDATE,
          contextId: "c",
          totalSize: BigInt(data.length),
          sha256: sha256(data),
          expectedRevision: 1n,
        }),
        Code.Aborted,
        "BeginUpload (UPDATE) at a stale revision",
      );
      check(reasonOf(err) === "REVISION_MISMATCH", `ErrorInfo reason is "${reasonOf(err)}"`);
      const still = await a.contexts.getContext({ contextId: "c" });
      check(still.context?.revision === 2n, "the refused upload changed the context");
      // Checked again at commit: a write between BeginUpload and CommitUpload wins.
      const { upload } = await a.large.beginUpload({
        mode: UploadMode.UPDATE,
        contextId: "c",
        totalSize: BigInt(data.length),
        sha256: sha256(data),
        expectedRevision: 2n,
      });
      const uploadId = upload?.id ?? "";
      await a.large.appendChunk({
        uploadId,
        chunk: { offset: 0n, data, sha256: sha256(data) },
      });
      await a.contexts.updateContext({ contextId: "c", payload: text("meanwhile") });
      const late = await expectCode(
        a.large.commitUpload({ uploadId }),
        Code.Aborted,
        "CommitUpload after the context moved past expected_revision",
      );
      check(reasonOf(late) === "REVISION_MISMATCH", `ErrorInfo reason is "${reasonOf(late)}"`);
      const after = await a.contexts.getContext({ contextId: "c" });
      check(after.context?.revision === 3n, "the refused commit changed the context");
    },
  },
  {
    id: "streaming.download-cas",
    level: "MUST",
    profile: "streaming",
    description: "DownloadContext at a revision that is no longer current is ABORTED",
    spec: "acb.v1.DownloadContextRequest.revision",
    rules: ["large.download-cas"],
    requires: ["large-contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dlcas-a");
      await a.contexts.createContext({ contextId: "c", type: "blob", payload: text("1") });
      await a.contexts.updateContext({ contextId: "c", payload: text("2") });
      const read = async () => {
        for await (const _ of a.large.downloadContext({ contextId: "c", revision: 1n })) {
          // Drain: the error, if any, ends the iteration.
        }
      };
      const err = await expectCode(read(), Code.Aborted, "DownloadContext at a stale revision");
      check(reasonOf(err) === "REVISION_MISMATCH", `ErrorInfo reason is "${reasonOf(err)}"`);
    },
  },
  {
    id: "registry.list-pages",
    level: "MUST",
    profile: "registry",
    description: "ListAgents and Discover, paged two at a time, return every agent exactly once",
    spec: "acb.v1.ListAgentsRequest.page_token",
    rules: ["pagination.complete"],
    async run(t) {
      const tenant = await t.tenant();
      const names = ["pg-1", "pg-2", "pg-3", "pg-4", "pg-5"];
      const agents = [];
      for (const n of names) agents.push(await tenant.agent(n));
      const a = agents[0];
      check(a, "no agent");
      const listed = await pages(async (pageToken) => {
        const res = await a.registry.listAgents({ pageSize: 2, pageToken });
        return { ids: res.agents.map((x) => x.id), next: res.nextPageToken };
      });
      checkComplete(listed, names, "ListAgents");
      const found = await pages(async (pageToken) => {
        const res = await a.registry.discover({ type: "conformance", pageSize: 2, pageToken });
        return { ids: res.agents.map((x) => x.id), next: res.nextPageToken };
      });
      checkComplete(found, names, "Discover");
    },
  },
  {
    id: "contexts.list-pages",
    level: "MUST",
    profile: "contexts",
    description: "ListContexts, paged two at a time, returns every context exactly once",
    spec: "acb.v1.ListContextsRequest.page_token",
    rules: ["pagination.complete"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("cpg-a");
      const ids = ["c1", "c2", "c3", "c4", "c5"];
      for (const id of ids)
        await a.contexts.createContext({ contextId: id, type: "n", payload: text(id) });
      const listed = await pages(async (pageToken) => {
        const res = await a.contexts.listContexts({ pageSize: 2, pageToken, omitPayloads: true });
        return { ids: res.contexts.map((x) => x.id), next: res.nextPageToken };
      });
      checkComplete(listed, ids, "ListContexts");
    },
  },
  {
    id: "contexts.list-pages-scoped",
    level: "MUST",
    profile: "contexts",
    description:
      "ListContexts paged two at a time, with contexts the caller may not read between those it may, returns each readable one exactly once and no other",
    spec: "acb.v1.ListContextsRequest.page_token",
    rules: ["pagination.complete", "contexts.scopes"],
    async run(t) {
      const tenant = await t.tenant();
      const reader = await tenant.agent("cps-reader");
      const other = await tenant.agent("cps-other");
      const readable: string[] = [];
      for (const [id, hidden] of [
        ["c1", false],
        ["c2", true],
        ["c3", true],
        ["c4", false],
        ["c5", true],
        ["c6", true],
        ["c7", true],
        ["c8", false],
        ["c9", false],
      ] as const) {
        await other.contexts.createContext({
          contextId: id,
          type: "n",
          payload: text(id),
          ...(hidden && { access: { scope: ContextScope.PRIVATE } }),
        });
        if (!hidden) readable.push(id);
      }
      const listed = await pages(async (pageToken) => {
        const res = await reader.contexts.listContexts({
          pageSize: 2,
          pageToken,
          omitPayloads: true,
        });
        return { ids: res.contexts.map((x) => x.id), next: res.nextPageToken };
      });
      checkComplete(listed, readable, "ListContexts around PRIVATE contexts of another agent");
      check(
        listed.join(",") === readable.join(","),
        `ListContexts is not ordered by id: [${listed.join(", ")}]`,
      );
    },
  },
  {
    id: "contexts.scopes-subscribe",
    level: "MUST",
    profile: "contexts",
    description:
      "SubscribeContexts never shows an agent a context outside its scope; a PUBLIC one it does",
    spec: "acb.v1.ContextService.SubscribeContexts",
    rules: ["contexts.scopes"],
    async run(t) {
      const tenant = await t.tenant();
      const owner = await tenant.agent("scs-owner");
      const stranger = await tenant.agent("scs-stranger");
      const sub = t.stream((signal) => stranger.contexts.subscribeContexts({}, { signal }));
      await sub.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      await owner.contexts.createContext({
        contextId: "secret",
        type: "n",
        payload: text("s"),
        access: { scope: ContextScope.PRIVATE },
      });
      await owner.contexts.createContext({ contextId: "open", type: "n", payload: text("o") });
      const first = await sub.waitFor(
        (e) => e.context !== undefined,
        "the PUBLIC context's event",
        t.settings.waitMs,
      );
      check(
        first.context?.id === "open",
        `the stranger's subscription showed "${first.context?.id}" first`,
      );
    },
  },
  {
    id: "contexts.ttl-expiry-update",
    level: "MUST",
    profile: "contexts",
    description:
      "Contexts expire each at its own TTL, whatever order they were given in: a later one does not postpone an earlier one, and a TTL set by UpdateContext counts like one set on create",
    spec: "acb.v1.UpdateContextRequest.ttl",
    rules: ["contexts.ttl-expiry"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ttlu-a");
      const sub = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await sub.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const expired = async (id: string, what: string) => {
        await sub.waitFor(
          (e) => e.kind === ContextKind.EXPIRED && e.context?.id === id,
          `KIND_EXPIRED of ${what}`,
          t.settings.waitMs,
        );
        await expectCode(
          a.contexts.getContext({ contextId: id }),
          Code.NotFound,
          `GetContext of ${what}`,
        );
      };
      await a.contexts.createContext({
        contextId: "first",
        type: "n",
        payload: text("1"),
        ttl: duration(300),
      });
      await a.contexts.createContext({
        contextId: "second",
        type: "n",
        payload: text("2"),
        ttl: duration(900),
      });
      await a.contexts.createContext({
        contextId: "long",
        type: "n",
        payload: text("l"),
        ttl: duration(600_000),
      });
      await a.contexts.getContext({ contextId: "long" });
      // No write between the two expiries: the hub must find the second on its own.
      await expired("first", "the context with a 300 ms TTL");
      await expired("second", "the context with a 900 ms TTL, after the first expired");
      const got = await a.contexts.getContext({ contextId: "long" });
      check(got.context?.revision === 1n, "the context with a 10-minute TTL changed");
      await a.contexts.updateContext({ contextId: "long", ttl: duration(300) });
      await expired("long", "a context whose TTL UpdateContext shortened to 300 ms");
    },
  },
  {
    id: "contexts.scopes-update",
    level: "MUST",
    profile: "contexts",
    description:
      "A context its owner makes PRIVATE by UpdateContext is NOT_FOUND to other agents from then on; a reader that is not the owner cannot change its access",
    spec: "acb.v1.UpdateContextRequest.access",
    rules: ["contexts.scopes"],
    async run(t) {
      const tenant = await t.tenant();
      const owner = await tenant.agent("scu-owner");
      const other = await tenant.agent("scu-other");
      await owner.contexts.createContext({ contextId: "c", type: "n", payload: text("c") });
      await other.contexts.getContext({ contextId: "c" });
      await expectCode(
        other.contexts.updateContext({
          contextId: "c",
          access: { scope: ContextScope.PRIVATE },
        }),
        Code.PermissionDenied,
        "UpdateContext of the access by a reader that is not the owner",
      );
      await other.contexts.getContext({ contextId: "c" });
      const updated = await owner.contexts.updateContext({
        contextId: "c",
        access: { scope: ContextScope.PRIVATE },
      });
      check(
        updated.context?.revision === 2n,
        `the update made revision ${updated.context?.revision}`,
      );
      await expectCode(
        other.contexts.getContext({ contextId: "c" }),
        Code.NotFound,
        "GetContext of a context its owner made PRIVATE",
      );
    },
  },
  {
    id: "registry.agent-quota",
    level: "MUST",
    profile: "registry",
    description:
      "Register beyond the tenant's max_agents is RESOURCE_EXHAUSTED with RetryInfo; agents already registered may register again",
    spec: "acb.v1.TenantQuotas.max_agents",
    rules: ["registry.agent-quota"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-q`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { maxAgents: 2 },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const agent = async (name: string) => {
        const issued = await t.admin.auth.issueToken({
          tenantId,
          agentId: name,
          roles: [Role.AGENT_FULL],
        });
        return t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`);
      };
      for (const name of ["q-1", "q-2"]) {
        await (await agent(name)).registry.register({ agentId: name, type: "conformance" });
      }
      const third = await agent("q-3");
      const err = await expectCode(
        third.registry.register({ agentId: "q-3", type: "conformance" }),
        Code.ResourceExhausted,
        "Register of a third agent with max_agents 2",
      );
      const info = err.findDetails(RetryInfoSchema)[0];
      check(info, "the refusal carries no RetryInfo");
      check(
        info.limit === "tenant.max_agents",
        `RetryInfo names limit "${info.limit}", not "tenant.max_agents"`,
      );
      const again = await agent("q-1");
      await again.registry.register({ agentId: "q-1", type: "conformance", takeOver: true });
      const listed = await again.registry.listAgents({});
      check(
        listed.agents.map((a) => a.id).join(",") === "q-1,q-2",
        `the tenant lists [${listed.agents.map((a) => a.id).join(", ")}]`,
      );
    },
  },
  {
    id: "contexts.ttl-expiry-repeats",
    level: "MUST",
    profile: "contexts",
    description:
      "TTL expiry keeps working after the first: a context created after another expired expires too",
    spec: "acb.v1.SubscribeContextsResponse.Kind.KIND_EXPIRED",
    rules: ["contexts.ttl-expiry"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("ttl2-a");
      const sub = t.stream((signal) => a.contexts.subscribeContexts({}, { signal }));
      await sub.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      for (const id of ["first", "second"]) {
        await a.contexts.createContext({
          contextId: id,
          type: "n",
          payload: text(id),
          ttl: duration(300),
        });
        await sub.waitFor(
          (e) => e.kind === ContextKind.EXPIRED && e.context?.id === id,
          `KIND_EXPIRED of "${id}" (300 ms TTL)`,
          t.settings.waitMs,
        );
        await expectCode(
          a.contexts.getContext({ contextId: id }),
          Code.NotFound,
          `GetContext of "${id}" after expiry`,
        );
      }
    },
  },
  {
    id: "registry.presence-timeout-repeats",
    level: "MUST",
    profile: "registry",
    description:
      "Presence times out again after the agent came back: OFFLINE, heartbeat ONLINE, OFFLINE again",
    spec: "acb.v1.TenantSettings.presence_timeout",
    rules: ["registry.presence-timeout"],
    async run(t) {
      const tenant = await t.tenant({ presenceTimeoutMs: 300, heartbeatIntervalMs: 100 });
      const watcher = await tenant.agent("rep-w", { register: false });
      const watch = t.stream((signal) => watcher.registry.watchAgents({}, { signal }));
      await watch.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      const a = await tenant.agent("rep-a");
      const status = (s: AgentStatus, what: string) =>
        watch.waitFor(
          (e) =>
            e.kind === AgentKind.STATUS_CHANGED && e.agent?.id === a.id && e.agent.status === s,
          what,
          t.settings.waitMs,
        );
      const before = (await a.registry.getAgent({ agentId: a.id })).agent?.lastSeen;
      await status(AgentStatus.OFFLINE, "the first OFFLINE after the presence timeout");
      const beat = await a.registry.heartbeat({ agentId: a.id });
      check(beat.status === AgentStatus.ONLINE, "the heartbeat did not bring the agent back");
      // The presence timeout has passed since registration, so the heartbeat is seen later.
      const after = (await a.registry.getAgent({ agentId: a.id })).agent?.lastSeen;
      check(
        before && after && timestampMs(after) > timestampMs(before),
        "last_seen did not move forward with the heartbeat",
      );
      await status(AgentStatus.ONLINE, "ONLINE after the heartbeat");
      await status(AgentStatus.OFFLINE, "the second OFFLINE after another presence timeout");
    },
  },
  {
    id: "meetings.turn-timeout-repeats",
    level: "MUST",
    profile: "meetings",
    description:
      "Turn timeouts keep advancing the turn: the first holder times out, then the next one does too",
    spec: "acb.v1.CreateMeetingRequest.turn_timeout",
    rules: ["meetings.turn-timeout"],
    requires: ["meetings"],
    timeoutMs: 60_000,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("tt-a");
      const b = await tenant.agent("tt-b");
      const { meeting } = await a.meetings.createMeeting({
        title: "timeouts",
        participantIds: [a.id, b.id],
        policy: MeetingTurnPolicy.ROUND_ROBIN,
        turnTimeout: duration(1_000),
      });
      const id = meeting?.id ?? "";
      await a.meetings.joinMeeting({ meetingId: id });
      await b.meetings.joinMeeting({ meetingId: id });
      const started = await a.meetings.startMeeting({ meetingId: id });
      const first = started.meeting?.turnHolderId ?? "";
      const second = first === a.id ? b.id : a.id;
      const watch = t.stream((signal) =>
        b.meetings.watchMeeting({ meetingId: id, fromBeginning: true }, { signal }),
      );
      const bound = 1_000 + t.settings.waitMs;
      for (const [holder, next] of [
        [first, second],
        [second, first],
      ] as const) {
        await watch.waitFor(
          (e) => e.kind === MeetingKind.TURN_TIMED_OUT && e.subjectId === holder,
          `TURN_TIMED_OUT of ${holder}`,
          bound,
        );
        await watch.waitFor(
          (e) => e.kind === MeetingKind.TURN_GRANTED && e.turnHolderId === next,
          `TURN_GRANTED to ${next}`,
          t.settings.waitMs,
        );
      }
    },
  },
  {
    id: "security.refresh-token",
    level: "MUST",
    profile: "security",
    description:
      "RefreshToken turns a refresh token into a working pair; a forged refresh token is UNAUTHENTICATED",
    spec: "acb.v1.AuthService.RefreshToken",
    rules: ["security.authenticate"],
    async run(t) {
      const tenant = await t.tenant();
      await tenant.agent("ref-a");
      const issued = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "ref-a",
        roles: [Role.AGENT_FULL],
      });
      const anonymous = t.clientsWith(undefined);
      const refreshed = await anonymous.auth.refreshToken({
        refreshToken: issued.tokens?.refreshToken ?? "",
      });
      const token = refreshed.tokens?.accessToken;
      check(token, "RefreshToken returned no access token");
      const me = await t.clientsWith(`Bearer ${token}`).auth.whoAmI({});
      check(
        me.agentId === "ref-a" && me.tenantId === tenant.id,
        `the refreshed token is ${me.tenantId}/${me.agentId}`,
      );
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: "forged.refresh.token" }),
        Code.Unauthenticated,
        "RefreshToken with a forged token",
      );
    },
  },
  {
    id: "admin.delete-tenant-purges",
    level: "MUST",
    profile: "security",
    description:
      "After DeleteTenant, the same tenant id created again holds no agents, contexts, messages, subscriptions, dead letters or meetings",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges"],
    requires: ["messaging"],
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("old-s");
      const r = await tenant.agent("old-r");
      await s.contexts.createContext({ contextId: "old", type: "n", payload: text("old") });
      await r.messaging.subscribeTopic({ pattern: "old.>" });
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "old",
        payload: text("o"),
      });
      {
        const inbox = await Inbox.open(t, r);
        await s.messaging.send({
          target: { case: "recipientId", value: r.id },
          kind: "rejected",
          payload: text("x"),
        });
        const d = await inbox.next("the first queued message");
        await inbox.ack(d);
        const d2 = await inbox.next("the message to dead-letter");
        await r.messaging.nack({ deliveryIds: [d2.deliveryId], deadLetter: true });
        inbox.close();
      }
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "queued",
        payload: text("q"),
      });
      const hasMeetings = t.info.capabilities.includes("meetings");
      if (hasMeetings) {
        await s.meetings.createMeeting({
          meetingId: "old-m",
          title: "old",
          participantIds: [s.id, r.id],
          policy: MeetingTurnPolicy.FREE_FOR_ALL,
        });
      }
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      const again = async (name: string) => {
        const issued = await t.admin.auth.issueToken({
          tenantId: tenant.id,
          agentId: name,
          roles: [Role.AGENT_FULL],
        });
        return t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`);
      };
      const r2 = await again("old-r");
      await expectCode(
        r2.registry.getAgent({ agentId: "old-s" }),
        Code.NotFound,
        "GetAgent of a purged agent",
      );
      await expectCode(
        r2.contexts.getContext({ contextId: "old" }),
        Code.NotFound,
        "GetContext of a purged context",
      );
      const usage = await t.admin.admin.getUsage({ tenantId: tenant.id });
      check(
        Number(usage.total?.messages ?? -1n) === 0,
        `the tenant created again shows ${usage.total?.messages} messages of usage`,
      );
      const agents = await r2.registry.listAgents({});
      check(agents.agents.length === 0, `${agents.agents.length} agents survived DeleteTenant`);
      await r2.registry.register({ agentId: "old-r", type: "conformance" });
      const subs = await r2.messaging.listTopicSubscriptions({});
      check(subs.subscriptions.length === 0, "a topic subscription survived DeleteTenant");
      const dls = await r2.messaging.listDeadLetters({});
      check(dls.deadLetters.length === 0, "a dead letter survived DeleteTenant");
      if (hasMeetings) {
        const ms = await r2.meetings.listMeetings({});
        check(ms.meetings.length === 0, "a meeting survived DeleteTenant");
      }
      const s2 = await again("old-s");
      await s2.registry.register({ agentId: "old-s", type: "conformance" });
      await s2.messaging.send({
        target: { case: "recipientId", value: "old-r" },
        kind: "sentinel",
        payload: text("end"),
      });
      const reader = t.stream((signal) => r2.messaging.receive({}, { signal }));
      for (;;) {
        const item = await reader.next("the sentinel in the new tenant", t.settings.waitMs);
        const kind = item.delivery?.message?.kind;
        if (kind === undefined) continue;
        check(kind === "sentinel", `a message of the deleted tenant arrived ("${kind}")`);
        break;
      }
    },
  },
];
