// The SDK over three `acb-hub` processes on the production preset (PostgreSQL + Redis + Kafka),
// given all three URLs: when the node it uses is SIGKILLed, its calls and its delivery stream
// continue on the next node; when that node drains (SIGTERM), the stream it ends with UNAVAILABLE
// reconnects on the third. Every send acknowledged to the sender is delivered.

import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { createClient, type ReceivedMessage } from "@acb/sdk/node";
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { testServices } from "../src/storage/production-test-services.js";
import { type Cluster, startCluster } from "./cluster-nodes.js";
import { removeBundle } from "./hub-process.js";

const services = testServices();
let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.stop();
  await removeBundle();
});

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

describe.skipIf(!services)("the SDK over three production-preset nodes", () => {
  it("fails over when its node is killed, and when the next one drains", {
    timeout: 120_000,
  }, async () => {
    if (!services) return;
    cluster = await startCluster(services, 3);
    const [a, b, c] = cluster.nodes;
    if (!a || !b || !c) throw new Error("three nodes");
    const transport = createConnectTransport({
      baseUrl: a.url,
      httpVersion: "1.1",
      interceptors: [bearer(a.adminToken)],
    });
    const admin = createConnectClient(AdminService, transport);
    const auth = createConnectClient(AuthService, transport);
    const tenantId = "t-failover";
    await admin.createTenant({ tenantId, tier: Tier.ENTERPRISE });
    const tokenOf = async (agentId: string) =>
      (await auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens
        ?.accessToken ?? "";
    const urls = cluster.urls;
    const alice = createClient({ baseUrl: urls, token: await tokenOf("alice") });
    const bob = createClient({ baseUrl: urls, token: await tokenOf("bob") });
    try {
      await alice.register({ type: "writer" });
      await bob.register({ type: "reader" });
      const received = new Set<number>();
      let wake: (() => void) | undefined;
      bob.handle("n", (m: ReceivedMessage<{ n: number }>) => {
        received.add(m.value.n);
        wake?.();
      });
      const until = async (n: number) => {
        while (!received.has(n)) await new Promise<void>((r) => (wake = r));
      };
      const receiver = bob.receive();
      await receiver.ready;
      const acked: number[] = [];
      const send = async (n: number) => {
        await alice.sendTo("bob", "n", { n }, { idempotencyKey: `m-${n}` });
        acked.push(n);
      };
      for (let n = 0; n < 20; n++) await send(n);
      await until(19);
      expect(alice.hubUrl).toBe(a.url);
      expect(bob.hubUrl).toBe(a.url);

      // Node A dies without a word: both clients continue on B.
      await a.kill();
      for (let n = 20; n < 40; n++) await send(n);
      await until(39);
      expect(alice.hubUrl).toBe(b.url);
      expect(bob.hubUrl).toBe(b.url);
      expect((await bob.getAgent("alice")).id).toBe("alice");

      // Node B drains: it ends Bob's stream with UNAVAILABLE ("reconnect"), refuses new calls, and
      // the clients reconnect on C.
      const exited = new Promise<number | null>((r) => b.child.once("exit", (code) => r(code)));
      b.child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (let n = 40; n < 60; n++) await send(n);
      await until(59);
      expect(alice.hubUrl).toBe(c.url);
      expect(bob.hubUrl).toBe(c.url);
      expect(receiver.state).toBe("live");

      // Every acknowledged send was delivered (at least once).
      expect(acked.length).toBe(60);
      for (const n of acked) expect(received.has(n)).toBe(true);
      await receiver.close();
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

if (!services) {
  it.skip("the SDK over three production-preset nodes (services not configured)", () => {});
}
