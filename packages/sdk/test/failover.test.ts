// A client given several hub URLs: calls go to one node until it fails, then to the next. Here the
// "nodes" are two TCP proxies in front of one hub (and a port nobody listens on), so cutting one
// proxy is a node going away while the hub's state stays; docs/sdk.md#several-hub-nodes. The same
// over real hub processes on the production preset: reference-server/test/sdk-failover.test.ts.

import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AcbError, Code, createClient, type ReceivedMessage } from "../src/node.js";
import { createClient as createWebClient } from "../src/web.js";
import { startTestBed, type TestBed } from "./harness.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

/** A URL nothing listens on: connecting is refused at once. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Resolves when `predicate` holds, checked after each received message. */
function inbox() {
  const got: ReceivedMessage[] = [];
  const waiters: { until: () => boolean; resolve: () => void }[] = [];
  return {
    got,
    push(m: ReceivedMessage) {
      got.push(m);
      for (const w of waiters.splice(0)) {
        if (w.until()) w.resolve();
        else waiters.push(w);
      }
    },
    until(until: () => boolean) {
      return until()
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ until, resolve }));
    },
  };
}

describe("several hub URLs", () => {
  let bed: TestBed;
  const proxies: TcpProxy[] = [];
  beforeEach(async () => {
    bed = await startTestBed({ ackDeadlineMs: 5_000 });
  });
  afterEach(async () => {
    for (const p of proxies.splice(0)) await p.close();
    await bed.close();
  });

  it("checks the list: empty and repeated URLs are refused", () => {
    const refused = (baseUrl: string[]) => {
      try {
        createClient({ baseUrl });
      } catch (err) {
        return err as AcbError;
      }
      throw new Error("expected createClient to refuse");
    };
    expect(refused([]).code).toBe(Code.InvalidArgument);
    const twice = refused(["http://127.0.0.1:1", "http://127.0.0.1:1"]);
    expect(twice).toBeInstanceOf(AcbError);
    expect(twice.message).toContain('lists "http://127.0.0.1:1" twice');
    expect(refused(["http://127.0.0.1:1", "ftp://x"]).code).toBe(Code.InvalidArgument);
  });

  it("skips a node that refuses connections, for every call (nothing was sent)", async () => {
    const dead = await deadUrl();
    const client = createClient({
      baseUrl: [dead, bed.listener.url],
      token: await bed.tokenFor("alice"),
    });
    try {
      expect(client.hubUrl).toBe(dead);
      // Register changes state, so it is retried elsewhere only because it never left.
      await client.register({ type: "worker", heartbeat: false });
      expect(client.hubUrl).toBe(bed.listener.url);
      const sent = await client.sendTo("alice", "note", { n: 1 });
      expect(sent.messageId).not.toBe("");
    } finally {
      await client.close();
    }
  });

  it("does the same over fetch (the web, Deno and Bun entry points)", async () => {
    const dead = await deadUrl();
    const client = createWebClient({
      baseUrl: [dead, bed.listener.url],
      token: await bed.tokenFor("dave"),
    });
    try {
      await client.register({ type: "worker", heartbeat: false });
      expect(client.hubUrl).toBe(bed.listener.url);
      expect((await client.getAgent("dave")).id).toBe("dave");
    } finally {
      await client.close();
    }
  });

  it("sends a call again after an unknown outcome only when repeating it is safe", async () => {
    const port = Number(new URL(bed.listener.url).port);
    const a = await startTcpProxy(port);
    const b = await startTcpProxy(port);
    const c = await startTcpProxy(port);
    proxies.push(a, b, c);
    // HTTP/1.1: each call is one request on the connection, so "the next request" is the call.
    // (A proxy that lost an answer also refuses its next connection, hence a third node.)
    const client = createClient({
      baseUrl: [a.url, b.url, c.url],
      token: await bed.tokenFor("carol"),
      httpVersion: "1.1",
    });
    try {
      await client.register({ type: "worker", heartbeat: false });
      // The hub creates the context, the answer is lost: creating again could make a second one,
      // so the call fails, and the next call goes to the next node.
      a.cutOnNextRequest();
      const lost = await client.shareContext("note", { v: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(lost).toBeInstanceOf(AcbError);
      expect(client.hubUrl).toBe(b.url);
      const made: string[] = [];
      for await (const c of client.listContexts({ type: "note" })) made.push(c.id);
      expect(made).toHaveLength(1);
      // A read changes nothing: its lost answer is asked for again, through the next node.
      b.cutOnNextRequest();
      const read = await client.getContext(made[0] as string);
      expect(read.value).toEqual({ v: 1 });
      expect(client.hubUrl).toBe(c.url);
    } finally {
      await client.close();
    }
  });

  it("moves streams and keyed sends to the next node when one goes away", async () => {
    const port = Number(new URL(bed.listener.url).port);
    const a = await startTcpProxy(port);
    const b = await startTcpProxy(port);
    proxies.push(a, b);
    const alice = createClient({ baseUrl: [a.url, b.url], token: await bed.tokenFor("alice") });
    const bob = createClient({ baseUrl: [a.url, b.url], token: await bed.tokenFor("bob") });
    try {
      await alice.register({ type: "worker", heartbeat: false });
      await bob.register({ type: "worker", heartbeat: false });
      const box = inbox();
      bob.onMessage((m) => {
        box.push(m);
      });
      const receiver = bob.receive();
      await receiver.ready;
      await alice.sendTo("bob", "note", { n: 1 }, { idempotencyKey: "k1" });
      await box.until(() => box.got.length >= 1);
      expect(bob.hubUrl).toBe(a.url);

      // Node A goes away: open connections drop and new ones are cut at once.
      const states: string[] = [];
      bob.on("state", (s) => states.push(s));
      a.cut();
      // The send on A's dead connection carries a key: it is sent again through B.
      const second = await alice.sendTo("bob", "note", { n: 2 }, { idempotencyKey: "k2" });
      expect(second.duplicate).toBe(false);
      expect(alice.hubUrl).toBe(b.url);
      await box.until(() => box.got.some((m) => (m.value as { n: number }).n === 2));
      // Bob's delivery stream reconnected, through B.
      expect(bob.hubUrl).toBe(b.url);
      expect(states).toContain("reconnecting");
      expect(receiver.state).toBe("live");
      // A keyed send retried elsewhere is still one message (the hub deduplicates by key).
      const again = await alice.sendTo("bob", "note", { n: 2 }, { idempotencyKey: "k2" });
      expect(again).toEqual({ messageId: second.messageId, duplicate: true });
      await receiver.close();
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
