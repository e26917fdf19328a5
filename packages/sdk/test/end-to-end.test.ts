import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError, type ContextChange, createClient } from "../src/node.js";
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

describe("hub and two SDK clients", () => {
  let bed: TestBed;
  beforeEach(async () => {
    bed = await startTestBed({ presenceTimeoutMs: 30_000 });
  });
  afterEach(async () => {
    await bed.close();
  });

  const clientFor = async (agentId: string, baseUrl = bed.listener.url) =>
    createClient({ baseUrl, token: await bed.tokenFor(agentId) });

  it("registers two agents that discover each other", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const a = await alice.register({
      id: "alice",
      type: "planner",
      capabilities: ["plan"],
      location: "eu/paris",
    });
    const b = await bob.register({
      id: "bob",
      type: "worker",
      capabilities: ["translate", "summarise"],
      location: "us/nyc",
    });
    expect(a.agent.status).toBe("online");

    const translators = await alice.discover({ capabilities: ["translate"] });
    expect(translators.map((x) => x.id)).toEqual(["bob"]);
    const planners = await bob.discover({ type: "planner", location: "eu/" });
    expect(planners.map((x) => x.id)).toEqual(["alice"]);
    expect(await bob.discover({ capabilities: ["translate", "fly"] })).toEqual([]);
    a.stopHeartbeats();
    b.stopHeartbeats();
  });

  it("reports an agent offline once its heartbeats stop, with last_seen", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const session = await alice.register({ id: "alice", type: "planner" });
    session.stopHeartbeats();
    expect((await bob.getAgent("alice")).status).toBe("online");

    bed.clock.advance(bed.presenceTimeoutMs + 1);
    const seen = await bob.getAgent("alice");
    expect(seen.status).toBe("offline");
    expect(seen.lastSeen?.getTime()).toBe(bed.clock.now() - bed.presenceTimeoutMs - 1);
    expect((await bob.discover({ status: "offline" })).map((x) => x.id)).toEqual(["alice"]);

    // A heartbeat brings it back.
    await alice.services.registry.heartbeat({ agentId: "alice", sessionId: session.sessionId });
    expect((await bob.getAgent("alice")).status).toBe("online");
  });

  it("versions contexts and rejects a stale compare-and-set with ABORTED", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const created = await alice.shareContext(
      "plan",
      { steps: ["a"] },
      { metadata: { priority: "high" } },
    );
    expect(created.revision).toBe(1);
    expect(created.sha256).toMatch(/^[0-9a-f]{64}$/);

    const read = await bob.getContext<{ steps: string[] }>(created.id);
    expect(read.value).toEqual({ steps: ["a"] });
    const updated = await bob.updateContext(
      created.id,
      { steps: ["a", "b"] },
      { expectedRevision: 1 },
    );
    expect(updated.revision).toBe(2);

    const stale = alice.updateContext(created.id, { steps: ["x"] }, { expectedRevision: 1 });
    expect(await codeOf(stale)).toBe(Code.Aborted);
    expect((await alice.getContext(created.id)).value).toEqual({ steps: ["a", "b"] });
  });

  it("expires a context when its TTL passes", async () => {
    const alice = await clientFor("alice");
    const ctx = await alice.shareContext("session", { token: 1 }, { ttlMs: 5_000 });
    expect(ctx.expiresAt?.getTime()).toBe(bed.clock.now() + 5_000);
    bed.clock.advance(4_999);
    expect((await alice.getContext(ctx.id)).revision).toBe(1);
    bed.clock.advance(1);
    expect(await codeOf(alice.getContext(ctx.id))).toBe(Code.NotFound);
  });

  it("hides a private context from another agent as NOT_FOUND", async () => {
    const alice = await clientFor("alice");
    const bob = await clientFor("bob");
    const secret = await alice.shareContext("notes", "for alice only", { scope: "private" });
    expect((await alice.getContext(secret.id)).value).toBe("for alice only");
    expect(await codeOf(bob.getContext(secret.id))).toBe(Code.NotFound);
    expect(await codeOf(bob.updateContext(secret.id, "mine now"))).toBe(Code.NotFound);
    const listed = [];
    for await (const c of bob.listContexts({ type: "notes" })) listed.push(c.id);
    expect(listed).toEqual([]);
  });

  it("resumes a dropped subscription from its cursor without missing an update", async () => {
    // Bob reaches the hub through a proxy whose link the test cuts and keeps down while Alice, who
    // connects directly, keeps writing.
    const proxy = await startTcpProxy(bed.listener.port);
    const alice = await clientFor("alice");
    const bob = await clientFor("bob", proxy.url);
    const seen: ContextChange<{ n: number }>[] = [];
    const states: string[] = [];
    let reconnecting: () => void = () => {};
    const wentDown = new Promise<void>((r) => {
      reconnecting = r;
    });
    let backLive: () => void = () => {};
    const liveAgain = new Promise<void>((r) => {
      backLive = r;
    });
    const sub = bob.subscribe<{ n: number }>(
      "counter",
      (change) => {
        seen.push(change);
      },
      {
        backoff: { initialDelayMs: 5, maxDelayMs: 20 },
        onStateChange: (s) => {
          states.push(s);
          if (s === "reconnecting") reconnecting();
          if (s === "live" && states.includes("reconnecting")) backLive();
        },
      },
    );
    await sub.ready;
    const ctx = await alice.shareContext("counter", { n: 1 });

    // Cut Bob's link and keep it down while Alice updates twice.
    proxy.cut();
    await wentDown;
    await alice.updateContext(ctx.id, { n: 2 });
    await alice.updateContext(ctx.id, { n: 3 }, { expectedRevision: 2 });
    proxy.restore();

    // Changes missed while down are replayed before the hub marks the stream live again.
    await liveAgain;
    expect(seen.map((c) => [c.kind, c.context.value.n, c.context.revision])).toEqual([
      ["created", 1, 1],
      ["updated", 2, 2],
      ["updated", 3, 3],
    ]);
    expect(states.slice(0, 3)).toEqual(["live", "reconnecting", "live"]);
    await sub.close();
    expect(sub.state).toBe("closed");
    await proxy.close();
  });

  it("lets a handler close its own subscription", async () => {
    const alice = await clientFor("alice");
    const kinds: string[] = [];
    const sub = alice.subscribe("note", async (change) => {
      kinds.push(change.kind);
      await sub.close();
    });
    await sub.ready;
    await alice.shareContext("note", "first");
    await sub.done;
    await alice.shareContext("note", "second");
    expect(kinds).toEqual(["created"]);
    expect(sub.state).toBe("closed");
  });

  it("answers bad input with the documented codes", async () => {
    const alice = await clientFor("alice");
    expect(await codeOf(alice.register({ id: "", type: "planner" }))).toBe(Code.InvalidArgument);
    const tooBig = "x".repeat(1024 * 1024); // JSON adds two quote bytes: 1 MiB + 2
    expect(await codeOf(alice.shareContext("blob", tooBig))).toBe(Code.InvalidArgument);
    expect(await codeOf(alice.getContext("no-such-context"))).toBe(Code.NotFound);
    expect(await codeOf(alice.shareContext("", 1))).toBe(Code.InvalidArgument);
    // Nothing acknowledged before the bad requests changed.
    const ok = await alice.shareContext("fine", { ok: true });
    expect(await codeOf(alice.shareContext("blob", tooBig))).toBe(Code.InvalidArgument);
    expect((await alice.getContext(ok.id)).value).toEqual({ ok: true });
  });
});
