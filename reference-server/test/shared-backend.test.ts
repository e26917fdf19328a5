// Two hubs over one backend behave as one hub: what a hub must agree on with another node (or
// with itself after a restart) lives in the backend, and wake-ups go through its Notifier. With
// the memory backend both hubs run in this process, which is enough to prove that nothing is
// kept per hub process: a second hub object shares nothing with the first but the backend.

import { createHash } from "node:crypto";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ConversationService, ConversationState } from "@acb/gen/acb/v1/conversations_pb";
import { UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import { MessageType, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateDevKeys } from "../src/auth/token-service.js";
import { ManualClock } from "../src/clock.js";
import {
  AgentEventKind,
  ContextEventKind,
  decodeAgentChange,
  decodeContextChange,
} from "../src/domain/change-events.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import type { Backend } from "../src/storage/types.js";
import { clientsOf, expectCode, text, transport } from "./security-harness.js";

const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

/**
 * The memory backend with a notifier that, like one between nodes, may lose a wake-up: its
 * readers re-read their queues every poll interval (the memory backend's own notifier loses none,
 * so its readers need no re-read).
 */
function backendOfNodes(): Backend {
  const backend = createMemoryBackend();
  const inner = backend.notifier;
  return {
    ...backend,
    notifier: {
      publish: (channel, payload) => inner.publish(channel, payload),
      subscribe: (channel, listener) => inner.subscribe(channel, listener),
    },
  };
}

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
    const token = res.tokens?.accessToken ?? "";
    const t = transport(on.url, token);
    const clients = { ...clientsOf(t), token, conversations: createClient(ConversationService, t) };
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

  it("an agent registered through one hub is announced OFFLINE once, by the other when the first is gone", async () => {
    const { a, b, clock, backend, tenantId, agent } = await twoNodes();
    await agent("sleepy", a);
    await a.hub.close();
    const offline = async () =>
      (await backend.events.read(tenantId, "agents", 0, 100))
        .map((e) => decodeAgentChange(e.data))
        .filter((c) => c.kind === AgentEventKind.STATUS_CHANGED && c.agent.id === "sleepy");
    // Past the presence timeout (tenant default) and the backstop sweep of hub b.
    clock.advance(60_000);
    await vi.waitFor(async () => expect(await offline()).toHaveLength(1));
    clock.advance(60_000);
    expect(await offline()).toHaveLength(1);
    expect(b.hub.epoch).toBe(a.hub.epoch);
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

  it("a delivery claimed through a hub that went away is redelivered through the other", async () => {
    const { a, b, clock, agent } = await twoNodes();
    const alice = await agent("alice", a);
    const bobOnA = await agent("bob", a);
    const first = new AbortController();
    const onA = bobOnA.messaging
      .receive({ maxInFlight: 10 }, { signal: first.signal })
      [Symbol.asyncIterator]();
    expect((await onA.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "job",
      payload: { data: text("work") },
    });
    expect((await onA.next()).value?.delivery?.attempt).toBe(1);
    // Hub A goes away with the delivery unacknowledged; bob reconnects through hub B.
    first.abort();
    await a.hub.close();
    const bobOnB = clientsOf(transport(b.url, bobOnA.token));
    const second = new AbortController();
    const onB = bobOnB.messaging
      .receive({ maxInFlight: 10 }, { signal: second.signal })
      [Symbol.asyncIterator]();
    expect((await onB.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    const redelivered = (async () => {
      // Keepalives may come first: the clock jumps past their interval too.
      for (;;) {
        const next = await onB.next();
        if (next.done || next.value.kind === ReceiveResponse_Kind.DELIVERY) return next.value;
      }
    })();
    clock.advance(30_000); // the default ack deadline
    const item = await redelivered;
    expect(item?.delivery?.attempt).toBe(2);
    expect(new TextDecoder().decode(item?.delivery?.message?.payload?.data)).toBe("work");
    second.abort();
  });

  it("a Receive still gets a message whose notification was lost, on its next poll", async () => {
    const { a, clock, backend, tenantId, agent } = await twoNodes(backendOfNodes());
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

  it("idle streams opened at different moments re-read their queues in the same turn, never later than the poll interval", async () => {
    // Re-reads that fall due together can share one statement on a database backend.
    const backend = backendOfNodes();
    const polls: { agent: string; now: number }[] = [];
    const poll = backend.messages.poll.bind(backend.messages);
    backend.messages.poll = (tenantId, agentId, o) => {
      polls.push({ agent: agentId, now: o.now });
      return poll(tenantId, agentId, o);
    };
    const { a, clock, agent } = await twoNodes(backend);
    const bob = await agent("bob", a);
    const carol = await agent("carol", a);
    const ac = new AbortController();
    const open = async (c: typeof bob) => {
      const it = c.messaging
        .receive({ maxInFlight: 10 }, { signal: ac.signal })
        [Symbol.asyncIterator]();
      expect((await it.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
      return it;
    };
    // bob's stream opens 10 ms past a multiple of 250 ms, carol's 100 ms later.
    clock.advance(((250 - (clock.now() % 250)) % 250) + 10);
    const opened = clock.now();
    const bobs = await open(bob);
    await vi.waitFor(() => expect(polls.map((p) => p.agent)).toEqual(["bob"]));
    clock.advance(100);
    const carols = await open(carol);
    await vi.waitFor(() => expect(polls.map((p) => p.agent)).toEqual(["bob", "carol"]));
    // 1,990 ms after bob's first read: both streams read again, together.
    clock.advance(1_890);
    await vi.waitFor(() => expect(polls).toHaveLength(4));
    expect(polls.slice(2).map((p) => p.now)).toEqual([opened + 1_990, opened + 1_990]);
    expect(
      polls
        .slice(2)
        .map((p) => p.agent)
        .sort(),
    ).toEqual(["bob", "carol"]);
    ac.abort();
    await Promise.all([bobs.return?.(), carols.return?.()]);
  });

  it("on a notifier that loses nothing, an idle stream reads its queue only when told", async () => {
    // The memory backend's own notifier: thousands of idle streams cost nothing between messages.
    const backend = createMemoryBackend();
    expect(backend.notifier.reliable).toBe(true);
    const polls: string[] = [];
    const poll = backend.messages.poll.bind(backend.messages);
    backend.messages.poll = (tenantId, agentId, o) => {
      polls.push(agentId);
      return poll(tenantId, agentId, o);
    };
    const { a, b, clock, agent } = await twoNodes(backend);
    const bob = await agent("bob", a);
    const alice = await agent("alice", b);
    const ac = new AbortController();
    const it = bob.messaging
      .receive({ maxInFlight: 10 }, { signal: ac.signal })
      [Symbol.asyncIterator]();
    expect((await it.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
    await vi.waitFor(() => expect(polls).toEqual(["bob"]));
    // Five poll intervals (short of the 15 s keepalive) pass without a read.
    for (let i = 0; i < 5; i++) clock.advance(2_000);
    const next = it.next();
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "k",
      payload: { data: text("hi") },
    });
    expect((await next).value?.delivery?.message?.senderId).toBe("alice");
    // The first read, and the one the send woke (the stream on node a, the send on node b).
    expect(polls).toEqual(["bob", "bob"]);
    ac.abort();
    await it.return?.();
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

  it("an upload begun through one hub continues and commits through the other", async () => {
    const { a, b, agent } = await twoNodes();
    const onA = await agent("alice", a);
    const onB = clientsOf(transport(b.url, onA.token));
    const parts = [text("first half, "), text("second half")];
    const whole = new Uint8Array([...(parts[0] ?? []), ...(parts[1] ?? [])]);
    const begun = await onA.large.beginUpload({ type: "blob", totalSize: BigInt(whole.length) });
    const uploadId = begun.upload?.id ?? "";
    let offset = 0n;
    for (const [i, data] of parts.entries()) {
      // The first chunk through A, the second through B: B hashes A's staged bytes once.
      const via = i === 0 ? onA : onB;
      await via.large.appendChunk({ uploadId, chunk: { offset, data, sha256: sha(data) } });
      offset += BigInt(data.length);
    }
    const committed = await onB.large.commitUpload({ uploadId, sha256: sha(whole) });
    expect(committed.upload?.verifiedOffset).toBe(BigInt(whole.length));
    expect(Buffer.from(committed.context?.sha256 ?? []).toString("hex")).toBe(
      Buffer.from(sha(whole)).toString("hex"),
    );
  });

  it("counts an agent's large-context streams across hubs", async () => {
    const { a, b, agent } = await twoNodes();
    const onA = await agent("alice", a);
    const onB = clientsOf(transport(b.url, onA.token));
    // The hub's default limit is 10 streams per agent.
    for (let i = 0; i < 10; i++) {
      await (i % 2 === 0 ? onA : onB).large.beginUpload({ type: "blob", totalSize: 10n });
    }
    await expectCode(
      onB.large.beginUpload({ type: "blob", totalSize: 10n }),
      Code.ResourceExhausted,
    );
    await expectCode(
      onA.large.beginUpload({ type: "blob", totalSize: 10n }),
      Code.ResourceExhausted,
    );
  });

  it("an upload that went idle while no hub ran is expired by the next hub, freeing its slot", async () => {
    const backend = createMemoryBackend();
    const { a, clock, tenantId, agent } = await twoNodes(backend);
    const alice = await agent("alice", a);
    const begun = await alice.large.beginUpload({ type: "blob", totalSize: 10n });
    const id = begun.upload?.id ?? "";
    await Promise.all(hubs.splice(0).map((h) => h.close()));
    clock.advance(15 * 60_000); // the default upload idle timeout
    const later = await createHub({ backend, clock, logger: silentLogger });
    hubs.push(later);
    expect((await backend.uploads.get(tenantId, id))?.state).toBe(UploadState.EXPIRED);
    expect(
      await backend.streamSlots.acquire(
        tenantId,
        "alice",
        "probe",
        1,
        clock.now() + 1,
        clock.now(),
      ),
    ).toEqual({ ok: true });
  });

  it("a context TTL that passed while no hub ran is applied by the next hub to start", async () => {
    const backend = createMemoryBackend();
    const { a, clock, tenantId, agent } = await twoNodes(backend);
    const alice = await agent("alice", a);
    await alice.contexts.createContext({
      contextId: "short-lived",
      type: "note",
      payload: { data: text("soon gone") },
      ttl: { seconds: 5n },
    });
    await Promise.all(hubs.splice(0).map((h) => h.close()));
    clock.advance(6_000);
    const later = await createHub({ backend, clock, logger: silentLogger });
    hubs.push(later);
    expect(await backend.contexts.get(tenantId, "short-lived")).toBeUndefined();
    const events = await backend.events.read(tenantId, "contexts", 0, 10);
    expect(events.map((e) => decodeContextChange(e.data).kind)).toEqual([
      ContextEventKind.CREATED,
      ContextEventKind.EXPIRED,
    ]);
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
  // Each node keeps tenant records and registered recipients for a moment (TenantCache,
  // KnownAgents); a change through one node must reach the other at once, not after the copy ages.
  it("a tenant changed or deleted through one hub is seen by the other at once", async () => {
    const { a, b, tenantId, agent } = await twoNodes();
    const alice = await agent("alice", b);
    await agent("bob", b);
    const send = () =>
      alice.messaging.send({
        target: { case: "recipientId", value: "bob" },
        kind: "k",
        payload: { data: text("x") },
      });
    await send(); // hub b now holds the tenant's record
    const adminA = clientsOf(transport(a.url, await a.hub.issueAdminToken()));
    const tenant = (await adminA.admin.getTenant({ tenantId })).tenant;
    if (!tenant?.quotas) throw new Error("no tenant");
    await adminA.admin.updateTenant({
      tenantId,
      quotas: { ...tenant.quotas, messagesPerMonth: 1n },
    });
    await expectCode(send(), Code.ResourceExhausted);
    await adminA.admin.deleteTenant({ tenantId });
    await expectCode(alice.registry.getAgent({ agentId: "alice" }), Code.Unauthenticated);
  });

  it("an agent unregistered through one hub is no longer a recipient on the other", async () => {
    const { a, b, agent } = await twoNodes();
    const alice = await agent("alice", b);
    const bob = await agent("bob", a);
    const send = () =>
      alice.messaging.send({
        target: { case: "recipientId", value: "bob" },
        kind: "k",
        payload: { data: text("x") },
      });
    await send(); // hub b now knows bob is registered
    await bob.registry.unregister({ agentId: "bob" });
    await expectCode(send(), Code.NotFound);
  });
});
