import { Role } from "@acb/gen/acb/v1/auth_pb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createClient as createFetchClient } from "../src/index.js";
import {
  type AcbClient,
  Code,
  ConnectError,
  createClient,
  type ReceivedMessage,
} from "../src/node.js";
import { startTestBed, type TestBed } from "./harness.js";
import { startTcpProxy } from "./tcp-proxy.js";

const codeOf = async (p: Promise<unknown>): Promise<Code | undefined> => {
  try {
    await p;
    return undefined;
  } catch (err) {
    return ConnectError.from(err).code;
  }
};

/** Collects received messages and lets a test wait for the n-th one (no sleeping). */
class Inbox {
  readonly messages: ReceivedMessage[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  push(m: ReceivedMessage): void {
    this.messages.push(m);
    for (const w of this.waiters.filter((w) => this.messages.length >= w.n)) w.resolve();
    this.waiters = this.waiters.filter((w) => this.messages.length < w.n);
  }
  count(n: number): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  kinds(): string[] {
    return this.messages.map((m) => m.kind);
  }
}

describe("messaging with at-least-once delivery", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed({ ackDeadlineMs: 10_000, maxDeliveryAttempts: 3 });
  });
  afterEach(async () => {
    await bed.close();
  });

  async function agent(id: string, baseUrl = bed.listener.url): Promise<AcbClient> {
    const client = createClient({ baseUrl, token: await bed.tokenFor(id) });
    const session = await client.register({ id, type: "test", heartbeat: false });
    expect(session.agent.id).toBe(id);
    return client;
  }

  function collect(client: AcbClient, options: Parameters<AcbClient["receive"]>[0] = {}) {
    const inbox = new Inbox();
    client.onMessage((m) => inbox.push(m));
    const receiver = client.receive({ backoff: { initialDelayMs: 5, maxDelayMs: 20 }, ...options });
    return { inbox, receiver };
  }

  it("delivers to an offline recipient when it comes back, in send order", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    for (let i = 0; i < 5; i++) await alice.sendTo("bob", "note", { i });
    const { inbox, receiver } = collect(bob);
    await inbox.count(5);
    expect(inbox.messages.map((m) => (m.value as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(inbox.messages.every((m) => m.senderId === "alice" && m.attempt === 1)).toBe(true);
    await receiver.close();
  });

  it("keeps per sender→recipient order for 300 messages, sent one by one and in batches", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const { inbox, receiver } = collect(bob);
    await receiver.ready;
    for (let i = 0; i < 100; i++) await alice.sendTo("bob", "seq", i);
    const batch = await alice.sendBatch(
      Array.from({ length: 200 }, (_, k) => ({
        to: { recipientId: "bob" },
        kind: "seq",
        value: 100 + k,
      })),
    );
    expect(batch.every((r) => "messageId" in r)).toBe(true);
    await inbox.count(300);
    expect(inbox.messages.map((m) => m.value)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await receiver.close();
  });

  it("redelivers the un-acked messages of a receiver that dropped its stream", async () => {
    const proxy = await startTcpProxy(bed.listener.port);
    const alice = await agent("alice");
    const bob = await agent("bob", proxy.url);
    const states: string[] = [];
    let reconnected: () => void = () => {};
    const liveAgain = new Promise<void>((r) => {
      reconnected = r;
    });
    const { inbox, receiver } = collect(bob, {
      manualAck: true,
      onStateChange: (s) => {
        states.push(s);
        if (s === "live" && states.includes("reconnecting")) reconnected();
      },
    });
    await receiver.ready;
    await alice.sendTo("bob", "job", 1);
    await alice.sendTo("bob", "job", 2);
    await inbox.count(2);
    await inbox.messages[0]?.ack(); // job 1 settled; job 2 left open

    proxy.cut();
    proxy.restore();
    // Only once the new stream is live does the ack deadline pass: the redelivery must reach the
    // new stream (a redelivery into the dying one would just wait for another deadline).
    await liveAgain;
    expect(inbox.messages).toHaveLength(2);
    bed.clock.advance(10_001);
    await inbox.count(3);
    const again = inbox.messages[2];
    expect(again?.value).toBe(2);
    expect(again?.attempt).toBe(2);
    expect(again?.id).toBe(inbox.messages[1]?.id);
    await receiver.close();
    await proxy.close();
  });

  it("delivers a send retried with the same idempotency key once", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const first = await alice.sendTo("bob", "pay", { amount: 5 }, { idempotencyKey: "invoice-7" });
    const retry = await alice.sendTo("bob", "pay", { amount: 5 }, { idempotencyKey: "invoice-7" });
    expect(retry).toEqual({ messageId: first.messageId, duplicate: true });
    await alice.sendTo("bob", "marker", null);
    const { inbox, receiver } = collect(bob);
    await inbox.count(2);
    expect(inbox.kinds()).toEqual(["pay", "marker"]);
    await receiver.close();
  });

  it("frees an idempotency key when the send failed, so the corrected retry is delivered", async () => {
    const alice = await agent("alice");
    expect(await codeOf(alice.sendTo("carol", "hi", 1, { idempotencyKey: "k" }))).toBe(
      Code.NotFound,
    );
    const carol = await agent("carol");
    const sent = await alice.sendTo("carol", "hi", 1, { idempotencyKey: "k" });
    expect(sent.duplicate).toBe(false);
    const { inbox, receiver } = collect(carol);
    await inbox.count(1);
    expect(inbox.messages[0]?.id).toBe(sent.messageId);
    await receiver.close();
  });

  it("dead-letters a poison message after max attempts, and replays it", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const { inbox, receiver } = collect(bob, { manualAck: true });
    await receiver.ready;
    const { messageId } = await alice.sendTo("bob", "poison", { bad: true });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await inbox.count(attempt);
      const m = inbox.messages[attempt - 1];
      expect(m?.attempt).toBe(attempt);
      await m?.nack({ error: `cannot parse (try ${attempt})` });
    }
    const dead = await bob.services.messaging.listDeadLetters({});
    expect(dead.deadLetters.map((d) => [d.message?.id, d.attempts, d.lastError])).toEqual([
      [messageId, 3, "cannot parse (try 3)"],
    ]);
    // Alice cannot see Bob's dead letters.
    expect((await alice.services.messaging.listDeadLetters({})).deadLetters).toEqual([]);

    const replay = await bob.services.messaging.replayDeadLetters({ all: true });
    expect(replay.replayedCount).toBe(1n);
    await inbox.count(4);
    expect(inbox.messages[3]?.id).toBe(messageId);
    expect(inbox.messages[3]?.attempt).toBe(1);
    await inbox.messages[3]?.ack();
    expect((await bob.services.messaging.listDeadLetters({})).deadLetters).toEqual([]);
    await receiver.close();
  });

  it("replies with the request's traceparent, so the trace goes on to the requester", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    bob.handle("status", () => ({ ok: true }));
    const bobReceiver = bob.receive();
    await bobReceiver.ready;
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const reply = await alice
      .request("bob", "status", {}, { headers: { traceparent, tracestate: "acb=1" } })
      .wait();
    expect(reply.headers).toMatchObject({ traceparent, tracestate: "acb=1" });
    await bobReceiver.close();
  });

  it("answers a request, and times out with DEADLINE_EXCEEDED, dropping the late reply", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const slow: ReceivedMessage[] = [];
    let gotSlow: () => void = () => {};
    const slowArrived = new Promise<void>((r) => {
      gotSlow = r;
    });
    bob.handle("status", () => ({ ok: true, from: "bob" }));
    bob.handle("slow", (m) => {
      slow.push(m);
      gotSlow();
      return undefined; // no reply now
    });
    const bobReceiver = bob.receive();
    await bobReceiver.ready;

    const reply = await alice.request<{ ok: boolean; from: string }>("bob", "status", {}).wait();
    expect(reply.value).toEqual({ ok: true, from: "bob" });
    expect(reply.type).toBe("response");

    const future = alice.request("bob", "slow", {}, { timeoutMs: 2_000 });
    await slowArrived;
    bed.clock.advance(2_000);
    expect(await codeOf(future.wait())).toBe(Code.DeadlineExceeded);

    // Alice's own stream must not receive the late reply as a stray.
    const aliceInbox = collect(alice);
    await aliceInbox.receiver.ready;
    await slow[0]?.reply({ late: true });
    await bob.sendTo("alice", "marker", null);
    await aliceInbox.inbox.count(1);
    expect(aliceInbox.inbox.kinds()).toEqual(["marker"]);
    expect(bed.hub.stats().lateRepliesDropped).toBe(1);
    await aliceInbox.receiver.close();
    await bobReceiver.close();
  });

  it("routes topic messages by wildcard subscriptions", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const carol = await agent("carol");
    await bob.subscribeTopic("orders.*.created");
    await carol.subscribeTopic("orders.>");
    await alice.publish("orders.eu.created", "order", { n: 1 });
    await alice.publish("orders.eu.updated", "order", { n: 2 });
    await alice.publish("billing.eu.created", "order", { n: 3 });
    await alice.sendTo("bob", "marker", null);
    await alice.sendTo("carol", "marker", null);
    const b = collect(bob);
    const c = collect(carol);
    await b.inbox.count(2);
    await c.inbox.count(3);
    expect(b.inbox.messages.map((m) => [m.kind, m.value])).toEqual([
      ["order", { n: 1 }],
      ["marker", null],
    ]);
    expect(c.inbox.messages.map((m) => [m.kind, m.value])).toEqual([
      ["order", { n: 1 }],
      ["order", { n: 2 }],
      ["marker", null],
    ]);
    expect(b.inbox.messages[0]?.target).toEqual({ topic: "orders.eu.created" });
    await b.receiver.close();
    await c.receiver.close();
  });

  it("broadcasts to every agent of the tenant and to no agent outside it", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const carol = await agent("carol");
    const other = await bed.otherTenant();
    const mallory = createClient({
      baseUrl: bed.listener.url,
      token: await other.tokenFor("mallory"),
    });
    await mallory.register({ id: "mallory", type: "test", heartbeat: false });
    const trent = createClient({ baseUrl: bed.listener.url, token: await other.tokenFor("trent") });
    await trent.register({ id: "trent", type: "test", heartbeat: false });

    await alice.broadcast("announcement", { text: "hello tenant" });
    // A marker sent after the broadcast was acknowledged: a leaked broadcast would be queued first.
    await trent.sendTo("mallory", "marker", null);
    const inboxes = [collect(bob), collect(carol), collect(mallory)];
    await inboxes[0]?.inbox.count(1);
    await inboxes[1]?.inbox.count(1);
    await inboxes[2]?.inbox.count(1);
    expect(inboxes[0]?.inbox.kinds()).toEqual(["announcement"]);
    expect(inboxes[1]?.inbox.kinds()).toEqual(["announcement"]);
    expect(inboxes[2]?.inbox.kinds()).toEqual(["marker"]);
    // The sender does not receive its own broadcast.
    await bob.sendTo("alice", "marker", null);
    const a = collect(alice);
    await a.inbox.count(1);
    expect(a.inbox.kinds()).toEqual(["marker"]);
    // Tenant isolation for direct sends: another tenant's agent does not exist here.
    expect(await codeOf(mallory.sendTo("bob", "hi", 1))).toBe(Code.NotFound);
    for (const x of [...inboxes, a]) await x.receiver.close();
  });

  it("does not deliver expired messages", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    await alice.sendTo("bob", "stale", 1, { ttlMs: 1_000 });
    await alice.sendTo("bob", "fresh", 2, { ttlMs: 60_000 });
    bed.clock.advance(1_001);
    const { inbox, receiver } = collect(bob);
    await inbox.count(1);
    await alice.sendTo("bob", "marker", null);
    await inbox.count(2);
    expect(inbox.kinds()).toEqual(["fresh", "marker"]);
    await receiver.close();
  });

  it("never has more than max_in_flight deliveries open on a stream", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    for (let i = 0; i < 5; i++) await alice.sendTo("bob", "job", i);
    const { inbox, receiver } = collect(bob, { manualAck: true, maxInFlight: 2 });
    await inbox.count(2);
    expect(await bed.backend.messages.inFlight(bed.tenantId, "bob")).toBe(2);
    expect(await bed.backend.messages.backlog(bed.tenantId, "bob")).toBe(3);
    await inbox.messages[0]?.ack();
    await inbox.count(3);
    expect(inbox.messages.map((m) => m.value)).toEqual([0, 1, 2]);
    await receiver.close();
  });

  it("refuses bad sends with precise codes", async () => {
    const alice = await agent("alice");
    expect(await codeOf(alice.sendTo("nobody", "x", 1))).toBe(Code.NotFound);
    expect(await codeOf(alice.publish("orders.*", "x", 1))).toBe(Code.InvalidArgument);
    expect(await codeOf(alice.sendTo("alice", "", 1))).toBe(Code.InvalidArgument);
    expect(await codeOf(alice.sendTo("alice", "x", "y".repeat(1024 * 1024)))).toBe(
      Code.InvalidArgument,
    );
    const consumer = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("reader", [3 /* ROLE_AGENT_CONSUMER */]),
    });
    expect(await codeOf(consumer.sendTo("alice", "x", 1))).toBe(Code.PermissionDenied);
  });
});

describe("the send stream and the unary path", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(async () => {
    await bed.close();
  });

  it("answers a refused item with its error and keeps the stream open", async () => {
    const alice = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("alice") });
    const bob = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("bob") });
    await bob.register({ id: "bob", type: "test", heartbeat: false });
    const results = await Promise.allSettled([
      alice.sendTo("bob", "one", 1),
      alice.sendTo("nobody", "lost", 2),
      alice.sendTo("bob", "two", 3),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const refused = results[1];
    expect(refused?.status === "rejected" && ConnectError.from(refused.reason).code).toBe(
      Code.NotFound,
    );
    const inbox: string[] = [];
    let done: () => void = () => {};
    const two = new Promise<void>((r) => {
      done = r;
    });
    bob.onMessage((m) => {
      inbox.push(m.kind);
      if (inbox.length === 2) done();
    });
    const receiver = bob.receive();
    await two;
    expect(inbox).toEqual(["one", "two"]);
    await receiver.close();
  });

  it("authorises each stream item as the unary call it stands for", async () => {
    const consumer = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("reader", [Role.AGENT_CONSUMER]),
    });
    await consumer.register({ id: "reader", type: "test", heartbeat: false });
    expect(await codeOf(consumer.sendTo("reader", "x", 1))).toBe(Code.PermissionDenied);
    const observer = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("watcher", [Role.OBSERVER]),
    });
    // An observer may neither send nor receive: the stream itself is refused.
    expect(await codeOf(observer.sendTo("reader", "x", 1))).toBe(Code.PermissionDenied);
  });

  it("sends, receives and acks through the fetch entry point (unary calls)", async () => {
    const alice = createFetchClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("alice"),
    });
    const bob = createFetchClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("bob") });
    await bob.register({ id: "bob", type: "test", heartbeat: false });
    await alice.sendTo("bob", "hello", { via: "fetch" });
    let got: ReceivedMessage | undefined;
    let arrived: () => void = () => {};
    const one = new Promise<void>((r) => {
      arrived = r;
    });
    bob.onMessage((m) => {
      got = m;
      arrived();
    });
    const receiver = bob.receive({ manualAck: true });
    await one;
    expect(got?.value).toEqual({ via: "fetch" });
    await got?.ack();
    expect(await bed.backend.messages.inFlight(bed.tenantId, "bob")).toBe(0);
    await receiver.close();
  });
});

describe("conversations", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(async () => {
    await bed.close();
  });

  const agent = async (id: string) => {
    const client = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor(id) });
    await client.register({ id, type: "test", heartbeat: false });
    return client;
  };

  it("holds a synchronous conversation: blocking requests answered in turn, with history", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    bob.handle<{ q: string }>("ask", (m) => ({ answer: m.value.q.toUpperCase() }));
    const receiver = bob.receive();
    await receiver.ready;
    const conv = await alice.conversations.start(["bob"], { mode: "sync", subject: "questions" });
    expect(conv.state).toBe("open");
    const a1 = await alice
      .request<{ answer: string }>("bob", "ask", { q: "one" }, { conversationId: conv.id })
      .wait();
    const a2 = await alice
      .request<{ answer: string }>("bob", "ask", { q: "two" }, { conversationId: conv.id })
      .wait();
    expect([a1.value.answer, a2.value.answer]).toEqual(["ONE", "TWO"]);
    await receiver.close();
    const closed = await alice.conversations.close(conv.id, "done");
    expect(closed.state).toBe("closed");
    expect(
      await codeOf(alice.sendTo("bob", "ask", { q: "three" }, { conversationId: conv.id })),
    ).toBe(Code.FailedPrecondition);
    const history = await bob.conversations.history(conv.id);
    expect(history.map((m) => [m.senderId, m.kind])).toEqual([
      ["alice", "ask"],
      ["alice", "ask"],
    ]);
  });

  it("holds an asynchronous conversation: replies are read later, and it times out", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const conv = await alice.conversations.start(["bob"], { mode: "async", timeoutMs: 60_000 });
    const q = await alice.sendTo(
      "bob",
      "question",
      { q: "later?" },
      { conversationId: conv.id, type: "query" },
    );
    // Bob answers whenever he likes; Alice is not waiting.
    await bob.sendTo(
      "alice",
      "answer",
      { a: "yes" },
      { conversationId: conv.id, type: "response", correlationId: q.messageId },
    );
    const replies = await alice.conversations.history(conv.id, { afterMessageId: q.messageId });
    expect(replies.map((m) => [m.senderId, m.kind, m.value, m.correlationId])).toEqual([
      ["bob", "answer", { a: "yes" }, q.messageId],
    ]);
    expect((await alice.conversations.get(conv.id)).messageCount).toBe(2);

    bed.clock.advance(60_000);
    expect((await bob.conversations.get(conv.id)).state).toBe("timed-out");
    const other = await agent("carol");
    expect(await codeOf(other.conversations.get(conv.id))).toBe(Code.NotFound);
  });

  it("lets only the initiator speak in a one-way conversation", async () => {
    const alice = await agent("alice");
    const bob = await agent("bob");
    const conv = await alice.conversations.start(["bob"], { mode: "one-way" });
    await alice.sendTo("bob", "notice", 1, { conversationId: conv.id });
    expect(await codeOf(bob.sendTo("alice", "reply", 1, { conversationId: conv.id }))).toBe(
      Code.FailedPrecondition,
    );
  });
});
