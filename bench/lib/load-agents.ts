// A share of the load benchmark's connected agents in a thread of their own (own event loop and
// heap), as thousands of agents would run on many machines rather than in one process: each
// registers, keeps a Receive open (acking each delivery) and, once told { beat }, heartbeats every
// 10 s, each on a timer of its own started at a random instant. Posts { ready } once all are
// receiving, { received } every 200 ms while measuring (after { measure, since }), and on { stop }
// { latencies, beatsOk, beatsFailed, beatLatency, done }: the send→deliver latency of each probe
// sent from `since` on that one of its agents received (the probe's send time is the payload's
// first 8 bytes).

import { parentPort, workerData } from "node:worker_threads";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { LeanConnection, openReceive } from "./lean-client.ts";

interface AgentsData {
  url: string;
  /** [agent id, token] of each agent of this thread. */
  agents: [string, string][];
}

const { url, agents } = workerData as AgentsData;
const port = parentPort;
if (!port) throw new Error("load-agents.ts runs as a worker thread");

const now = () => performance.timeOrigin + performance.now();
const latencies: number[] = [];
const beatLatency: number[] = [];
let beatsOk = 0;
let beatsFailed = 0;
let measuring = false;
/** Probes sent before this instant (ms since the epoch) warm the path and are not counted. */
let since = Number.POSITIVE_INFINITY;
let beating = false;
const streams: { close(): void }[] = [];

/**
 * One HTTP/2 connection per 10 agents. The agents speak through lean-client.ts, not the SDK's
 * client stack: 1,250 agents share this thread's heap, and with the full stack its collector's
 * pauses (not the hub's) set the probes' tail.
 */
const clients = Array.from(
  { length: Math.ceil(agents.length / 10) },
  () => new LeanConnection(url),
);
const { ack } = MessagingService.method;
const { register, heartbeat } = RegistryService.method;

async function agent(i: number): Promise<void> {
  const [id, token] = agents[i] as [string, string];
  const c = clients[Math.floor(i / 10)] as (typeof clients)[number];
  await c.unary(register, { agentId: id, type: "load" }, token);
  const stream = await openReceive(
    c,
    token,
    { maxInFlight: 100, batchDeliveries: false },
    (deliveries) => {
      const ids: string[] = [];
      for (const d of deliveries) {
        ids.push(d.deliveryId);
        const data = d.message?.payload?.data;
        if (measuring && data && data.length >= 8) {
          const sent = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0);
          if (sent >= since) latencies.push(now() - sent);
        }
      }
      if (ids.length > 0) c.unary(ack, { deliveryIds: ids }, token).catch(() => {});
    },
  );
  streams.push(stream);
}

/** Heartbeat period of each agent. */
const BEAT_MS = 10_000;
const beatTimers: NodeJS.Timeout[] = [];

function beatOnce(i: number): void {
  const [id, token] = agents[i] as [string, string];
  const t0 = now();
  (clients[Math.floor(i / 10)] as (typeof clients)[number])
    .unary(heartbeat, { agentId: id }, token)
    .then(
      () => {
        beatsOk++;
        beatLatency.push(now() - t0);
      },
      () => beatsFailed++,
    );
}

/**
 * Each agent heartbeats every 10 s on a timer of its own, started at a random instant of the
 * first interval, as agents that came up independently do (the SDK keeps one timer per agent).
 * Heartbeats sent in ticks shared by a thread's agents (and threads started together) would reach
 * the hub in bursts no real population of agents makes, and probes meeting a burst would wait
 * behind it.
 */
function beat(): void {
  for (let i = 0; i < agents.length; i++) {
    const first = setTimeout(() => {
      if (!beating) return;
      beatOnce(i);
      beatTimers[i] = setInterval(() => beatOnce(i), BEAT_MS);
    }, Math.random() * BEAT_MS);
    beatTimers[i] = first;
  }
}

// At most 64 setting up at a time.
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(64, agents.length) }, async () => {
    while (next < agents.length) await agent(next++);
  }),
);
port.postMessage({ ready: true });

let ticker: NodeJS.Timeout | undefined;
port.on(
  "message",
  async (msg: { beat?: boolean; measure?: boolean; since?: number; stop?: boolean }) => {
    if (msg.beat) {
      beating = true;
      beat();
    }
    if (msg.measure) {
      measuring = true;
      since = msg.since ?? 0;
      ticker = setInterval(() => port.postMessage({ received: latencies.length }), 200);
    }
    if (msg.stop) {
      clearInterval(ticker);
      beating = false;
      for (const timer of beatTimers) clearTimeout(timer);
      for (const stream of streams) stream.close();
      for (const c of clients) c.close();
      port.postMessage({ latencies, beatsOk, beatsFailed, beatLatency, done: true });
      port.close();
    }
  },
);
