// Conversation rules: what StartConversation creates, who may send into a conversation and to
// whom, closing, the inactivity timeout, listing and the history's paging. The timeout case waits
// for the hub's own timeout_at (1 s after the last message), bounded by the run's wait.

import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type Conversation,
  ConversationMode,
  ConversationState,
} from "@acb/gen/acb/v1/conversations_pb";
import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration, durationMs, type TestAgent } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode, poll, reasonOf } from "../wire.js";

const requires = ["conversations", "messaging"];

const msOf = (t: Timestamp | undefined) => (t ? timestampMs(t) : undefined);

const sendIn = (from: TestAgent, to: string, conversationId: string, kind: string) =>
  from.messaging.send({
    target: { case: "recipientId", value: to },
    kind,
    conversationId,
    payload: text(kind),
  });

async function trio(t: CaseContext, prefix: string) {
  const tenant = await t.tenant();
  return {
    a: await tenant.agent(`${prefix}-a`),
    b: await tenant.agent(`${prefix}-b`),
    c: await tenant.agent(`${prefix}-c`),
  };
}

export const conversationRuleCases: ConformanceCase[] = [
  {
    id: "conversations.start",
    level: "MUST",
    profile: "request-reply",
    description:
      "StartConversation creates an OPEN conversation as requested, the caller first; its errors are NOT_FOUND, INVALID_ARGUMENT and ALREADY_EXISTS",
    spec: "acb.v1.ConversationService.StartConversation",
    rules: ["conversations.start"],
    requires,
    async run(t) {
      const { a, b, c } = await trio(t, "cst");
      const before = Date.now();
      const { conversation } = await a.conversations.startConversation({
        conversationId: "cst-1",
        participants: [c.id, a.id, b.id],
        subject: "plans",
        metadata: { k: "v" },
        timeout: duration(3_600_000),
      });
      const check1 = (x: Conversation | undefined, what: string) => {
        check(x, `${what}: no conversation`);
        check(
          x.id === "cst-1" &&
            x.initiatorId === a.id &&
            x.participants.join(",") === [a.id, c.id, b.id].join(",") &&
            x.mode === ConversationMode.ASYNC &&
            x.state === ConversationState.OPEN &&
            x.subject === "plans" &&
            x.metadata.k === "v" &&
            durationMs(x.timeout) === 3_600_000 &&
            x.messageCount === 0n,
          `${what}: ${x.id} by ${x.initiatorId} with [${x.participants}], ${ConversationMode[x.mode]}, ${ConversationState[x.state]}, "${x.subject}", ${durationMs(x.timeout)} ms, ${x.messageCount} messages`,
        );
        const created = msOf(x.createdAt) ?? 0;
        check(
          created >= before - t.settings.waitMs && created <= Date.now() + t.settings.waitMs,
          `${what}: created_at ${created} is not the time of the start`,
        );
        check(
          msOf(x.timeoutAt) === created + 3_600_000 &&
            x.endedAt === undefined &&
            x.closedBy === "" &&
            x.closeReason === "",
          `${what}: timeout_at ${msOf(x.timeoutAt)} is not created_at + 1 h, or it looks ended`,
        );
      };
      check1(conversation, "StartConversation");
      check1(
        (await c.conversations.getConversation({ conversationId: "cst-1" })).conversation,
        "GetConversation by a participant",
      );
      const plain = (await b.conversations.startConversation({ participants: [a.id] }))
        .conversation;
      check(
        plain?.id !== "" &&
          plain?.mode === ConversationMode.ASYNC &&
          plain.timeout === undefined &&
          plain.timeoutAt === undefined,
        "a conversation started without id, mode or timeout has no id, is not ASYNC, or has a timeout",
      );
      await expectCode(
        a.conversations.startConversation({ conversationId: "cst-1", participants: [b.id] }),
        Code.AlreadyExists,
        "StartConversation with an id in use",
      );
      await expectCode(
        a.conversations.startConversation({ participants: [b.id, "cst-nobody"] }),
        Code.NotFound,
        "StartConversation with an unregistered participant",
      );
      await expectCode(
        a.conversations.startConversation({ participants: [a.id] }),
        Code.InvalidArgument,
        "StartConversation with the caller as the only participant",
      );
    },
  },
  {
    id: "conversations.send",
    level: "MUST",
    profile: "request-reply",
    description:
      "In a ONE_WAY conversation only the initiator sends; a recipient outside the conversation is refused; each message counts",
    spec: "acb.v1.SendRequest.conversation_id",
    rules: ["conversations.send"],
    requires,
    async run(t) {
      const { a, b, c } = await trio(t, "csd");
      const oneWay = (
        await a.conversations.startConversation({
          mode: ConversationMode.ONE_WAY,
          participants: [b.id],
        })
      ).conversation;
      const id = oneWay?.id ?? "";
      await sendIn(a, b.id, id, "note");
      const err = await expectCode(
        sendIn(b, a.id, id, "reply"),
        Code.FailedPrecondition,
        "a reply in a ONE_WAY conversation",
      );
      check(reasonOf(err) === "ONE_WAY_CONVERSATION", `ErrorInfo reason "${reasonOf(err)}"`);
      const outside = await expectCode(
        sendIn(a, c.id, id, "leak"),
        Code.FailedPrecondition,
        "a message to an agent outside the conversation",
      );
      check(reasonOf(outside) === "NOT_A_PARTICIPANT", `ErrorInfo reason "${reasonOf(outside)}"`);
      const read = (await b.conversations.getConversation({ conversationId: id })).conversation;
      check(read?.messageCount === 1n, `message_count is ${read?.messageCount}, not 1`);
      const history = await b.conversations.getConversationHistory({ conversationId: id });
      check(
        history.messages.map((m) => m.kind).join(",") === "note",
        `the history holds [${history.messages.map((m) => m.kind)}], not [note]`,
      );
      const both = (
        await b.conversations.startConversation({
          mode: ConversationMode.SYNC,
          participants: [a.id, c.id],
        })
      ).conversation;
      const ask = {
        target: { case: "recipientId" as const, value: b.id },
        kind: "ask",
        conversationId: both?.id ?? "",
        idempotencyKey: "csd-ask",
        payload: text("ask"),
      };
      const sent = await a.messaging.send(ask);
      const again = await a.messaging.send(ask);
      check(
        again.messageId === sent.messageId,
        "a repeated Send with one idempotency_key in a conversation got a new message id",
      );
      await sendIn(c, a.id, both?.id ?? "", "answer");
      const after = (await a.conversations.getConversation({ conversationId: both?.id ?? "" }))
        .conversation;
      check(after?.messageCount === 2n, `message_count is ${after?.messageCount}, not 2`);
    },
  },
  {
    id: "conversations.close",
    level: "MUST",
    profile: "request-reply",
    description:
      "CloseConversation records who closed it, why and when; closing again changes nothing; the history stays readable page by page",
    spec: "acb.v1.ConversationService.CloseConversation",
    rules: ["conversations.close", "conversations.history-close", "pagination.complete"],
    requires,
    async run(t) {
      const { a, b } = await trio(t, "ccl");
      const id =
        (
          await a.conversations.startConversation({
            participants: [b.id],
            timeout: duration(3_600_000),
          })
        ).conversation?.id ?? "";
      const kinds = ["m1", "m2", "m3", "m4", "m5"];
      for (const [i, kind] of kinds.entries())
        await sendIn(i % 2 ? b : a, i % 2 ? a.id : b.id, id, kind);
      const closed = (
        await b.conversations.closeConversation({ conversationId: id, reason: "done" })
      ).conversation;
      check(
        closed?.state === ConversationState.CLOSED &&
          closed.closedBy === b.id &&
          closed.closeReason === "done" &&
          closed.endedAt !== undefined &&
          closed.timeoutAt === undefined &&
          closed.messageCount === 5n,
        `a closed conversation reads ${ConversationState[closed?.state ?? 0]}, closed by "${closed?.closedBy}" for "${closed?.closeReason}", ended_at ${msOf(closed?.endedAt)}, timeout_at ${msOf(closed?.timeoutAt)}, ${closed?.messageCount} messages`,
      );
      const again = (await a.conversations.closeConversation({ conversationId: id, reason: "x" }))
        .conversation;
      check(
        again?.closedBy === b.id &&
          again.closeReason === "done" &&
          msOf(again.endedAt) === msOf(closed.endedAt),
        "a second CloseConversation changed the closed conversation",
      );
      // The history, page by page, and after a given message.
      const paged: string[] = [];
      let pageToken = "";
      for (let page = 0; page < 10; page++) {
        const res = await a.conversations.getConversationHistory({
          conversationId: id,
          pageSize: 2,
          pageToken,
        });
        check(res.messages.length <= 2, `a history page of size 2 held ${res.messages.length}`);
        paged.push(...res.messages.map((m) => m.kind));
        if (res.nextPageToken === "") break;
        pageToken = res.nextPageToken;
      }
      check(paged.join(",") === kinds.join(","), `the history paged by two is [${paged}]`);
      const all = await a.conversations.getConversationHistory({ conversationId: id });
      const third = all.messages[2]?.id ?? "";
      const rest = await b.conversations.getConversationHistory({
        conversationId: id,
        afterMessageId: third,
      });
      check(
        rest.messages.map((m) => m.kind).join(",") === "m4,m5",
        `the history after the third message is [${rest.messages.map((m) => m.kind)}], not [m4, m5]`,
      );
      const first = all.messages[0]?.id ?? "";
      const afterFirst = await b.conversations.getConversationHistory({
        conversationId: id,
        afterMessageId: first,
      });
      check(
        afterFirst.messages.map((m) => m.kind).join(",") === "m2,m3,m4,m5",
        `the history after the first message is [${afterFirst.messages.map((m) => m.kind)}]`,
      );
      await expectCode(
        a.conversations.getConversationHistory({ conversationId: id, afterMessageId: "no-such" }),
        Code.InvalidArgument,
        "GetConversationHistory after a message not in the conversation",
      );
    },
  },
  {
    id: "conversations.timeout",
    level: "MUST",
    profile: "request-reply",
    description:
      "A conversation times out its timeout after the last message: TIMED_OUT at timeout_at, then closing or sending is FAILED_PRECONDITION",
    spec: "acb.v1.Conversation.timeout",
    rules: ["conversations.timeout"],
    requires,
    async run(t) {
      const { a, b } = await trio(t, "cto");
      // Closed before its timeout: stays CLOSED when the timeout passes.
      const closedId =
        (
          await a.conversations.startConversation({
            participants: [b.id],
            timeout: duration(1_000),
          })
        ).conversation?.id ?? "";
      await b.conversations.closeConversation({ conversationId: closedId, reason: "early" });
      const started = (
        await a.conversations.startConversation({ participants: [b.id], timeout: duration(1_000) })
      ).conversation;
      const id = started?.id ?? "";
      await sendIn(a, b.id, id, "keep");
      const read = (await b.conversations.getConversation({ conversationId: id })).conversation;
      const timeoutAt = msOf(read?.timeoutAt) ?? 0;
      check(
        read?.state === ConversationState.OPEN &&
          timeoutAt === (msOf(read.updatedAt) ?? 0) + 1_000 &&
          timeoutAt > (msOf(started?.timeoutAt) ?? 0) - 1_000,
        `after a message the conversation is ${ConversationState[read?.state ?? 0]} with timeout_at ${timeoutAt}, not updated_at + 1 s`,
      );
      const ended = await poll(
        async () => {
          const c = (await a.conversations.getConversation({ conversationId: id })).conversation;
          return c?.state === ConversationState.OPEN ? undefined : c;
        },
        "the conversation TIMED_OUT",
        Math.max(0, timeoutAt - Date.now()) + t.settings.waitMs,
        t.signal,
        50,
      );
      check(
        ended?.state === ConversationState.TIMED_OUT &&
          msOf(ended.endedAt) === timeoutAt &&
          ended.timeoutAt === undefined,
        `after its timeout the conversation is ${ConversationState[ended?.state ?? 0]}, ended_at ${msOf(ended?.endedAt)} (timeout_at was ${timeoutAt})`,
      );
      const stillClosed = (await a.conversations.getConversation({ conversationId: closedId }))
        .conversation;
      check(
        stillClosed?.state === ConversationState.CLOSED && stillClosed.closedBy === b.id,
        `a conversation closed before its timeout is ${ConversationState[stillClosed?.state ?? 0]} after it`,
      );
      const close = await expectCode(
        b.conversations.closeConversation({ conversationId: id }),
        Code.FailedPrecondition,
        "CloseConversation of a TIMED_OUT conversation",
      );
      check(reasonOf(close) === "CONVERSATION_TIMED_OUT", `ErrorInfo reason "${reasonOf(close)}"`);
      const send = await expectCode(
        sendIn(b, a.id, id, "late"),
        Code.FailedPrecondition,
        "sending into a TIMED_OUT conversation",
      );
      check(reasonOf(send) === "CONVERSATION_TIMED_OUT", `ErrorInfo reason "${reasonOf(send)}"`);
    },
  },
  {
    id: "conversations.list",
    level: "MUST",
    profile: "request-reply",
    description:
      "ListConversations lists the caller's conversations newest first, each once across pages, filtered by participant, state and mode",
    spec: "acb.v1.ConversationService.ListConversations",
    rules: ["conversations.list", "pagination.complete"],
    requires,
    async run(t) {
      const { a, b, c } = await trio(t, "cls");
      const start = async (by: TestAgent, participants: string[], mode = ConversationMode.ASYNC) =>
        (await by.conversations.startConversation({ participants, mode })).conversation?.id ?? "";
      // Oldest first; a is in all but the last.
      const ab = await start(a, [b.id]);
      const ac = await start(a, [c.id], ConversationMode.ONE_WAY);
      const abc = await start(b, [a.id, c.id], ConversationMode.SYNC);
      const bc = await start(b, [c.id]);
      await a.conversations.closeConversation({ conversationId: ab });
      const list = async (filter: { participant?: string; state?: number; mode?: number }) => {
        const ids: string[] = [];
        let pageToken = "";
        for (let page = 0; page < 10; page++) {
          const res = await a.conversations.listConversations({
            ...filter,
            pageSize: 1,
            pageToken,
          });
          check(res.conversations.length <= 1, `a page of size 1 held ${res.conversations.length}`);
          ids.push(...res.conversations.map((x) => x.id));
          if (res.nextPageToken === "") return ids;
          pageToken = res.nextPageToken;
        }
        throw new Error("ListConversations did not end within 10 pages");
      };
      for (const [filter, want, what] of [
        [{}, [abc, ac, ab], "no filter"],
        [{ participant: c.id }, [abc, ac], `participant ${c.id}`],
        [{ state: ConversationState.CLOSED }, [ab], "state CLOSED"],
        [{ state: ConversationState.OPEN }, [abc, ac], "state OPEN"],
        [{ mode: ConversationMode.ONE_WAY }, [ac], "mode ONE_WAY"],
        [{ participant: c.id, mode: ConversationMode.SYNC }, [abc], "participant and mode SYNC"],
      ] as const) {
        const got = await list(filter);
        check(
          got.join(",") === want.join(","),
          `ListConversations (${what}) paged by one lists [${got}], not [${want}] (${bc} is not the caller's)`,
        );
      }
    },
  },
  {
    id: "conversations.request-ends",
    level: "MUST",
    profile: "request-reply",
    description:
      "A Request waiting in a conversation ends FAILED_PRECONDITION when the conversation is closed (CONVERSATION_CLOSED) or times out (CONVERSATION_TIMED_OUT)",
    spec: "acb.v1.ConversationService.CloseConversation",
    rules: ["conversations.request-ends"],
    requires,
    async run(t) {
      const { a, b } = await trio(t, "cre");
      const inbox = await Inbox.open(t, b);
      for (const [how, timeout] of [
        ["CONVERSATION_CLOSED", undefined],
        ["CONVERSATION_TIMED_OUT", 1_000],
      ] as const) {
        const conversationId =
          (
            await a.conversations.startConversation({
              participants: [b.id],
              mode: ConversationMode.SYNC,
              ...(timeout !== undefined && { timeout: duration(timeout) }),
            })
          ).conversation?.id ?? "";
        const call = a.messaging.request(
          {
            recipientId: b.id,
            kind: "ask",
            conversationId,
            payload: text("?"),
            timeout: duration(1_000 + 3 * t.settings.waitMs),
          },
          { signal: t.signal },
        );
        // Handled at once, so that an early failure is not reported as unhandled.
        const ended = expectCode(
          call,
          Code.FailedPrecondition,
          `a Request in a conversation ending ${how}`,
        );
        const q = await inbox.next("the Request's query");
        await inbox.ack(q);
        if (timeout === undefined) {
          await b.conversations.closeConversation({ conversationId, reason: "no answer" });
        }
        const err = await ended;
        check(
          reasonOf(err) === how,
          `the Request ended with reason "${reasonOf(err)}", not ${how}`,
        );
      }
      inbox.close();
    },
  },
  {
    id: "conversations.backlog-limit",
    level: "MUST",
    profile: "request-reply",
    description:
      "A message into a conversation past the recipient's or the tenant's backlog limit is refused under REFUSE, not counted nor in the history; under DEAD_LETTER_OLDEST it is accepted",
    spec: "acb.v1.TenantQuotas.agent_backlog_messages",
    rules: ["conversations.backlog-limit", "delivery.backlog-limit"],
    requires: [...requires, "admin"],
    async run(t) {
      const base = await t.tenant();
      const tenantId = `${base.id}-cb`;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { agentBacklogMessages: 2n },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const agent = (name: string) => t.agentIn(tenantId, name);
      const a = await agent("cb-a");
      const b = await agent("cb-b");
      const id =
        (await a.conversations.startConversation({ participants: [b.id] })).conversation?.id ?? "";
      const sent: string[] = [];
      const accepted = async (kind: string) => {
        sent.push((await sendIn(a, b.id, id, kind)).messageId);
      };
      const kept = async (kinds: string, what: string) => {
        const c = (await b.conversations.getConversation({ conversationId: id })).conversation;
        const n = kinds.split(",").length;
        check(
          c?.messageCount === BigInt(n),
          `${what}: message_count is ${c?.messageCount}, not ${n}`,
        );
        const h = await b.conversations.getConversationHistory({ conversationId: id });
        const got = h.messages.map((m) => m.kind).join(",");
        check(got === kinds, `${what}: the history holds [${got}], not [${kinds}]`);
      };
      const refused = async (kind: string, limit: string, what: string) => {
        const err = await expectCode(sendIn(a, b.id, id, kind), Code.ResourceExhausted, what);
        const info = err.findDetails(RetryInfoSchema)[0];
        check(
          info?.limit === limit,
          `${what}: RetryInfo names limit "${info?.limit}", not "${limit}"`,
        );
      };
      await accepted("m1");
      await accepted("m2");
      await refused(
        "m3",
        "agent.backlog_messages",
        "a third message to an agent whose backlog limit is 2",
      );
      await kept("m1,m2", "after a message refused for the agent's backlog");
      await t.admin.admin.updateTenant({ tenantId, quotas: { tenantBacklogMessages: 3n } });
      await accepted("m3");
      await refused(
        "m4",
        "tenant.backlog_messages",
        "a fourth message in a tenant whose backlog limit is 3",
      );
      await kept("m1,m2,m3", "after a message refused for the tenant's backlog");
      await t.admin.admin.updateTenant({
        tenantId,
        settings: { backlogPolicy: BacklogPolicy.DEAD_LETTER_OLDEST },
      });
      await accepted("m4");
      await kept("m1,m2,m3,m4", "after a message accepted under DEAD_LETTER_OLDEST");
      const letters = (await b.messaging.listDeadLetters({})).deadLetters;
      check(
        letters.length === 1 &&
          letters[0]?.message?.id === sent[0] &&
          letters[0]?.reason === DeadLetterReason.BACKLOG_FULL,
        `under DEAD_LETTER_OLDEST the dead letters are [${letters.map((d) => `${d.message?.kind} ${DeadLetterReason[d.reason]}`)}], not [m1 BACKLOG_FULL]`,
      );
    },
  },
];
