// A tenant's clients in their own thread (own event loop), for the load benchmark's noisy-neighbour
// scenario: tenant B's sender and receiver, as another customer's would run in a process of their
// own, so B's latency measures how the hub treats B, not how busy the load generator's loop is
// with tenant A's flood. The parent posts { seconds } to send at `rate` msg/s for that long; the
// thread answers with the send→deliver latencies (ms) of what arrived by 500 ms after the last send.

import { parentPort, workerData } from "node:worker_threads";
import { MessageType, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { auth, connection } from "./clients.ts";

interface TenantData {
  url: string;
  senderToken: string;
  receiverToken: string;
  rate: number;
}

const { url, senderToken, receiverToken, rate } = workerData as TenantData;
const port = parentPort;
if (!port) throw new Error("load-tenant.ts runs as a worker thread");

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { messaging, registry } = connection(url);

await registry.register({ agentId: "b-send", type: "load" }, auth(senderToken));
await registry.register({ agentId: "b-recv", type: "load" }, auth(receiverToken));
let latencies: number[] = [];
let ready!: () => void;
const isReady = new Promise<void>((r) => {
  ready = r;
});
const abort = new AbortController();
void (async () => {
  try {
    for await (const res of messaging.receive(
      { maxInFlight: 100 },
      { ...auth(receiverToken), signal: abort.signal },
    )) {
      if (res.kind === ReceiveResponse_Kind.READY) ready();
      const d = res.delivery;
      if (res.kind !== ReceiveResponse_Kind.DELIVERY || !d) continue;
      const data = d.message?.payload?.data ?? new Uint8Array(8);
      latencies.push(now() - new DataView(data.buffer, data.byteOffset, 8).getFloat64(0));
      void messaging.ack({ deliveryIds: [d.deliveryId] }, auth(receiverToken)).catch(() => {});
    }
  } catch {
    // ended by the parent (abort) or the hub stopping
  }
})();
await isReady;
port.postMessage({ ready: true });

port.on("message", async (msg: { seconds?: number; stop?: boolean }) => {
  if (msg.stop) {
    abort.abort();
    port.close();
    return;
  }
  const seconds = msg.seconds ?? 0;
  latencies = [];
  const start = now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000));
    while (sent < due) {
      sent++;
      const data = new Uint8Array(64);
      new DataView(data.buffer).setFloat64(0, now());
      messaging
        .send(
          {
            target: { case: "recipientId", value: "b-recv" },
            type: MessageType.EVENT,
            kind: "load.b",
            payload: { contentType: "application/octet-stream", data },
          },
          auth(senderToken),
        )
        .catch(() => {});
    }
    await sleep(1);
  }
  await sleep(500);
  port.postMessage({ latencies, seconds: (now() - start) / 1000 });
});
