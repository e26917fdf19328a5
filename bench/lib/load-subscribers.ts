// A share of the load benchmark's fan-out subscribers in a thread of their own (own event loop),
// as a thousand subscribers would run on many machines rather than in one process: each registers,
// subscribes to the topic, keeps a Receive open (batched deliveries) and acks what it received as
// items of its own SendStream, grouped as the SDK's receiver groups its automatic acks (sent
// 100 ms after the first one waiting, or at once when 500 wait: receiver.ts). Posts
// { ready } once all are receiving, { delivered } every 100 ms while measuring, and on { stop }
// { latencies, duplicates, delivered }.

import { parentPort, workerData } from "node:worker_threads";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { LeanConnection, openReceive } from "./lean-client.ts";

interface SubscribersData {
  url: string;
  /** [agent id, token] of each subscriber of this thread. */
  agents: [string, string][];
  pattern: string;
}

const { url, agents, pattern } = workerData as SubscribersData;
const port = parentPort;
if (!port) throw new Error("load-subscribers.ts runs as a worker thread");

const now = () => performance.timeOrigin + performance.now();
const latencies: number[] = [];
let delivered = 0;
let duplicates = 0;
let measuring = false;
/** Messages sent before this instant (ms since the epoch) are counted but not timed. */
let measureFrom = 0;
const streams: { close(): void }[] = [];

/**
 * One HTTP/2 connection per 10 subscribers, through lean-client.ts rather than the SDK's client
 * stack, so the thread's own collections stay out of the hub's figures (see load-agents.ts).
 */
const clients = Array.from(
  { length: Math.ceil(agents.length / 10) },
  () => new LeanConnection(url),
);
const { sendStream, subscribeTopic } = MessagingService.method;
const { register } = RegistryService.method;

/** The SDK receiver's grouping of automatic acks (packages/sdk/src/core/receiver.ts). */
const ACK_FLUSH_MS = 100;
const ACK_FLUSH_IDS = 500;

/**
 * Acks sent as items of one SendStream of the agent's (their results are read and dropped),
 * grouped as the SDK groups them.
 */
function ackStream(c: LeanConnection, token: string): (deliveryIds: string[]) => void {
  let ref = 0n;
  const stream = c.bidiStream(sendStream, token, () => {});
  // Ended by { stop } or the hub stopping.
  stream.done.catch(() => {});
  streams.push(stream);
  let pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const deliveryIds = pending;
    pending = [];
    stream.send({ ref: ++ref, item: { case: "ack", value: { deliveryIds } } });
  };
  return (ids) => {
    for (const id of ids) pending.push(id);
    if (pending.length >= ACK_FLUSH_IDS) flush();
    else timer ??= setTimeout(flush, ACK_FLUSH_MS);
  };
}

async function subscriber(i: number): Promise<void> {
  const [id, token] = agents[i] as [string, string];
  const c = clients[Math.floor(i / 10)] as (typeof clients)[number];
  await c.unary(register, { agentId: id, type: "load" }, token);
  await c.unary(subscribeTopic, { pattern }, token);
  const ack = ackStream(c, token);
  const seen = new Set<string>();
  const stream = await openReceive(
    c,
    token,
    { maxInFlight: 1000, batchDeliveries: true },
    (deliveries) => {
      const ids: string[] = [];
      for (const d of deliveries) {
        ids.push(d.deliveryId);
        const m = d.message;
        if (!m) continue;
        if (seen.has(m.id)) {
          duplicates++;
          continue;
        }
        seen.add(m.id);
        if (!measuring) continue;
        delivered++;
        const data = m.payload?.data ?? new Uint8Array(8);
        const sentAt = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0);
        if (sentAt >= measureFrom) latencies.push(now() - sentAt);
      }
      if (ids.length > 0) ack(ids);
    },
  );
  streams.push(stream);
}

// At most 32 setting up at a time.
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(32, agents.length) }, async () => {
    while (next < agents.length) await subscriber(next++);
  }),
);
port.postMessage({ ready: true });

let ticker: NodeJS.Timeout | undefined;
port.on("message", (msg: { measure?: boolean; timeFrom?: number; stop?: boolean }) => {
  if (msg.measure) {
    measuring = true;
    measureFrom = msg.timeFrom ?? 0;
    ticker = setInterval(() => port.postMessage({ delivered }), 100);
  }
  if (msg.stop) {
    clearInterval(ticker);
    for (const stream of streams) stream.close();
    for (const c of clients) c.close();
    port.postMessage({ latencies, duplicates, delivered, done: true });
    port.close();
  }
});
