// Request-reply profile: the blocking Request call, its timeout, and conversations.

import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import { type ConformanceCase, check } from "../case.js";
import { duration } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, reasonOf } from "../wire.js";

export const requestReplyCases: ConformanceCase[] = [
  {
    id: "request-reply.reply",
    level: "MUST",
    profile: "request-reply",
    description: "Request returns the first RESPONSE correlated to the request message",
    spec: "acb.v1.MessagingService.Request",
    rules: ["request-reply.reply"],
    requires: ["request-reply"],
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rr-asker");
      const answerer = await tenant.agent("rr-answerer");
      const inbox = await Inbox.open(t, answerer);
      const call = asker.messaging.request(
        {
          recipientId: answerer.id,
          kind: "get-status",
          payload: text("?"),
          timeout: duration(t.settings.waitMs),
        },
        { signal: t.signal },
      );
      const q = await inbox.next("the query at the answerer");
      check(
        q.message?.type === MessageType.QUERY,
        `the request arrived as ${MessageType[q.message?.type ?? 0]}`,
      );
      check(q.message?.senderId === asker.id, "the request does not name its sender");
      await inbox.ack(q);
      await answerer.messaging.send({
        target: { case: "recipientId", value: asker.id },
        type: MessageType.RESPONSE,
        correlationId: q.message?.id ?? "",
        kind: "status",
        payload: text("ok"),
      });
      const res = await call;
      check(
        res.requestMessageId === q.message?.id,
        "request_message_id is not the delivered request's id",
      );
      check(
        new TextDecoder().decode(res.reply?.payload?.data) === "ok",
        "the reply's payload was changed",
      );
      check(
        res.reply?.correlationId === q.message?.id,
        "the reply is not correlated to the request",
      );
    },
  },
  {
    id: "request-reply.reply-by-batch",
    level: "MUST",
    profile: "request-reply",
    description:
      "A RESPONSE sent in a SendBatch, between plain items, answers the waiting Request; the plain items are delivered as usual",
    spec: "acb.v1.MessagingService.Request",
    rules: ["request-reply.reply", "delivery.batch"],
    requires: ["request-reply"],
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rrb-asker");
      const answerer = await tenant.agent("rrb-answerer");
      const other = await tenant.agent("rrb-other");
      const inbox = await Inbox.open(t, answerer);
      const call = asker.messaging.request(
        {
          recipientId: answerer.id,
          kind: "get-status",
          payload: text("?"),
          timeout: duration(t.settings.waitMs),
        },
        { signal: t.signal },
      );
      const q = await inbox.next("the query at the answerer");
      await inbox.ack(q);
      const plain = (kind: string) => ({
        target: { case: "recipientId" as const, value: other.id },
        kind,
        payload: text(kind),
      });
      const res = await answerer.messaging.sendBatch({
        requests: [
          plain("before"),
          {
            target: { case: "recipientId", value: asker.id },
            type: MessageType.RESPONSE,
            correlationId: q.message?.id ?? "",
            kind: "status",
            payload: text("ok"),
          },
          plain("after"),
        ],
      });
      check(
        res.results.every((x) => !x.error),
        "an item of the batch failed",
      );
      const answer = await call;
      check(
        new TextDecoder().decode(answer.reply?.payload?.data) === "ok" &&
          answer.reply?.correlationId === q.message?.id,
        "Request did not return the batch's RESPONSE",
      );
      const got = await (await Inbox.open(t, other)).collect(2, "the batch's plain items");
      check(
        got.map((d) => d.message?.kind).join(",") === "before,after",
        `the plain items arrived as [${got.map((d) => d.message?.kind).join(", ")}]`,
      );
    },
  },
  {
    id: "request-reply.timeout",
    level: "MUST",
    profile: "request-reply",
    description: "A Request nobody answers ends with DEADLINE_EXCEEDED when its timeout passes",
    spec: "acb.v1.RequestRequest.timeout",
    rules: ["request-reply.timeout"],
    requires: ["request-reply"],
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rt-asker");
      const silent = await tenant.agent("rt-silent");
      const started = Date.now();
      await expectCode(
        asker.messaging.request(
          { recipientId: silent.id, kind: "ping", timeout: duration(300) },
          { signal: t.signal },
        ),
        Code.DeadlineExceeded,
        "a Request with a 300 ms timeout and no reply",
      );
      check(
        Date.now() - started < 300 + t.settings.waitMs,
        "the Request outlived its timeout by far",
      );
    },
  },
  {
    id: "request-reply.late-replies",
    level: "MUST",
    profile: "request-reply",
    description:
      "Only a RESPONSE to the requester answers a waiting Request; RESPONSEs after the call returned are dropped, never delivered to its Receive stream",
    spec: "acb.v1.MessagingService.Request",
    rules: ["request-reply.late", "request-reply.reply"],
    requires: ["request-reply"],
    async run(t) {
      const tenant = await t.tenant();
      const asker = await tenant.agent("rl-asker");
      const answerer = await tenant.agent("rl-answerer");
      const other = await tenant.agent("rl-other");
      const asks = await Inbox.open(t, answerer);
      const own = await Inbox.open(t, asker);
      const request = (kind: string, timeoutMs: number) =>
        asker.messaging.request(
          { recipientId: answerer.id, kind, payload: text(kind), timeout: duration(timeoutMs) },
          { signal: t.signal },
        );
      const reply = (
        to: string,
        correlationId: string,
        kind: string,
        type = MessageType.RESPONSE,
      ) =>
        answerer.messaging.send({
          target: { case: "recipientId", value: to },
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
      // Answered: a second RESPONSE to the same request is dropped.
      const first = request("q1", t.settings.waitMs);
      const q1 = await asked("the first request");
      await reply(asker.id, q1, "r1");
      const got = await first;
      check(got.reply?.kind === "r1", `the first Request returned "${got.reply?.kind}", not r1`);
      await reply(asker.id, q1, "r1-again");
      // Timed out: a RESPONSE after DEADLINE_EXCEEDED is dropped.
      const second = request("q2", 300);
      const q2 = await asked("the second request");
      await expectCode(second, Code.DeadlineExceeded, "a Request with a 300 ms timeout unanswered");
      await reply(asker.id, q2, "r2-late");
      // Waiting: an EVENT correlated to the request and a RESPONSE to another agent are not the
      // reply; they are delivered as usual, and the RESPONSE to the requester answers the call.
      const third = request("q3", t.settings.waitMs);
      const q3 = await asked("the third request");
      await reply(asker.id, q3, "note", MessageType.EVENT);
      await reply(other.id, q3, "elsewhere");
      await reply(asker.id, q3, "r3");
      const got3 = await third;
      check(got3.reply?.kind === "r3", `the third Request returned "${got3.reply?.kind}", not r3`);
      const elsewhere = await Inbox.open(t, other);
      const o = await elsewhere.next("the RESPONSE sent to another agent");
      check(o.message?.kind === "elsewhere", `the other agent got "${o.message?.kind}" first`);
      await elsewhere.ack(o);
      elsewhere.close();
      // Request-reply over Receive (no Request call): the RESPONSE is an ordinary delivery.
      const sent = await asker.messaging.send({
        target: { case: "recipientId", value: answerer.id },
        type: MessageType.QUERY,
        kind: "q4",
        payload: text("q4"),
      });
      await asked("the query sent with Send");
      await reply(asker.id, sent.messageId, "r4");
      // The requester's stream: the correlated EVENT, the RESPONSE to its Send, then a sentinel
      // sent last; no reply to a Request call.
      await answerer.messaging.send({
        target: { case: "recipientId", value: asker.id },
        kind: "sentinel",
        payload: text("s"),
      });
      const kinds = (await own.collectUntil((d) => d.message?.kind === "sentinel", "the sentinel"))
        .map((d) => d.message?.kind)
        .join(",");
      check(
        kinds === "note,r4,sentinel",
        `the requester's Receive stream got [${kinds}], not [note, r4, sentinel]`,
      );
    },
  },
  {
    id: "conversations.history-close",
    level: "MUST",
    profile: "request-reply",
    description:
      "Conversation messages are kept in its history; sending into a closed conversation is FAILED_PRECONDITION",
    spec: "acb.v1.ConversationService.GetConversationHistory",
    rules: ["conversations.history-close"],
    requires: ["conversations"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("conv-a");
      const b = await tenant.agent("conv-b");
      const stranger = await tenant.agent("conv-stranger");
      const { conversation } = await a.conversations.startConversation({
        mode: ConversationMode.ASYNC,
        participants: [b.id],
      });
      check(
        conversation && conversation.state === ConversationState.OPEN,
        "a new conversation is not OPEN",
      );
      const id = conversation.id;
      await a.messaging.send({
        target: { case: "recipientId", value: b.id },
        kind: "ask",
        conversationId: id,
        payload: text("q"),
      });
      await b.messaging.send({
        target: { case: "recipientId", value: a.id },
        kind: "answer",
        conversationId: id,
        payload: text("a"),
      });
      const history = await a.conversations.getConversationHistory({ conversationId: id });
      const kinds = history.messages.map((m) => m.kind).join(",");
      check(kinds === "ask,answer", `the history holds [${kinds}], not [ask, answer]`);
      await expectCode(
        stranger.conversations.getConversation({ conversationId: id }),
        Code.NotFound,
        "a non-participant reading the conversation",
      );
      await a.conversations.closeConversation({ conversationId: id, reason: "done" });
      const err = await expectCode(
        b.messaging.send({
          target: { case: "recipientId", value: a.id },
          kind: "late",
          conversationId: id,
          payload: text("x"),
        }),
        Code.FailedPrecondition,
        "sending into a closed conversation",
      );
      check(reasonOf(err) === "CONVERSATION_CLOSED", `ErrorInfo reason is "${reasonOf(err)}"`);
    },
  },
];
