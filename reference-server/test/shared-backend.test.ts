// Two hubs over one backend behave as one hub: what a hub must agree on with another node (or
// with itself after a restart) lives in the backend, and wake-ups go through its Notifier. With
// the memory backend both hubs run in this process, which is enough to prove that nothing is
// kept per hub process: a second hub object shares nothing with the first but the backend.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ConversationService, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { MessageType, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { generateDevKeys } from "../src/auth/token-service.js";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import type { Backend } from "../src/storage/types.js";
import { clientsOf, text, transport } from "./security-harness.js";

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

/** Two hubs ("nodes") over one backend, with one clock and the same signing keys. */
async function twoNodes(backend: Backend = createMemoryBackend()) {
  const clock = new ManualClock();
  const keys = await generateDevKeys();
  const start = async () => {
    const hub = await createHub({ backend, clock, keys, logger: silentLogger });
    hubs.push(hub);
    const url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
    return { hub, url };
  };
  const a = await start();
  const b = await start();
  const admin = clientsOf(transport(a.url, await a.hub.issueAdminToken()));
  const tenantId = `t-${Math.random().toString(36).slice(2, 10)}`;
  await admin.admin.createTenant({ tenantId });
  /** An agent, registered and calling through node `on`. */
  const agent = async (id: string, on: { url: string }) => {
    const res = await admin.auth.issueToken({ tenantId, agentId: id, roles: [Role.AGENT_FULL] });
    const t = transport(on.url, res.tokens?.accessToken ?? "");
    const clients = { ...clientsOf(t), conversations: createClient(ConversationService, t) };
    await clients.registry.register({ agentId: id, type: "test" });
    return clients;
  };
  return { a, b, clock, backend, tenantId, agent };
}

describe("hubs sharing one backend", () => {
  it("share the hub epoch; a hub over another backend has its own", async () => {
    const { a, b } = await twoNodes();
    expect(a.hub.epoch).toBe(b.hub.epoch);
    const other = await createHub({ logger: silentLogger });
    hubs.push(other);
    expect(other.epoch).not.toBe(a.hub.epoch);
  });

  it("a message sent through one hub wakes a Receive open on the other, with no clock move", async () => {
    const { a, b, agent } = await twoNodes();
    const alice = await agent("alice", a);
    const bob = await agent("bob", b);
    const ac = new AbortController();
    const stream = bob.messaging.receive({ maxInFlight: 10 }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "greeting",
      payload: { data: text("hi") },
    });
    const item = (await it.next()).value;
    expect(item?.kind).toBe(ReceiveResponse_Kind.DELIVERY);
    expect(new TextDecoder().decode(item?.delivery?.message?.payload?.data)).toBe("hi");
    ac.abort();
  });

  it("a Receive still gets a message whose notification was lost, on its next poll", async () => {
    const { a, clock, backend, tenantId, agent } = await twoNodes();
    const bob = await agent("bob", a);
    const ac = new AbortController();
    const it = bob.messaging
      .receive({ maxInFlight: 10 }, { signal: ac.signal })
      [Symbol.asyncIterator]();
    expect((await it.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    // Stored by a writer that never notifies (as if its notification were lost).
    const now = clock.now();
    await backend.messages.enqueue(
      {
        tenantId,
        id: "msg_lost_notification",
        senderId: "elsewhere",
        target: { kind: "agent", recipientId: "bob" },
        type: MessageType.EVENT,
        kind: "",
        contentType: "",
        data: text("polled"),
        contextId: "",
        correlationId: "",
        replyTo: "",
        conversationId: "",
        idempotencyKey: "",
        metadata: {},
        headers: {},
        createdAt: now,
        expiresAt: now + 60_000,
      },
      ["bob"],
    );
    const next = it.next();
    clock.advance(2_000); // the default notificationPollMs
    const item = (await next).value;
    expect(item?.delivery?.message?.id).toBe("msg_lost_notification");
    ac.abort();
  });

  it("a reply sent through one hub reaches the Request waiting on the other", async () => {
    const { a, b, agent } = await twoNodes();
    const asker = await agent("asker", a);
    const answerer = await agent("answerer", b);
    const ac = new AbortController();
    const inbox = answerer.messaging
      .receive({ maxInFlight: 10 }, { signal: ac.signal })
      [Symbol.asyncIterator]();
    expect((await inbox.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    const pending = asker.messaging.request({
      recipientId: "answerer",
      kind: "sum",
      payload: { data: text("2+2?") },
      timeout: { seconds: 30n },
    });
    const question = (await inbox.next()).value?.delivery?.message;
    expect(question?.replyTo).toBe("asker");
    await answerer.messaging.send({
      target: { case: "recipientId", value: "asker" },
      kind: "sum",
      type: MessageType.RESPONSE,
      correlationId: question?.id ?? "",
      payload: { data: text("4") },
    });
    const res = await pending;
    expect(res.requestMessageId).toBe(question?.id);
    expect(new TextDecoder().decode(res.reply?.payload?.data)).toBe("4");
    ac.abort();
  });

  it("a conversation timeout that passed while no hub ran is applied by the next hub to start", async () => {
    const backend = createMemoryBackend();
    const { a, clock, tenantId, agent } = await twoNodes(backend);
    const alice = await agent("alice", a);
    await agent("bob", a);
    const started = await alice.conversations.startConversation({
      participants: ["bob"],
      timeout: { seconds: 10n },
    });
    const id = started.conversation?.id ?? "";
    await Promise.all(hubs.splice(0).map((h) => h.close()));
    clock.advance(11_000);
    const later = await createHub({ backend, clock, logger: silentLogger });
    hubs.push(later);
    expect((await backend.conversations.get(tenantId, id))?.state).toBe(
      ConversationState.TIMED_OUT,
    );
  });
});
