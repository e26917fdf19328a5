// Delivery profile, what a live Receive stream owes besides its deliveries: flow control (never
// more deliveries open than its window, ReceiveRequest.max_in_flight, whether the messages were
// queued before it opened or sent while it is live; a settlement that frees a full window lets the
// next message through), presence (the agent stays ONLINE while its stream is open) and
// registration (only a registered agent receives).

import { type Delivery, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { WatchAgentsResponse_Kind as AgentKind, AgentStatus } from "@acb/gen/acb/v1/registry_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, reasonOf } from "../wire.js";

const requires = ["messaging"];

const to = (r: TestAgent, kind: string) => ({
  target: { case: "recipientId" as const, value: r.id },
  kind,
  payload: text(kind),
});

async function duo(t: CaseContext, prefix: string, ackDeadlineMs: number, attempts: number) {
  const tenant = await t.tenant({ ackDeadlineMs, maxDeliveryAttempts: attempts });
  return {
    tenant,
    s: await tenant.agent(`${prefix}-s`),
    r: await tenant.agent(`${prefix}-r`),
  };
}

/**
 * The first delivery (in arrival order) that the hub sent while `window` others were still open,
 * described, or undefined. No delivery is settled in these cases, so each is open from the instant
 * it was sent (its ack_deadline minus the tenant's ack deadline) until its ack_deadline: both are
 * the hub's own timestamps, so the check needs no timed wait. A delivery counts as still open only
 * when its deadline is more than a third of the ack deadline past that instant, which forgives a
 * hub that rounds its timestamps; a hub that ignores the window sends within milliseconds.
 */
export function sentOverWindow(
  deliveries: readonly Delivery[],
  ackDeadlineMs: number,
  window: number,
): string | undefined {
  const ends = deliveries.map((d) => (d.ackDeadline ? timestampMs(d.ackDeadline) : 0));
  for (const [i, d] of deliveries.entries()) {
    const sentAt = (ends[i] ?? 0) - ackDeadlineMs;
    const open = ends.slice(0, i).filter((end) => end - sentAt > ackDeadlineMs / 3).length;
    if (open >= window) {
      return `${d.message?.kind}#${d.attempt} was sent while ${open} deliveries were open (max_in_flight ${window})`;
    }
  }
  return undefined;
}

export const deliveryStreamCases: ConformanceCase[] = [
  {
    id: "delivery.max-in-flight",
    level: "MUST",
    profile: "delivery",
    description:
      "A stream with max_in_flight 2 never has more than 2 deliveries open, for messages queued before it opened and sent while it is live",
    spec: "acb.v1.ReceiveRequest.max_in_flight",
    rules: ["delivery.max-in-flight"],
    requires,
    async run(t) {
      // One attempt each: a delivery left unsettled is dead-lettered at its deadline, which frees
      // its slot, so every message gets through without the case settling anything.
      const ackDeadlineMs = 300;
      const { s, r } = await duo(t, "window", ackDeadlineMs, 1);
      for (const kind of ["queued-1", "queued-2", "queued-3"]) await s.messaging.send(to(r, kind));
      const inbox = await Inbox.open(t, r, 2);
      const got: Delivery[] = [];
      for (let i = 1; i <= 3; i++) got.push(await inbox.next(`queued message ${i} of 3`));
      for (const kind of ["live-1", "live-2", "live-3"]) await s.messaging.send(to(r, kind));
      for (let i = 1; i <= 3; i++) got.push(await inbox.next(`live message ${i} of 3`));
      const kinds = got.map((d) => `${d.message?.kind}#${d.attempt}`);
      check(
        kinds.join(",") === "queued-1#1,queued-2#1,queued-3#1,live-1#1,live-2#1,live-3#1",
        `delivered [${kinds.join(", ")}]`,
      );
      const over = sentOverWindow(got, ackDeadlineMs, 2);
      check(over === undefined, over ?? "");
    },
  },
  {
    id: "delivery.max-in-flight-default",
    level: "MUST",
    profile: "delivery",
    description:
      "A stream opened without max_in_flight (0: 256) gets 256 of 257 queued messages at first and the last only once a slot is free",
    spec: "acb.v1.ReceiveRequest.max_in_flight",
    rules: ["delivery.max-in-flight"],
    requires,
    async run(t) {
      const ackDeadlineMs = 300;
      const { s, r } = await duo(t, "window-0", ackDeadlineMs, 1);
      const n = 257;
      const res = await s.messaging.sendBatch({
        requests: Array.from({ length: n }, (_, i) => to(r, `m${i}`)),
      });
      const refused = res.results.filter((x) => x.error).length;
      check(refused === 0, `SendBatch refused ${refused} of ${n} messages`);
      const inbox = await Inbox.open(t, r, 0);
      const got: Delivery[] = [];
      for (let i = 1; i <= n; i++) got.push(await inbox.next(`message ${i} of ${n}`));
      const kinds = new Set(got.map((d) => d.message?.kind));
      check(kinds.size === n, `${n} deliveries hold ${kinds.size} distinct messages`);
      const over = sentOverWindow(got, ackDeadlineMs, 256);
      check(over === undefined, over ?? "");
    },
  },
  {
    id: "delivery.order-window-of-one",
    level: "MUST",
    profile: "delivery",
    description:
      "With max_in_flight 1 and every delivery acknowledged, messages queued before the stream and sent while it is live all arrive, first attempts in order",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.order"],
    requires,
    async run(t) {
      // A deadline far beyond the case: only the Acks free the window, never a lapse.
      const { s, r, tenant } = await duo(t, "window-1", 60_000, 5);
      const bystander = await tenant.agent("window-1-b");
      const n = 10;
      for (let i = 0; i < n / 2; i++) await s.messaging.send(to(r, `m${i}`));
      const inbox = await Inbox.open(t, r, 1);
      // Another agent's stream, opened later, must not take the settlements meant for this one.
      await Inbox.open(t, bystander);
      const receiving = inbox.collect(n, `${n} messages through a window of one`);
      for (let i = n / 2; i < n; i++) await s.messaging.send(to(r, `m${i}`));
      const kinds = (await receiving).map((d) => `${d.message?.kind}#${d.attempt}`);
      const expected = Array.from({ length: n }, (_, i) => `m${i}#1`);
      check(
        kinds.join(",") === expected.join(","),
        `delivered [${kinds.join(", ")}], not [${expected.join(", ")}]`,
      );
    },
  },
  {
    id: "delivery.topic-full-window",
    level: "MUST",
    profile: "delivery",
    description:
      "A topic message reaches a subscriber whose window of one is full (with a delivery sent while its stream was live) once that delivery is acknowledged, and another subscriber at once",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.max-in-flight"],
    requires,
    async run(t) {
      // A deadline far beyond the case: only the Ack frees the window, never a lapse.
      const { s, r, tenant } = await duo(t, "topic-window", 60_000, 5);
      const other = await tenant.agent("topic-window-o");
      for (const a of [r, other]) await a.messaging.subscribeTopic({ pattern: "window.news" });
      const inbox = await Inbox.open(t, r, 1);
      const otherInbox = await Inbox.open(t, other);
      // Fills the window while the stream is live: the hub learns it is full from the send.
      await s.messaging.send(to(r, "direct"));
      const direct = await inbox.next("the direct message that fills the window");
      check(
        direct.message?.kind === "direct",
        `got ${direct.message?.kind}, not the direct message`,
      );
      // One subscriber has room, the other none: the message waits for the second one's window.
      await s.messaging.send({
        target: { case: "topic", value: "window.news" },
        kind: "news",
        payload: text("news"),
      });
      const there = await otherInbox.next("the topic message at the subscriber with room");
      check(there.message?.kind === "news", `the other subscriber got ${there.message?.kind}`);
      await inbox.ack(direct);
      const freed = await inbox.next("the topic message once the window is free");
      check(freed.message?.kind === "news", `got ${freed.message?.kind}, not the topic message`);
    },
  },
  {
    id: "delivery.order-batched",
    level: "MUST",
    profile: "delivery",
    description:
      "A stream that asked for batch_deliveries gets DELIVERY items of one or more deliveries each, first attempts in order",
    spec: "acb.v1.ReceiveRequest.batch_deliveries",
    rules: ["delivery.order"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "batched", 60_000, 5);
      const n = 40;
      const send = (i: number) => s.messaging.send(to(r, `m${i}`));
      // Opened on an empty queue: nothing to deliver is no DELIVERY item at all.
      const stream = t.stream((signal) =>
        r.messaging.receive({ maxInFlight: 1000, batchDeliveries: true }, { signal }),
      );
      await stream.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY of the batched stream",
        t.settings.waitMs,
      );
      const got: Delivery[] = [];
      const receiving = (async () => {
        while (got.length < n) {
          const item = await stream.waitFor(
            (x) => x.kind === ReceiveResponse_Kind.DELIVERY,
            `DELIVERY items holding ${n} messages (after ${got.length})`,
            t.settings.waitMs,
          );
          const batch = item.deliveries;
          check(batch.length > 0, "a DELIVERY item of a batched stream holds no delivery");
          got.push(...batch);
          await r.messaging.ack({ deliveryIds: batch.map((d) => d.deliveryId) });
        }
      })();
      for (let i = 0; i < n; i++) await send(i);
      await receiving;
      const kinds = got.filter((d) => d.attempt === 1).map((d) => d.message?.kind);
      const expected = Array.from({ length: n }, (_, i) => `m${i}`);
      check(
        kinds.join(",") === expected.join(","),
        `first attempts arrived as [${kinds.slice(0, 12).join(", ")}${kinds.length > 12 ? ", …" : ""}]`,
      );
    },
  },
  {
    id: "delivery.stream-presence",
    level: "MUST",
    profile: "delivery",
    description:
      "An agent whose Receive stream is open stays ONLINE without heartbeats, while one registered after it without a stream turns OFFLINE; closed, its presence times out",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.stream-presence"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ presenceTimeoutMs: 300, heartbeatIntervalMs: 100 });
      const watcher = await tenant.agent("live-w", { register: false });
      const watch = t.stream((signal) => watcher.registry.watchAgents({}, { signal }));
      await watch.waitFor(
        (e) => e.kind === AgentKind.READY,
        "WatchAgents READY",
        t.settings.waitMs,
      );
      const live = await tenant.agent("live-r");
      const inbox = await Inbox.open(t, live);
      // Registered after the stream opened and never heard from again: its presence times out
      // after the live agent's would have, had the stream not kept it ONLINE.
      const idle = await tenant.agent("live-idle");
      let liveWentOffline = false;
      await watch.waitFor(
        (e) => {
          if (e.kind !== AgentKind.STATUS_CHANGED || e.agent?.status !== AgentStatus.OFFLINE) {
            return false;
          }
          if (e.agent.id === live.id) liveWentOffline = true;
          return e.agent.id === idle.id;
        },
        "OFFLINE of the agent without heartbeats after the presence timeout",
        t.settings.waitMs,
      );
      check(!liveWentOffline, "the agent went OFFLINE while its Receive stream was open");
      const got = await watcher.registry.getAgent({ agentId: live.id });
      check(
        got.agent?.status === AgentStatus.ONLINE,
        `the agent with an open stream is ${AgentStatus[got.agent?.status ?? 0]}, not ONLINE`,
      );
      // Closed, the stream no longer counts: the agent times out as after a last heartbeat.
      inbox.close();
      await watch.waitFor(
        (e) =>
          e.kind === AgentKind.STATUS_CHANGED &&
          e.agent?.id === live.id &&
          e.agent.status === AgentStatus.OFFLINE,
        "OFFLINE of the agent after its stream closed",
        t.settings.waitMs,
      );
    },
  },
  {
    id: "delivery.receive-registered",
    level: "MUST",
    profile: "delivery",
    description:
      "Receive before Register is FAILED_PRECONDITION (AGENT_NOT_REGISTERED); an open stream ends so when its agent unregisters",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.receive-registered"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("unreg-rcv", { register: false });
      const early = t.stream((signal) => a.messaging.receive({}, { signal }));
      const refused = await early.end("Receive before Register", t.settings.waitMs);
      check(
        refused?.code === Code.FailedPrecondition,
        `Receive before Register ended with ${refused ? Code[refused.code] : "OK"}, not FAILED_PRECONDITION`,
      );
      check(
        reasonOf(refused) === "AGENT_NOT_REGISTERED",
        `Receive before Register has reason "${reasonOf(refused)}", not AGENT_NOT_REGISTERED`,
      );
      await a.registry.register({ agentId: a.id, type: "conformance" });
      const live = t.stream((signal) => a.messaging.receive({}, { signal }));
      await live.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY once registered",
        t.settings.waitMs,
      );
      await a.registry.unregister({ agentId: a.id });
      const ended = await live.end("the stream of the unregistered agent", t.settings.waitMs);
      check(
        ended?.code === Code.FailedPrecondition,
        `the stream of an unregistered agent ended with ${ended ? Code[ended.code] : "OK"}, not FAILED_PRECONDITION`,
      );
      check(
        reasonOf(ended) === "AGENT_NOT_REGISTERED",
        `the stream of an unregistered agent has reason "${reasonOf(ended)}", not AGENT_NOT_REGISTERED`,
      );
    },
  },
];
