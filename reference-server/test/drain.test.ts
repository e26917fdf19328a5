// SIGTERM during traffic drains the hub: `acb-hub dev --data DIR` (PGlite) gets SIGTERM while a
// sender sends and a receiver receives; it exits 0 within --drain-timeout (past it the process
// exits 1), the receiver's stream ends with UNAVAILABLE, both clients reconnect to the hub started
// again on the same port and data, and every message whose send was acknowledged is delivered.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  MessageType,
  MessagingService,
  ReceiveResponse_Kind as ReceiveKind,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { type HubProcess, removeBundle, startHubProcess } from "./hub-process.js";

const dirs: string[] = [];
const running = new Set<HubProcess>();
afterAll(async () => {
  for (const hub of running) await hub.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await removeBundle();
});

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

function clients(url: string, token: string, httpVersion: "1.1" | "2") {
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion,
    interceptors: [bearer(token)],
  });
  return {
    admin: createClient(AdminService, transport),
    auth: createClient(AuthService, transport),
    registry: createClient(RegistryService, transport),
    messaging: createClient(MessagingService, transport),
  };
}

/** A promise with its resolve function, for waiting on events the test itself observes. */
function signal<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("SIGTERM during traffic", () => {
  it("drains: exits 0 in time, clients reconnect, nothing acknowledged is lost", {
    timeout: 180_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "acb-drain-"));
    dirs.push(dir);
    const args = ["--data", dir, "--drain-timeout", "20000"];
    const first = await startHubProcess(args);
    running.add(first);
    const { url } = first;
    const port = new URL(url).port;
    const admin = clients(url, first.adminToken, "1.1");
    // A short ack deadline: deliveries in flight when the hub stopped come again soon.
    await admin.admin.createTenant({
      tenantId: "t-drain",
      tier: Tier.ENTERPRISE,
      settings: { ackDeadline: { seconds: 3n } },
    });
    const tokenOf = async (agentId: string) =>
      (await admin.auth.issueToken({ tenantId: "t-drain", agentId, roles: [Role.AGENT_FULL] }))
        .tokens?.accessToken ?? "";
    // The same URL before and after the restart: the second hub binds the first one's port.
    const sender = clients(url, await tokenOf("sender"), "1.1");
    const receiver = clients(url, await tokenOf("receiver"), "2");
    await sender.registry.register({ agentId: "sender", type: "test" });
    await receiver.registry.register({ agentId: "receiver", type: "test" });

    const total = 60;
    const acked = new Set<string>();
    const received = new Set<string>();
    const streamEnds: string[] = [];
    let terminated = false;
    const restarted = signal();
    const tenReceived = signal();
    const allReceived = signal();
    let senderDone = false;
    const checkAll = () => {
      if (senderDone && [...acked].every((id) => received.has(id))) allReceived.resolve();
    };

    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        for (;;) {
          try {
            const res = await sender.messaging.send({
              target: { case: "recipientId", value: "receiver" },
              type: MessageType.EVENT,
              kind: "drain.test",
              idempotencyKey: `m-${i}`,
              payload: { contentType: "text/plain", data: new TextEncoder().encode(`${i}`) },
            });
            acked.add(res.messageId);
            break;
          } catch (err) {
            // Refused or cut off by the drain: retry (same idempotency key) on the new hub.
            if (!terminated) throw err;
            await restarted.promise;
          }
        }
      }
      senderDone = true;
      checkAll();
    })();

    const receiving = (async () => {
      for (;;) {
        const ac = new AbortController();
        allReceived.promise.then(() => ac.abort());
        try {
          for await (const res of receiver.messaging.receive(
            { maxInFlight: 8 },
            { signal: ac.signal },
          )) {
            if (res.kind !== ReceiveKind.DELIVERY || !res.delivery?.message) continue;
            try {
              await receiver.messaging.ack({ deliveryIds: [res.delivery.deliveryId] });
            } catch (err) {
              // Refused by the draining hub: the delivery comes again; the stream tells the rest.
              if (!terminated) throw err;
              continue;
            }
            received.add(res.delivery.message.id);
            if (received.size === 10) tenReceived.resolve();
            checkAll();
          }
          streamEnds.push("ended");
        } catch (err) {
          if (ac.signal.aborted) return;
          if (!terminated) throw err;
          const e = ConnectError.from(err);
          const reason = e.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
          streamEnds.push(`${Code[e.code]} ${reason}`);
        }
        if (ac.signal.aborted) return;
        await restarted.promise;
      }
    })();

    await tenReceived.promise;
    const before = await (await fetch(first.metricsUrl)).text();
    expect(before).toMatch(/^acb_message_latency_seconds_count\{operation="deliver"\} [1-9]/m);
    const exited = new Promise<number | null>((r) => first.child.once("exit", (code) => r(code)));
    terminated = true;
    first.child.kill("SIGTERM");
    // 0: the drain finished before its deadline (past it the process exits 1).
    expect(await exited).toBe(0);
    running.delete(first);

    // The first hub served its metrics on the RPC port.
    expect(first.metricsUrl).toBe(`${url}/metrics`);
    // The second serves them, /healthz and /readyz on a port of their own.
    const second = await startHubProcess([...args, "--port", port, "--metrics-port", "0"]);
    running.add(second);
    expect(second.url).toBe(url);
    const ops = new URL(second.metricsUrl);
    expect(ops.port).not.toBe(port);
    expect((await fetch(new URL("/readyz", ops))).status).toBe(200);
    expect(second.epoch).toBe(first.epoch);
    restarted.resolve();

    await sending;
    await allReceived.promise;
    await receiving;
    expect(acked.size).toBe(total);
    for (const id of acked) expect(received.has(id), id).toBe(true);
    // The drain told the receiver to reconnect.
    expect(streamEnds[0]).toBe("Unavailable DRAINING");
    const metrics = await (await fetch(second.metricsUrl)).text();
    expect(metrics).toMatch(/^acb_messages_total\{type="EVENT"\} [1-9]/m);
    // acb-hub gives its backend the same registry: PGlite's transactions are on the same endpoint.
    expect(metrics).toMatch(
      /^acb_db_query_duration_seconds_count\{driver="pglite",outcome="ok"\} [1-9]/m,
    );
    await second.kill();
    running.delete(second);
  });
});
