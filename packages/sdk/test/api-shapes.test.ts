// The shapes of the public API over a real hub: one error type everywhere, the reply as the awaited
// value of request(), async iterables for messages, context changes and discovery, and the runtime
// options (interceptors, per-call headers, Node TLS, baseUrl checks).

import { createHub, type Hub, silentLogger } from "@acb/hub";
import type { Interceptor } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { generateDevCertificate } from "../../../reference-server/src/server/dev-cert.js";
import { AcbError, Code, createClient, type ReceivedMessage } from "../src/node.js";
import { createClient as createWebClient } from "../src/web.js";
import { startTestBed, type TestBed } from "./harness.js";

const failure = (p: PromiseLike<unknown>) =>
  Promise.resolve(p).then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );

describe("API shapes", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed({ ackDeadlineMs: 5_000 });
  });
  afterEach(async () => {
    await bed.close();
  });

  const clientFor = async (agentId: string, extra: { interceptors?: Interceptor[] } = {}) => {
    const client = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor(agentId),
      ...extra,
    });
    await client.register({ type: "worker", heartbeat: false });
    return client;
  };

  it("fails with AcbError everywhere: Node's streamed sends and createClient's option checks", async () => {
    const alice = await clientFor("alice");
    // Node sends travel on one SendStream; a refused item is an AcbError with the hub's details.
    const unknown = await failure(alice.sendTo("nobody", "ping", {}));
    expect(unknown).toBeInstanceOf(AcbError);
    expect((unknown as AcbError).code).toBe(Code.NotFound);
    expect((unknown as AcbError).retryable).toBe(false);
    const badTopic = await failure(alice.publish("", "ping", {}));
    expect(badTopic).toBeInstanceOf(AcbError);
    expect((badTopic as AcbError).code).toBe(Code.InvalidArgument);
    await alice.close();
    // A closed client's send stream is gone: a later send fails at once instead of reopening it.
    const afterClose = await failure(alice.sendTo("alice", "ping", {}));
    expect(afterClose).toBeInstanceOf(AcbError);
    expect((afterClose as AcbError).code).toBe(Code.Canceled);

    for (const create of [createClient, createWebClient]) {
      for (const baseUrl of ["", "not a url", "ftp://127.0.0.1:1", "http://h:1/?q=1"]) {
        let thrown: unknown;
        try {
          create({ baseUrl });
        } catch (err) {
          thrown = err;
        }
        expect(thrown, baseUrl).toBeInstanceOf(AcbError);
        expect((thrown as AcbError).code, baseUrl).toBe(Code.InvalidArgument);
        expect((thrown as AcbError).message, baseUrl).toContain("baseUrl");
      }
    }
    expect(() => createClient({ baseUrl: "http://127.0.0.1:1", tls: { ca: "x" } })).toThrow(
      /tls needs an https: baseUrl/,
    );
  });

  it("resolves request() with the reply itself", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    bob.handle<{ n: number }>("double", (m) => ({ n: m.value.n * 2 }));
    const receiver = bob.receive();
    await receiver.ready;
    const reply = await alice.request<{ n: number }>("bob", "double", { n: 21 });
    expect(reply.value).toEqual({ n: 42 });
    expect(reply.type).toBe("response");
    // The older form still works: the same promise.
    expect((await alice.request<{ n: number }>("bob", "double", { n: 1 }).wait()).value).toEqual({
      n: 2,
    });
    await Promise.all([alice.close(), bob.close()]);
  });

  it("iterates messages: acknowledged as the loop moves on, closed by break", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    for (const n of [1, 2, 3]) await bob.sendTo("alice", "tick", { n });

    const first: number[] = [];
    for await (const m of alice.messages({ maxInFlight: 1 })) {
      first.push((m.value as { n: number }).n);
      if (first.length === 2) break; // 1 is acked (the loop asked for 2); 2 is not
    }
    expect(first).toEqual([1, 2]);

    // Past the ack deadline, what was not acknowledged comes again; the manual loop acks it.
    // The deadline passes only once the new stream is live, so the redelivery reaches it.
    const second: ReceivedMessage[] = [];
    const seen = () => second.map((s) => (s.value as { n: number }).n);
    for await (const m of alice.messages({
      manualAck: true,
      onStateChange: (s) => s === "live" && bed.clock.advance(6_000),
    })) {
      second.push(m);
      await m.ack();
      if (seen().includes(2) && seen().includes(3)) break;
    }
    const again = second.find((m) => (m.value as { n: number }).n === 2);
    expect(again?.attempt).toBe(2);
    expect(seen()).not.toContain(1);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("iterates context changes from contexts.watch(), resuming from the last change taken", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    let live: () => void = () => {};
    const isLive = new Promise<void>((resolve) => {
      live = resolve;
    });
    const changes = alice.contexts
      .watch<{ v: number }>("doc", { onStateChange: (s) => s === "live" && live() })
      [Symbol.asyncIterator]();
    const firstChange = changes.next(); // opens the subscription
    await isLive;
    const doc = await bob.shareContext("doc", { v: 1 });
    await bob.updateContext(doc.id, { v: 2 });
    const a = await firstChange;
    const b = await changes.next();
    expect([a.value?.kind, a.value?.context.value]).toEqual(["created", { v: 1 }]);
    expect([b.value?.kind, b.value?.context.value]).toEqual(["updated", { v: 2 }]);
    expect(await changes.return?.()).toEqual({ done: true, value: undefined });
    expect((await changes.next()).done).toBe(true);

    // A watch from the last cursor taken misses nothing written after it.
    await bob.updateContext(doc.id, { v: 3 });
    for await (const c of alice.contexts.watch<{ v: number }>("doc", {
      cursor: b.value?.cursor ?? "",
    })) {
      expect(c.context.value).toEqual({ v: 3 });
      break;
    }
    await Promise.all([alice.close(), bob.close()]);
  });

  it("pages discover() lazily in for-await, and reads every page when awaited", async () => {
    const discoverCalls: string[] = [];
    const counting: Interceptor = (next) => (req) => {
      if (req.method.name === "Discover") discoverCalls.push(req.method.name);
      return next(req);
    };
    const alice = await clientFor("alice", { interceptors: [counting] });
    const bob = await clientFor("bob");
    const all = await alice.discover({ type: "worker" });
    expect(all.map((a) => a.id).sort()).toEqual(["alice", "bob"]);
    expect(discoverCalls).toHaveLength(1);
    const query = alice.discover({ type: "worker" });
    expect(discoverCalls).toHaveLength(1); // nothing is read before the loop starts
    for await (const agent of query) {
      expect(["alice", "bob"]).toContain(agent.id);
      break;
    }
    expect(discoverCalls).toHaveLength(2);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("iterates conversations and their history, or reads them whole when awaited", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const conv = await alice.conversations.start(["bob"], { subject: "notes" });
    for (const n of [1, 2]) {
      await alice.sendTo("bob", "note", { n }, { conversationId: conv.id });
    }
    const whole = await alice.conversations.history(conv.id);
    const iterated: unknown[] = [];
    for await (const m of alice.conversations.history(conv.id)) iterated.push(m.value);
    expect(iterated).toEqual([{ n: 1 }, { n: 2 }]);
    expect(whole.map((m) => m.value)).toEqual(iterated);
    const listed: string[] = [];
    for await (const c of alice.conversations.list({ participant: "bob" })) listed.push(c.id);
    expect(listed).toEqual([conv.id]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("runs interceptors on every call and sends per-call headers", async () => {
    const seen: { method: string; trace: string | null; auth: boolean }[] = [];
    const recording: Interceptor = (next) => (req) => {
      seen.push({
        method: req.method.name,
        trace: req.header.get("x-trace"),
        auth: req.header.has("authorization"),
      });
      return next(req);
    };
    const alice = await clientFor("alice", { interceptors: [recording] });
    const doc = await alice.shareContext("doc", { v: 1 });
    await alice.getContext(doc.id, { headers: { "x-trace": "t-1" } });
    const get = seen.find((s) => s.method === "GetContext");
    expect(get).toEqual({ method: "GetContext", trace: "t-1", auth: true });
    expect(seen.find((s) => s.method === "CreateContext")?.trace).toBeNull();
    await alice.close();
  });
});

describe("the epoch check before the first call", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed();
  });
  afterEach(async () => {
    await bed.close();
  });

  it("does not hold a call past its own deadline when GetServerInfo does not answer", async () => {
    // GetServerInfo hangs (until the client closes); every other call goes through.
    const stallServerInfo: Interceptor = (next) => async (req) => {
      if (req.method.name === "GetServerInfo") {
        await new Promise((_, reject) =>
          req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true }),
        );
      }
      return next(req);
    };
    const client = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("alice"),
      interceptors: [stallServerInfo],
    });
    const shared = await client.shareContext("doc", { v: 1 }, { timeoutMs: 5_000 });
    const aborting = new AbortController();
    const read = client.getContext(shared.id, { signal: aborting.signal });
    aborting.abort(); // the call ends at once, not after the check it waited for
    expect(((await failure(read)) as AcbError).code).toBe(Code.Canceled);
    expect(client.epoch).toBeUndefined();
    await client.close();
  });
});

describe("registered sessions", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed({ heartbeatIntervalMs: 50 });
  });
  afterEach(async () => {
    await bed.close();
  });

  it("stop, and say so once, when another registration of the agent took over", async () => {
    const token = await bed.tokenFor("alice");
    const first = createClient({ baseUrl: bed.listener.url, token });
    const second = createClient({ baseUrl: bed.listener.url, token });
    let replaced: (e: AcbError) => void = () => {};
    const reported = new Promise<AcbError>((resolve) => {
      replaced = resolve;
    });
    const errors: unknown[] = [];
    const old = await first.register({
      type: "worker",
      onError: (e) => {
        errors.push(e);
        replaced(e as AcbError);
      },
    });
    await second.register({ type: "worker", takeOver: true });
    const error = await reported;
    expect(error).toBeInstanceOf(AcbError);
    expect(error.reason).toBe("SESSION_REPLACED");
    expect(old.active).toBe(false); // no more heartbeats, so no more errors
    expect(errors).toHaveLength(1);
    await Promise.all([first.close(), second.close()]);
  });

  it("replace the client's earlier session of the same agent without an error", async () => {
    const client = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("alice") });
    const errors: unknown[] = [];
    const before = await client.register({ type: "worker", onError: (e) => errors.push(e) });
    const after = await client.register({ type: "worker", onError: (e) => errors.push(e) });
    expect(before.active).toBe(false);
    expect(after.active).toBe(true);
    const beats = after.heartbeats;
    await vi.waitFor(() => expect(after.heartbeats).toBeGreaterThanOrEqual(beats + 2));
    expect(errors).toEqual([]);
    await client.close();
    expect(after.active).toBe(false);
  });
});

describe("Node TLS options", () => {
  let hub: Hub | undefined;
  afterEach(async () => {
    await hub?.close();
  });

  it("trusts the CA it is given, and refuses a hub it cannot verify with an AcbError", async () => {
    const cert = await generateDevCertificate();
    hub = await createHub({ logger: silentLogger });
    const listener = await hub.listen({ host: "127.0.0.1", port: 0, tls: cert });
    expect(listener.url.startsWith("https:")).toBe(true);
    for (const httpVersion of ["2", "1.1"] as const) {
      const trusting = createClient({ baseUrl: listener.url, httpVersion, tls: { ca: cert.cert } });
      expect((await trusting.serverInfo()).hubEpoch).toBe(hub.epoch);
      await trusting.close();
      const doubting = createClient({ baseUrl: listener.url, httpVersion });
      const err = await failure(doubting.serverInfo());
      expect(err, httpVersion).toBeInstanceOf(AcbError);
      expect((err as AcbError).message, httpVersion).toMatch(/certificate/i);
      await doubting.close();
    }
  });
});
