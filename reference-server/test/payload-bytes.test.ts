// A delivered payload is the sent payload, byte for byte: random bytes of many sizes (and one
// payload holding every byte value) sent with Send and SendBatch, to one agent and to a topic with
// two subscribers, through the embedded backend and a real port, read back by every wire protocol
// with and without batched deliveries. The hub writes deliveries from each message's bytes encoded
// once (handlers/delivery-encoding.ts); this checks what a client reads from them.

import { randomBytes, randomUUID } from "node:crypto";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import {
  type Delivery,
  MessagingService,
  ReceiveResponse_Kind,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { type WireProtocol, wireProtocols, wireTransport } from "./wire-clients.js";

let hub: Hub;
let baseUrl: string;
let adminToken: string;

beforeAll(async () => {
  hub = await createHub({ clock: new ManualClock(), logger: silentLogger });
  baseUrl = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
const sizes = [0, 1, 2, 100, 255, 1000, 4096, 65_535, 65_536, 300_000, 1_048_576];
const payloads = () => [everyByte, ...sizes.map((n) => new Uint8Array(randomBytes(n)))];

async function agents(protocol: WireProtocol, ids: string[]) {
  const admin = wireTransport(baseUrl, "connect-proto", { token: adminToken });
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  await createClient(AdminService, admin).createTenant({ tenantId, tier: Tier.ENTERPRISE });
  return Promise.all(
    ids.map(async (id) => {
      const res = await createClient(AuthService, admin).issueToken({
        tenantId,
        agentId: id,
        roles: [Role.AGENT_FULL],
      });
      const transport = wireTransport(baseUrl, protocol, {
        token: res.tokens?.accessToken ?? "",
        httpVersion: "2",
      });
      await createClient(RegistryService, transport).register({ agentId: id, type: "test" });
      return { id, messaging: createClient(MessagingService, transport) };
    }),
  );
}

type Agent = Awaited<ReturnType<typeof agents>>[number];

/** Opens the agent's Receive stream; `take(n)` reads n deliveries (acking them). */
async function receiver(agent: Agent, batchDeliveries: boolean) {
  const ac = new AbortController();
  const it = agent.messaging
    .receive({ maxInFlight: 1000, batchDeliveries }, { signal: ac.signal })
    [Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.value?.kind).toBe(ReceiveResponse_Kind.READY);
  return {
    async take(n: number): Promise<Delivery[]> {
      const out: Delivery[] = [];
      while (out.length < n) {
        const r = await it.next();
        if (r.done) throw new Error("stream ended");
        if (r.value.kind !== ReceiveResponse_Kind.DELIVERY) continue;
        const got = batchDeliveries
          ? r.value.deliveries
          : r.value.delivery
            ? [r.value.delivery]
            : [];
        if (!batchDeliveries) expect(r.value.deliveries).toEqual([]);
        out.push(...got);
      }
      await agent.messaging.ack({ deliveryIds: out.map((d) => d.deliveryId) });
      return out;
    },
    close: () => ac.abort(),
  };
}

describe.each(wireProtocols)("payload bytes over %s", (protocol) => {
  it.each([false, true])("arrive unchanged (batch_deliveries %s)", async (batched) => {
    const [sender, alice, bob] = await agents(protocol, ["sender", "alice", "bob"]);
    if (!sender || !alice || !bob) throw new Error("agents missing");
    for (const a of [alice, bob]) await a.messaging.subscribeTopic({ pattern: "bytes.>" });
    const [ra, rb] = [await receiver(alice, batched), await receiver(bob, batched)];
    try {
      const sent = new Map<string, Uint8Array>();
      // Direct sends to alice, one call each.
      for (const data of payloads()) {
        const res = await sender.messaging.send({
          target: { case: "recipientId", value: "alice" },
          kind: "bytes",
          payload: { contentType: "application/octet-stream", data },
        });
        sent.set(res.messageId, data);
      }
      const direct = await ra.take(sent.size);
      // One batch to the topic: every subscriber gets each message.
      const batch = payloads().slice(0, 8);
      const res = await sender.messaging.sendBatch({
        requests: batch.map((data) => ({
          target: { case: "topic", value: "bytes.fan.out" },
          kind: "bytes",
          payload: { data },
        })),
      });
      expect(res.results.map((r) => r.error)).toEqual(batch.map(() => undefined));
      const ids = res.results.map((r) => r.messageId);
      expect(ids).not.toContain("");
      ids.forEach((id, i) => {
        sent.set(id, batch[i] as Uint8Array);
      });
      const fanned = [...(await ra.take(batch.length)), ...(await rb.take(batch.length))];
      for (const d of [...direct, ...fanned]) {
        const m = d.message;
        const expected = sent.get(m?.id ?? "");
        expect(expected, `unknown message ${m?.id}`).toBeDefined();
        // toEqual on Uint8Array compares every byte; the length first for a readable failure.
        expect(m?.payload?.data.length).toBe(expected?.length);
        expect(
          Buffer.compare(Buffer.from(m?.payload?.data ?? []), Buffer.from(expected ?? [])),
        ).toBe(0);
      }
      expect(direct.map((d) => d.message?.id)).toEqual([...sent.keys()].slice(0, direct.length));
    } finally {
      ra.close();
      rb.close();
    }
  });
});
