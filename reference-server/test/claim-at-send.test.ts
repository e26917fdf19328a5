// Deliveries claimed as their messages are stored: on a store that claims (PostgreSQL, PGlite; the
// embedded memory store for messages to several recipients), a message to an agent whose Receive stream is on the sending node goes in flight in the write that
// stores it and is handed to the stream, with no wake-up and no read of the queue; one that must
// queue (the window is full, or something waits before it) is read by the stream's poll as before.
// Either way the stream delivers in send order.

import { randomBytes } from "node:crypto";
import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ReceiveResponse_Kind, SettleStatus } from "@acb/gen/acb/v1/messaging_pb";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { generateDevKeys } from "../src/auth/token-service.js";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import { createPgliteBackend } from "../src/storage/postgres/postgres-backend.js";
import type { Backend } from "../src/storage/types.js";
import { clientsOf, text, transport } from "./security-harness.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const backends: [string, () => Promise<Backend>][] = [["PGlite", () => createPgliteBackend()]];

/** A hub on `backend` with a tenant (of at most `agentBacklog` messages per agent, when given). */
async function hubOn(makeBackend: () => Promise<Backend>, agentBacklog?: number) {
  const backend = await makeBackend();
  cleanups.push(() => backend.close());
  expect(backend.messages.folds?.claim).toBe(true);
  const polls: string[] = [];
  const poll = backend.messages.poll.bind(backend.messages);
  backend.messages.poll = (tenantId, agentId, o) => {
    polls.push(agentId);
    return poll(tenantId, agentId, o);
  };
  const hub: Hub = await createHub({
    backend: { ...backend, close: async () => {} },
    clock: new ManualClock(),
    keys: await generateDevKeys(),
    logger: silentLogger,
  });
  cleanups.push(() => hub.close());
  const url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  const admin = clientsOf(transport(url, await hub.issueAdminToken()));
  const tenantId = `t-${randomBytes(4).toString("hex")}`;
  await admin.admin.createTenant({
    tenantId,
    ...(agentBacklog !== undefined && {
      tier: Tier.CUSTOM,
      quotas: { agentBacklogMessages: BigInt(agentBacklog), tenantBacklogMessages: 1_000n },
    }),
  });
  const agent = async (id: string) => {
    const res = await admin.auth.issueToken({ tenantId, agentId: id, roles: [Role.AGENT_FULL] });
    const clients = clientsOf(transport(url, res.tokens?.accessToken ?? ""));
    await clients.registry.register({ agentId: id, type: "test" });
    return clients;
  };
  return { polls, agent };
}

describe.each(backends)(
  "deliveries claimed as their messages are stored, on %s",
  (_, makeBackend) => {
    it("reach a stream on the sending node without a read of its queue, in send order with those read", async () => {
      const { polls, agent } = await hubOn(makeBackend);
      const alice = await agent("alice");
      const bob = await agent("bob");
      const ac = new AbortController();
      cleanups.push(async () => ac.abort());
      const inbox = bob.messaging
        .receive({ maxInFlight: 3 }, { signal: ac.signal })
        [Symbol.asyncIterator]();
      expect((await inbox.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
      expect(polls).toEqual(["bob"]);
      const send = (n: number) =>
        alice.messaging.send({
          target: { case: "recipientId", value: "bob" },
          kind: "k",
          payload: { data: text(`m${n}`) },
        });
      const received: string[] = [];
      const deliveryIds: string[] = [];
      const receive = async (count: number) => {
        while (count-- > 0) {
          const item = (await inbox.next()).value;
          expect(item?.kind).toBe(ReceiveResponse_Kind.DELIVERY);
          expect(item?.delivery?.attempt).toBe(1);
          received.push(new TextDecoder().decode(item?.delivery?.message?.payload?.data));
          deliveryIds.push(item?.delivery?.deliveryId ?? "");
        }
      };
      const ackAll = async () => {
        const res = await bob.messaging.ack({ deliveryIds: deliveryIds.splice(0) });
        expect(res.results.map((r) => r.status)).toEqual(res.results.map(() => SettleStatus.OK));
      };

      // The window has room and nothing waits: each is claimed as it is stored.
      for (const n of [1, 2, 3]) await send(n);
      await receive(3);
      expect(polls).toEqual(["bob"]);
      // The window is full: these queue, and the stream reads them once acks free its slots.
      for (const n of [4, 5, 6, 7, 8]) await send(n);
      await ackAll();
      await receive(3);
      await ackAll();
      await receive(2);
      await ackAll();
      expect(polls.length).toBeGreaterThan(1);
      // Nothing waits again: claimed as stored, with no further read.
      const before = polls.length;
      await send(9);
      await receive(1);
      await ackAll();
      expect(polls.length).toBe(before);
      expect(received).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
    });

    it("give back the room a refused send reserved in the stream's window", async () => {
      // Each agent may hold one message; the stream's window holds two.
      const { polls, agent } = await hubOn(makeBackend, 1);
      const alice = await agent("alice");
      const bob = await agent("bob");
      const ac = new AbortController();
      cleanups.push(async () => ac.abort());
      const inbox = bob.messaging
        .receive({ maxInFlight: 2 }, { signal: ac.signal })
        [Symbol.asyncIterator]();
      expect((await inbox.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
      const send = (body: string) =>
        alice.messaging.send({
          target: { case: "recipientId", value: "bob" },
          kind: "k",
          payload: { data: text(body) },
        });
      const next = async () => {
        const item = (await inbox.next()).value;
        return {
          body: new TextDecoder().decode(item?.delivery?.message?.payload?.data),
          deliveryId: item?.delivery?.deliveryId ?? "",
        };
      };
      await send("m1");
      const first = await next();
      expect(first.body).toBe("m1");
      // Bob holds his one message: this send is refused, and its reservation is given back.
      await expect(send("m2")).rejects.toMatchObject({ code: Code.ResourceExhausted });
      await bob.messaging.ack({ deliveryIds: [first.deliveryId] });
      // The window still has room for one more as far as the stream knows: claimed as stored.
      const before = polls.length;
      await send("m3");
      expect((await next()).body).toBe("m3");
      expect(polls.length).toBe(before);
    });
  },
);

describe("a topic message on the memory store", () => {
  it("is claimed for every subscriber's stream here as it is stored, with no read of their queues", async () => {
    const { polls, agent } = await hubOn(async () => createMemoryBackend());
    const alice = await agent("alice");
    const subscribers = await Promise.all(["bob", "carol"].map((id) => agent(id)));
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const inboxes = [];
    for (const s of subscribers) {
      await s.messaging.subscribeTopic({ pattern: "news.*" });
      const inbox = s.messaging
        .receive({ maxInFlight: 4 }, { signal: ac.signal })
        [Symbol.asyncIterator]();
      expect((await inbox.next()).value?.kind).toBe(ReceiveResponse_Kind.READY);
      inboxes.push(inbox);
    }
    const before = polls.length;
    for (const n of [1, 2]) {
      await alice.messaging.send({
        target: { case: "topic", value: "news.today" },
        kind: "k",
        payload: { data: text(`m${n}`) },
      });
    }
    for (const inbox of inboxes) {
      for (const n of [1, 2]) {
        const item = (await inbox.next()).value;
        expect(item?.kind).toBe(ReceiveResponse_Kind.DELIVERY);
        expect(new TextDecoder().decode(item?.delivery?.message?.payload?.data)).toBe(`m${n}`);
      }
    }
    expect(polls.length).toBe(before);
  });
});
