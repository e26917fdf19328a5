// Conversation rules along paths the first cases left unwalked: sends into one conversation at
// the same time (each counted once, a repeated idempotency key answered with the first message),
// a filtered listing whose matches are spread thinly over the caller's conversations, so that a
// page fills exactly where the hub stops reading and more matches lie beyond it, and what
// DeleteTenant leaves of conversations and idempotency keys: nothing.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { ConversationMode, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { text } from "../inbox.js";
import { Code, expectCode } from "../wire.js";

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
  {
    id: "admin.delete-tenant-conversations",
    level: "MUST",
    profile: "security",
    description:
      "After DeleteTenant, the same tenant id created again has none of the old conversations, and an idempotency key used before names a new message; another tenant keeps both",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-purges"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("dtc-a");
      const b = await tenant.agent("dtc-b");
      await a.conversations.startConversation({ conversationId: "dtc-1", participants: [b.id] });
      const keyed = {
        target: { case: "recipientId" as const, value: b.id },
        kind: "keyed",
        idempotencyKey: "dtc-key",
        payload: text("k"),
      };
      await a.messaging.send({ ...keyed, conversationId: "dtc-1" });
      const old = await a.messaging.send({ ...keyed, idempotencyKey: "dtc-plain" });
      // Another tenant, with agents of the same ids, a conversation and a key: all kept.
      const other = await t.tenant();
      const oa = await other.agent("dtc-a");
      const ob = await other.agent("dtc-b");
      await oa.conversations.startConversation({ conversationId: "dtc-o", participants: [ob.id] });
      const kept = await oa.messaging.send({ ...keyed, idempotencyKey: "dtc-plain" });
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      const a2 = await t.agentIn(tenant.id, "dtc-a");
      const b2 = await t.agentIn(tenant.id, "dtc-b");
      await expectCode(
        a2.conversations.getConversation({ conversationId: "dtc-1" }),
        Code.NotFound,
        "GetConversation of a conversation of the deleted tenant",
      );
      const listed = await a2.conversations.listConversations({});
      check(
        listed.conversations.length === 0,
        `ListConversations in the tenant created again lists [${listed.conversations.map((c) => c.id)}]`,
      );
      const fresh = (
        await a2.conversations.startConversation({ conversationId: "dtc-1", participants: [b2.id] })
      ).conversation;
      check(
        fresh?.messageCount === 0n,
        `a conversation started again with the deleted one's id counts ${fresh?.messageCount} messages`,
      );
      const history = await b2.conversations.getConversationHistory({ conversationId: "dtc-1" });
      check(
        history.messages.length === 0,
        `a conversation started again with the deleted one's id has ${history.messages.length} messages in its history`,
      );
      const again = await a2.messaging.send({ ...keyed, idempotencyKey: "dtc-plain" });
      check(
        !again.duplicate && again.messageId !== old.messageId,
        "a send with an idempotency key the deleted tenant used was answered as its duplicate",
      );
      const otherConversation = (
        await ob.conversations.getConversation({ conversationId: "dtc-o" })
      ).conversation;
      check(
        otherConversation?.id === "dtc-o",
        "another tenant's conversation is gone after a DeleteTenant",
      );
      const retry = await oa.messaging.send({ ...keyed, idempotencyKey: "dtc-plain" });
      check(
        retry.duplicate && retry.messageId === kept.messageId,
        "another tenant's idempotency key was forgotten by a DeleteTenant",
      );
    },
  },
];
