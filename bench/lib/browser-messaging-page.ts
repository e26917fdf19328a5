// The page of the messaging benchmark's browser phase (bundled with esbuild from the SDK's web
// entry point, as an application's bundler would): web clients of several agents in one page, each
// registered with its Receive stream open (a server stream over fetch; sends and acks are unary
// calls), and an open-loop sender at a fixed rate to random other agents of the page. Sender and
// receiver share the page's clock, so a message carries its performance.now() send time and the
// receiving handler takes the difference.
import { type AcbClient, createClient, type Receiver } from "../../packages/sdk/src/web.ts";

export interface BrowserAgent {
  id: string;
  token: string;
  /** The hub URLs this agent's client uses. */
  baseUrl: string[];
}

export interface BrowserLatencyRun {
  /** send→deliver latencies (ms) of the messages sent after the warm-up. */
  samples: number[];
  sent: number;
  received: number;
  errors: number;
  /** The first send error, if any. */
  firstError?: string;
}

const PAYLOAD_BYTES = 100;

/** A 100-byte JSON payload carrying its send time (as the Node phases send). */
function payload(t: number): { t: number; pad: string } {
  const base = JSON.stringify({ t, pad: "" }).length;
  return { t, pad: "x".repeat(Math.max(0, PAYLOAD_BYTES - base)) };
}

const clients: AcbClient[] = [];
const receivers: Receiver[] = [];
const ids: string[] = [];
let samples: number[] = [];
let warmupUntil = Number.POSITIVE_INFINITY;
let received = 0;

/** Registers the agents, each with its own client, and opens their Receive streams. */
async function setup(agents: BrowserAgent[]): Promise<void> {
  for (const a of agents) {
    const c = createClient({ baseUrl: a.baseUrl, token: a.token, timeoutMs: 30_000 });
    await c.register({ id: a.id, type: "bench" });
    c.handle<{ t: number }>("lat", (m) => {
      received++;
      const t = performance.now();
      if (m.value.t >= warmupUntil) samples.push(t - m.value.t);
    });
    const r = c.receive({ maxInFlight: 1000 });
    await r.ready;
    receivers.push(r);
    clients.push(c);
    ids.push(a.id);
  }
}

/**
 * Sends `rate` messages per second for `seconds` from random agents to random other agents, and
 * waits (at most 10 s) for the last deliveries.
 */
async function run(
  rate: number,
  seconds: number,
  warmupSeconds: number,
): Promise<BrowserLatencyRun> {
  samples = [];
  received = 0;
  // Open loop: messages go out on a schedule whatever the answers.
  const total = Math.round(rate * seconds);
  let sent = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now() + 50;
  warmupUntil = start + warmupSeconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      while (sent < due) {
        const from = Math.floor(Math.random() * clients.length);
        // Any agent but the sender.
        const to = (from + 1 + Math.floor(Math.random() * (clients.length - 1))) % clients.length;
        clients[from]
          ?.sendTo(ids[to] ?? "", "lat", payload(performance.now()))
          .catch((err: unknown) => {
            errors++;
            firstError ??= String(err);
          });
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 50);
  });
  const deadline = performance.now() + 10_000;
  while (received < total - errors && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  return { samples, sent, received, errors, ...(firstError !== undefined && { firstError }) };
}

async function teardown(): Promise<void> {
  for (const r of receivers) await r.close();
  for (const c of clients) await c.close();
}

export interface BrowserMessagingPage {
  setup: typeof setup;
  run: typeof run;
  teardown: typeof teardown;
}

(globalThis as unknown as { messaging: BrowserMessagingPage }).messaging = {
  setup,
  run,
  teardown,
};
