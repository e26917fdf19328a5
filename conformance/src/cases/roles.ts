// Security profile, the role matrix: every role against every RPC of acb.v1, one case per RPC.
// A role the table in docs/security.md does not allow must get PERMISSION_DENIED whatever the
// request holds; a role it allows must not be refused for its role (the call may still fail for
// another reason: the requests name ids that do not exist, so allowed calls change nothing).
// AdminService and the credential RPCs of AuthService are checked for the roles that must be
// refused only: what a tenant admin may do with its own tenant is its own rule.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { UploadMode } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingTurnPolicy } from "@acb/gen/acb/v1/meetings_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase } from "../case.js";
import { duration, type TestAgent } from "../harness.js";
import { text } from "../inbox.js";

const {
  ADMIN,
  AGENT_PRODUCER: PRODUCER,
  AGENT_CONSUMER: CONSUMER,
  AGENT_FULL: FULL,
  OBSERVER,
} = Role;
const ALL = [ADMIN, PRODUCER, CONSUMER, FULL, OBSERVER];
const ANY_AGENT = [ADMIN, PRODUCER, CONSUMER, FULL];
const WRITERS = [ADMIN, PRODUCER, FULL];
const READERS = [ADMIN, CONSUMER, FULL, OBSERVER];
const RECEIVERS = [ADMIN, CONSUMER, FULL];
const PARTICIPANTS = [ADMIN, FULL];

/** What a probe gets: the caller, and its tenant's id. */
type Probe = (caller: TestAgent, signal: AbortSignal) => Promise<unknown>;

interface Row {
  service: string;
  rpc: string;
  allowed: readonly Role[];
  /** Roles not checked (their rule is not the role table's). */
  unchecked?: readonly Role[];
  requires?: string;
  probe: Probe;
}

const none = "conformance-none";
const payload = text("x");

/** Reads the first item of a server stream (or its error), then closes it. */
async function first(open: (signal: AbortSignal) => AsyncIterable<unknown>, parent: AbortSignal) {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  parent.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const _ of open(abort.signal)) return;
  } finally {
    parent.removeEventListener("abort", onAbort);
    abort.abort();
  }
}

async function* nothing<T>(): AsyncIterable<T> {}

const rows: Row[] = [
  {
    service: "ServerInfoService",
    rpc: "GetServerInfo",
    allowed: ALL,
    probe: (a) => a.info.getServerInfo({}),
  },
  {
    service: "RegistryService",
    rpc: "Register",
    allowed: ANY_AGENT,
    probe: (a) => a.registry.register({ agentId: a.id, type: "conformance" }),
  },
  {
    service: "RegistryService",
    rpc: "Heartbeat",
    allowed: ANY_AGENT,
    probe: (a) => a.registry.heartbeat({ agentId: a.id }),
  },
  {
    service: "RegistryService",
    rpc: "Unregister",
    allowed: ANY_AGENT,
    probe: (a) => a.registry.unregister({ agentId: a.id }),
  },
  {
    service: "RegistryService",
    rpc: "GetAgent",
    allowed: ALL,
    probe: (a) => a.registry.getAgent({ agentId: none }),
  },
  {
    service: "RegistryService",
    rpc: "ListAgents",
    allowed: ALL,
    probe: (a) => a.registry.listAgents({}),
  },
  {
    service: "RegistryService",
    rpc: "Discover",
    allowed: ALL,
    probe: (a) => a.registry.discover({ type: "conformance" }),
  },
  {
    service: "RegistryService",
    rpc: "WatchAgents",
    allowed: ALL,
    probe: (a, signal) => first((s) => a.registry.watchAgents({}, { signal: s }), signal),
  },
  {
    service: "ContextService",
    rpc: "CreateContext",
    allowed: WRITERS,
    probe: (a) => a.contexts.createContext({ contextId: `c-${a.id}`, type: "n", payload }),
  },
  {
    service: "ContextService",
    rpc: "UpdateContext",
    allowed: WRITERS,
    probe: (a) => a.contexts.updateContext({ contextId: none, payload }),
  },
  {
    service: "ContextService",
    rpc: "DeleteContext",
    allowed: WRITERS,
    probe: (a) => a.contexts.deleteContext({ contextId: none }),
  },
  {
    service: "ContextService",
    rpc: "GetContext",
    allowed: ALL,
    probe: (a) => a.contexts.getContext({ contextId: none }),
  },
  {
    service: "ContextService",
    rpc: "ListContexts",
    allowed: ALL,
    probe: (a) => a.contexts.listContexts({}),
  },
  {
    service: "ContextService",
    rpc: "SubscribeContexts",
    allowed: READERS,
    probe: (a, signal) => first((s) => a.contexts.subscribeContexts({}, { signal: s }), signal),
  },
  ...(
    [
      ["BeginUpload", WRITERS],
      ["UploadChunks", WRITERS],
      ["AppendChunk", WRITERS],
      ["GetUploadStatus", WRITERS],
      ["CommitUpload", WRITERS],
      ["AbortUpload", WRITERS],
      ["DownloadContext", ALL],
    ] as const
  ).map(
    ([rpc, allowed]): Row => ({
      service: "LargeContextService",
      rpc,
      allowed,
      requires: "large-contexts",
      probe: (a, signal) => {
        switch (rpc) {
          case "BeginUpload":
            return a.large.beginUpload({
              mode: UploadMode.CREATE,
              contextId: `u-${a.id}`,
              type: "blob",
              totalSize: 1n,
            });
          case "UploadChunks":
            return a.large.uploadChunks(nothing());
          case "AppendChunk":
            return a.large.appendChunk({
              uploadId: none,
              chunk: { offset: 0n, data: new Uint8Array(1) },
            });
          case "GetUploadStatus":
            return a.large.getUploadStatus({ uploadId: none });
          case "CommitUpload":
            return a.large.commitUpload({ uploadId: none });
          case "AbortUpload":
            return a.large.abortUpload({ uploadId: none });
          default:
            return first(
              (s) => a.large.downloadContext({ contextId: none }, { signal: s }),
              signal,
            );
        }
      },
    }),
  ),
  {
    service: "MessagingService",
    rpc: "Send",
    allowed: WRITERS,
    requires: "messaging",
    probe: (a) =>
      a.messaging.send({ target: { case: "recipientId", value: none }, kind: "k", payload }),
  },
  {
    service: "MessagingService",
    rpc: "SendBatch",
    allowed: WRITERS,
    requires: "messaging",
    probe: (a) =>
      a.messaging.sendBatch({
        requests: [{ target: { case: "recipientId", value: none }, kind: "k", payload }],
      }),
  },
  {
    service: "MessagingService",
    rpc: "Request",
    allowed: WRITERS,
    requires: "request-reply",
    probe: (a) =>
      a.messaging.request({ recipientId: none, kind: "k", payload, timeout: duration(100) }),
  },
  {
    service: "MessagingService",
    rpc: "SubscribeTopic",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a) => a.messaging.subscribeTopic({ pattern: "conformance.roles" }),
  },
  {
    service: "MessagingService",
    rpc: "UnsubscribeTopic",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a) => a.messaging.unsubscribeTopic({ pattern: "conformance.none" }),
  },
  {
    service: "MessagingService",
    rpc: "ListTopicSubscriptions",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a) => a.messaging.listTopicSubscriptions({}),
  },
  {
    service: "MessagingService",
    rpc: "Receive",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a, signal) => first((s) => a.messaging.receive({}, { signal: s }), signal),
  },
  {
    service: "MessagingService",
    rpc: "Ack",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a) => a.messaging.ack({ deliveryIds: [none] }),
  },
  {
    service: "MessagingService",
    rpc: "Nack",
    allowed: RECEIVERS,
    requires: "messaging",
    probe: (a) => a.messaging.nack({ deliveryIds: [none] }),
  },
  {
    service: "MessagingService",
    rpc: "SendStream",
    allowed: ANY_AGENT,
    requires: "messaging",
    probe: (a, signal) => first((s) => a.messaging.sendStream(nothing(), { signal: s }), signal),
  },
  {
    service: "MessagingService",
    rpc: "ListDeadLetters",
    allowed: READERS,
    requires: "messaging",
    probe: (a) => a.messaging.listDeadLetters({}),
  },
  {
    service: "MessagingService",
    rpc: "GetDeadLetter",
    allowed: READERS,
    requires: "messaging",
    probe: (a) => a.messaging.getDeadLetter({ deadLetterId: none }),
  },
  {
    service: "MessagingService",
    rpc: "ReplayDeadLetters",
    allowed: PARTICIPANTS,
    requires: "messaging",
    probe: (a) => a.messaging.replayDeadLetters({ deadLetterIds: [none] }),
  },
  {
    service: "MessagingService",
    rpc: "PurgeDeadLetters",
    allowed: PARTICIPANTS,
    requires: "messaging",
    probe: (a) => a.messaging.purgeDeadLetters({ deadLetterIds: [none] }),
  },
  {
    service: "ConversationService",
    rpc: "StartConversation",
    allowed: WRITERS,
    requires: "conversations",
    probe: (a) => a.conversations.startConversation({ participants: [a.id, none] }),
  },
  ...(
    [
      ["GetConversation", ALL],
      ["ListConversations", ALL],
      ["CloseConversation", ANY_AGENT],
      ["GetConversationHistory", ALL],
    ] as const
  ).map(
    ([rpc, allowed]): Row => ({
      service: "ConversationService",
      rpc,
      allowed,
      requires: "conversations",
      probe: (a) => {
        switch (rpc) {
          case "GetConversation":
            return a.conversations.getConversation({ conversationId: none });
          case "ListConversations":
            return a.conversations.listConversations({});
          case "CloseConversation":
            return a.conversations.closeConversation({ conversationId: none });
          default:
            return a.conversations.getConversationHistory({ conversationId: none });
        }
      },
    }),
  ),
  {
    service: "MeetingService",
    rpc: "CreateMeeting",
    allowed: PARTICIPANTS,
    requires: "meetings",
    probe: (a) =>
      a.meetings.createMeeting({
        title: "roles",
        participantIds: [a.id],
        policy: MeetingTurnPolicy.FREE_FOR_ALL,
      }),
  },
  ...(
    [
      ["GetMeeting", ALL],
      ["ListMeetings", ALL],
      ["JoinMeeting", PARTICIPANTS],
      ["LeaveMeeting", PARTICIPANTS],
      ["StartMeeting", PARTICIPANTS],
      ["EndMeeting", PARTICIPANTS],
      ["CancelMeeting", PARTICIPANTS],
      ["RequestTurn", PARTICIPANTS],
      ["PassTurn", PARTICIPANTS],
      ["GrantTurn", PARTICIPANTS],
      ["Speak", PARTICIPANTS],
      ["WatchMeeting", ALL],
      ["GetTranscript", ALL],
    ] as const
  ).map(
    ([rpc, allowed]): Row => ({
      service: "MeetingService",
      rpc,
      allowed,
      requires: "meetings",
      probe: (a, signal) => {
        const meetingId = none;
        const m = a.meetings;
        switch (rpc) {
          case "GetMeeting":
            return m.getMeeting({ meetingId });
          case "ListMeetings":
            return m.listMeetings({});
          case "JoinMeeting":
            return m.joinMeeting({ meetingId });
          case "LeaveMeeting":
            return m.leaveMeeting({ meetingId });
          case "StartMeeting":
            return m.startMeeting({ meetingId });
          case "EndMeeting":
            return m.endMeeting({ meetingId });
          case "CancelMeeting":
            return m.cancelMeeting({ meetingId });
          case "RequestTurn":
            return m.requestTurn({ meetingId });
          case "PassTurn":
            return m.passTurn({ meetingId });
          case "GrantTurn":
            return m.grantTurn({ meetingId, agentId: a.id });
          case "Speak":
            return m.speak({ meetingId, content: payload });
          case "WatchMeeting":
            return first((s) => m.watchMeeting({ meetingId }, { signal: s }), signal);
          default:
            return m.getTranscript({ meetingId });
        }
      },
    }),
  ),
  {
    service: "AuthService",
    rpc: "IssueToken",
    allowed: [ADMIN],
    unchecked: [ADMIN],
    probe: (a) => a.auth.issueToken({ tenantId: a.tenantId, agentId: "issued", roles: [FULL] }),
  },
  {
    service: "AuthService",
    rpc: "RevokeToken",
    allowed: ALL,
    probe: (a) => a.auth.revokeToken({ refreshToken: none }),
  },
  {
    service: "AuthService",
    rpc: "CreateApiKey",
    allowed: [ADMIN],
    unchecked: [ADMIN],
    probe: (a) => a.auth.createApiKey({ tenantId: a.tenantId, agentId: a.id, roles: [FULL] }),
  },
  {
    service: "AuthService",
    rpc: "ListApiKeys",
    allowed: [ADMIN],
    unchecked: [ADMIN],
    probe: (a) => a.auth.listApiKeys({ tenantId: a.tenantId }),
  },
  {
    service: "AuthService",
    rpc: "RevokeApiKey",
    allowed: [ADMIN],
    unchecked: [ADMIN],
    probe: (a) => a.auth.revokeApiKey({ keyId: none }),
  },
  {
    service: "AuthService",
    rpc: "RevokeAccessTokens",
    allowed: [ADMIN],
    unchecked: [ADMIN],
    // A subject no test uses: the admin's call revokes nothing anyone holds.
    probe: (a) => a.auth.revokeAccessTokens({ tenantId: a.tenantId, agentId: "nobody-holds-this" }),
  },
  {
    service: "AuthService",
    rpc: "WhoAmI",
    allowed: ALL,
    probe: (a) => a.auth.whoAmI({}),
  },
  ...(
    [
      ["CreateTenant", [ADMIN]],
      ["GetTenant", [ADMIN, OBSERVER]],
      ["ListTenants", [ADMIN]],
      ["UpdateTenant", [ADMIN]],
      ["DeleteTenant", [ADMIN]],
      ["GetUsage", [ADMIN, OBSERVER]],
      ["QueryAuditLog", [ADMIN]],
      ["ExportAuditLog", [ADMIN]],
    ] as const
  ).map(
    ([rpc, allowed]): Row => ({
      service: "AdminService",
      rpc,
      allowed,
      unchecked: [ADMIN],
      probe: (a, signal) => {
        const tenantId = a.tenantId;
        const m = a.admin;
        switch (rpc) {
          case "CreateTenant":
            return m.createTenant({ tenantId: `${tenantId}-x` });
          case "GetTenant":
            return m.getTenant({ tenantId });
          case "ListTenants":
            return m.listTenants({});
          case "UpdateTenant":
            return m.updateTenant({ tenantId, displayName: "changed by a role probe" });
          case "DeleteTenant":
            return m.deleteTenant({ tenantId });
          case "GetUsage":
            return m.getUsage({ tenantId });
          case "QueryAuditLog":
            return m.queryAuditLog({ tenantId });
          default:
            return first((s) => m.exportAuditLog({ tenantId }, { signal: s }), signal);
        }
      },
    }),
  ),
];

/** Fails when `call` neither settles nor fails within `ms` (a hub must answer every call). */
async function bounded(call: Promise<unknown>, ms: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      call,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CaseFailure(`${what}: no answer in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const roleNames: Record<number, string> = {
  [ADMIN]: "admin",
  [PRODUCER]: "producer",
  [CONSUMER]: "consumer",
  [FULL]: "full",
  [OBSERVER]: "observer",
};

function kebab(s: string): string {
  return s.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
}

/** The RPCs the matrix reaches, "Service/Rpc" (exported for the catalogue's own checks). */
export const roleMatrixRpcs: readonly string[] = rows.map((r) => `${r.service}/${r.rpc}`);

export const roleCases: ConformanceCase[] = rows.map((row) => ({
  id: `roles.${kebab(row.service.replace(/Service$/, ""))}.${kebab(row.rpc)}`,
  level: "MUST",
  profile: "security",
  description: `${row.rpc}: ${row.allowed.map((r) => roleNames[r]).join(", ")} may call it; every other role is PERMISSION_DENIED`,
  spec: `acb.v1.${row.service}.${row.rpc}`,
  rules: ["security.roles"],
  ...(row.requires !== undefined && { requires: [row.requires] }),
  async run(t) {
    const tenant = await t.tenant();
    const problems: string[] = [];
    for (const role of ALL) {
      if (row.unchecked?.includes(role)) continue;
      const name = roleNames[role] ?? String(role);
      // Agents that may register do, so an allowed call meets a registered caller.
      const caller = await tenant.agent(`role-${name}`, {
        roles: [role],
        register: role !== OBSERVER,
      });
      let code: Code | undefined;
      try {
        await bounded(row.probe(caller, t.signal), t.settings.waitMs, `${row.rpc} by ${name}`);
      } catch (err) {
        if (err instanceof CaseFailure) throw err;
        code = ConnectError.from(err).code;
      }
      const refused = code === Code.PermissionDenied || code === Code.Unauthenticated;
      if (row.allowed.includes(role) && refused) {
        problems.push(`${name} may call ${row.rpc} but got ${Code[code as Code]}`);
      }
      if (!row.allowed.includes(role) && code !== Code.PermissionDenied) {
        problems.push(
          `${name} may not call ${row.rpc} but got ${code === undefined ? "OK" : Code[code]}`,
        );
      }
    }
    if (problems.length > 0) throw new CaseFailure(problems.join("; "));
  },
}));
