// Delivery profile, what the memory message store's surviving mutants showed no case checked: a
// settlement by an agent that never had a queue, a replayed dead letter's record when it lapses
// again and its place among the tenant's oldest messages, a full backlog that must drop several
// messages at once, a full backlog with nothing undelivered to drop, and a Receive stream that
// outlives changes of its own tenant and the deletion of another. No case waits for
// anything but deliveries, the hub's answers and (for dead letters, which have no event) a
// bounded poll.

import { BacklogPolicy } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type DeadLetter,
  DeadLetterReason,
  type Delivery,
  ReceiveResponse_Kind,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { type ConformanceCase, check } from "../case.js";
import { duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode } from "../wire.js";
import { deadLetters, expectKinds, to } from "./delivery-helpers.js";
import { backlogTenant } from "./delivery-round3.js";

const requires = ["messaging"];

const statuses = (res: { results: { status: SettleStatus }[] }) =>
  res.results.map((x) => SettleStatus[x.status]).join(",");

const label = (d: Delivery) => `${d.message?.kind}#${d.attempt}`;

/** The agent's dead letters as "kind REASON", in the order listed. */
async function letters(r: TestAgent): Promise<string> {
  const res = await r.messaging.listDeadLetters({});
  return res.deadLetters.map((d) => `${d.message?.kind} ${DeadLetterReason[d.reason]}`).join(",");
}

/** Fails unless a dead letter records one lapsed attempt of `messageId` by `agentId`. */
function checkLapsed(d: DeadLetter, agentId: string, messageId: string | undefined, what: string) {
  check(d.agentId === agentId, `${what}: the dead letter names agent "${d.agentId}"`);
  check(d.message?.id === messageId, `${what}: the dead letter holds another message`);
  check(
    d.reason === DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
    `${what}: reason ${DeadLetterReason[d.reason]}, not MAX_DELIVERY_ATTEMPTS`,
  );
  check(d.attempts === 1, `${what}: attempts ${d.attempts}, not 1`);
  check(
    d.lastError === "ack deadline exceeded",
    `${what}: last_error "${d.lastError}", not "ack deadline exceeded"`,
  );
}

/** A Send of `kind` to `r` refused RESOURCE_EXHAUSTED with RetryInfo naming `limit`. */
async function expectRefused(
  s: TestAgent,
  send: Parameters<TestAgent["messaging"]["send"]>[0],
  limit: string,
  what: string,
) {
  const err = await expectCode(s.messaging.send(send), Code.ResourceExhausted, what);
  const named = err.findDetails(RetryInfoSchema)[0]?.limit;
  check(named === limit, `${what}: RetryInfo names limit "${named}", not "${limit}"`);
}

/** A topic message of `kind` (its kind as its text payload). */
const topic = (name: string, kind: string) => ({
  target: { case: "topic" as const, value: name },
  kind,
  payload: text(kind),
});

/** Two agents of the tenant subscribed to `pattern`, and a sender. */
async function subscribers(
  tenant: { agent: (name: string) => Promise<TestAgent> },
  prefix: string,
  pattern: string,
) {
  const s = await tenant.agent(`${prefix}-s`);
  const a = await tenant.agent(`${prefix}-a`);
  const b = await tenant.agent(`${prefix}-b`);
  for (const x of [a, b]) await x.messaging.subscribeTopic({ pattern });
  return { s, a, b };
}

export const deliveryRound4Cases: ConformanceCase[] = [
  {
    id: "delivery.settle-foreign-id",
    level: "MUST",
    profile: "delivery",
    description:
      "Agents that never received anything (the sender, and one that never sent either) Nack and Ack another agent's open delivery: each answers NOT_FOUND, and the delivery stays its owner's (its Ack answers OK, nothing comes back)",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-not-found"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ ackDeadlineMs: 30_000, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("foreign-s");
      const r = await tenant.agent("foreign-r");
      const idle = await tenant.agent("foreign-idle");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "owned"));
      const d = await inbox.next("the delivery to settle");
      for (const [who, name] of [
        [idle, "an agent that never sent nor received"],
        [s, "the sender"],
      ] as const) {
        const nack = await who.messaging.nack({ deliveryIds: [d.deliveryId] });
        check(statuses(nack) === "NOT_FOUND", `the Nack by ${name} answered [${statuses(nack)}]`);
        const ack = await who.messaging.ack({ deliveryIds: [d.deliveryId] });
        check(statuses(ack) === "NOT_FOUND", `the Ack by ${name} answered [${statuses(ack)}]`);
      }
      const own = await r.messaging.ack({ deliveryIds: [d.deliveryId] });
      check(statuses(own) === "OK", `the owner's Ack afterwards answered [${statuses(own)}]`);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the owner's Ack");
    },
  },
  {
    id: "delivery.replay-lapse-record",
    level: "MUST",
    profile: "delivery",
    description:
      'A dead letter replayed and left open past its ack deadline at its last attempt becomes a new dead letter recording that attempt alone: reason MAX_DELIVERY_ATTEMPTS, attempts 1, last_error "ack deadline exceeded"',
    spec: "acb.v1.DeadLetter.last_error",
    rules: ["delivery.dead-letter-record", "delivery.replay", "delivery.dead-letter-after-max"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ ackDeadlineMs: 300, maxDeliveryAttempts: 1 });
      const s = await tenant.agent("rl-s");
      const r = await tenant.agent("rl-r");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "lapsing"));
      const first = await inbox.next("the first delivery, left open");
      const [dl] = await deadLetters(t, r, 1, "the message after its only attempt lapsed");
      check(dl !== undefined, "no dead letter");
      checkLapsed(dl, r.id, first.message?.id, "the first dead letter");
      const replayed = await r.messaging.replayDeadLetters({ deadLetterIds: [dl.id] });
      check(replayed.replayedCount === 1n, `replayed ${replayed.replayedCount}, not 1`);
      const again = await inbox.next("the replayed message, left open");
      check(label(again) === "lapsing#1", `the replay came as ${label(again)}, not lapsing#1`);
      const [dl2] = await deadLetters(t, r, 1, "the replayed message after its attempt lapsed");
      check(dl2 !== undefined, "no dead letter after the replay");
      check(dl2.id !== dl.id, "the second dead letter has the replayed one's id");
      checkLapsed(dl2, r.id, first.message?.id, "the dead letter after the replay");
    },
  },
  {
    id: "delivery.replay-queued-last",
    level: "MUST",
    profile: "delivery",
    description:
      "A replayed dead letter is queued anew: at tenant_backlog_messages under DEAD_LETTER_OLDEST the messages queued before the replay are dropped before it, though it was sent before them",
    spec: "acb.v1.BacklogPolicy.BACKLOG_POLICY_DEAD_LETTER_OLDEST",
    rules: ["delivery.backlog-tenant-oldest", "delivery.replay"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await backlogTenant(
        t,
        "rql",
        { agentBacklogMessages: 1n, tenantBacklogMessages: 2n },
        30_000,
        5,
        BacklogPolicy.DEAD_LETTER_OLDEST,
      );
      const s = await tenant.agent("rql-s");
      const a = await tenant.agent("rql-a");
      const b = await tenant.agent("rql-b");
      const c = await tenant.agent("rql-c");
      // b's limit of one drops x for y: x is the dead letter to replay.
      await s.messaging.send(to(b, "x"));
      await s.messaging.send(to(b, "y"));
      const dropped = await b.messaging.listDeadLetters({});
      const got = dropped.deadLetters.map((d) => d.message?.kind).join(",");
      check(got === "x", `b's dead letters after its limit dropped x are [${got}]`);
      await s.messaging.send(to(a, "a1"));
      // Queued behind y and a1: three held, one past the tenant's limit of two.
      const replayed = await b.messaging.replayDeadLetters({
        deadLetterIds: dropped.deadLetters.map((d) => d.id),
      });
      check(replayed.replayedCount === 1n, `replayed ${replayed.replayedCount}, not 1`);
      // Two must go to make room: the two queued first, y and a1, not the replayed x.
      await s.messaging.send(to(c, "c1"));
      const atA = await letters(a);
      const atB = await letters(b);
      check(
        atA === "a1 BACKLOG_FULL" && atB === "y BACKLOG_FULL",
        `the tenant's dead letters are [${atB}] at b and [${atA}] at a, not [y BACKLOG_FULL] and [a1 BACKLOG_FULL]`,
      );
      // What is left is delivered; once it is acknowledged, a sentinel to each agent shows that
      // nothing else was (a sentinel sent before would itself drop what is left).
      const inboxes: Inbox[] = [];
      for (const [agent, kind] of [
        [b, "x"],
        [c, "c1"],
      ] as const) {
        const inbox = await Inbox.open(t, agent);
        const d = await inbox.next(`what is left for ${agent.id}`);
        check(label(d) === `${kind}#1`, `${agent.id} got ${label(d)}, not ${kind}#1`);
        await inbox.ack(d);
        inboxes.push(inbox);
      }
      inboxes.push(await Inbox.open(t, a));
      for (const [i, agent] of [b, c, a].entries()) {
        await s.messaging.send(to(agent, "sentinel"));
        await expectKinds(inboxes[i] as Inbox, [], `anything else for ${agent.id}`);
      }
    },
  },
  {
    id: "delivery.backlog-evict-several",
    level: "MUST",
    profile: "delivery",
    description:
      "Under DEAD_LETTER_OLDEST, after agent_backlog_messages is lowered from 3 to 1 with three messages waiting, the next Send is accepted and all three become dead letters (BACKLOG_FULL), oldest first; only the new one is delivered",
    spec: "acb.v1.BacklogPolicy.BACKLOG_POLICY_DEAD_LETTER_OLDEST",
    rules: ["delivery.backlog-limit", "delivery.backlog-count"],
    requires: [...requires, "admin"],
    async run(t) {
      const tenant = await backlogTenant(
        t,
        "bes",
        { agentBacklogMessages: 3n },
        30_000,
        5,
        BacklogPolicy.DEAD_LETTER_OLDEST,
      );
      const s = await tenant.agent("bes-s");
      const r = await tenant.agent("bes-r");
      for (const kind of ["m1", "m2", "m3"]) await s.messaging.send(to(r, kind));
      const before = await letters(r);
      check(before === "", `dead letters within the limit: [${before}]`);
      await t.admin.admin.updateTenant({
        tenantId: tenant.id,
        quotas: { agentBacklogMessages: 1n },
      });
      await s.messaging.send(to(r, "m4"));
      const after = await letters(r);
      check(
        after === "m1 BACKLOG_FULL,m2 BACKLOG_FULL,m3 BACKLOG_FULL",
        `after a Send past the lowered limit the dead letters are [${after}], not m1, m2 and m3 (BACKLOG_FULL)`,
      );
      const inbox = await Inbox.open(t, r);
      const d = await inbox.next("the message left");
      check(label(d) === "m4#1", `the agent got ${label(d)}, not m4#1`);
      await inbox.ack(d);
    },
  },
  {
    id: "delivery.backlog-nothing-to-drop",
    level: "MUST",
    profile: "delivery",
    description:
      "Under DEAD_LETTER_OLDEST a Send past agent_backlog_messages or tenant_backlog_messages is refused (RESOURCE_EXHAUSTED, RetryInfo naming the limit) when what is held is in flight or waits for a redelivery, and a tenant's first message is refused when it has more recipients than tenant_backlog_messages (as under REFUSE); nothing is dropped",
    spec: "acb.v1.BacklogPolicy.BACKLOG_POLICY_DEAD_LETTER_OLDEST",
    rules: ["delivery.backlog-nothing-to-drop", "delivery.backlog-limit"],
    requires: [...requires, "admin"],
    async run(t) {
      const agentFull = async () => {
        const tenant = await backlogTenant(
          t,
          "ntd-a",
          { agentBacklogMessages: 1n },
          30_000,
          5,
          BacklogPolicy.DEAD_LETTER_OLDEST,
        );
        const s = await tenant.agent("ntd-as");
        const r = await tenant.agent("ntd-ar");
        const inbox = await Inbox.open(t, r);
        await s.messaging.send(to(r, "open"));
        const d = await inbox.next("the delivery held in flight");
        const limit = "agent.backlog_messages";
        await expectRefused(s, to(r, "over"), limit, "a Send while the one held is in flight");
        await r.messaging.nack({ deliveryIds: [d.deliveryId], redeliverDelay: duration(60_000) });
        await expectRefused(s, to(r, "over"), limit, "a Send while the one held waits to return");
        const dropped = await letters(r);
        check(dropped === "", `the agent's dead letters are [${dropped}], not none`);
      };
      const tenantFull = async () => {
        const tenant = await backlogTenant(
          t,
          "ntd-t",
          { tenantBacklogMessages: 1n },
          30_000,
          5,
          BacklogPolicy.DEAD_LETTER_OLDEST,
        );
        const s = await tenant.agent("ntd-ts");
        const r = await tenant.agent("ntd-tr");
        const o = await tenant.agent("ntd-to");
        const inbox = await Inbox.open(t, r);
        await s.messaging.send(to(r, "open"));
        await inbox.next("the delivery held in flight");
        await expectRefused(
          s,
          to(o, "over"),
          "tenant.backlog_messages",
          "a Send to another agent while the tenant's one held is in flight",
        );
        const dropped = await letters(r);
        check(dropped === "", `the dead letters are [${dropped}], not none`);
      };
      // A topic message to two subscribers, the first message of a tenant whose limit is one.
      const firstMessage = async (policy: BacklogPolicy, suffix: string) => {
        const tenant = await backlogTenant(
          t,
          `ntd-${suffix}`,
          { tenantBacklogMessages: 1n },
          30_000,
          5,
          policy,
        );
        const { s, a, b } = await subscribers(tenant, `ntd-${suffix}`, "ntd.first");
        await expectRefused(
          s,
          topic("ntd.first", "first"),
          "tenant.backlog_messages",
          `the tenant's first message, to two subscribers, under ${BacklogPolicy[policy]}`,
        );
        await s.messaging.send(to(a, "sentinel"));
        await expectKinds(await Inbox.open(t, a), [], `at a subscriber (${BacklogPolicy[policy]})`);
        const dropped = await letters(b);
        check(dropped === "", `the other subscriber's dead letters are [${dropped}], not none`);
      };
      await Promise.all([
        agentFull(),
        tenantFull(),
        firstMessage(BacklogPolicy.REFUSE, "fr"),
        firstMessage(BacklogPolicy.DEAD_LETTER_OLDEST, "fd"),
      ]);
    },
  },
  {
    id: "delivery.stream-outlives-tenant-changes",
    level: "MUST",
    profile: "delivery",
    description:
      "An open Receive stream stays open and delivering through UpdateTenant of its tenant and the creation and deletion of another tenant, whose own open stream ends UNAUTHENTICATED",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.stream-stays-open", "admin.delete-tenant-credentials"],
    requires: [...requires, "admin"],
    async run(t) {
      const home = await t.tenant({ ackDeadlineMs: 30_000, maxDeliveryAttempts: 5 });
      const s = await home.agent("stay-s");
      const r = await home.agent("stay-r");
      const inbox = await Inbox.open(t, r);
      const expectDelivered = async (kind: string, what: string) => {
        await s.messaging.send(to(r, kind));
        const d = await inbox.next(what);
        check(label(d) === `${kind}#1`, `${what}: got ${label(d)}, not ${kind}#1`);
        await inbox.ack(d);
      };
      await expectDelivered("before", "a message before the tenant changes");
      await t.admin.admin.updateTenant({ tenantId: home.id, settings: { maxDeliveryAttempts: 6 } });
      const away = await t.tenant();
      const q = await away.agent("stay-q");
      const theirs = t.stream((signal) => q.messaging.receive({}, { signal }));
      await theirs.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY of the other tenant's stream",
        t.settings.waitMs,
      );
      await t.admin.admin.deleteTenant({ tenantId: away.id });
      const ended = await theirs.end("the deleted tenant's stream", t.settings.waitMs);
      check(
        ended?.code === Code.Unauthenticated,
        `the deleted tenant's stream ended with ${ended ? Code[ended.code] : "OK"}, not UNAUTHENTICATED`,
      );
      await expectDelivered("after", "a message after UpdateTenant and another tenant's deletion");
    },
  },
];
