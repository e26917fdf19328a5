// Registry and request rules whose bookkeeping the earlier rounds left unchecked: the audit records
// of Register and Unregister, the presence timer after a sweep and after a live stream brings an
// agent back, the end of a listing by status UNKNOWN, and how long an ended Request call is
// remembered (late replies dropped inside that time, delivered as ordinary messages after it).

import type { AuditRecord } from "@acb/gen/acb/v1/admin_pb";
import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import {
  WatchAgentsResponse_Kind as AgentKind,
  AgentStatus,
  type WatchAgentsResponse,
} from "@acb/gen/acb/v1/registry_pb";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import { type CaseContext, type Clients, duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, poll, type StreamReader, untilPast } from "../wire.js";

const requires = ["registry"];

/** WatchAgents of `watcher`'s tenant, once READY. */
async function watchAgents(
  t: CaseContext,
  watcher: TestAgent,
): Promise<StreamReader<WatchAgentsResponse>> {
  const watch = t.stream((signal) => watcher.registry.watchAgents({}, { signal }));
  await watch.waitFor((e) => e.kind === AgentKind.READY, "WatchAgents READY", t.settings.waitMs);
  return watch;
}

const isStatus = (e: WatchAgentsResponse, agentId: string, status: AgentStatus) =>
  e.kind === AgentKind.STATUS_CHANGED && e.agent?.id === agentId && e.agent.status === status;

/** The records of `tenantId` with action `agent.register` or `agent.unregister`, oldest first. */
async function registryRecords(admin: Clients, tenantId: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const res = await admin.admin.queryAuditLog({
      tenantId,
      action: "agent.",
      pageSize: 1000,
      pageToken,
    });
    records.push(...res.records);
    if (res.nextPageToken === "") {
      return records.filter(
        (r) => r.action === "agent.register" || r.action === "agent.unregister",
      );
    }
    pageToken = res.nextPageToken;
  }
  throw new CaseFailure("QueryAuditLog did not end within 20 pages");
}

const describeRecord = (r: AuditRecord) =>
  `${r.action} ${r.outcome} by "${r.actor}" on "${r.target}" ${JSON.stringify(r.details)}`;

export const registryRound4Cases: ConformanceCase[] = [
  {
    id: "registry.audit-records",
    level: "MUST",
    profile: "registry",
    description:
      "Register, Register with take_over and Unregister are each recorded in the agent's tenant's audit log (action, outcome, actor, target, the session and the session replaced), and in no other tenant's",
    spec: "acb.v1.RegistryService.Register",
    rules: ["registry.audit"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await t.tenant();
      // The other tenant registers an agent of the same id: its records stay in its own log, and
      // the first tenant's records stay out of it.
      const other = await t.tenant();
      const a = await tenant.agent("rga-a", { register: false });
      const b = await other.agent("rga-a", { register: false });
      const first = await a.registry.register({ agentId: a.id, type: "conformance" });
      const second = await a.registry.register({
        agentId: a.id,
        type: "conformance",
        takeOver: true,
      });
      const theirs = await b.registry.register({ agentId: b.id, type: "conformance" });
      await a.registry.unregister({ agentId: a.id });
      const s1 = first.agent?.sessionId ?? "";
      const s2 = second.agent?.sessionId ?? "";
      const s3 = theirs.agent?.sessionId ?? "";
      check(s1 !== "" && s2 !== "" && s1 !== s2, "the two Registers returned no distinct sessions");

      // A hub may write its records a moment later.
      const own = await poll(
        async () => {
          const records = await registryRecords(t.admin, tenant.id);
          return records.length >= 3 ? records : undefined;
        },
        "three agent.register / agent.unregister records in the agent's tenant",
        t.settings.waitMs,
        t.signal,
        50,
      );
      const described = own.map(describeRecord).join("; ");
      check(own.length === 3, `the tenant's log holds ${own.length} records: ${described}`);
      const [r1, r2, r3] = own as [AuditRecord, AuditRecord, AuditRecord];
      for (const [r, action] of [
        [r1, "agent.register"],
        [r2, "agent.register"],
        [r3, "agent.unregister"],
      ] as const) {
        check(
          r.action === action &&
            r.outcome === "success" &&
            r.actor === a.id &&
            r.target === `agent/${a.id}` &&
            r.tenantId === tenant.id,
          `expected ${action} success by "${a.id}" on "agent/${a.id}" in the tenant, got ${describeRecord(r)}`,
        );
      }
      check(
        r1.details.session === s1 && r1.details.replaced === undefined,
        `the first Register's record has details ${JSON.stringify(r1.details)}, not session "${s1}" alone`,
      );
      check(
        r2.details.session === s2 && r2.details.replaced === s1,
        `the Register with take_over has details ${JSON.stringify(r2.details)}, not session "${s2}" replacing "${s1}"`,
      );

      const theirRecords = await poll(
        async () => {
          const records = await registryRecords(t.admin, other.id);
          return records.length >= 1 ? records : undefined;
        },
        "the agent.register record in the other tenant",
        t.settings.waitMs,
        t.signal,
        50,
      );
      check(
        theirRecords.length === 1 &&
          theirRecords[0]?.details.session === s3 &&
          theirRecords[0].tenantId === other.id,
        `the other tenant's log holds ${theirRecords.map(describeRecord).join("; ")}, not its own Register alone`,
      );
    },
  },
  {
    id: "registry.presence-timeout-next",
    level: "MUST",
    profile: "registry",
    description:
      "After an agent goes OFFLINE, the next agent due goes OFFLINE by its own moment, not by that of an agent of a long timeout registered after it",
    spec: "acb.v1.RegistryService.WatchAgents",
    rules: ["registry.presence-timeout", "registry.watch"],
    requires,
    async run(t) {
      // Created (and registered in) in this order: the agent of the long timeout is the last one
      // the hub holds.
      const first = await t.tenant({ presenceTimeoutMs: 300, heartbeatIntervalMs: 100 });
      const next = await t.tenant({ presenceTimeoutMs: 800, heartbeatIntervalMs: 200 });
      const long = await t.tenant({ presenceTimeoutMs: 20_000, heartbeatIntervalMs: 5_000 });
      const watchFirst = await watchAgents(t, await first.agent("ptn-w", { register: false }));
      const watchNext = await watchAgents(t, await next.agent("ptn-w", { register: false }));
      const x = await first.agent("ptn-x");
      const e = await next.agent("ptn-e");
      const registeredE = Date.now();
      const l = await long.agent("ptn-l");
      await watchFirst.waitFor(
        (ev) => isStatus(ev, x.id, AgentStatus.OFFLINE),
        "ptn-x going OFFLINE after a 300 ms presence timeout",
        t.settings.waitMs,
      );
      // The sweep that announced ptn-x must arm the timer for ptn-e's moment, the earliest left.
      await watchNext.waitFor(
        (ev) => isStatus(ev, e.id, AgentStatus.OFFLINE),
        "ptn-e going OFFLINE after an 800 ms presence timeout (the agent of a 20 s timeout registered after it)",
        Math.max(0, registeredE + 800 - Date.now()) + t.settings.waitMs,
      );
      const { agent } = await l.registry.getAgent({ agentId: l.id });
      check(
        agent?.status === AgentStatus.ONLINE,
        `an agent of a 20 s presence timeout is ${AgentStatus[agent?.status ?? 0]}, not ONLINE`,
      );
    },
  },
  {
    id: "registry.stream-presence-again",
    level: "MUST",
    profile: "registry",
    description:
      "An agent gone OFFLINE comes back ONLINE by opening Receive; once the stream closes it goes OFFLINE again by its presence timeout",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.stream-presence", "registry.presence-timeout", "registry.watch"],
    requires: [...requires, "messaging"],
    async run(t) {
      const presenceMs = 400;
      const tenant = await t.tenant({ presenceTimeoutMs: presenceMs, heartbeatIntervalMs: 100 });
      const watch = await watchAgents(t, await tenant.agent("spa-w", { register: false }));
      const b = await tenant.agent("spa-b");
      await watch.waitFor(
        (ev) => isStatus(ev, b.id, AgentStatus.OFFLINE),
        "spa-b going OFFLINE after a 400 ms presence timeout",
        presenceMs + t.settings.waitMs,
      );
      const inbox = await Inbox.open(t, b);
      await watch.waitFor(
        (ev) => isStatus(ev, b.id, AgentStatus.ONLINE),
        "spa-b back ONLINE once its Receive stream is open",
        t.settings.waitMs,
      );
      // The touches of the live stream moved its moment: the hub's timer must follow it, also
      // when the agent's earlier moment was already announced.
      inbox.close();
      await watch.waitFor(
        (ev) => isStatus(ev, b.id, AgentStatus.OFFLINE),
        "spa-b going OFFLINE again a presence timeout after its stream closed",
        presenceMs + t.settings.waitMs,
      );
    },
  },
  {
    id: "registry.status-unknown",
    level: "MUST",
    profile: "registry",
    description:
      "ListAgents and Discover with status UNKNOWN list no agent, and following their next_page_token ends",
    spec: "acb.v1.RegistryService.ListAgents",
    rules: ["registry.status-filter", "pagination.complete"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("rsu-a");
      await tenant.agent("rsu-b");
      const calls = [
        [
          "ListAgents",
          (pageToken: string) =>
            a.registry.listAgents({ status: AgentStatus.UNKNOWN, pageSize: 1, pageToken }),
        ],
        [
          "Discover",
          (pageToken: string) =>
            a.registry.discover({ status: AgentStatus.UNKNOWN, pageSize: 1, pageToken }),
        ],
      ] as const;
      for (const [name, call] of calls) {
        let pageToken = "";
        let pages = 0;
        for (;;) {
          const res = await call(pageToken);
          pages++;
          check(
            res.agents.length === 0,
            `${name} with status UNKNOWN listed [${res.agents.map((x) => x.id).join(", ")}]`,
          );
          if (res.nextPageToken === "") break;
          check(
            pages < 3,
            `${name} with status UNKNOWN still gave a next_page_token after ${pages} empty pages`,
          );
          pageToken = res.nextPageToken;
        }
      }
    },
  },
  {
    id: "request-reply.late-window",
    level: "MUST",
    profile: "request-reply",
    description:
      "A RESPONSE to a timed-out Request is dropped while the hub remembers the call (the longer of the dedupe window and the timeout after it ended), and delivered as an ordinary message after that",
    spec: "acb.v1.SendRequest.correlation_id",
    rules: ["request-reply.late", "request-reply.timeout"],
    requires: ["request-reply"],
    async run(t) {
      const windowMs = 1_000;
      const timeoutMs = 1_500;
      const tenant = await t.tenant({ dedupeWindowMs: windowMs });
      const asker = await tenant.agent("rlw-asker");
      const answerer = await tenant.agent("rlw-answerer");
      const asks = await Inbox.open(t, answerer);
      const own = await Inbox.open(t, asker);
      const reply = (correlationId: string, kind: string, type = MessageType.RESPONSE) =>
        answerer.messaging.send({
          target: { case: "recipientId", value: asker.id },
          type,
          correlationId,
          kind,
          payload: text(kind),
        });
      const asked = async (what: string) => {
        const q = await asks.next(what);
        await asks.ack(q);
        return q.message?.id ?? "";
      };
      // A RESPONSE correlated to a message sent with Send is an ordinary delivery.
      const sent = await asker.messaging.send({
        target: { case: "recipientId", value: answerer.id },
        type: MessageType.QUERY,
        kind: "q0",
        payload: text("q0"),
      });
      await asked("the query sent with Send");
      await reply(sent.messageId, "r0");

      const started = Date.now();
      const call = asker.messaging.request(
        { recipientId: answerer.id, kind: "q1", payload: text("q1"), timeout: duration(timeoutMs) },
        { signal: t.signal },
      );
      const q1 = await asked("the request");
      await expectCode(call, Code.DeadlineExceeded, "a Request with a 1.5 s timeout unanswered");
      // The call ended no later than now, and not before its timeout after it began.
      const ended = Date.now();
      // Inside the window: the call ended at `started + timeoutMs` at the earliest, so the hub
      // remembers it at least until `started + 2 * timeoutMs`.
      await reply(q1, "late");
      const inWindow = Date.now() < started + 2 * timeoutMs;
      // After the window: the hub forgot the call by `ended + max(window, timeout)`.
      await untilPast(ended + Math.max(windowMs, timeoutMs) + 50, t.signal);
      await reply(q1, "after");
      await reply("", "sentinel", MessageType.EVENT);
      const kinds = (await own.collectUntil((d) => d.message?.kind === "sentinel", "the sentinel"))
        .map((d) => d.message?.kind)
        .filter((k) => k !== "late" || inWindow);
      check(
        kinds.join(",") === "r0,after,sentinel",
        `the requester's Receive stream got [${kinds.join(", ")}], not [r0, after, sentinel] (the RESPONSE inside the window dropped, the one after it delivered)`,
      );
    },
  },
];
