// Receive keepalives on the wire. On the direct stream path (binary Connect or gRPC over HTTP/2)
// the transport writes them from one timer per stream, on the real clock, whenever the stream has
// been silent for receiveKeepaliveMs; the stream's delivery loop then sends none (it would on the
// hub's clock, here a manual one). On the protocol library's path (JSON here) the loop sends them.

import { ReceiveResponse_Kind as Kind, type ReceiveResponse } from "@acb/gen/acb/v1/messaging_pb";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { type Agent, clientsOf, startTestHub, type TestHub } from "./security-harness.js";

let t: TestHub | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

const HOUR = 3_600_000;

/** A hub whose Receive streams keep alive after `keepaliveMs`, with agents a and b registered. */
async function hubWith(keepaliveMs: number) {
  t = await startTestHub({ limits: { receiveKeepaliveMs: keepaliveMs } });
  const tenantId = await t.newTenant();
  const a = await t.agentIn(tenantId, "a");
  const b = await t.agentIn(tenantId, "b");
  await a.registry.register({ agentId: "a", type: "svc" });
  await b.registry.register({ agentId: "b", type: "svc" });
  return { hub: t, a, b };
}

/** Opens a's Receive stream and reads its READY. */
async function receiving(a: Pick<Agent, "messaging">, signal: AbortSignal) {
  const items = a.messaging.receive({ maxInFlight: 10 }, { signal })[Symbol.asyncIterator]();
  const kinds = async () => ((await items.next()).value as ReceiveResponse).kind;
  expect(await kinds()).toBe(Kind.READY);
  return kinds;
}

const sendTo = (from: Agent, to: string) =>
  from.messaging.send({
    target: { case: "recipientId", value: to },
    kind: "k",
    payload: { contentType: "text/plain", data: new TextEncoder().encode("hello") },
  });

describe("Receive keepalives", () => {
  it("are written by the direct path after each silence of the interval, with no clock moved", async () => {
    const { a, b } = await hubWith(50);
    const stop = new AbortController();
    try {
      const next = await receiving(a, stop.signal);
      expect(await next()).toBe(Kind.KEEPALIVE);
      expect(await next()).toBe(Kind.KEEPALIVE);
      await sendTo(b, "a");
      expect(await next()).toBe(Kind.DELIVERY);
      expect(await next()).toBe(Kind.KEEPALIVE);
    } finally {
      stop.abort();
    }
  });

  it("are not sent by the delivery loop when the direct path writes them", async () => {
    const { hub, a, b } = await hubWith(HOUR);
    const stop = new AbortController();
    try {
      const next = await receiving(a, stop.signal);
      // On the hub's clock the interval has passed twice: a loop keeping the stream alive itself
      // would have sent a keepalive before the delivery.
      hub.clock.advance(2 * HOUR);
      await sendTo(b, "a");
      expect(await next()).toBe(Kind.DELIVERY);
    } finally {
      stop.abort();
    }
  });

  it("are sent by the delivery loop on the library's path (JSON)", async () => {
    const { hub, a } = await hubWith(HOUR);
    const json = clientsOf(
      createConnectTransport({
        baseUrl: hub.url,
        httpVersion: "2",
        useBinaryFormat: false,
        interceptors: [
          (next) => (req) => {
            req.header.set("Authorization", `Bearer ${a.token}`);
            return next(req);
          },
        ],
      }),
    );
    const stop = new AbortController();
    try {
      const next = await receiving(json, stop.signal);
      hub.clock.advance(HOUR);
      expect(await next()).toBe(Kind.KEEPALIVE);
    } finally {
      stop.abort();
    }
  });
});
