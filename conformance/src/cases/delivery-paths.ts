// Delivery profile, every path to each guarantee: redelivery and dead-lettering by ack deadline
// (stream open or dropped, on every lapse), by Nack and by rejection; expiry by TTL while waiting
// for a redelivery and by absolute time; replay and purge; settle answers; batches and streams;
// topic patterns segment by segment; subscription lifetimes; a replaced stream.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import {
  DeadLetterReason,
  ReceiveResponse_Kind,
  type SendStreamRequest,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { duration, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, reasonOf, untilPast } from "../wire.js";
import { deadLetters, duo, expectKinds, to } from "./delivery-helpers.js";

const requires = ["messaging"];

function topicCase(pattern: string, matches: string[], misses: string[]): ConformanceCase {
  return {
    id: `delivery.topic-pattern.${pattern.replace(/\*/g, "star").replace(/>/g, "tail").replace(/\./g, "-")}`,
    level: "MUST",
    profile: "delivery",
    description: `Pattern "${pattern}" matches ${matches.map((m) => `"${m}"`).join(", ")} and not ${misses.map((m) => `"${m}"`).join(", ")}`,
    spec: "acb.v1.SubscribeTopicRequest.pattern",
    rules: ["delivery.topic-match"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "pat");
      await r.messaging.subscribeTopic({ pattern });
      const inbox = await Inbox.open(t, r);
      for (const topic of [...misses, ...matches]) {
        await s.messaging.send({
          target: { case: "topic", value: topic },
          kind: topic,
          payload: text(topic),
        });
      }
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, matches, `topics published against "${pattern}"`);
    },
  };
}

/** A bidirectional stream whose requests a case writes one by one. */
function writer<T>() {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  return {
    write(item: T) {
      queue.push(item);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as T;
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}

export const deliveryPathCases: ConformanceCase[] = [
  {
    id: "delivery.deadline-redelivery-repeats",
    level: "MUST",
    profile: "delivery",
    description:
      "With the stream open and no settlement, the message is redelivered at every ack deadline: attempts 1, 2, 3",
    spec: "acb.v1.TenantSettings.ack_deadline",
    rules: ["delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "lapse", { ackDeadlineMs: 200, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send(to(r, "slow"));
      for (let attempt = 1; attempt <= 3; attempt++) {
        const d = await inbox.next(`attempt ${attempt} after ${attempt - 1} missed deadlines`);
        check(
          d.message?.id === messageId && d.attempt === attempt,
          `got ${d.message?.id}#${d.attempt}, not attempt ${attempt}`,
        );
        if (attempt === 3) await inbox.ack(d);
      }
    },
  },
  {
    id: "delivery.deadline-dead-letter",
    level: "MUST",
    profile: "delivery",
    description:
      "A message whose every attempt misses the ack deadline is dead-lettered (MAX_DELIVERY_ATTEMPTS) and not delivered again",
    spec: "acb.v1.DeadLetterReason",
    rules: ["delivery.dead-letter-after-max", "delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "dl-time", { ackDeadlineMs: 150, maxDeliveryAttempts: 2 });
      const inbox = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send(to(r, "ignored"));
      await inbox.next("attempt 1");
      await inbox.next("attempt 2 after the first deadline");
      const [dl] = await deadLetters(t, r, 1, "the dead letter after two missed deadlines");
      check(dl?.message?.id === messageId, "the dead letter holds another message");
      check(
        dl.reason === DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
        `reason is ${DeadLetterReason[dl.reason]}`,
      );
      check(dl.attempts === 2, `the dead letter counts ${dl.attempts} attempts, not 2`);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the dead letter");
    },
  },
  {
    id: "delivery.disconnect-dead-letter",
    level: "MUST",
    profile: "delivery",
    description:
      "A receiver that drops its stream on every attempt gets attempts 1 and 2; back again, it finds the message dead-lettered",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.dead-letter-after-max", "delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      // A deadline long enough that no redelivery reaches a stream before the case drops it.
      const { s, r } = await duo(t, "dl-drop", { ackDeadlineMs: 1_000, maxDeliveryAttempts: 2 });
      await s.messaging.send(to(r, "dropped"));
      for (let attempt = 1; attempt <= 2; attempt++) {
        const inbox = await Inbox.open(t, r);
        const d = await inbox.next(`attempt ${attempt} on a fresh stream`);
        check(d.attempt === attempt, `got attempt ${d.attempt}, not ${attempt}`);
        inbox.close();
      }
      // Back for good: the message is dead-lettered, not delivered a third time.
      const back = await Inbox.open(t, r);
      const [dl] = await deadLetters(t, r, 1, "the dead letter after two dropped attempts");
      check(
        dl?.reason === DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
        `reason is ${DeadLetterReason[dl?.reason ?? 0]}`,
      );
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(back, [], "after the dead letter");
    },
  },
  {
    id: "delivery.nack-redelivers",
    level: "MUST",
    profile: "delivery",
    description: "A Nack redelivers the same message as the next attempt, under a new delivery id",
    spec: "acb.v1.MessagingService.Nack",
    rules: ["delivery.nack-redeliver"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "nack", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send(to(r, "again"));
      const d1 = await inbox.next("attempt 1");
      const res = await r.messaging.nack({ deliveryIds: [d1.deliveryId] });
      check(res.results[0]?.status === SettleStatus.OK, "the Nack was not OK");
      const d2 = await inbox.next("the redelivery after Nack");
      check(
        d2.message?.id === messageId && d2.attempt === 2,
        `got ${d2.message?.id}#${d2.attempt}`,
      );
      check(d2.deliveryId !== d1.deliveryId, "the redelivery reuses the delivery id");
      await inbox.ack(d2);
    },
  },
  {
    id: "delivery.nack-dead-letter",
    level: "MUST",
    profile: "delivery",
    description:
      "Nack with dead_letter = true dead-letters the message at once (REJECTED, last_error kept)",
    spec: "acb.v1.NackRequest.dead_letter",
    rules: ["delivery.nack-dead-letter"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "reject", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send(to(r, "never"));
      const d = await inbox.next("the delivery to reject");
      await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true, error: "bad input" });
      const [dl] = await deadLetters(t, r, 1, "the rejected message's dead letter");
      check(dl?.message?.id === messageId, "the dead letter holds another message");
      check(dl.reason === DeadLetterReason.REJECTED, `reason is ${DeadLetterReason[dl.reason]}`);
      check(dl.lastError === "bad input", `last_error is "${dl.lastError}"`);
      const got = await r.messaging.getDeadLetter({ deadLetterId: dl.id });
      check(got.deadLetter?.id === dl.id, "GetDeadLetter returned another dead letter");
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the rejection");
    },
  },
  {
    id: "delivery.settle-not-found",
    level: "MUST",
    profile: "delivery",
    description:
      "Ack and Nack answer NOT_FOUND per id for ids never issued, without failing the call",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-not-found"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "nf");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "real"));
      const d = await inbox.next("a real delivery");
      const ack = await r.messaging.ack({ deliveryIds: ["never-issued", d.deliveryId] });
      const statuses = ack.results.map((x) => SettleStatus[x.status]).join(",");
      check(statuses === "NOT_FOUND,OK", `Ack answered [${statuses}], not [NOT_FOUND, OK]`);
      const nack = await r.messaging.nack({ deliveryIds: ["never-issued"] });
      check(
        nack.results[0]?.status === SettleStatus.NOT_FOUND,
        `Nack answered ${SettleStatus[nack.results[0]?.status ?? 0]}`,
      );
      const other = await s.messaging.ack({ deliveryIds: [d.deliveryId] });
      check(
        other.results[0]?.status === SettleStatus.NOT_FOUND,
        `another agent's Ack of the delivery answered ${SettleStatus[other.results[0]?.status ?? 0]}`,
      );
    },
  },
  {
    id: "delivery.settle-stale-after-deadline",
    level: "MUST",
    profile: "delivery",
    description:
      "An Ack after the delivery's ack deadline answers STALE; the redelivery's own Ack is OK",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-stale"],
    requires,
    async run(t) {
      // Long enough for the case to settle the redelivery within its own deadline.
      const { s, r } = await duo(t, "stale", { ackDeadlineMs: 1_500, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "late"));
      const d1 = await inbox.next("attempt 1");
      // The redelivery is the hub's signal that the first deadline has passed.
      const d2 = await inbox.next("attempt 2 after the deadline");
      const res = await r.messaging.ack({ deliveryIds: [d1.deliveryId, d2.deliveryId] });
      const statuses = res.results.map((x) => SettleStatus[x.status]).join(",");
      check(statuses === "STALE,OK", `Ack answered [${statuses}], not [STALE, OK]`);
    },
  },
  {
    id: "delivery.expiry-absolute",
    level: "MUST",
    profile: "delivery",
    description: "A message past its expires_at before its recipient receives is never delivered",
    spec: "acb.v1.SendRequest.expires_at",
    rules: ["delivery.expiry"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "abs");
      const expiresAt = Date.now() + 800;
      await s.messaging.send(
        to(r, "short-lived", { expiry: { case: "expiresAt", value: timestampFromMs(expiresAt) } }),
      );
      await s.messaging.send(to(r, "sentinel"));
      // The protocol offers no event for a message's expiry: wait (bounded) until it has passed.
      await untilPast(expiresAt + 250, t.signal);
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, [], "the queue after the expiry");
    },
  },
  {
    id: "delivery.expiry-before-redelivery",
    level: "MUST",
    profile: "delivery",
    description: "A message that expires while it waits for a redelivery is not redelivered",
    spec: "acb.v1.SendRequest.ttl",
    rules: ["delivery.expiry"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "exp-redel", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      const sentAt = Date.now();
      await s.messaging.send(
        to(r, "fleeting", { expiry: { case: "ttl", value: duration(1_000) } }),
      );
      const d = await inbox.next("attempt 1");
      await r.messaging.nack({ deliveryIds: [d.deliveryId], redeliverDelay: duration(1_500) });
      await untilPast(sentAt + 1_500 + 300, t.signal);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the expiry");
    },
  },
  {
    id: "delivery.replay-all",
    level: "MUST",
    profile: "delivery",
    description:
      "ReplayDeadLetters with all = true re-enqueues every dead letter of the agent at attempt 1 and empties its list",
    spec: "acb.v1.ReplayDeadLettersRequest.all",
    rules: ["delivery.replay"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "replay", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      for (const kind of ["one", "two"]) {
        await s.messaging.send(to(r, kind));
        const d = await inbox.next(`the delivery of ${kind}`);
        await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
      }
      await deadLetters(t, r, 2, "two dead letters");
      const res = await r.messaging.replayDeadLetters({ all: true, agentId: r.id });
      check(res.replayedCount === 2n, `replayed ${res.replayedCount}, not 2`);
      const again = await inbox.collect(2, "the two replayed messages");
      check(
        again.map((d) => `${d.message?.kind}#${d.attempt}`).join(",") === "one#1,two#1",
        `replayed as [${again.map((d) => `${d.message?.kind}#${d.attempt}`).join(", ")}]`,
      );
      const after = await r.messaging.listDeadLetters({});
      check(after.deadLetters.length === 0, `${after.deadLetters.length} dead letters remain`);
    },
  },
  {
    id: "delivery.purge",
    level: "MUST",
    profile: "delivery",
    description:
      "A purged dead letter is gone: not listed, GetDeadLetter NOT_FOUND, a replay reports it not found",
    spec: "acb.v1.MessagingService.PurgeDeadLetters",
    rules: ["delivery.purge"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "purge");
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "trash"));
      const d = await inbox.next("the delivery to reject");
      await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
      const [dl] = await deadLetters(t, r, 1, "the dead letter");
      check(dl, "no dead letter");
      const purged = await r.messaging.purgeDeadLetters({ deadLetterIds: [dl.id, "dlq_unknown"] });
      check(purged.purgedCount === 1n, `purged ${purged.purgedCount}, not 1`);
      check(
        purged.notFoundIds.join(",") === "dlq_unknown",
        `not_found_ids is [${purged.notFoundIds.join(", ")}]`,
      );
      const list = await r.messaging.listDeadLetters({});
      check(list.deadLetters.length === 0, "the purged dead letter is still listed");
      await expectCode(
        r.messaging.getDeadLetter({ deadLetterId: dl.id }),
        Code.NotFound,
        "GetDeadLetter of a purged dead letter",
      );
      const replay = await r.messaging.replayDeadLetters({ deadLetterIds: [dl.id] });
      check(replay.replayedCount === 0n, "a purged dead letter was replayed");
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the purge");
    },
  },
  {
    id: "delivery.unknown-recipient",
    level: "MUST",
    profile: "delivery",
    description: "Send to an agent that is not registered is NOT_FOUND",
    spec: "acb.v1.MessagingService.Send",
    rules: ["delivery.unknown-recipient"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("unk-s");
      const gone = await tenant.agent("unk-gone");
      await gone.registry.unregister({ agentId: gone.id });
      await expectCode(
        s.messaging.send(to({ id: "nobody" } as TestAgent, "x")),
        Code.NotFound,
        "Send to an agent id never registered",
      );
      await expectCode(
        s.messaging.send(to(gone, "x")),
        Code.NotFound,
        "Send to an unregistered agent",
      );
    },
  },
  {
    id: "delivery.batch",
    level: "MUST",
    profile: "delivery",
    description:
      "SendBatch answers each item on its own (an unknown recipient is that item's NOT_FOUND) and delivers the rest in item order",
    spec: "acb.v1.MessagingService.SendBatch",
    rules: ["delivery.batch"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "batch");
      const res = await s.messaging.sendBatch({
        requests: [
          to(r, "b1"),
          to({ id: "nobody" } as TestAgent, "lost"),
          to(r, "b2"),
          to(r, "b3"),
        ],
      });
      const codes = res.results.map((x) => (x.error ? Code[x.error.code] : "OK")).join(",");
      check(codes === "OK,NotFound,OK,OK", `item results [${codes}]`);
      await s.messaging.send(to(r, "sentinel"));
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, ["b1", "b2", "b3"], "the batch");
    },
  },
  {
    id: "delivery.batch-idempotency",
    level: "MUST",
    profile: "delivery",
    description:
      "Two items of one SendBatch with the same idempotency key are one message, delivered once",
    spec: "acb.v1.SendBatchRequest",
    rules: ["delivery.idempotency"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "bidem");
      const res = await s.messaging.sendBatch({
        requests: [to(r, "once", { idempotencyKey: "k" }), to(r, "once", { idempotencyKey: "k" })],
      });
      const [a, b] = res.results;
      check(a && b && !a.error && !b.error, "an item failed");
      check(!a.duplicate && b.duplicate, "the second item was not reported as a duplicate");
      check(a.messageId === b.messageId, "the duplicate got another message id");
      await s.messaging.send(to(r, "sentinel"));
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, ["once"], "the deduplicated batch");
    },
  },
  {
    id: "delivery.send-stream",
    level: "MUST",
    profile: "delivery",
    description:
      "SendStream answers each item by ref as Send and Ack would; a retried key is a duplicate",
    spec: "acb.v1.MessagingService.SendStream",
    rules: ["delivery.send-stream", "delivery.idempotency"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "sstream");
      const inbox = await Inbox.open(t, r);
      const input = writer<Partial<SendStreamRequest>>();
      const answers = t.stream((signal) =>
        s.messaging.sendStream(input as AsyncIterable<SendStreamRequest>, { signal }),
      );
      input.write({
        ref: 1n,
        item: { case: "send", value: to(r, "s1", { idempotencyKey: "k" }) } as never,
      });
      input.write({
        ref: 2n,
        item: { case: "send", value: to(r, "s1", { idempotencyKey: "k" }) } as never,
      });
      const a1 = await answers.next("the answer to ref 1", t.settings.waitMs);
      const a2 = await answers.next("the answer to ref 2", t.settings.waitMs);
      check(a1.ref === 1n && a1.result.case === "send", `first answer is ref ${a1.ref}`);
      check(a2.ref === 2n && a2.result.case === "send", `second answer is ref ${a2.ref}`);
      check(a2.result.value.duplicate, "the retried key was not a duplicate");
      check(a2.result.value.messageId === a1.result.value.messageId, "the retry got a new id");
      input.end();
      const d = await inbox.next("the streamed message");
      check(d.message?.id === a1.result.value.messageId, "another message arrived");
      const rin = writer<Partial<SendStreamRequest>>();
      const rout = t.stream((signal) =>
        r.messaging.sendStream(rin as AsyncIterable<SendStreamRequest>, { signal }),
      );
      rin.write({
        ref: 7n,
        item: { case: "ack", value: { deliveryIds: [d.deliveryId] } } as never,
      });
      const acked = await rout.next("the answer to the streamed Ack", t.settings.waitMs);
      check(
        acked.ref === 7n &&
          acked.result.case === "ack" &&
          acked.result.value.results[0]?.status === SettleStatus.OK,
        "the streamed Ack was not answered OK under its ref",
      );
      rin.end();
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after the streamed Ack");
    },
  },
  {
    id: "delivery.settle-stale-stream-closed",
    level: "MUST",
    profile: "delivery",
    description:
      "With the stream dropped, an Ack and a Nack after the ack deadline answer STALE; back again, both messages are redelivered",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-stale", "delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "stale-off", { ackDeadlineMs: 300, maxDeliveryAttempts: 5 });
      const first = await Inbox.open(t, r);
      await s.messaging.send(to(r, "one"));
      await s.messaging.send(to(r, "two"));
      const [d1, d2] = [await first.next("message one"), await first.next("message two")];
      const deliveredAt = Date.now();
      first.close();
      // No stream looks at the queue now: the settlements themselves meet the passed deadline.
      await untilPast(deliveredAt + 300 + 200, t.signal);
      const ack = await r.messaging.ack({ deliveryIds: [d1.deliveryId] });
      const nack = await r.messaging.nack({ deliveryIds: [d2.deliveryId] });
      const statuses = [...ack.results, ...nack.results].map((x) => SettleStatus[x.status]);
      check(
        statuses.join(",") === "STALE,STALE",
        `a late Ack and Nack answered [${statuses.join(", ")}], not [STALE, STALE]`,
      );
      const back = await Inbox.open(t, r);
      const again = await back.collect(2, "the two redeliveries");
      const got = again.map((d) => `${d.message?.kind}#${d.attempt}`).sort();
      check(got.join(",") === "one#2,two#2", `redelivered [${got.join(", ")}]`);
    },
  },
  {
    id: "delivery.nack-leaves-others",
    level: "MUST",
    profile: "delivery",
    description:
      "A Nack redelivers its own message only: another delivery still open on the stream stays open (its Ack is OK) and is not redelivered",
    spec: "acb.v1.MessagingService.Nack",
    rules: ["delivery.nack-redeliver", "delivery.settle-stale"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "nack-one", { ackDeadlineMs: 30_000, maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "nacked"));
      await s.messaging.send(to(r, "open"));
      const d1 = await inbox.next("the message to Nack");
      const d2 = await inbox.next("the message left open");
      await r.messaging.nack({ deliveryIds: [d1.deliveryId] });
      const redelivered = await inbox.next("the redelivery after Nack");
      check(
        redelivered.message?.kind === "nacked" && redelivered.attempt === 2,
        `after the Nack came ${redelivered.message?.kind}#${redelivered.attempt}, not nacked#2`,
      );
      const res = await r.messaging.ack({ deliveryIds: [d2.deliveryId, redelivered.deliveryId] });
      const statuses = res.results.map((x) => SettleStatus[x.status]).join(",");
      check(
        statuses === "OK,OK",
        `Ack of the delivery left open and of the redelivery answered [${statuses}]`,
      );
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "after both were acknowledged");
    },
  },
  {
    id: "delivery.nack-delay-per-message",
    level: "MUST",
    profile: "delivery",
    description:
      "A message nacked with a long redeliver_delay does not hold back one nacked after it without delay",
    spec: "acb.v1.NackRequest.redeliver_delay",
    rules: ["delivery.nack-redeliver"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "nack-delay", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      await s.messaging.send(to(r, "later"));
      await s.messaging.send(to(r, "now"));
      const d1 = await inbox.next("the message to delay");
      const d2 = await inbox.next("the message to redeliver at once");
      await r.messaging.nack({ deliveryIds: [d1.deliveryId], redeliverDelay: duration(3_600_000) });
      await r.messaging.nack({ deliveryIds: [d2.deliveryId] });
      const again = await inbox.next("the redelivery without delay");
      check(
        again.message?.kind === "now" && again.attempt === 2,
        `got ${again.message?.kind}#${again.attempt}, not now#2`,
      );
      await inbox.ack(again);
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(inbox, [], "while the delayed message waits");
    },
  },
  {
    id: "delivery.dead-letters-per-agent",
    level: "MUST",
    profile: "delivery",
    description:
      "Each agent lists, reads and replays its own dead letters only; an admin lists every agent's (agent_id *), oldest first",
    spec: "acb.v1.MessagingService.ListDeadLetters",
    rules: ["delivery.replay", "security.roles"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ maxDeliveryAttempts: 5 });
      const s = await tenant.agent("dlo-s");
      const r1 = await tenant.agent("dlo-r1");
      const r2 = await tenant.agent("dlo-r2");
      const admin = await tenant.agent("dlo-admin", { roles: [Role.ADMIN] });
      // r1's queue exists first, r2's message is dead-lettered first.
      await s.messaging.send(to(r1, "for-r1"));
      await s.messaging.send(to(r2, "for-r2"));
      const in2 = await Inbox.open(t, r2);
      const d2 = await in2.next("r2's message");
      await r2.messaging.nack({ deliveryIds: [d2.deliveryId], deadLetter: true });
      const [dl2] = await deadLetters(t, r2, 1, "r2's dead letter");
      const in1 = await Inbox.open(t, r1);
      const d1 = await in1.next("r1's message");
      await r1.messaging.nack({ deliveryIds: [d1.deliveryId], deadLetter: true });
      const [dl1] = await deadLetters(t, r1, 1, "r1's dead letter");
      check(dl1 && dl2, "a dead letter is missing");
      const own1 = await r1.messaging.listDeadLetters({});
      check(
        own1.deadLetters.map((d) => d.id).join(",") === dl1.id,
        `r1 lists ${own1.deadLetters.length} dead letters, not its one`,
      );
      const got2 = await r2.messaging.getDeadLetter({ deadLetterId: dl2.id });
      check(got2.deadLetter?.id === dl2.id, "GetDeadLetter of r2's own dead letter");
      await expectCode(
        r1.messaging.getDeadLetter({ deadLetterId: dl2.id }),
        Code.NotFound,
        "GetDeadLetter of another agent's dead letter (not an admin)",
      );
      const all = await admin.messaging.listDeadLetters({ agentId: "*" });
      check(
        all.deadLetters.map((d) => d.id).join(",") === `${dl2.id},${dl1.id}`,
        `the admin's list (agent_id *) is [${all.deadLetters.map((d) => d.message?.kind).join(", ")}], not [for-r2, for-r1]`,
      );
      const replay = await r2.messaging.replayDeadLetters({ deadLetterIds: [dl2.id] });
      check(replay.replayedCount === 1n, `r2 replayed ${replay.replayedCount} of its own, not 1`);
      const back = await in2.next("r2's replayed message");
      check(
        back.message?.kind === "for-r2" && back.attempt === 1,
        `the replay arrived as ${back.message?.kind}#${back.attempt}`,
      );
      await in2.ack(back);
    },
  },
  {
    id: "delivery.dead-letters-paged",
    level: "MUST",
    profile: "delivery",
    description:
      "Paging through ListDeadLetters returns every dead letter exactly once, oldest first",
    spec: "acb.v1.ListDeadLettersRequest.page_token",
    rules: ["pagination.complete"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "dlpage", { maxDeliveryAttempts: 5 });
      const inbox = await Inbox.open(t, r);
      for (const kind of ["p1", "p2", "p3"]) {
        await s.messaging.send(to(r, kind));
        const d = await inbox.next(`the delivery of ${kind}`);
        await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
      }
      await deadLetters(t, r, 3, "three dead letters");
      const first = await r.messaging.listDeadLetters({ pageSize: 2 });
      check(first.nextPageToken !== "", "a first page of 2 of 3 has no next_page_token");
      const second = await r.messaging.listDeadLetters({
        pageSize: 2,
        pageToken: first.nextPageToken,
      });
      check(second.nextPageToken === "", "the last page has a next_page_token");
      const kinds = [...first.deadLetters, ...second.deadLetters].map((d) => d.message?.kind);
      check(kinds.join(",") === "p1,p2,p3", `pages hold [${kinds.join(", ")}], not [p1, p2, p3]`);
    },
  },
  {
    id: "delivery.batch-quota",
    level: "MUST",
    profile: "delivery",
    description:
      "A SendBatch that would pass the tenant's message quota answers per item: the items that fit are accepted and delivered, the rest are RESOURCE_EXHAUSTED",
    spec: "acb.v1.MessagingService.SendBatch",
    rules: ["delivery.batch"],
    requires,
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-bq`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { messagesPerMonth: 2n },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const issued = await t.admin.auth.issueToken({
        tenantId,
        agentId: "bq-r",
        roles: [Role.AGENT_FULL],
      });
      const r = t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`);
      await r.registry.register({ agentId: "bq-r", type: "conformance" });
      const self = { id: "bq-r" } as TestAgent;
      const res = await r.messaging.sendBatch({
        requests: [to(self, "q1"), to(self, "q2"), to(self, "q3")],
      });
      const codes = res.results.map((x) => (x.error ? Code[x.error.code] : "OK")).join(",");
      check(
        codes === "OK,OK,ResourceExhausted",
        `with a quota of 2 messages the items answered [${codes}]`,
      );
      const inbox = await Inbox.open(t, { ...r, id: "bq-r", tenantId, token: "" } as TestAgent);
      const got = await inbox.collect(2, "the two accepted items");
      check(
        got.map((d) => d.message?.kind).join(",") === "q1,q2",
        `delivered [${got.map((d) => d.message?.kind).join(", ")}]`,
      );
    },
  },
  {
    id: "delivery.topic-subscriptions-paged",
    level: "MUST",
    profile: "delivery",
    description:
      "Paging through ListTopicSubscriptions returns every pattern of the agent exactly once, ordered by pattern",
    spec: "acb.v1.ListTopicSubscriptionsRequest.page_token",
    rules: ["pagination.complete"],
    requires,
    async run(t) {
      const { r } = await duo(t, "tspage");
      const patterns = ["a.>", "b.*", "c.d", "e.>", "f.*"];
      for (const pattern of [...patterns].reverse()) await r.messaging.subscribeTopic({ pattern });
      const listed: string[] = [];
      let pageToken = "";
      for (let page = 0; page < 10; page++) {
        const res = await r.messaging.listTopicSubscriptions({ pageSize: 2, pageToken });
        check(res.subscriptions.length <= 2, `a page of size 2 held ${res.subscriptions.length}`);
        listed.push(...res.subscriptions.map((x) => x.pattern));
        if (res.nextPageToken === "") break;
        pageToken = res.nextPageToken;
      }
      check(
        listed.join(",") === patterns.join(","),
        `paged as [${listed.join(", ")}], not [${patterns.join(", ")}]`,
      );
    },
  },
  topicCase("orders.*", ["orders.created"], ["orders", "orders.eu.created", "invoices.created"]),
  topicCase("orders.>", ["orders.created", "orders.eu.created"], ["orders", "invoices.created"]),
  topicCase("*.created", ["orders.created", "invoices.created"], ["orders.eu.created", "created"]),
  topicCase(">", ["a", "a.b", "a.b.c"], []),
  topicCase(
    "orders.eu.created",
    ["orders.eu.created"],
    ["Orders.eu.created", "orders.eu", "orders.eu.created.x"],
  ),
  {
    id: "delivery.topic-from-subscribe",
    level: "MUST",
    profile: "delivery",
    description:
      "Topic messages published before SubscribeTopic are not delivered; later ones are, even while not receiving",
    spec: "acb.v1.MessagingService.SubscribeTopic",
    rules: ["delivery.topic-from-subscribe"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "tsub");
      const publish = (kind: string) =>
        s.messaging.send({
          target: { case: "topic", value: "news.today" },
          kind,
          payload: text(kind),
        });
      await publish("before");
      const first = await r.messaging.subscribeTopic({ pattern: "news.*" });
      check(first.created, "the first SubscribeTopic did not create the subscription");
      const again = await r.messaging.subscribeTopic({ pattern: "news.*" });
      check(!again.created, "subscribing again created another subscription");
      await publish("after");
      await s.messaging.send(to(r, "sentinel"));
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, ["after"], "topic messages around the subscription");
      const list = await r.messaging.listTopicSubscriptions({});
      check(
        list.subscriptions.map((x) => x.pattern).join(",") === "news.*",
        "ListTopicSubscriptions does not list exactly the one pattern",
      );
    },
  },
  {
    id: "delivery.unsubscribe",
    level: "MUST",
    profile: "delivery",
    description:
      "After UnsubscribeTopic nothing more arrives through the pattern; an unknown pattern is NOT_FOUND",
    spec: "acb.v1.MessagingService.UnsubscribeTopic",
    rules: ["delivery.unsubscribe"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "unsub");
      await r.messaging.subscribeTopic({ pattern: "jobs.>" });
      await r.messaging.unsubscribeTopic({ pattern: "jobs.>" });
      await expectCode(
        r.messaging.unsubscribeTopic({ pattern: "jobs.>" }),
        Code.NotFound,
        "UnsubscribeTopic of a pattern no longer subscribed",
      );
      await s.messaging.send({
        target: { case: "topic", value: "jobs.new" },
        kind: "job",
        payload: text("j"),
      });
      await s.messaging.send(to(r, "sentinel"));
      const inbox = await Inbox.open(t, r);
      await expectKinds(inbox, [], "after unsubscribing");
      const list = await r.messaging.listTopicSubscriptions({});
      check(list.subscriptions.length === 0, "the subscription is still listed");
    },
  },
  {
    id: "delivery.stream-replaced",
    level: "MUST",
    profile: "delivery",
    description:
      "Opening a second Receive stream ends the first with ABORTED (reason STREAM_REPLACED); the second delivers",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.stream-replaced"],
    requires,
    async run(t) {
      const { s, r } = await duo(t, "replace");
      const first = t.stream((signal) => r.messaging.receive({}, { signal }));
      await first.waitFor(
        (x) => x.kind === ReceiveResponse_Kind.READY,
        "READY of the first stream",
        t.settings.waitMs,
      );
      const second = await Inbox.open(t, r);
      const err = await first.end("the end of the replaced stream", t.settings.waitMs);
      check(
        err?.code === Code.Aborted,
        `the replaced stream ended with ${err ? Code[err.code] : "OK"}, not ABORTED`,
      );
      check(
        reasonOf(err) === "STREAM_REPLACED",
        `the replaced stream's ABORTED has reason "${reasonOf(err)}", not STREAM_REPLACED`,
      );
      await s.messaging.send(to(r, "sentinel"));
      await expectKinds(second, [], "on the new stream");
    },
  },
];
