// Delivery profile, the deliveries a hub may hand to a live stream as their messages are stored
// (topic messages and broadcasts to several streams, SendBatch items) besides those a stream reads
// from its queue: the window of max_in_flight counts both, such deliveries settle, lapse and come
// back like any other, and each lapse and each Nack's delay brings its message back at its own
// time, not at a later message's. Times are compared on the hub's own clock (each delivery's
// ack_deadline), so no case waits for anything but deliveries, except to space two sends apart.

import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  DeadLetterReason,
  type Delivery,
  ReceiveResponse_Kind,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, untilPast } from "../wire.js";
import { deadLetters, expectKinds, to } from "./delivery-helpers.js";
import { sentOverWindow } from "./delivery-streams.js";

const requires = ["messaging"];

const statuses = (res: { results: { status: SettleStatus }[] }) =>
  res.results.map((x) => SettleStatus[x.status]).join(",");

/** A topic message of `kind` (its kind as its text payload). */
const topic = (name: string, kind: string) => ({
  target: { case: "topic" as const, value: name },
  kind,
  payload: text(kind),
});

/** The instant the hub sent `d`, by its own clock: its ack_deadline less the tenant's ack deadline. */
const sentAt = (d: Delivery, ackDeadlineMs: number) => deadlineOf(d) - ackDeadlineMs;
const deadlineOf = (d: Delivery) => (d.ackDeadline ? timestampMs(d.ackDeadline) : 0);
const label = (d: Delivery) => `${d.message?.kind}#${d.attempt}`;

/**
 * A tenant with these delivery settings, a sender, a recipient and a second subscriber, both
 * subscribed to `pattern`: a topic message then has several recipients with open streams.
 */
async function trio(
  t: CaseContext,
  prefix: string,
  ackDeadlineMs: number,
  maxDeliveryAttempts: number,
  pattern: string,
): Promise<{ s: TestAgent; r: TestAgent; o: TestAgent }> {
  const tenant = await t.tenant({ ackDeadlineMs, maxDeliveryAttempts });
  const s = await tenant.agent(`${prefix}-s`);
  const r = await tenant.agent(`${prefix}-r`);
  const o = await tenant.agent(`${prefix}-o`);
  for (const a of [r, o]) await a.messaging.subscribeTopic({ pattern });
  return { s, r, o };
}

/**
 * Reads deliveries of `inbox` until one of `kind` at `attempt` arrives (kept aside: the others,
 * for a later call), so a case can take its deliveries in its own order.
 */
function picker(inbox: Inbox) {
  const aside: Delivery[] = [];
  return async (kind: string, attempt: number): Promise<Delivery> => {
    const match = (d: Delivery) => d.message?.kind === kind && d.attempt === attempt;
    const i = aside.findIndex(match);
    if (i >= 0) return aside.splice(i, 1)[0] as Delivery;
    for (;;) {
      const d = await inbox.next(`${kind}#${attempt} (after ${aside.map(label).join(", ")})`);
      if (match(d)) return d;
      aside.push(d);
    }
  };
}

/**
 * A CUSTOM tenant with these backlog quotas and settings (policy REFUSE unless given), deleted when
 * the case ends; `agent` registers one of its agents.
 */
export async function backlogTenant(
  t: CaseContext,
  suffix: string,
  quotas: { tenantBacklogMessages?: bigint; agentBacklogMessages?: bigint },
  ackDeadlineMs: number,
  maxDeliveryAttempts: number,
  backlogPolicy = BacklogPolicy.REFUSE,
) {
  const base = await t.tenant();
  const tenantId = `${base.id}-${suffix}`;
  await t.admin.admin.createTenant({
    tenantId,
    tier: Tier.CUSTOM,
    quotas,
    settings: { ackDeadline: duration(ackDeadlineMs), maxDeliveryAttempts, backlogPolicy },
  });
  t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
  return { id: tenantId, agent: (name: string) => t.agentIn(tenantId, name) };
}

/**
 * Checks that the backlog has room for exactly `room` more messages to `r` right now: that many
 * Sends are accepted (sent as `kind`-1, `kind`-2, ...) and the next one is refused with RetryInfo
 * naming `limitName` ("tenant.backlog_messages" unless given).
 */
export async function expectRoom(
  s: TestAgent,
  r: TestAgent,
  room: number,
  kind: string,
  what: string,
  limitName = "tenant.backlog_messages",
) {
  for (let i = 1; i <= room; i++) {
    await s.messaging.send(to(r, `${kind}-${i}`)).catch((err: unknown) => {
      throw new CaseFailure(
        `${what}: Send ${i} of the ${room} the backlog has room for failed: ${ConnectError.from(err).message}`,
      );
    });
  }
  const err = await expectCode(
    s.messaging.send(to(r, `${kind}-over`)),
    Code.ResourceExhausted,
    `${what}: a Send past the backlog after ${room} accepted`,
  );
  const limit = err.findDetails(RetryInfoSchema)[0]?.limit;
  check(limit === limitName, `${what}: RetryInfo names limit "${limit}", not "${limitName}"`);
}

export const deliveryRound3Cases: ConformanceCase[] = [
  {
    id: "delivery.backlog-count",
    level: "MUST",
    profile: "delivery",
    description:
      "tenant_backlog_messages counts what is queued and not acknowledged: a message stops counting once acknowledged, dead-lettered (by Nack, by reaching max_delivery_attempts by Nack or by deadline), discarded as expired (waiting or in flight), or its agent unregistered; a replayed dead letter counts again; agent_backlog_messages counts deliveries in flight and messages waiting to come back",
    spec: "acb.v1.TenantQuotas.tenant_backlog_messages",
    rules: ["delivery.backlog-count", "delivery.backlog-limit"],
    requires: [...requires, "admin"],
    async run(t) {
      // Settled by the case: a deadline beyond the case, and two attempts.
      const settled = async () => {
        const tenant = await backlogTenant(t, "bc-a", { tenantBacklogMessages: 2n }, 30_000, 2);
        const s = await tenant.agent("bc-s");
        const r = await tenant.agent("bc-r");
        await expectRoom(s, r, 2, "m", "at first");
        const inbox = await Inbox.open(t, r);
        const pick = picker(inbox);
        const m1 = await pick("m-1", 1);
        const m2 = await pick("m-2", 1);
        await inbox.ack(m1);
        await expectRoom(s, r, 1, "a", "after an Ack");
        await r.messaging.nack({ deliveryIds: [m2.deliveryId] });
        // Back as attempt 2, still counted: the backlog stays full.
        const m2again = await pick("m-2", 2);
        await expectRoom(s, r, 0, "n", "after a Nack that redelivers");
        await r.messaging.nack({ deliveryIds: [m2again.deliveryId] });
        await deadLetters(t, r, 1, "m-2 dead-lettered after its last attempt");
        await expectRoom(s, r, 1, "x", "after a Nack of the last attempt");
        const a1 = await pick("a-1", 1);
        await r.messaging.nack({ deliveryIds: [a1.deliveryId], deadLetter: true });
        const dead = await deadLetters(t, r, 2, "a-1 rejected");
        await expectRoom(s, r, 1, "y", "after a Nack with dead_letter");
        // Two held (x-1, y-1): the two replayed dead letters make four, past the limit of two.
        const replayed = await r.messaging.replayDeadLetters({
          deadLetterIds: dead.map((d) => d.id),
        });
        check(replayed.replayedCount === 2n, `replayed ${replayed.replayedCount}, not 2`);
        await expectRoom(s, r, 0, "r", "after two dead letters were replayed");
        for (const [kind, attempt] of [
          ["x-1", 1],
          ["y-1", 1],
          ["m-2", 1],
          ["a-1", 1],
        ] as const) {
          await inbox.ack(await pick(kind, attempt));
        }
        await expectRoom(s, r, 2, "z", "after the replayed messages were acknowledged");
        await inbox.ack(await pick("z-1", 1), await pick("z-2", 1));
        // Held by an agent that is then unregistered.
        const gone = await tenant.agent("bc-gone");
        await expectRoom(s, gone, 2, "g", "for the agent to unregister");
        await gone.registry.unregister({ agentId: gone.id });
        await expectRoom(s, r, 2, "after", "after the agent holding two was unregistered");
      };
      // Left to the hub: a deadline of 300 ms and one attempt; expiry while waiting and in flight.
      const lapsed = async () => {
        const tenant = await backlogTenant(t, "bc-b", { tenantBacklogMessages: 2n }, 300, 1);
        const s = await tenant.agent("bc-ls");
        const r = await tenant.agent("bc-lr");
        const ttl = { expiry: { case: "ttl" as const, value: duration(150) } };
        // Expired while waiting: discarded when the stream opens, the other one delivered.
        const sentAt = Date.now();
        await s.messaging.send(to(r, "stale", ttl));
        await s.messaging.send(to(r, "fresh"));
        await untilPast(sentAt + 150 + 100, t.signal);
        const inbox = await Inbox.open(t, r);
        const fresh = await inbox.next("the message that did not expire");
        check(label(fresh) === "fresh#1", `got ${label(fresh)}, not fresh#1`);
        await inbox.ack(fresh);
        await expectRoom(s, r, 2, "d", "after an expired message was discarded");
        // d-1 and d-2 delivered and left open: dead-lettered at their deadline (one attempt).
        await inbox.next("d-1");
        await inbox.next("d-2");
        await deadLetters(t, r, 2, "d-1 and d-2 after their deadline");
        // One expires in flight before its deadline (discarded), one is dead-lettered with it.
        await s.messaging.send(to(r, "short", ttl));
        await s.messaging.send(to(r, "kept"));
        await inbox.next("the message that expires in flight");
        await inbox.next("the message dead-lettered at its deadline");
        await deadLetters(t, r, 3, "the message kept, after its deadline");
        await expectRoom(s, r, 2, "e", "after the deadline of an expired and a dead-lettered one");
      };
      // An agent's limit counts its deliveries in flight and its messages waiting to come back.
      const agentLimit = async () => {
        const tenant = await backlogTenant(t, "bc-c", { agentBacklogMessages: 2n }, 30_000, 5);
        const s = await tenant.agent("bc-as");
        const r = await tenant.agent("bc-ar");
        const agentRoom = (room: number, kind: string, what: string) =>
          expectRoom(s, r, room, kind, what, "agent.backlog_messages");
        await agentRoom(2, "p", "the agent's limit at first");
        const inbox = await Inbox.open(t, r);
        const pick = picker(inbox);
        const p1 = await pick("p-1", 1);
        const p2 = await pick("p-2", 1);
        await agentRoom(0, "i", "while both are in flight");
        await inbox.ack(p1);
        await agentRoom(1, "q", "after one was acknowledged");
        await r.messaging.nack({ deliveryIds: [p2.deliveryId], redeliverDelay: duration(60_000) });
        await agentRoom(0, "w", "while one waits for its redelivery");
      };
      await Promise.all([settled(), lapsed(), agentLimit()]);
    },
  },
  {
    id: "delivery.backlog-topic-refused",
    level: "MUST",
    profile: "delivery",
    description:
      "Under REFUSE a topic message is refused (agent.backlog_messages) when one subscriber is at agent_backlog_messages, though the other has room; nothing of it arrives",
    spec: "acb.v1.BacklogPolicy.BACKLOG_POLICY_REFUSE",
    rules: ["delivery.backlog-limit"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await backlogTenant(t, "btr", { agentBacklogMessages: 1n }, 30_000, 5);
      const s = await tenant.agent("btr-s");
      const full = await tenant.agent("btr-full");
      const free = await tenant.agent("btr-free");
      for (const a of [full, free]) await a.messaging.subscribeTopic({ pattern: "refuse.news" });
      await expectRoom(s, full, 1, "direct", "the subscriber to fill", "agent.backlog_messages");
      const err = await expectCode(
        s.messaging.send(topic("refuse.news", "news")),
        Code.ResourceExhausted,
        "a topic message to a full subscriber and one with room",
      );
      const limit = err.findDetails(RetryInfoSchema)[0]?.limit;
      check(
        limit === "agent.backlog_messages",
        `the topic message's refusal names limit "${limit}", not "agent.backlog_messages"`,
      );
      await s.messaging.send(to(free, "sentinel"));
      await expectKinds(await Inbox.open(t, free), [], "at the subscriber with room");
    },
  },
  {
    id: "delivery.long-queue",
    level: "MUST",
    profile: "delivery",
    description:
      "2,100 messages queued for an agent before it receives (three SendBatch calls) all arrive once it opens Receive, first attempts in order",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.offline-queue", "delivery.order"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ ackDeadlineMs: 60_000, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("long-s");
      const r = await tenant.agent("long-r");
      const n = 2_100;
      for (let from = 0; from < n; from += 1_000) {
        const count = Math.min(1_000, n - from);
        const res = await s.messaging.sendBatch({
          requests: Array.from({ length: count }, (_, i) => to(r, `m${from + i}`)),
        });
        const refused = res.results.filter((x) => x.error).length;
        check(refused === 0, `SendBatch refused ${refused} of ${count} items`);
      }
      const stream = t.stream((signal) =>
        r.messaging.receive({ maxInFlight: 1_000, batchDeliveries: true }, { signal }),
      );
      await stream.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY of the stream",
        t.settings.waitMs,
      );
      const kinds: string[] = [];
      while (kinds.length < n) {
        const item = await stream.waitFor(
          (x) => x.kind === ReceiveResponse_Kind.DELIVERY,
          `the queued messages (after ${kinds.length} of ${n})`,
          t.settings.waitMs,
        );
        const batch = item.deliveries.length > 0 ? item.deliveries : [item.delivery];
        for (const d of batch) if (d && d.attempt === 1) kinds.push(d.message?.kind ?? "");
        await r.messaging.ack({ deliveryIds: batch.flatMap((d) => (d ? [d.deliveryId] : [])) });
      }
      const wrong = kinds.findIndex((k, i) => k !== `m${i}`);
      check(
        wrong < 0,
        `first attempts out of order at ${wrong}: ${kinds.slice(Math.max(0, wrong - 2), wrong + 3).join(", ")}`,
      );
    },
  },
  {
    id: "delivery.backlog-after-delete-tenant",
    level: "MUST",
    profile: "delivery",
    description:
      "A tenant created again after DeleteTenant starts with an empty backlog: the old tenant's queued messages neither count against tenant_backlog_messages nor arrive",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges", "delivery.backlog-count"],
    requires: [...requires, "admin"],
    async run(t) {
      const quotas = { tenantBacklogMessages: 2n };
      const tenant = await backlogTenant(t, "bdt", quotas, 30_000, 5);
      const s = await tenant.agent("bdt-s");
      const r = await tenant.agent("bdt-r");
      await expectRoom(s, r, 2, "old", "in the first tenant");
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({
        tenantId: tenant.id,
        tier: Tier.CUSTOM,
        quotas,
        settings: { ackDeadline: duration(30_000) },
      });
      const s2 = await tenant.agent("bdt-s");
      const r2 = await tenant.agent("bdt-r");
      await expectRoom(s2, r2, 2, "new", "in the tenant created again");
      const inbox = await Inbox.open(t, r2);
      const got = (await inbox.collect(2, "the new tenant's messages")).map(label).join(",");
      check(got === "new-1#1,new-2#1", `the agent of the tenant created again got [${got}]`);
    },
  },
  {
    id: "delivery.backlog-tenant-oldest",
    level: "MUST",
    profile: "delivery",
    description:
      "At tenant_backlog_messages under DEAD_LETTER_OLDEST a send is accepted and the tenant's oldest never-delivered message, whichever agent's, becomes a dead letter (BACKLOG_FULL); what it dropped no longer counts",
    spec: "acb.v1.BacklogPolicy.BACKLOG_POLICY_DEAD_LETTER_OLDEST",
    rules: ["delivery.backlog-tenant-oldest", "delivery.backlog-count"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await backlogTenant(
        t,
        "bto",
        { tenantBacklogMessages: 2n },
        30_000,
        5,
        BacklogPolicy.DEAD_LETTER_OLDEST,
      );
      const s = await tenant.agent("bto-s");
      const r1 = await tenant.agent("bto-r1");
      const r2 = await tenant.agent("bto-r2");
      const expectDead = async (r: TestAgent, kinds: string[], what: string) => {
        const dead = await r.messaging.listDeadLetters({});
        const got = dead.deadLetters.map((d) => d.message?.kind).join(",");
        check(got === kinds.join(","), `${what}: ${r.id}'s dead letters are [${got}]`);
        for (const d of dead.deadLetters) {
          check(
            d.reason === DeadLetterReason.BACKLOG_FULL,
            `${what}: reason ${DeadLetterReason[d.reason]}, not BACKLOG_FULL`,
          );
        }
      };
      await s.messaging.send(to(r1, "old"));
      await s.messaging.send(to(r2, "mid"));
      await s.messaging.send(to(r2, "new"));
      await expectDead(r1, ["old"], "the tenant full, a message to another agent");
      await expectDead(r2, [], "the tenant full, a message to another agent");
      await s.messaging.send(to(r1, "newer"));
      await expectDead(r2, ["mid"], "the tenant full again");
      await expectDead(r1, ["old"], "the tenant full again");
      await t.admin.admin.updateTenant({
        tenantId: tenant.id,
        settings: { backlogPolicy: BacklogPolicy.REFUSE },
      });
      await expectRoom(s, r1, 0, "full", "two held after two were dropped");
      for (const [r, kind] of [
        [r1, "newer"],
        [r2, "new"],
      ] as const) {
        const inbox = await Inbox.open(t, r);
        const d = await inbox.next(`the message left to ${r.id}`);
        check(d.message?.kind === kind, `${r.id} got ${d.message?.kind}, not ${kind}`);
        await inbox.ack(d);
      }
      await expectRoom(s, r1, 2, "room", "once both were acknowledged");
    },
  },
  {
    id: "delivery.max-in-flight-fan-out",
    level: "MUST",
    profile: "delivery",
    description:
      "A stream with max_in_flight 2 never has more than 2 deliveries open for topic messages sent while it is live (with another subscriber), nor for a SendBatch of 3 to it",
    spec: "acb.v1.ReceiveRequest.max_in_flight",
    rules: ["delivery.max-in-flight", "delivery.order"],
    requires,
    async run(t) {
      // One attempt each: a delivery left unsettled is dead-lettered at its deadline, which frees
      // its slot, so every message gets through without the case settling anything.
      const ackDeadlineMs = 300;
      const { s, r, o } = await trio(t, "win-fan", ackDeadlineMs, 1, "window.fan");
      const inbox = await Inbox.open(t, r, 2);
      const other = await Inbox.open(t, o);
      const got: Delivery[] = [];
      // Sent to an empty queue while the stream has room for two of them.
      for (const kind of ["t1", "t2", "t3"]) await s.messaging.send(topic("window.fan", kind));
      for (let i = 1; i <= 3; i++) got.push(await inbox.next(`topic message ${i} of 3`));
      // More items than the window holds, sent while at least one delivery is open.
      const res = await s.messaging.sendBatch({
        requests: ["b1", "b2", "b3"].map((k) => to(r, k)),
      });
      const refused = res.results.filter((x) => x.error).length;
      check(refused === 0, `SendBatch refused ${refused} of 3 items`);
      for (let i = 1; i <= 3; i++) got.push(await inbox.next(`batch item ${i} of 3`));
      const kinds = got.map(label).join(",");
      check(kinds === "t1#1,t2#1,t3#1,b1#1,b2#1,b3#1", `delivered [${kinds}]`);
      const over = sentOverWindow(got, ackDeadlineMs, 2);
      check(over === undefined, over ?? "");
      const theirs = (await other.collect(3, "the topic messages at the other subscriber")).map(
        label,
      );
      check(theirs.join(",") === "t1#1,t2#1,t3#1", `the other subscriber got [${theirs}]`);
    },
  },
  {
    id: "delivery.fan-out-settle",
    level: "MUST",
    profile: "delivery",
    description:
      "Deliveries of a topic message to two live streams and of SendBatch items to a live stream are attempt 1 under distinct ids and settle as any: Ack answers OK (again on a repeat), a Nack brings the message back as attempt 2, a lapse too, and nothing else comes",
    spec: "acb.v1.Delivery",
    rules: [
      "delivery.topic-match",
      "delivery.nack-redeliver",
      "delivery.redeliver-after-deadline",
      "delivery.settle-retry",
      "delivery.batch",
    ],
    requires,
    async run(t) {
      const ackDeadlineMs = 800;
      const { s, r, o } = await trio(t, "fan-settle", ackDeadlineMs, 5, "settle.news");
      const inbox = await Inbox.open(t, r);
      const other = await Inbox.open(t, o);
      const expectOk = async (agent: TestAgent, ds: Delivery[], what: string) => {
        const ids = ds.map((d) => d.deliveryId);
        for (const round of ["", " (repeated)"]) {
          const res = await agent.messaging.ack({ deliveryIds: ids });
          const want = ids.map(() => "OK").join(",");
          check(statuses(res) === want, `the Ack of ${what}${round} answered [${statuses(res)}]`);
        }
      };

      await s.messaging.send(topic("settle.news", "n1"));
      const mine = await inbox.next("the topic message at the recipient");
      const theirs = await other.next("the topic message at the other subscriber");
      for (const d of [mine, theirs]) {
        check(label(d) === "n1#1", `a subscriber got ${label(d)}, not n1#1`);
      }
      check(mine.message?.id === theirs.message?.id, "the subscribers got different messages");
      check(mine.deliveryId !== theirs.deliveryId, "two subscribers got the same delivery id");
      await expectOk(o, [theirs], "the other subscriber's delivery");
      const nacked = await r.messaging.nack({ deliveryIds: [mine.deliveryId] });
      check(statuses(nacked) === "OK", `the Nack answered [${statuses(nacked)}]`);
      const back = await inbox.next("the topic message after the Nack");
      check(label(back) === "n1#2", `after the Nack came ${label(back)}, not n1#2`);
      check(back.deliveryId !== mine.deliveryId, "the redelivery kept the first delivery id");
      await expectOk(r, [back], "the redelivery");

      // Left open: it comes back once its ack deadline has passed, not before.
      await s.messaging.send(topic("settle.news", "n2"));
      const open = await inbox.next("the second topic message at the recipient");
      await expectOk(o, [await other.next("the second topic message there")], "n2 there");
      const lapsed = await inbox.next("the second topic message after its deadline");
      check(label(lapsed) === "n2#2", `after the deadline came ${label(lapsed)}, not n2#2`);
      check(
        sentAt(lapsed, ackDeadlineMs) >= deadlineOf(open) - ackDeadlineMs / 4,
        `n2#2 was sent ${deadlineOf(open) - sentAt(lapsed, ackDeadlineMs)} ms before the deadline of n2#1`,
      );
      await expectOk(r, [lapsed], "the redelivery after the deadline");

      // Items of one SendBatch to the live stream: in item order, each attempt 1, each its own id.
      const res = await s.messaging.sendBatch({
        requests: ["b1", "b2", "b3"].map((k) => to(r, k)),
      });
      check(
        res.results.every((x) => !x.error),
        "SendBatch refused an item",
      );
      const batch = [
        await inbox.next("batch item 1"),
        await inbox.next("batch item 2"),
        await inbox.next("batch item 3"),
      ];
      check(batch.map(label).join(",") === "b1#1,b2#1,b3#1", `got [${batch.map(label)}]`);
      check(new Set(batch.map((d) => d.deliveryId)).size === 3, "batch items share delivery ids");
      await expectOk(r, batch, "the batch items");
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after every delivery was acknowledged");
    },
  },
  {
    id: "delivery.window-due-retries",
    level: "MUST",
    profile: "delivery",
    description:
      "With max_in_flight 2, one delivery open and two nacked messages due again at once, only one of them is sent until another slot is free",
    spec: "acb.v1.ReceiveRequest.max_in_flight",
    rules: ["delivery.max-in-flight", "delivery.nack-redeliver"],
    requires,
    async run(t) {
      const ackDeadlineMs = 1_000;
      const tenant = await t.tenant({ ackDeadlineMs, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("due-s");
      const r = await tenant.agent("due-r");
      const inbox = await Inbox.open(t, r, 2);
      await s.messaging.send(to(r, "a"));
      await s.messaging.send(to(r, "b"));
      const a1 = await inbox.next("the first message");
      const b1 = await inbox.next("the second message");
      // Both back after the same delay; meanwhile a third message takes one slot and stays open.
      await r.messaging.nack({
        deliveryIds: [a1.deliveryId, b1.deliveryId],
        redeliverDelay: duration(250),
      });
      await s.messaging.send(to(r, "c"));
      const c1 = await inbox.next("the third message");
      check(label(c1) === "c#1", `got ${label(c1)}, not c#1`);
      const first = await inbox.next("the first redelivery");
      const second = await inbox.next("the second redelivery");
      const kinds = [first, second].map(label).sort().join(",");
      check(kinds === "a#2,b#2", `the redeliveries are [${kinds}]`);
      // Nothing is settled from here: the second redelivery needs c#1 or the first one to lapse.
      const freed = Math.min(deadlineOf(c1), deadlineOf(first));
      check(
        sentAt(second, ackDeadlineMs) >= freed - ackDeadlineMs / 3,
        `${label(second)} was sent ${freed - sentAt(second, ackDeadlineMs)} ms before a slot was free (${label(c1)} and ${label(first)} open, max_in_flight 2)`,
      );
    },
  },
  {
    id: "delivery.nack-delay-each",
    level: "MUST",
    profile: "delivery",
    description:
      "Of two messages nacked with delays of 200 ms and then 900 ms, the first comes back at its own delay, not with the second",
    spec: "acb.v1.NackRequest.redeliver_delay",
    rules: ["delivery.nack-delay"],
    requires,
    async run(t) {
      const ackDeadlineMs = 30_000;
      const tenant = await t.tenant({ ackDeadlineMs, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("each-s");
      const r = await tenant.agent("each-r");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "short"));
      await s.messaging.send(to(r, "long"));
      const short = await inbox.next("the message to delay 200 ms");
      const long = await inbox.next("the message to delay 900 ms");
      await r.messaging.nack({ deliveryIds: [short.deliveryId], redeliverDelay: duration(200) });
      await r.messaging.nack({ deliveryIds: [long.deliveryId], redeliverDelay: duration(900) });
      const first = await inbox.next("the redelivery after the shorter delay");
      const second = await inbox.next("the redelivery after the longer delay");
      check(
        label(first) === "short#2" && label(second) === "long#2",
        `the redeliveries are ${label(first)}, ${label(second)}, not short#2, long#2`,
      );
      // The Nacks are a few ms apart: the redeliveries are about 700 ms apart on the hub's clock.
      const apart = sentAt(second, ackDeadlineMs) - sentAt(first, ackDeadlineMs);
      check(
        apart >= 350,
        `short#2 was sent only ${apart} ms before long#2 (delays 200 and 900 ms)`,
      );
      await inbox.ack(first, second);
    },
  },
  {
    id: "delivery.deadline-each",
    level: "MUST",
    profile: "delivery",
    description:
      "Two deliveries left open, the second sent 400 ms after the first (once by Send, once by SendBatch), lapse each at its own ack deadline: the first comes back before the second's deadline",
    spec: "acb.v1.TenantSettings.ack_deadline",
    rules: ["delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const ackDeadlineMs = 600;
      const tenant = await t.tenant({ ackDeadlineMs, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("each-dl-s");
      const r = await tenant.agent("each-dl-r");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "one"));
      const one = await inbox.next("the first delivery");
      // Spaces the two deadlines apart (no event marks an instant on the hub's clock).
      await untilPast(Date.now() + 400, t.signal);
      await s.messaging.sendBatch({ requests: [to(r, "two")] });
      const two = await inbox.next("the second delivery");
      const again = [await inbox.next("a redelivery"), await inbox.next("another redelivery")];
      const oneAgain = again.find((d) => d.message?.kind === "one");
      const twoAgain = again.find((d) => d.message?.kind === "two");
      check(
        oneAgain?.attempt === 2 && twoAgain?.attempt === 2,
        `the redeliveries are [${again.map(label)}], not one#2 and two#2`,
      );
      const gap = deadlineOf(two) - deadlineOf(one);
      const apart = sentAt(twoAgain, ackDeadlineMs) - sentAt(oneAgain, ackDeadlineMs);
      check(gap >= 300, `two#1's ack deadline is only ${gap} ms after one#1's, sent 400 ms apart`);
      check(
        apart >= gap / 2,
        `one#2 was sent ${apart} ms before two#2, whose first deadline was ${gap} ms after one#1's`,
      );
      await inbox.ack(oneAgain, twoAgain);
    },
  },
];
