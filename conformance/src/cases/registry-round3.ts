// Registry rules that the hub's bookkeeping of agents shows over the wire: agents whose presence
// times out at different moments each go OFFLINE by their own moment and once only, heartbeats
// keep an agent ONLINE without status changes, Unregister deletes what the agent owned, and the
// change streams of a deleted tenant do not resume in the tenant created again with its id.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { SubscribeContextsResponse_Kind as ContextKind } from "@acb/gen/acb/v1/contexts_pb";
import { ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import {
  WatchAgentsResponse_Kind as AgentKind,
  AgentStatus,
  type WatchAgentsResponse,
} from "@acb/gen/acb/v1/registry_pb";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, type StreamReader, untilPast } from "../wire.js";
import { deadLetters, expectKinds, to } from "./delivery-helpers.js";

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

const describeEvent = (e: WatchAgentsResponse) =>
  `${AgentKind[e.kind]} ${AgentStatus[e.agent?.status ?? 0]}`;

/** The next event of `agentId` on `watch`, which must be `kind` (with `status`, if given). */
async function nextOf(
  watch: StreamReader<WatchAgentsResponse>,
  agentId: string,
  kind: AgentKind,
  status: AgentStatus | undefined,
  what: string,
  timeoutMs: number,
): Promise<WatchAgentsResponse> {
  const e = await watch.waitFor((x) => x.agent?.id === agentId, what, timeoutMs);
  check(
    e.kind === kind && (status === undefined || e.agent?.status === status),
    `${what}: the next event of ${agentId} is ${describeEvent(e)}`,
  );
  return e;
}

/**
 * Registers `sentinel` and waits for its REGISTERED event on `watch`: the events of `agentId` seen
 * before it are returned (the stream is in order, so they are every one the hub sent meanwhile).
 */
async function eventsUntilRegistered(
  t: CaseContext,
  watch: StreamReader<WatchAgentsResponse>,
  sentinel: () => Promise<unknown>,
  sentinelId: string,
  agentId: string,
): Promise<WatchAgentsResponse[]> {
  const seen: WatchAgentsResponse[] = [];
  await sentinel();
  await watch.waitFor(
    (e) => {
      if (e.agent?.id === agentId) seen.push(e);
      return e.kind === AgentKind.REGISTERED && e.agent?.id === sentinelId;
    },
    `the REGISTERED event of ${sentinelId}`,
    t.settings.waitMs,
  );
  return seen;
}

/**
 * Checks that `stream`, opened under a tenant since deleted, ends UNAUTHENTICATED and sends
 * nothing `counted` meanwhile (`what`: what the counted items are, for the failure).
 */
export async function endsUnauthenticated<T>(
  t: CaseContext,
  stream: StreamReader<T>,
  name: string,
  counted: (item: T) => boolean,
  what: string,
): Promise<void> {
  const ending = `the end of a ${name} stream of the deleted tenant`;
  let sent = 0;
  try {
    await stream.waitFor(
      (item) => {
        if (counted(item)) sent++;
        return false;
      },
      ending,
      t.settings.waitMs,
    );
  } catch {
    // Ended (or still open: end() below says which).
  }
  const err = await stream.end(ending, 1);
  check(
    err?.code === Code.Unauthenticated,
    `a ${name} stream open when its tenant was deleted ended with ${err ? Code[err.code] : "OK"}, not UNAUTHENTICATED`,
  );
  check(sent === 0, `a ${name} stream of the deleted tenant sent ${sent} ${what} after it`);
}

export const registryRound3Cases: ConformanceCase[] = [
  {
    id: "registry.presence-timeout-each",
    level: "MUST",
    profile: "registry",
    description:
      "Agents whose presence times out at different moments (three tenants' timeouts) each go OFFLINE by their own moment, once, while agents of a long timeout registered before and after them stay ONLINE",
    spec: "acb.v1.RegistryService.WatchAgents",
    rules: ["registry.presence-timeout", "registry.watch"],
    requires,
    async run(t) {
      const long = await t.tenant({ presenceTimeoutMs: 60_000, heartbeatIntervalMs: 20_000 });
      const short = await t.tenant({ presenceTimeoutMs: 400, heartbeatIntervalMs: 100 });
      const later = await t.tenant({ presenceTimeoutMs: 1_000, heartbeatIntervalMs: 250 });
      const watchShort = await watchAgents(t, await short.agent("pte-w", { register: false }));
      const watchLater = await watchAgents(t, await later.agent("pte-w", { register: false }));
      // Registered first, its OFFLINE a minute away: the hub's earliest moment is not the first
      // agent it holds.
      const x = await long.agent("pte-x");
      const a = await short.agent("pte-a");
      const b = await later.agent("pte-b");
      const registeredB = Date.now();
      // Registered last, its OFFLINE a minute away too: a later moment must not put off earlier ones.
      await long.agent("pte-y");
      await nextOf(
        watchShort,
        a.id,
        AgentKind.REGISTERED,
        undefined,
        "the REGISTERED event of pte-a",
        t.settings.waitMs,
      );
      await nextOf(
        watchShort,
        a.id,
        AgentKind.STATUS_CHANGED,
        AgentStatus.OFFLINE,
        "pte-a going OFFLINE after a 400 ms presence timeout",
        t.settings.waitMs,
      );
      await nextOf(
        watchLater,
        b.id,
        AgentKind.REGISTERED,
        undefined,
        "the REGISTERED event of pte-b",
        t.settings.waitMs,
      );
      await nextOf(
        watchLater,
        b.id,
        AgentKind.STATUS_CHANGED,
        AgentStatus.OFFLINE,
        "pte-b going OFFLINE after a 1,000 ms presence timeout (after pte-a went OFFLINE)",
        Math.max(0, registeredB + 1_000 - Date.now()) + t.settings.waitMs,
      );
      // Each status changed once: nothing more of either before a later registration's event.
      for (const [tenant, watch, agent] of [
        [short, watchShort, a],
        [later, watchLater, b],
      ] as const) {
        const s = await tenant.agent("pte-s", { register: false });
        const more = await eventsUntilRegistered(
          t,
          watch,
          () => s.registry.register({ agentId: s.id, type: "conformance" }),
          s.id,
          agent.id,
        );
        check(
          more.length === 0,
          `after ${agent.id} went OFFLINE, the stream sent ${more.length} more event(s) of it (${more.slice(0, 3).map(describeEvent).join(", ")}), with no change of its status`,
        );
      }
      const { agent } = await x.registry.getAgent({ agentId: x.id });
      check(
        agent?.status === AgentStatus.ONLINE,
        `an agent of a 60 s presence timeout is ${AgentStatus[agent?.status ?? 0]}, not ONLINE`,
      );
    },
  },
  {
    id: "registry.heartbeat-keeps-online",
    level: "MUST",
    profile: "registry",
    description:
      "An agent that heartbeats at its interval for four presence timeouts stays ONLINE: WatchAgents sends no STATUS_CHANGED of it",
    spec: "acb.v1.RegistryService.Heartbeat",
    rules: ["registry.presence-timeout", "registry.watch", "registry.status-filter"],
    requires,
    async run(t) {
      const presenceMs = 600;
      const intervalMs = 150;
      const tenant = await t.tenant({
        presenceTimeoutMs: presenceMs,
        heartbeatIntervalMs: intervalMs,
      });
      const watch = await watchAgents(t, await tenant.agent("hko-w", { register: false }));
      const a = await tenant.agent("hko-a", { register: false });
      // The longest time between two heartbeats as the hub may have seen them: from the start of
      // one call to the end of the next (a loaded machine may stretch it past the timeout).
      let sent = Date.now();
      await a.registry.register({ agentId: a.id, type: "conformance" });
      let longest = 0;
      const until = Date.now() + 4 * presenceMs;
      while (Date.now() < until) {
        // The agent's heartbeat interval, as RegisterResponse asks.
        await untilPast(sent + intervalMs, t.signal);
        const start = Date.now();
        const beat = await a.registry.heartbeat({ agentId: a.id });
        longest = Math.max(longest, Date.now() - sent);
        sent = start;
        check(
          beat.status === AgentStatus.ONLINE,
          `a Heartbeat answered ${AgentStatus[beat.status]}`,
        );
      }
      const s = await tenant.agent("hko-s", { register: false });
      const events = await eventsUntilRegistered(
        t,
        watch,
        () => s.registry.register({ agentId: s.id, type: "conformance" }),
        s.id,
        a.id,
      );
      const changes = events.filter((e) => e.kind !== AgentKind.REGISTERED);
      check(
        changes.length === 0 || longest >= presenceMs,
        `an agent heartbeating every ${intervalMs} ms (never more than ${longest} ms apart) with a ${presenceMs} ms presence timeout got ${changes.map(describeEvent).join(", ")}`,
      );
      const online = await a.registry.listAgents({ status: AgentStatus.ONLINE });
      check(
        online.agents.some((x) => x.id === a.id) || longest >= presenceMs,
        "ListAgents with status ONLINE does not list an agent that heartbeats at its interval",
      );
    },
  },
  {
    id: "registry.unregister-purges",
    level: "MUST",
    profile: "registry",
    description:
      "Unregister deletes the agent's queued messages, topic subscriptions and dead letters: registered again, it lists none and receives none of the messages sent or published before",
    spec: "acb.v1.RegistryService.Unregister",
    rules: ["registry.unregister-purges"],
    requires: [...requires, "messaging"],
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("upg-s");
      const r = await tenant.agent("upg-r");
      await r.messaging.subscribeTopic({ pattern: "upg.>" });
      {
        const inbox = await Inbox.open(t, r);
        await s.messaging.send(to(r, "dead"));
        const d = await inbox.next("the message to dead-letter");
        await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
        inbox.close();
      }
      await deadLetters(t, r, 1, "the dead letter before Unregister");
      await s.messaging.send(to(r, "queued"));
      await s.messaging.send({
        target: { case: "topic", value: "upg.before" },
        kind: "published",
        payload: text("p"),
      });
      await r.registry.unregister({ agentId: r.id });
      await r.registry.register({ agentId: r.id, type: "conformance" });
      const subs = await r.messaging.listTopicSubscriptions({});
      check(
        subs.subscriptions.length === 0,
        `the agent registered again lists topic subscriptions [${subs.subscriptions.map((x) => x.pattern).join(", ")}]`,
      );
      const dls = await r.messaging.listDeadLetters({});
      check(
        dls.deadLetters.length === 0,
        `the agent registered again lists ${dls.deadLetters.length} dead letter(s)`,
      );
      // A publish to the old pattern now reaches no subscriber; the sentinel ends what arrives.
      await s.messaging.send({
        target: { case: "topic", value: "upg.after" },
        kind: "published-after",
        payload: text("p"),
      });
      await s.messaging.send(to(r, "sentinel"));
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, [], "what the agent registered again receives before the sentinel");
    },
  },
  {
    id: "admin.delete-tenant-cursors",
    level: "MUST",
    profile: "security",
    description:
      "A WatchAgents or SubscribeContexts cursor of a deleted tenant resumes none of its changes in the tenant created again with the same id",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const w = await tenant.agent("dtc-w", { register: false });
      // The cursors of READY, before any change: every change after them would be resumed.
      const agents = t.stream((signal) => w.registry.watchAgents({}, { signal }));
      const agentsReady = await agents.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      const contexts = t.stream((signal) => w.contexts.subscribeContexts({}, { signal }));
      const contextsReady = await contexts.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const a = await tenant.agent("dtc-a");
      await a.contexts.createContext({ contextId: "dtc-c", type: "n", payload: text("old") });
      await agents.waitFor(
        (e) => e.kind === AgentKind.REGISTERED && e.agent?.id === a.id,
        "the REGISTERED event of dtc-a",
        t.settings.waitMs,
      );
      await contexts.waitFor(
        (e) => e.kind === ContextKind.CREATED && e.context?.id === "dtc-c",
        "the CREATED event of dtc-c",
        t.settings.waitMs,
      );
      agents.close();
      contexts.close();
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      const w2 = await t.agentIn(tenant.id, w.id, { register: false });
      // Resuming is refused, or READY comes with nothing of the deleted tenant before it.
      const resumed = async <E extends { kind: number }>(
        open: (signal: AbortSignal) => AsyncIterable<E>,
        ready: number,
        name: string,
        describe: (e: E) => string,
      ) => {
        const stream = t.stream(open);
        const before: E[] = [];
        try {
          await stream.waitFor(
            (e) => {
              if (e.kind === ready) return true;
              before.push(e);
              return false;
            },
            `${name} resumed from a cursor of the deleted tenant`,
            t.settings.waitMs,
          );
        } catch (err) {
          // Refused (the cursor is not one of this tenant's): as good as READY with nothing before.
          const refused = /the stream failed with (OutOfRange|FailedPrecondition|InvalidArgument) /;
          if (before.length === 0 && err instanceof CaseFailure && refused.test(err.message))
            return;
          if (before.length === 0) throw err;
        }
        check(
          before.length === 0,
          `${name} resumed from a cursor of the deleted tenant sent ${before.map(describe).join(", ")} of the deleted tenant`,
        );
        stream.close();
      };
      await resumed(
        (signal) => w2.registry.watchAgents({ cursor: agentsReady.cursor }, { signal }),
        AgentKind.READY,
        "WatchAgents",
        (e) => `${AgentKind[e.kind]} of ${e.agent?.id}`,
      );
      await resumed(
        (signal) => w2.contexts.subscribeContexts({ cursor: contextsReady.cursor }, { signal }),
        ContextKind.READY,
        "SubscribeContexts",
        (e) => `${ContextKind[e.kind]} of ${e.context?.id}`,
      );
    },
  },
  {
    id: "registry.unregister-empty-tenant",
    level: "MUST",
    profile: "registry",
    description:
      "In a tenant where no agent ever registered, an admin's Unregister, Heartbeat and GetAgent of an agent id are NOT_FOUND",
    spec: "acb.v1.RegistryService.Unregister",
    rules: ["registry.unregister"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const admin = await tenant.agent("ue-admin", { roles: [Role.ADMIN], register: false });
      await expectCode(
        admin.registry.unregister({ agentId: "ue-none" }),
        Code.NotFound,
        "Unregister in a tenant without agents",
      );
      await expectCode(
        admin.registry.heartbeat({ agentId: "ue-none" }),
        Code.NotFound,
        "Heartbeat in a tenant without agents",
      );
      await expectCode(
        admin.registry.getAgent({ agentId: "ue-none" }),
        Code.NotFound,
        "GetAgent in a tenant without agents",
      );
      const listed = await admin.registry.listAgents({});
      check(listed.agents.length === 0, `a tenant without agents lists ${listed.agents.length}`);
    },
  },
  {
    id: "admin.delete-tenant-streams",
    level: "MUST",
    profile: "security",
    description:
      "WatchAgents and SubscribeContexts streams open under a tenant when it is deleted end UNAUTHENTICATED, and send nothing of the tenant created again with the same id",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-credentials"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await t.tenant();
      const w = await tenant.agent("dts-w", { register: false });
      const agents = await watchAgents(t, w);
      const contexts = t.stream((signal) => w.contexts.subscribeContexts({}, { signal }));
      await contexts.waitFor(
        (e) => e.kind === ContextKind.READY,
        "SubscribeContexts READY",
        t.settings.waitMs,
      );
      const a = await tenant.agent("dts-a");
      await a.contexts.createContext({ contextId: "dts-c", type: "n", payload: text("old") });
      await agents.waitFor(
        (e) => e.kind === AgentKind.REGISTERED && e.agent?.id === a.id,
        "the REGISTERED event of dts-a",
        t.settings.waitMs,
      );
      await contexts.waitFor(
        (e) => e.kind === ContextKind.CREATED && e.context?.id === "dts-c",
        "the CREATED event of dts-c",
        t.settings.waitMs,
      );
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      // Changes in the tenant created again, by a credential of its own.
      for (const name of ["dts-n1", "dts-n2", "dts-n3"]) {
        const c = await t.agentIn(tenant.id, name);
        await c.contexts.createContext({ contextId: name, type: "n", payload: text("new") });
      }
      await endsUnauthenticated(t, agents, "WatchAgents", () => true, "change(s)");
      await endsUnauthenticated(t, contexts, "SubscribeContexts", () => true, "change(s)");
    },
  },
  {
    id: "admin.delete-tenant-receive",
    level: "MUST",
    profile: "security",
    description:
      "A Receive stream open under a tenant when it is deleted ends UNAUTHENTICATED, and delivers nothing sent in the tenant created again with the same id to an agent of the same id, which gets it on its own stream",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-credentials"],
    requires: [...requires, "admin", "messaging"],
    async run(t) {
      const tenant = await t.tenant();
      const old = await tenant.agent("dtr-r");
      const stream = t.stream((signal) => old.messaging.receive({}, { signal }));
      await stream.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY of the Receive stream",
        t.settings.waitMs,
      );
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      // The tenant created again: an agent of the same id, and a sender, by credentials of its own.
      const r = await t.agentIn(tenant.id, "dtr-r");
      const sender = await t.agentIn(tenant.id, "dtr-s");
      await sender.messaging.send({
        target: { case: "recipientId", value: "dtr-r" },
        kind: "dtr-new",
        payload: text("for the new dtr-r"),
      });
      await endsUnauthenticated(
        t,
        stream,
        "Receive",
        (x) => x.kind === ReceiveResponse_Kind.DELIVERY,
        "delivery(ies)",
      );
      const inbox = await Inbox.open(t, r);
      try {
        const got = await inbox.collect(1, "the message to the new dtr-r");
        check(got[0]?.message?.kind === "dtr-new", `the new dtr-r got "${got[0]?.message?.kind}"`);
        await inbox.ack(...got);
      } finally {
        inbox.close();
      }
    },
  },
];
