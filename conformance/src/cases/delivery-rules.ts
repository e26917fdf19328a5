// Delivery profile, the timer-driven and settlement rules on their later occurrences: a Nack's
// redeliver_delay (each message after its own delay, on every Nack), a repeated Nack, the ack
// deadline of a delivery claimed after others were settled, and a Send to an agent that was
// unregistered after messages reached it.

import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { DeadLetterReason, SettleStatus } from "@acb/gen/acb/v1/messaging_pb";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, untilPast } from "../wire.js";
import { deadLetters, duo, expectKinds, to } from "./delivery-helpers.js";

const requires = ["messaging"];

const statuses = (res: { results: { status: SettleStatus }[] }) =>
  res.results.map((x) => SettleStatus[x.status]).join(",");

export const deliveryRuleCases: ConformanceCase[] = [
  {
    id: "delivery.nack-delay",
    level: "MUST",
    profile: "delivery",
    description:
      "Messages nacked with redeliver_delay come back each once its own delay has passed, not before: the shorter delay first, and again on a second Nack",
    spec: "acb.v1.NackRequest.redeliver_delay",
    rules: ["delivery.nack-delay", "delivery.nack-redeliver"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "nd", { ackDeadlineMs: 30_000, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "long"));
      await s.messaging.send(to(r, "short"));
      const long = await inbox.next("the message to delay 700 ms");
      const short = await inbox.next("the message to delay 250 ms");
      // Nothing but the delays' own ends may bring the messages back: no other message follows.
      const nackedAt = performance.now();
      await r.messaging.nack({ deliveryIds: [long.deliveryId], redeliverDelay: duration(700) });
      await r.messaging.nack({ deliveryIds: [short.deliveryId], redeliverDelay: duration(250) });
      const first = await inbox.next("the redelivery after the shorter delay");
      const firstAfter = performance.now() - nackedAt;
      check(
        first.message?.kind === "short" && first.attempt === 2,
        `the first redelivery is ${first.message?.kind}#${first.attempt}, not short#2`,
      );
      check(
        firstAfter >= 250,
        `short#2 came ${Math.round(firstAfter)} ms after its Nack of 250 ms`,
      );
      const second = await inbox.next("the redelivery after the longer delay");
      const secondAfter = performance.now() - nackedAt;
      check(
        second.message?.kind === "long" && second.attempt === 2,
        `the second redelivery is ${second.message?.kind}#${second.attempt}, not long#2`,
      );
      check(
        secondAfter >= 700,
        `long#2 came ${Math.round(secondAfter)} ms after its Nack of 700 ms`,
      );
      await inbox.ack(second);
      // A second Nack of the same message: its delay holds again.
      const againAt = performance.now();
      await r.messaging.nack({ deliveryIds: [first.deliveryId], redeliverDelay: duration(300) });
      const third = await inbox.next("the redelivery after a second Nack");
      const thirdAfter = performance.now() - againAt;
      check(
        third.message?.kind === "short" && third.attempt === 3,
        `after the second Nack came ${third.message?.kind}#${third.attempt}, not short#3`,
      );
      check(
        thirdAfter >= 300,
        `short#3 came ${Math.round(thirdAfter)} ms after its Nack of 300 ms`,
      );
      await inbox.ack(third);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after both redeliveries were acknowledged");
    },
  },
  {
    id: "delivery.settle-retry-nack",
    level: "MUST",
    profile: "delivery",
    description:
      "A repeated Nack answers OK and an Ack after a Nack STALE; the message comes back once, as the next attempt",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-retry-nack"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "renack", { ackDeadlineMs: 30_000, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "twice"));
      const d = await inbox.next("the delivery to Nack");
      // A long delay: the repeated settlements meet the Nack, not the redelivery.
      const delay = duration(1_000);
      const first = await r.messaging.nack({ deliveryIds: [d.deliveryId], redeliverDelay: delay });
      check(statuses(first) === "OK", `the Nack answered [${statuses(first)}]`);
      const again = await r.messaging.nack({ deliveryIds: [d.deliveryId], redeliverDelay: delay });
      check(statuses(again) === "OK", `the repeated Nack answered [${statuses(again)}], not OK`);
      const ack = await r.messaging.ack({ deliveryIds: [d.deliveryId] });
      check(statuses(ack) === "STALE", `an Ack after the Nack answered [${statuses(ack)}]`);
      const back = await inbox.next("the redelivery after the Nacks");
      check(
        back.message?.kind === "twice" && back.attempt === 2,
        `the redelivery is ${back.message?.kind}#${back.attempt}, not twice#2`,
      );
      await inbox.ack(back);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the redelivery was acknowledged");
    },
  },
  {
    id: "delivery.deadline-after-settled",
    level: "MUST",
    profile: "delivery",
    description:
      "With the stream open, a delivery left open after earlier ones were acknowledged is redelivered at its own ack deadline, and a later one at its own",
    spec: "acb.v1.TenantSettings.ack_deadline",
    rules: ["delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "dl-later", { ackDeadlineMs: 300, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      for (const kind of ["a", "b"]) {
        await s.messaging.send(to(r, kind));
        await inbox.ack(await inbox.next(`the delivery of ${kind}`));
      }
      await s.messaging.send(to(r, "open"));
      const open = await inbox.next("the delivery left open");
      const again = await inbox.next("the redelivery after its deadline");
      check(
        again.message?.kind === "open" && again.attempt === 2,
        `after the deadline came ${again.message?.kind}#${again.attempt}, not open#2`,
      );
      check(again.message?.id === open.message?.id, "the redelivery carries another message");
      await inbox.ack(again);
      await s.messaging.send(to(r, "later"));
      const later = await inbox.next("a delivery after the redelivery was acknowledged");
      const laterAgain = await inbox.next("its redelivery after its deadline");
      check(
        later.message?.kind === "later" &&
          laterAgain.message?.kind === "later" &&
          laterAgain.attempt === 2,
        `after the deadline came ${laterAgain.message?.kind}#${laterAgain.attempt}, not later#2`,
      );
      await inbox.ack(laterAgain);
    },
  },
  {
    id: "delivery.send-after-unregister",
    level: "MUST",
    profile: "delivery",
    description:
      "A Send to an agent that received messages and was then unregistered is NOT_FOUND at once, and again; registered again, it is accepted and delivered",
    spec: "acb.v1.MessagingService.Send",
    rules: ["delivery.unknown-recipient"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "unreg-to");
      const inbox = await Inbox.open(t, r);
      for (const kind of ["one", "two"]) {
        await s.messaging.send(to(r, kind));
        await inbox.ack(await inbox.next(`the delivery of ${kind}`));
      }
      inbox.close();
      await r.registry.unregister({ agentId: r.id });
      for (const attempt of ["a Send", "a second Send"]) {
        await expectCode(
          s.messaging.send(to(r, "after")),
          Code.NotFound,
          `${attempt} right after the recipient was unregistered`,
        );
      }
      await r.registry.register({ agentId: r.id, type: "conformance" });
      await s.messaging.send(to(r, "back"));
      const back = await Inbox.open(t, r);
      const d = await back.next("the message sent after the agent registered again");
      check(d.message?.kind === "back", `got ${d.message?.kind}, not back`);
      await back.ack(d);
    },
  },
  {
    id: "delivery.expiry-discarded",
    level: "MUST",
    profile: "delivery",
    description:
      "An expired message is discarded, not dead-lettered: neither when the ack deadline of its last attempt passes after it expired, nor when a full backlog (DEAD_LETTER_OLDEST) drops it",
    spec: "acb.v1.MessagingService.Send",
    rules: ["delivery.expiry-discard", "delivery.expiry"],
    requires: [...requires, "admin"],
    async run(t) {
      const lastAttempt = async () => {
        // Delivered (its only attempt) well before it expires, left open past its expiry until
        // its ack deadline passes.
        const { s, r } = await duo(t, "exp-dl", { ackDeadlineMs: 1_200, maxDeliveryAttempts: 1 });
        const inbox = await Inbox.open(t, r);
        const sentAt = Date.now();
        await s.messaging.send(
          to(r, "fleeting", { expiry: { case: "ttl", value: duration(800) } }),
        );
        await inbox.next("the only attempt, before the message expires");
        await untilPast(sentAt + 1_200 + 200, t.signal);
        // The sentinel's delivery shows the hub has looked at the queue after the deadline.
        await s.messaging.send(to(r, "sentinel"));
        await expectKinds(inbox, [], "after the deadline of the expired message");
        const dead = await r.messaging.listDeadLetters({});
        check(
          dead.deadLetters.length === 0,
          `the message that expired in flight was dead-lettered (${dead.deadLetters.length} dead letters)`,
        );
      };
      const fullBacklog = async () => {
        const base = await t.tenant();
        const tenantId = `${base.id}-xd`;
        await t.admin.admin.createTenant({
          tenantId,
          tier: Tier.CUSTOM,
          quotas: { agentBacklogMessages: 1n },
          settings: { backlogPolicy: BacklogPolicy.DEAD_LETTER_OLDEST },
        });
        t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
        const s = await t.agentIn(tenantId, "xd-s");
        const r = await t.agentIn(tenantId, "xd-r");
        // An absolute expiry here (the other path uses a ttl).
        const expiresAt = Date.now() + 300;
        await s.messaging.send(
          to(r, "fleeting", { expiry: { case: "expiresAt", value: timestampFromMs(expiresAt) } }),
        );
        await untilPast(expiresAt + 200, t.signal);
        // The backlog holds the expired message: this one makes it drop the oldest.
        await s.messaging.send(to(r, "fresh"));
        const dead = await r.messaging.listDeadLetters({});
        check(
          dead.deadLetters.length === 0,
          `the expired message dropped from the full backlog was dead-lettered (${dead.deadLetters.length} dead letters)`,
        );
        const inbox = await Inbox.open(t, r);
        const d = await inbox.next("the message that took the backlog's room");
        check(d.message?.kind === "fresh", `got ${d.message?.kind}, not fresh`);
        await inbox.ack(d);
      };
      await Promise.all([lastAttempt(), fullBacklog()]);
    },
  },
  {
    id: "delivery.send-after-delete-tenant",
    level: "MUST",
    profile: "delivery",
    description:
      "After DeleteTenant, a Send in the tenant created again with the same id to an agent that received messages before is NOT_FOUND (the agent is gone with the old tenant)",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges", "delivery.unknown-recipient"],
    requires: [...requires, "admin"],
    async run(t) {
      const { tenant, s, r } = await duo(t, "del-to");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "before"));
      await inbox.ack(await inbox.next("a delivery before DeleteTenant"));
      inbox.close();
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      const issued = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: s.id,
        roles: [Role.AGENT_FULL],
      });
      const s2 = t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`);
      await s2.registry.register({ agentId: s.id, type: "conformance" });
      await expectCode(
        s2.messaging.send(to(r, "after")),
        Code.NotFound,
        "Send to an agent of the deleted tenant, in the tenant created again",
      );
    },
  },
  {
    id: "delivery.dead-letter-record",
    level: "MUST",
    profile: "delivery",
    description:
      'A dead letter names its agent, has a "dlq_" id, counts the attempts made and keeps the last failure: "ack deadline exceeded" after a missed deadline, the last Nack\'s error after Nacks',
    spec: "acb.v1.DeadLetter.last_error",
    rules: ["delivery.dead-letter-record", "delivery.dead-letter-after-max"],
    requires,
    async run(t) {
      const expectRecord = (
        dl:
          | {
              id: string;
              agentId: string;
              reason: DeadLetterReason;
              attempts: number;
              lastError: string;
            }
          | undefined,
        r: TestAgent,
        attempts: number,
        lastError: string,
        what: string,
      ) => {
        check(dl, `${what}: no dead letter`);
        check(/^dlq_.{26}$/.test(dl.id), `${what}: the dead letter's id is "${dl.id}"`);
        check(dl.agentId === r.id, `${what}: the dead letter names agent "${dl.agentId}"`);
        check(
          dl.reason === DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
          `${what}: reason is ${DeadLetterReason[dl.reason]}`,
        );
        check(dl.attempts === attempts, `${what}: attempts is ${dl.attempts}, not ${attempts}`);
        check(
          dl.lastError === lastError,
          `${what}: last_error is "${dl.lastError}", not "${lastError}"`,
        );
      };
      const byDeadline = async () => {
        const { s, r } = await duo(t, "dlr-time", { ackDeadlineMs: 200, maxDeliveryAttempts: 1 });
        const inbox = await Inbox.open(t, r);
        await s.messaging.send(to(r, "ignored"));
        await inbox.next("the only attempt");
        const [dl] = await deadLetters(t, r, 1, "the dead letter after the missed deadline");
        expectRecord(dl, r, 1, "ack deadline exceeded", "after a missed deadline");
      };
      const byNacks = async () => {
        const { s, r } = await duo(t, "dlr-nack", {
          ackDeadlineMs: 30_000,
          maxDeliveryAttempts: 2,
        });
        const inbox = await Inbox.open(t, r);
        await s.messaging.send(to(r, "refused"));
        const d1 = await inbox.next("attempt 1");
        await r.messaging.nack({ deliveryIds: [d1.deliveryId], error: "first failure" });
        const d2 = await inbox.next("attempt 2 after the first Nack");
        check(d2.attempt === 2, `after the first Nack came attempt ${d2.attempt}, not 2`);
        await r.messaging.nack({ deliveryIds: [d2.deliveryId], error: "second failure" });
        const [dl] = await deadLetters(t, r, 1, "the dead letter after the second Nack");
        expectRecord(dl, r, 2, "second failure", "after two Nacks");
        await s.messaging.send(to(r, "sentinel"));
        await expectKinds(inbox, [], "after the dead letter");
      };
      await Promise.all([byDeadline(), byNacks()]);
    },
  },
  {
    id: "delivery.replay-new-expiry",
    level: "MUST",
    profile: "delivery",
    description:
      "A dead letter replayed after its message's own expiry passed is delivered again (at attempt 1): the replay gives it a new expiry",
    spec: "acb.v1.MessagingService.ReplayDeadLetters",
    rules: ["delivery.replay-expiry", "delivery.replay"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "rp-exp", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      const sentAt = Date.now();
      const { messageId } = await s.messaging.send(
        to(r, "replayed", { expiry: { case: "ttl", value: duration(500) } }),
      );
      const d = await inbox.next("the delivery to reject");
      await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
      const [dl] = await deadLetters(t, r, 1, "the rejected message's dead letter");
      check(dl, "no dead letter");
      await untilPast(sentAt + 500 + 200, t.signal);
      const res = await r.messaging.replayDeadLetters({ deadLetterIds: [dl.id] });
      check(res.replayedCount === 1n, `replayed ${res.replayedCount}, not 1`);
      const again = await inbox.next("the replayed message, past its first expiry");
      check(
        again.message?.id === messageId && again.attempt === 1,
        `the replay delivered ${again.message?.kind}#${again.attempt}, not replayed#1`,
      );
      await inbox.ack(again);
    },
  },
  {
    id: "delivery.send-before-register",
    level: "MUST",
    profile: "delivery",
    description:
      "A Send to an agent id before it registers is NOT_FOUND, and again; once it registers, a Send to it is accepted and delivered",
    spec: "acb.v1.MessagingService.Send",
    rules: ["delivery.unknown-recipient"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("early-s");
      const r = await tenant.agent("early-r", { register: false });
      for (const attempt of ["a Send", "a second Send"]) {
        await expectCode(
          s.messaging.send(to(r, "early")),
          Code.NotFound,
          `${attempt} to an agent id not registered yet`,
        );
      }
      await r.registry.register({ agentId: r.id, type: "conformance" });
      await s.messaging.send(to(r, "welcome"));
      const inbox = await Inbox.open(t, r);
      const d = await inbox.next("the message sent once the agent registered");
      check(d.message?.kind === "welcome", `got ${d.message?.kind}, not welcome`);
      await inbox.ack(d);
    },
  },
  {
    id: "delivery.broadcast-fan-out",
    level: "MUST",
    profile: "delivery",
    description:
      "A broadcast reaches each of 80 agents whose streams are open at once (more than a hub may serve in one turn of its event loop), exactly once each",
    spec: "acb.v1.SendRequest.broadcast",
    rules: ["delivery.broadcast"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("fan-s");
      const names = Array.from({ length: 80 }, (_, i) => `fan-${i}`);
      const agents = await Promise.all(names.map((n) => tenant.agent(n)));
      const inboxes = await Promise.all(agents.map((a) => Inbox.open(t, a)));
      const { messageId } = await s.messaging.send({
        target: { case: "broadcast", value: true },
        kind: "all",
        payload: text("all"),
      });
      await Promise.all(
        inboxes.map(async (inbox, i) => {
          const d = await inbox.next(`the broadcast at ${names[i]}`);
          check(
            d.message?.id === messageId,
            `${names[i]} got ${d.message?.kind}, not the broadcast`,
          );
          await inbox.ack(d);
        }),
      );
      // Exactly once: a direct message after it is each stream's next delivery.
      await Promise.all(agents.map((a) => s.messaging.send(to(a, "sentinel"))));
      await Promise.all(
        inboxes.map((inbox, i) => expectKinds(inbox, [], `${names[i]} after the broadcast`)),
      );
    },
  },
];
