// Security profile, tenant isolation: for every kind of object and every RPC that takes its id,
// an agent of another tenant gets NOT_FOUND (or, for batch answers, the per-item NOT_FOUND), sees
// nothing in lists and streams, and the owner's object is unchanged afterwards. One case per RPC.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { SubscribeContextsResponse_Kind as ContextKind } from "@acb/gen/acb/v1/contexts_pb";
import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingTurnPolicy } from "@acb/gen/acb/v1/meetings_pb";
import { SettleStatus } from "@acb/gen/acb/v1/messaging_pb";
import { WatchAgentsResponse_Kind as AgentKind } from "@acb/gen/acb/v1/registry_pb";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent, TestTenant } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, sha256 } from "../wire.js";

const byte = { offset: 0n, data: new Uint8Array(1), sha256: sha256(new Uint8Array(1)) };

interface Pair {
  away: TestTenant;
  owner: TestAgent;
  peer: TestAgent;
  intruder: TestAgent;
}

async function pair(t: CaseContext): Promise<Pair> {
  const home = await t.tenant();
  const away = await t.tenant();
  return {
    away,
    owner: await home.agent("iso-owner"),
    peer: await home.agent("iso-peer"),
    intruder: await away.agent("iso-intruder"),
  };
}

/** Reads a server stream's first item (or fails with its error), then closes it. */
async function firstItem(open: (signal: AbortSignal) => AsyncIterable<unknown>): Promise<void> {
  const abort = new AbortController();
  try {
    for await (const _ of open(abort.signal)) return;
  } finally {
    abort.abort();
  }
}

async function* one<T>(item: T): AsyncIterable<T> {
  yield item;
}

interface Kind<S> {
  name: string;
  requires?: string;
  setup(t: CaseContext, p: Pair): Promise<S>;
  /** Fails unless the owner's object is as the setup left it. */
  intact?(p: Pair, s: S): Promise<void>;
  rpcs: Record<string, (intruder: TestAgent, s: S, t: CaseContext) => Promise<void>>;
}

const notFound = (call: Promise<unknown>, what: string) =>
  expectCode(call, Code.NotFound, `${what} of another tenant's object`).then(() => {});

const context: Kind<{ id: string }> = {
  name: "context",
  async setup(_t, p) {
    await p.owner.contexts.createContext({ contextId: "secret", type: "n", payload: text("s") });
    return { id: "secret" };
  },
  async intact(p, s) {
    const got = await p.owner.contexts.getContext({ contextId: s.id });
    check(got.context?.revision === 1n, "another tenant changed the context");
  },
  rpcs: {
    GetContext: (i, s) => notFound(i.contexts.getContext({ contextId: s.id }), "GetContext"),
    UpdateContext: (i, s) =>
      notFound(
        i.contexts.updateContext({ contextId: s.id, payload: text("x"), expectedRevision: 1n }),
        "UpdateContext",
      ),
    DeleteContext: (i, s) =>
      notFound(i.contexts.deleteContext({ contextId: s.id }), "DeleteContext"),
    ListContexts: async (i, s) => {
      const list = await i.contexts.listContexts({});
      check(!list.contexts.some((c) => c.id === s.id), "ListContexts shows it");
    },
  },
};

const largeContext: Kind<{ id: string }> = {
  name: "large context",
  requires: "large-contexts",
  setup: (t, p) => context.setup(t, p),
  intact: (p, s) => (context.intact as NonNullable<typeof context.intact>)(p, s),
  rpcs: {
    DownloadContext: (i, s) =>
      notFound(
        firstItem((signal) => i.large.downloadContext({ contextId: s.id }, { signal })),
        "DownloadContext",
      ),
    BeginUpload: (i, s) =>
      notFound(
        i.large.beginUpload({ mode: UploadMode.UPDATE, contextId: s.id, totalSize: 1n }),
        "BeginUpload (UPDATE)",
      ),
  },
};

const upload: Kind<{ id: string }> = {
  name: "upload",
  requires: "large-contexts",
  async setup(_t, p) {
    const { upload } = await p.owner.large.beginUpload({
      mode: UploadMode.CREATE,
      contextId: "upl",
      type: "blob",
      totalSize: 2n,
    });
    return { id: upload?.id ?? "" };
  },
  async intact(p, s) {
    const st = await p.owner.large.getUploadStatus({ uploadId: s.id });
    check(st.upload?.bytesReceived === 0n, "another tenant wrote to the upload");
  },
  rpcs: {
    GetUploadStatus: (i, s) =>
      notFound(i.large.getUploadStatus({ uploadId: s.id }), "GetUploadStatus"),
    AppendChunk: (i, s) =>
      notFound(i.large.appendChunk({ uploadId: s.id, chunk: byte }), "AppendChunk"),
    UploadChunks: (i, s) =>
      notFound(i.large.uploadChunks(one({ uploadId: s.id, chunk: byte })), "UploadChunks"),
    CommitUpload: (i, s) => notFound(i.large.commitUpload({ uploadId: s.id }), "CommitUpload"),
    AbortUpload: (i, s) => notFound(i.large.abortUpload({ uploadId: s.id }), "AbortUpload"),
  },
};

const agent: Kind<{ id: string }> = {
  name: "agent",
  setup: async (_t, p) => ({ id: p.owner.id }),
  rpcs: {
    GetAgent: (i, s) => notFound(i.registry.getAgent({ agentId: s.id }), "GetAgent"),
    ListAgents: async (i, s) => {
      const list = await i.registry.listAgents({});
      check(!list.agents.some((a) => a.id === s.id), "ListAgents shows it");
    },
    Discover: async (i, s) => {
      const list = await i.registry.discover({ type: "conformance" });
      check(!list.agents.some((a) => a.id === s.id), "Discover finds it");
    },
  },
};

const recipient: Kind<{ id: string }> = {
  name: "agent as a recipient",
  requires: "messaging",
  setup: async (_t, p) => ({ id: p.owner.id }),
  async intact(p) {
    // Nothing reached the owner: its stream's first delivery is a sentinel from its own tenant.
    await p.peer.messaging.send({
      target: { case: "recipientId", value: p.owner.id },
      kind: "sentinel",
      payload: text("end"),
    });
    const got = await p.owner.messaging.listDeadLetters({});
    check(got.deadLetters.length === 0, "the owner has dead letters from another tenant");
  },
  rpcs: {
    Send: (i, s) =>
      notFound(
        i.messaging.send({
          target: { case: "recipientId", value: s.id },
          kind: "x",
          payload: text("x"),
        }),
        "Send to an agent",
      ),
    SendBatch: async (i, s) => {
      const res = await i.messaging.sendBatch({
        requests: [{ target: { case: "recipientId", value: s.id }, kind: "x", payload: text("x") }],
      });
      const code = res.results[0]?.error?.code;
      check(code === Code.NotFound, `SendBatch answered the item with code ${code}, not NOT_FOUND`);
    },
    Request: (i, s) =>
      notFound(
        i.messaging.request({ recipientId: s.id, kind: "q", payload: text("?") }),
        "Request to an agent",
      ),
  },
};

const delivery: Kind<{ deliveryId: string; inbox: Inbox }> = {
  name: "delivery",
  requires: "messaging",
  async setup(t, p) {
    const inbox = await Inbox.open(t, p.owner);
    await p.peer.messaging.send({
      target: { case: "recipientId", value: p.owner.id },
      kind: "mine",
      payload: text("x"),
    });
    const d = await inbox.next("the owner's delivery");
    return { deliveryId: d.deliveryId, inbox };
  },
  async intact(p, s) {
    const res = await p.owner.messaging.ack({ deliveryIds: [s.deliveryId] });
    const status = res.results[0]?.status;
    check(status === SettleStatus.OK, `the owner's Ack answered ${SettleStatus[status ?? 0]}`);
  },
  rpcs: {
    Ack: async (i, s) => {
      const res = await i.messaging.ack({ deliveryIds: [s.deliveryId] });
      const status = res.results[0]?.status;
      check(status === SettleStatus.NOT_FOUND, `Ack answered ${SettleStatus[status ?? 0]}`);
    },
    Nack: async (i, s) => {
      const res = await i.messaging.nack({ deliveryIds: [s.deliveryId], deadLetter: true });
      const status = res.results[0]?.status;
      check(status === SettleStatus.NOT_FOUND, `Nack answered ${SettleStatus[status ?? 0]}`);
    },
  },
};

const deadLetter: Kind<{ id: string }> = {
  name: "dead letter",
  requires: "messaging",
  async setup(t, p) {
    const inbox = await Inbox.open(t, p.owner);
    await p.peer.messaging.send({
      target: { case: "recipientId", value: p.owner.id },
      kind: "poison",
      payload: text("x"),
    });
    const d = await inbox.next("the delivery to reject");
    await p.owner.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
    const list = await p.owner.messaging.listDeadLetters({});
    const id = list.deadLetters[0]?.id;
    check(id, "Nack with dead_letter left no dead letter");
    return { id };
  },
  async intact(p, s) {
    await p.owner.messaging.getDeadLetter({ deadLetterId: s.id });
  },
  rpcs: {
    GetDeadLetter: (i, s) =>
      notFound(i.messaging.getDeadLetter({ deadLetterId: s.id }), "GetDeadLetter"),
    ListDeadLetters: async (i, s) => {
      const list = await i.messaging.listDeadLetters({});
      check(!list.deadLetters.some((d) => d.id === s.id), "ListDeadLetters shows it");
    },
    ReplayDeadLetters: async (i, s) => {
      const res = await i.messaging.replayDeadLetters({ deadLetterIds: [s.id] });
      check(res.replayedCount === 0n, `ReplayDeadLetters replayed ${res.replayedCount}`);
      check(res.notFoundIds.includes(s.id), "ReplayDeadLetters did not report it not found");
    },
    PurgeDeadLetters: async (i, s) => {
      const res = await i.messaging.purgeDeadLetters({ deadLetterIds: [s.id] });
      check(res.purgedCount === 0n, `PurgeDeadLetters purged ${res.purgedCount}`);
      check(res.notFoundIds.includes(s.id), "PurgeDeadLetters did not report it not found");
    },
  },
};

const conversation: Kind<{ id: string }> = {
  name: "conversation",
  requires: "conversations",
  async setup(_t, p) {
    const { conversation } = await p.owner.conversations.startConversation({
      mode: ConversationMode.ASYNC,
      participants: [p.owner.id, p.peer.id],
    });
    return { id: conversation?.id ?? "" };
  },
  async intact(p, s) {
    const got = await p.owner.conversations.getConversation({ conversationId: s.id });
    check(
      got.conversation?.state === ConversationState.OPEN,
      "another tenant closed the conversation",
    );
  },
  rpcs: {
    GetConversation: (i, s) =>
      notFound(i.conversations.getConversation({ conversationId: s.id }), "GetConversation"),
    CloseConversation: (i, s) =>
      notFound(i.conversations.closeConversation({ conversationId: s.id }), "CloseConversation"),
    GetConversationHistory: (i, s) =>
      notFound(
        i.conversations.getConversationHistory({ conversationId: s.id }),
        "GetConversationHistory",
      ),
    ListConversations: async (i, s) => {
      const list = await i.conversations.listConversations({});
      check(!list.conversations.some((c) => c.id === s.id), "ListConversations shows it");
    },
  },
};

const meeting: Kind<{ id: string }> = {
  name: "meeting",
  requires: "meetings",
  async setup(_t, p) {
    const { meeting } = await p.owner.meetings.createMeeting({
      title: "private",
      participantIds: [p.owner.id, p.peer.id],
      policy: MeetingTurnPolicy.FREE_FOR_ALL,
    });
    return { id: meeting?.id ?? "" };
  },
  async intact(p, s) {
    const got = await p.owner.meetings.getMeeting({ meetingId: s.id });
    check(
      !got.meeting?.participants.some((x) => x.agentId === "iso-intruder"),
      "another tenant's agent joined the meeting",
    );
  },
  rpcs: Object.fromEntries(
    (
      [
        ["GetMeeting", (i, id) => i.meetings.getMeeting({ meetingId: id })],
        ["JoinMeeting", (i, id) => i.meetings.joinMeeting({ meetingId: id })],
        ["LeaveMeeting", (i, id) => i.meetings.leaveMeeting({ meetingId: id })],
        ["StartMeeting", (i, id) => i.meetings.startMeeting({ meetingId: id })],
        ["EndMeeting", (i, id) => i.meetings.endMeeting({ meetingId: id })],
        ["CancelMeeting", (i, id) => i.meetings.cancelMeeting({ meetingId: id })],
        ["RequestTurn", (i, id) => i.meetings.requestTurn({ meetingId: id })],
        ["PassTurn", (i, id) => i.meetings.passTurn({ meetingId: id })],
        ["GrantTurn", (i, id) => i.meetings.grantTurn({ meetingId: id, agentId: i.id })],
        ["Speak", (i, id) => i.meetings.speak({ meetingId: id, content: text("x") })],
        ["GetTranscript", (i, id) => i.meetings.getTranscript({ meetingId: id })],
        [
          "WatchMeeting",
          (i, id) =>
            firstItem((signal) =>
              i.meetings.watchMeeting({ meetingId: id, fromBeginning: true }, { signal }),
            ),
        ],
      ] as [string, (i: TestAgent, id: string) => Promise<unknown>][]
    ).map(([rpc, call]) => [
      rpc,
      (i: TestAgent, s: { id: string }) => notFound(call(i, s.id), rpc),
    ]),
  ),
};

function kebab(s: string): string {
  return s.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
}

function casesOf<S>(kind: Kind<S>): ConformanceCase[] {
  return Object.entries(kind.rpcs).map(([rpc, call]) => ({
    id: `isolation.${kebab(kind.name.replace(/ /g, "-"))}.${kebab(rpc)}`,
    level: "MUST",
    profile: "security",
    description: `${rpc} by another tenant's agent does not reach a ${kind.name} (NOT_FOUND, not listed)`,
    spec: `acb.v1.*.${rpc}`,
    rules: ["security.tenant-isolation"],
    ...(kind.requires !== undefined && { requires: [kind.requires] }),
    async run(t) {
      const p = await pair(t);
      const s = await kind.setup(t, p);
      await call(p.intruder, s, t);
      await kind.intact?.(p, s);
    },
  }));
}

/** Events of one tenant never reach another tenant's topic subscribers or watch streams. */
const crossings: ConformanceCase[] = [
  {
    id: "isolation.dead-letter.admin-namesake",
    level: "MUST",
    profile: "security",
    description:
      "An admin of another tenant, even one with the owner's agent id, cannot read, list, replay or purge a tenant's dead letter",
    spec: "acb.v1.MessagingService.GetDeadLetter",
    rules: ["security.tenant-isolation"],
    requires: ["messaging"],
    async run(t) {
      const p = await pair(t);
      const s = await deadLetter.setup(t, p);
      const namesake = await p.away.agent(p.owner.id, { roles: [Role.ADMIN] });
      await notFound(
        namesake.messaging.getDeadLetter({ deadLetterId: s.id }),
        "GetDeadLetter by an admin namesake",
      );
      for (const agentId of ["", "*", p.owner.id]) {
        const list = await namesake.messaging.listDeadLetters({ agentId });
        check(
          !list.deadLetters.some((d) => d.id === s.id),
          `ListDeadLetters (agent_id "${agentId}") of an admin namesake shows it`,
        );
      }
      for (const [rpc, call] of Object.entries(deadLetter.rpcs)) {
        if (rpc === "ReplayDeadLetters" || rpc === "PurgeDeadLetters") await call(namesake, s, t);
      }
      await deadLetter.intact?.(p, s);
    },
  },
  {
    id: "isolation.delete-tenant.others-intact",
    level: "MUST",
    profile: "security",
    description:
      "DeleteTenant of one tenant leaves another's agents, contexts, subscriptions, queued messages and dead letters as they were",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["security.tenant-isolation", "admin.delete-tenant-purges"],
    requires: ["messaging"],
    async run(t) {
      const p = await pair(t);
      const first = await Inbox.open(t, p.owner);
      await p.peer.messaging.send({
        target: { case: "recipientId", value: p.owner.id },
        kind: "poison",
        payload: text("x"),
      });
      const poison = await first.next("the delivery to reject");
      await p.owner.messaging.nack({ deliveryIds: [poison.deliveryId], deadLetter: true });
      first.close();
      const dls = await p.owner.messaging.listDeadLetters({});
      const s = { id: dls.deadLetters[0]?.id ?? "" };
      check(s.id !== "", "Nack with dead_letter left no dead letter");
      await p.owner.contexts.createContext({ contextId: "kept", type: "n", payload: text("k") });
      await p.owner.messaging.subscribeTopic({ pattern: "kept.>" });
      await p.peer.messaging.send({
        target: { case: "recipientId", value: p.owner.id },
        kind: "queued",
        payload: text("q"),
      });
      // The other tenant has objects of every kind too, then goes.
      const gone = await p.away.agent("iso-gone");
      await gone.contexts.createContext({ contextId: "kept", type: "n", payload: text("g") });
      await gone.messaging.subscribeTopic({ pattern: "kept.>" });
      await p.intruder.messaging.send({
        target: { case: "recipientId", value: gone.id },
        kind: "gone",
        payload: text("g"),
      });
      await t.admin.admin.deleteTenant({ tenantId: p.away.id });
      await p.owner.registry.getAgent({ agentId: p.peer.id });
      const ctx = await p.owner.contexts.getContext({ contextId: "kept" });
      check(ctx.context?.revision === 1n, "the context changed");
      const subs = await p.owner.messaging.listTopicSubscriptions({});
      check(subs.subscriptions.length === 1, "the topic subscription is gone");
      await deadLetter.intact?.(p, s);
      const inbox = await Inbox.open(t, p.owner);
      const d = await inbox.next("the message queued before the other tenant was deleted");
      check(d.message?.kind === "queued", `got "${d.message?.kind}", not the queued message`);
      await inbox.ack(d);
    },
  },
  {
    id: "isolation.topic.publish",
    level: "MUST",
    profile: "security",
    description:
      "A topic message never reaches a subscriber of another tenant with a matching pattern",
    spec: "acb.v1.MessagingService.SubscribeTopic",
    rules: ["security.tenant-isolation"],
    requires: ["messaging"],
    async run(t) {
      const p = await pair(t);
      await p.intruder.messaging.subscribeTopic({ pattern: "news.>" });
      const inbox = await Inbox.open(t, p.intruder);
      await p.owner.messaging.send({
        target: { case: "topic", value: "news.today" },
        kind: "home-news",
        payload: text("n"),
      });
      await p.intruder.messaging.send({
        target: { case: "topic", value: "news.today" },
        kind: "sentinel",
        payload: text("end"),
      });
      const got = await inbox.collectUntil(
        (d) => d.message?.kind === "sentinel",
        "the intruder's own topic message",
      );
      check(!got.some((d) => d.message?.kind === "home-news"), "a topic message crossed tenants");
    },
  },
  {
    id: "isolation.watch.events",
    level: "MUST",
    profile: "security",
    description:
      "WatchAgents and SubscribeContexts of one tenant never show another tenant's agents or contexts",
    spec: "acb.v1.RegistryService.WatchAgents",
    rules: ["security.tenant-isolation"],
    async run(t) {
      const p = await pair(t);
      const agents = t.stream((signal) => p.intruder.registry.watchAgents({}, { signal }));
      const contexts = t.stream((signal) => p.intruder.contexts.subscribeContexts({}, { signal }));
      await agents.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      await contexts.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      await p.owner.contexts.createContext({ contextId: "home", type: "n", payload: text("h") });
      await p.peer.registry.unregister({ agentId: p.peer.id });
      // Sentinels from the intruder's own tenant: what precedes them must be its own only.
      await p.intruder.contexts.createContext({ contextId: "away", type: "n", payload: text("a") });
      const c = await contexts.waitFor(
        (e) => e.context !== undefined,
        "the intruder's own context event",
        t.settings.waitMs,
      );
      check(c.context?.id === "away", `SubscribeContexts showed "${c.context?.id}" first`);
      await p.away.agent("iso-newcomer");
      const a = await agents.waitFor(
        (e) => e.agent !== undefined,
        "the intruder's own registry event",
        t.settings.waitMs,
      );
      check(a.agent?.id === "iso-newcomer", `WatchAgents showed "${a.agent?.id}" first`);
    },
  },
];

export const isolationCases: ConformanceCase[] = [
  ...casesOf(context),
  ...casesOf(largeContext),
  ...casesOf(upload),
  ...casesOf(agent),
  ...casesOf(recipient),
  ...casesOf(delivery),
  ...casesOf(deadLetter),
  ...casesOf(conversation),
  ...casesOf(meeting),
  ...crossings,
];
