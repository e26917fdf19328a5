// A share of the load benchmark's fan-out subscribers in a thread of their own (own event loop),
// as a thousand subscribers would run on many machines rather than in one process: each registers,
// subscribes to the topic, keeps a Receive open (batched deliveries) and acks each batch as an item
// of its own SendStream, as the SDK's Node entry point settles deliveries. Posts
// { ready } once all are receiving, { delivered } every 100 ms while measuring, and on { stop }
// { latencies, duplicates, delivered }.

import { parentPort, workerData } from "node:worker_threads";
import { ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { auth, connection } from "./clients.ts";

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
const abort = new AbortController();

/** One HTTP/2 connection per 10 subscribers (each transport keeps its own). */
const clients = Array.from({ length: Math.ceil(agents.length / 10) }, () => connection(url));

type Messaging = (typeof clients)[number]["messaging"];

/** Acks sent as items of one SendStream of the agent's (their results are read and dropped). */
function ackStream(messaging: Messaging, token: string): (deliveryIds: string[]) => void {
  const queue: string[][] = [];
  let wake: (() => void) | undefined;
  let ref = 0n;
  async function* items() {
    while (!abort.signal.aborted) {
      for (let ids = queue.shift(); ids; ids = queue.shift()) {
        yield { ref: ++ref, item: { case: "ack" as const, value: { deliveryIds: ids } } };
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  }
  void (async () => {
    try {
      for await (const _ of messaging.sendStream(items(), {
        ...auth(token),
        signal: abort.signal,
      })) {
        // results of the acks: nothing to do with them
      }
    } catch {
      // ended by { stop } or the hub stopping
    }
  })();
  abort.signal.addEventListener("abort", () => wake?.(), { once: true });
  return (ids) => {
    queue.push(ids);
    wake?.();
  };
}

async function subscriber(i: number): Promise<void> {
  const [id, token] = agents[i] as [string, string];
  const c = clients[Math.floor(i / 10)] as (typeof clients)[number];
  await c.registry.register({ agentId: id, type: "load" }, auth(token));
  await c.messaging.subscribeTopic({ pattern }, auth(token));
  const ack = ackStream(c.messaging, token);
  const seen = new Set<string>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  void (async () => {
    try {
      for await (const res of c.messaging.receive(
        { maxInFlight: 1000, batchDeliveries: true },
        { ...auth(token), signal: abort.signal },
      )) {
        if (res.kind === ReceiveResponse_Kind.READY) ready();
        if (res.kind !== ReceiveResponse_Kind.DELIVERY) continue;
        const ids: string[] = [];
        for (const d of res.delivery ? [res.delivery] : res.deliveries) {
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
          latencies.push(now() - new DataView(data.buffer, data.byteOffset, 8).getFloat64(0));
        }
        if (ids.length > 0) ack(ids);
      }
    } catch {
      // ended by { stop } or the hub stopping
    }
  })();
  await isReady;
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
port.on("message", (msg: { measure?: boolean; stop?: boolean }) => {
  if (msg.measure) {
    measuring = true;
    ticker = setInterval(() => port.postMessage({ delivered }), 100);
  }
  if (msg.stop) {
    clearInterval(ticker);
    abort.abort();
    port.postMessage({ latencies, duplicates, delivered, done: true });
    port.close();
  }
});
