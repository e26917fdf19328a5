// Delivery profile: at-least-once delivery to offline and dropped receivers, retried settlement,
// idempotency, dead letters and replay, order, expiry, broadcast isolation, topics, backlog limits.

import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { DeadLetterReason, SettleStatus } from "@acb/gen/acb/v1/messaging_pb";
import { Code } from "@connectrpc/connect";
import { type ConformanceCase, check } from "../case.js";
import { duration } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { expectCode, poll, untilPast } from "../wire.js";

const requires = ["messaging"];

export const deliveryCases: ConformanceCase[] = [
  {
    id: "delivery.offline-recipient",
    level: "MUST",
    profile: "delivery",
    description:
      "Messages sent while the recipient is not receiving all arrive when it opens its stream",
    spec: "acb.v1.MessagingService.Send",
    rules: ["delivery.offline-queue"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("off-s");
      const r = await tenant.agent("off-r");
      const n = 20;
      const sent = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await s.messaging.send({
          target: { case: "recipientId", value: r.id },
          kind: "offline",
          payload: text(String(i)),
        });
        sent.add(res.messageId);
      }
      const inbox = await Inbox.open(t, r);
      const got = await inbox.collect(n, `the ${n} messages queued while offline`);
      const ids = new Set(got.map((d) => d.message?.id ?? ""));
      const missing = [...sent].filter((id) => !ids.has(id));
      check(missing.length === 0, `${missing.length} of ${n} acknowledged messages never arrived`);
    },
  },
  {
    id: "delivery.redelivery",
    level: "MUST",
    profile: "delivery",
    description:
      "A delivery never acknowledged (receiver dropped) is redelivered after the ack deadline, attempt + 1",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.redeliver-after-deadline"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ ackDeadlineMs: 200, maxDeliveryAttempts: 5 });
      const s = await tenant.agent("redel-s");
      const r = await tenant.agent("redel-r");
      const first = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "redeliver-me",
        payload: text("x"),
      });
      const d1 = await first.next("the first delivery");
      check(
        d1.message?.id === messageId && d1.attempt === 1,
        `first delivery is ${d1.message?.id}#${d1.attempt}`,
      );
      first.close(); // the receiver drops without acknowledging
      const second = await Inbox.open(t, r);
      const d2 = await second.next("the redelivery after a 200 ms ack deadline");
      check(d2.message?.id === messageId, `redelivered ${d2.message?.id}, not ${messageId}`);
      check(d2.attempt === 2, `the redelivery has attempt ${d2.attempt}, not 2`);
      await second.ack(d2);
    },
  },
  {
    id: "delivery.settle-retry",
    level: "MUST",
    profile: "delivery",
    description:
      "Settling is safe to retry: a repeated Ack is OK, a Nack after it STALE, and the message is not redelivered",
    spec: "acb.v1.SettleStatus",
    rules: ["delivery.settle-retry"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("settle-s");
      const r = await tenant.agent("settle-r");
      const inbox = await Inbox.open(t, r);
      const send = (kind: string) =>
        s.messaging.send({
          target: { case: "recipientId", value: r.id },
          kind,
          payload: text(kind),
        });
      await send("settle-once");
      const d = await inbox.next("the delivery to settle");
      const deliveryIds = [d.deliveryId];
      const statuses = [
        ...(await r.messaging.ack({ deliveryIds })).results,
        ...(await r.messaging.ack({ deliveryIds })).results,
        ...(await r.messaging.nack({ deliveryIds })).results,
      ].map((x) => SettleStatus[x.status]);
      check(
        statuses.join(",") === "OK,OK,STALE",
        `Ack, Ack again, Nack answered ${statuses.join(", ")}, not OK, OK, STALE`,
      );
      // The stale Nack changed nothing: what arrives next is the next message, first attempt.
      const { messageId } = await send("settle-next");
      const next = await inbox.next("the next message");
      check(
        next.message?.id === messageId && next.attempt === 1,
        `after the stale Nack got ${next.message?.kind}#${next.attempt}, not the next message`,
      );
      await inbox.ack(next);
    },
  },
  {
    id: "delivery.idempotency-dedupe",
    level: "MUST",
    profile: "delivery",
    description:
      "A Send retried with the same idempotency key returns the original id, duplicate=true, and is delivered once",
    spec: "acb.v1.SendRequest.idempotency_key",
    rules: ["delivery.idempotency"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("idem-s");
      const r = await tenant.agent("idem-r");
      const a = await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "idem",
        idempotencyKey: "k-1",
        payload: text("1"),
      });
      const b = await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "idem",
        idempotencyKey: "k-1",
        payload: text("1"),
      });
      check(!a.duplicate, "the first Send was reported as a duplicate");
      check(b.duplicate, "the retried Send was not reported as a duplicate");
      check(
        b.messageId === a.messageId,
        `the retry got id ${b.messageId}, not the original ${a.messageId}`,
      );
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "sentinel",
        payload: text("end"),
      });
      const inbox = await Inbox.open(t, r);
      const got = await inbox.collectUntil(
        (d) => d.message?.kind === "sentinel",
        "the sentinel after the retried message",
      );
      const copies = got.filter((d) => d.message?.kind === "idem").length;
      check(copies === 1, `the message was delivered ${copies} times`);
    },
  },
  {
    id: "delivery.dead-letter-replay",
    level: "MUST",
    profile: "delivery",
    description:
      "After max_delivery_attempts the message is dead-lettered; replay delivers it again at attempt 1",
    spec: "acb.v1.MessagingService.ReplayDeadLetters",
    rules: ["delivery.dead-letter-after-max", "delivery.nack-redeliver", "delivery.replay"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ maxDeliveryAttempts: 2, ackDeadlineMs: 5_000 });
      const s = await tenant.agent("dlq-s");
      const r = await tenant.agent("dlq-r");
      const inbox = await Inbox.open(t, r);
      const { messageId } = await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "poison",
        payload: text("x"),
      });
      for (let attempt = 1; attempt <= 2; attempt++) {
        const d = await inbox.next(`attempt ${attempt} of the rejected message`);
        check(
          d.message?.id === messageId && d.attempt === attempt,
          `got ${d.message?.id}#${d.attempt}, not attempt ${attempt}`,
        );
        await r.messaging.nack({ deliveryIds: [d.deliveryId], error: "conformance rejects it" });
      }
      const letters = await poll(
        async () => {
          const res = await r.messaging.listDeadLetters({});
          return res.deadLetters.length > 0 ? res.deadLetters : undefined;
        },
        "the dead letter after 2 failed attempts",
        t.settings.waitMs,
        t.signal,
      );
      const [dl] = letters;
      check(letters.length === 1 && dl, `${letters.length} dead letters, not 1`);
      check(dl.message?.id === messageId, "the dead letter is another message");
      check(
        dl.reason === DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
        `reason is ${DeadLetterReason[dl.reason]}`,
      );
      check(dl.attempts === 2, `the dead letter counts ${dl.attempts} attempts, not 2`);
      const replay = await r.messaging.replayDeadLetters({ deadLetterIds: [dl.id] });
      check(replay.replayedCount === 1n, `ReplayDeadLetters replayed ${replay.replayedCount}`);
      const again = await inbox.next("the replayed message");
      check(again.message?.id === messageId, "the replay delivered another message");
      check(again.attempt === 1, `the replayed message has attempt ${again.attempt}, not 1`);
      await inbox.ack(again);
      const after = await r.messaging.listDeadLetters({});
      check(after.deadLetters.length === 0, "the replayed dead letter is still listed");
    },
  },
  {
    id: "delivery.order",
    level: "MUST",
    profile: "delivery",
    description:
      "Messages from one sender to one recipient arrive, on first attempt, in the order accepted",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["delivery.order"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("ord-s");
      const r = await tenant.agent("ord-r");
      const n = 100;
      const send = (i: number) =>
        s.messaging.send({
          target: { case: "recipientId", value: r.id },
          kind: "seq",
          payload: text(String(i)),
          metadata: { seq: String(i) },
        });
      // Half queued before the stream opens, half while it is live; each Send is awaited, so
      // the hub accepted them in sequence order.
      for (let i = 0; i < n / 2; i++) await send(i);
      const inbox = await Inbox.open(t, r);
      const receiving = inbox.collect(n, `${n} ordered messages`);
      for (let i = n / 2; i < n; i++) await send(i);
      const seqs = (await receiving)
        .filter((d) => d.attempt === 1)
        .map((d) => Number(d.message?.metadata.seq));
      const expected = Array.from({ length: n }, (_, i) => i);
      check(
        seqs.join(",") === expected.join(","),
        `first attempts arrived out of order: [${seqs.slice(0, 20).join(", ")}${seqs.length > 20 ? ", …" : ""}]`,
      );
    },
  },
  {
    id: "delivery.expiry",
    level: "MUST",
    profile: "delivery",
    description: "A message that expires before its recipient receives is never delivered",
    spec: "acb.v1.SendRequest.ttl",
    rules: ["delivery.expiry"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("exp-s");
      const r = await tenant.agent("exp-r");
      const sentAt = Date.now();
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "short-lived",
        expiry: { case: "ttl", value: duration(150) },
        payload: text("x"),
      });
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "sentinel",
        payload: text("end"),
      });
      // The protocol offers no event for a message's expiry: wait (bounded) until it has passed.
      await untilPast(sentAt + 150 + 250, t.signal);
      const inbox = await Inbox.open(t, r);
      const got = await inbox.collectUntil(
        (d) => d.message?.kind === "sentinel",
        "the sentinel sent after the expiring message",
      );
      check(
        !got.some((d) => d.message?.kind === "short-lived"),
        "an expired message was delivered",
      );
    },
  },
  {
    id: "delivery.broadcast-isolation",
    level: "MUST",
    profile: "delivery",
    description:
      "A broadcast reaches every other agent of the tenant, not the sender, never another tenant",
    spec: "acb.v1.SendRequest.broadcast",
    rules: ["delivery.broadcast"],
    requires,
    async run(t) {
      const home = await t.tenant();
      const away = await t.tenant();
      const a1 = await home.agent("bc-a1");
      const a2 = await home.agent("bc-a2");
      const b1 = await away.agent("bc-b1");
      const b2 = await away.agent("bc-b2");
      const inA2 = await Inbox.open(t, a2);
      const inB1 = await Inbox.open(t, b1);
      const inA1 = await Inbox.open(t, a1);
      await a1.messaging.send({
        target: { case: "broadcast", value: true },
        kind: "announce",
        payload: text("hi"),
      });
      const d = await inA2.next("the broadcast at another agent of the tenant");
      check(d.message?.kind === "announce", `a2 got "${d.message?.kind}"`);
      await b2.messaging.send({
        target: { case: "recipientId", value: b1.id },
        kind: "sentinel",
        payload: text("end"),
      });
      const atB1 = await inB1.collectUntil(
        (x) => x.message?.kind === "sentinel",
        "a sentinel inside the other tenant",
      );
      check(
        !atB1.some((x) => x.message?.kind === "announce"),
        "a broadcast crossed into another tenant",
      );
      await a2.messaging.send({
        target: { case: "recipientId", value: a1.id },
        kind: "sentinel",
        payload: text("end"),
      });
      const atA1 = await inA1.collectUntil(
        (x) => x.message?.kind === "sentinel",
        "a sentinel to the broadcaster",
      );
      check(
        !atA1.some((x) => x.message?.kind === "announce"),
        "the sender received its own broadcast",
      );
    },
  },
  {
    id: "delivery.topic-wildcard",
    level: "MUST",
    profile: "delivery",
    description:
      "A topic message reaches the subscribers whose pattern matches (`*` is one segment), once",
    spec: "acb.v1.SubscribeTopicRequest.pattern",
    rules: ["delivery.topic-match"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const s = await tenant.agent("topic-s");
      const r = await tenant.agent("topic-r");
      await r.messaging.subscribeTopic({ pattern: "orders.*.created" });
      await r.messaging.subscribeTopic({ pattern: "orders.>" });
      await s.messaging.send({
        target: { case: "topic", value: "orders.eu.created" },
        kind: "created",
        payload: text("1"),
      });
      await s.messaging.send({
        target: { case: "topic", value: "invoices.eu.created" },
        kind: "other",
        payload: text("2"),
      });
      await s.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "sentinel",
        payload: text("end"),
      });
      const inbox = await Inbox.open(t, r);
      const got = await inbox.collectUntil(
        (d) => d.message?.kind === "sentinel",
        "the sentinel after two publishes",
      );
      const kinds = got.map((d) => d.message?.kind).join(",");
      check(kinds === "created,sentinel", `the subscriber got [${kinds}], not [created, sentinel]`);
    },
  },
  {
    id: "delivery.backlog-limit",
    level: "MUST",
    profile: "delivery",
    description:
      "A send past the recipient's agent_backlog_messages is RESOURCE_EXHAUSTED with RetryInfo under REFUSE; under DEAD_LETTER_OLDEST the oldest undelivered message is dead-lettered",
    spec: "acb.v1.TenantQuotas.agent_backlog_messages",
    rules: ["delivery.backlog-limit"],
    requires,
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-b`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { agentBacklogMessages: 2n },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const agent = async (name: string) => {
        const issued = await t.admin.auth.issueToken({
          tenantId,
          agentId: name,
          roles: [Role.AGENT_FULL],
        });
        const c = t.clientsWith(`Bearer ${issued.tokens?.accessToken ?? ""}`);
        await c.registry.register({ agentId: name, type: "conformance" });
        return c;
      };
      const s = await agent("bl-s");
      const r = await agent("bl-r");
      const send = async (body: string) =>
        (
          await s.messaging.send({
            target: { case: "recipientId", value: "bl-r" },
            kind: "k",
            payload: text(body),
          })
        ).messageId;
      const first = await send("1");
      await send("2");
      const err = await expectCode(
        send("3"),
        Code.ResourceExhausted,
        "a third message to an agent whose backlog limit is 2",
      );
      check(err.findDetails(RetryInfoSchema).length > 0, "the refusal carries no RetryInfo");
      await t.admin.admin.updateTenant({
        tenantId,
        settings: { backlogPolicy: BacklogPolicy.DEAD_LETTER_OLDEST },
      });
      const third = await send("3");
      check(third !== first, "the accepted message has the id of the first one");
      const letters = await r.messaging.listDeadLetters({});
      const [dl] = letters.deadLetters;
      check(
        letters.deadLetters.length === 1 && dl,
        `${letters.deadLetters.length} dead letters, not 1`,
      );
      check(dl.message?.id === first, "the dead letter is not the oldest message");
      check(
        dl.reason === DeadLetterReason.BACKLOG_FULL,
        `reason is ${DeadLetterReason[dl.reason]}`,
      );
    },
  },
];
