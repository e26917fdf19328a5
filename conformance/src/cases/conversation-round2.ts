// Conversation rules along paths the first cases left unwalked: sends into one conversation at
// the same time (each counted once, a repeated idempotency key answered with the first message),
// and a filtered listing whose matches are spread thinly over the caller's conversations, so that
// a page fills exactly where the hub stops reading and more matches lie beyond it.

import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { text } from "../inbox.js";

const requires = ["conversations", "messaging"];

async function pair(t: CaseContext, prefix: string) {
  const tenant = await t.tenant();
  return { a: await tenant.agent(`${prefix}-a`), b: await tenant.agent(`${prefix}-b`) };
}

/** Every conversation `agent` lists with `filter`, one per page, in the order the pages give. */
async function pagedByOne(
  agent: TestAgent,
  filter: { state?: ConversationState; mode?: ConversationMode },
): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const res = await agent.conversations.listConversations({ ...filter, pageSize: 1, pageToken });
    check(res.conversations.length <= 1, `a page of size 1 held ${res.conversations.length}`);
    ids.push(...res.conversations.map((x) => x.id));
    if (res.nextPageToken === "") return ids;
    pageToken = res.nextPageToken;
  }
  throw new Error("ListConversations did not end within 20 pages");
}

export const conversationRound2Cases: ConformanceCase[] = [
  {
    id: "conversations.send-concurrent",
    level: "MUST",
    profile: "request-reply",
    description:
      "Sends into one conversation at the same time are each accepted and counted once; the same idempotency_key sent at once several times is one message",
    spec: "acb.v1.SendRequest.conversation_id",
    rules: ["conversations.send", "delivery.idempotency"],
    requires,
    async run(t) {
      const { a, b } = await pair(t, "csc");
      const id =
        (await a.conversations.startConversation({ participants: [b.id] })).conversation?.id ?? "";
      const send = (from: TestAgent, to: TestAgent, kind: string, idempotencyKey = "") =>
        from.messaging.send({
          target: { case: "recipientId", value: to.id },
          kind,
          conversationId: id,
          idempotencyKey,
          payload: text(kind),
        });
      const kinds = Array.from({ length: 10 }, (_, i) => `m${i}`);
      const sent = await Promise.allSettled(
        kinds.map((kind, i) => (i % 2 === 0 ? send(a, b, kind) : send(b, a, kind))),
      );
      const refused = sent.filter((s) => s.status === "rejected");
      check(
        refused.length === 0,
        `${refused.length} of 10 sends into one conversation at once were refused: ${(refused[0] as PromiseRejectedResult | undefined)?.reason}`,
      );
      const again = await Promise.all(
        Array.from({ length: 5 }, () => send(a, b, "once", "csc-once")),
      );
      const ids = new Set(again.map((r) => r.messageId));
      check(
        ids.size === 1 && !ids.has(""),
        `five sends at once with one idempotency_key got ${ids.size} message ids`,
      );
      const read = (await a.conversations.getConversation({ conversationId: id })).conversation;
      check(
        read?.messageCount === 11n,
        `message_count is ${read?.messageCount} after 10 sends and one repeated 5 times, not 11`,
      );
      const history = await b.conversations.getConversationHistory({
        conversationId: id,
        pageSize: 100,
      });
      const got = history.messages.map((m) => m.kind).sort();
      const want = [...kinds, "once"].sort();
      check(
        got.join(",") === want.join(","),
        `the history holds [${got}], not each message once: [${want}]`,
      );
    },
  },
  {
    id: "conversations.list-sparse-matches",
    level: "MUST",
    profile: "request-reply",
    description:
      "ListConversations paged by one, with a filter that matches every other conversation, lists each match once, newest first, to the last",
    spec: "acb.v1.ConversationService.ListConversations",
    rules: ["conversations.list", "pagination.complete"],
    requires,
    async run(t) {
      const { a, b } = await pair(t, "cls2");
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (await a.conversations.startConversation({ participants: [b.id] })).conversation?.id ??
            "",
        );
      }
      // Oldest first: the first, third and fifth closed, the second and fourth still open.
      for (const i of [0, 2, 4]) {
        await b.conversations.closeConversation({ conversationId: ids[i] ?? "", reason: "done" });
      }
      const newestFirst = [...ids].reverse();
      for (const [state, want] of [
        [ConversationState.CLOSED, newestFirst.filter((_, i) => i % 2 === 0)],
        [ConversationState.OPEN, newestFirst.filter((_, i) => i % 2 === 1)],
      ] as const) {
        for (const who of [a, b]) {
          const got = await pagedByOne(who, { state });
          check(
            got.join(",") === want.join(","),
            `ListConversations by ${who.id} (state ${ConversationState[state]}) paged by one lists [${got}], not [${want}]`,
          );
        }
      }
      const all = await pagedByOne(a, { mode: ConversationMode.ASYNC });
      check(
        all.join(",") === newestFirst.join(","),
        `ListConversations (mode ASYNC) paged by one lists [${all}], not [${newestFirst}]`,
      );
    },
  },
];
