// The load benchmark (`./dev bench load [--quick] [--json] [--scenario NAME ...]`): one hub in its
// own process, loaded from this process the way many agents would load it, with the hub's event-
// loop delay read from its /metrics (acb_event_loop_delay_seconds, scraped every second) and its
// memory from /proc. Every scenario starts a fresh hub (embedded backend):
//
//   agents     N agents connected (heartbeat every 10 s + an open Receive each, 10 per HTTP/2
//              connection; 1,250 per thread of their own, in a load process of their own): latency
//              of probe messages to random agents after 2 s of warm-up, worst event-loop stall,
//              heartbeats through, hub memory per idle agent (N = 1,000, 5,000, 10,000)
//   fanout     one topic with 1,000 subscribers (batched deliveries, acked on the subscriber's
//              SendStream and grouped as the Node SDK does; in two threads of their own) at 10
//              and 50 published msg/s: deliveries/s, publish→deliver latency after 2 s of
//              warm-up, duplicates, memory
//   noisy      tenant B sends 100 msg/s alone, then while tenant A floods with batched sends:
//              B's latency both times and the ratio (B's clients in a thread of their own)
//   slow       200,000 × 1 KiB sent to an agent that is not reading, whose backlog limit is
//              10,000: how many the hub accepts or refuses, its memory, and its memory once the
//              accepted ones are all acked
//   abandoned  1,000 connections left mid-request (partial headers, partial body, unfinished
//              HTTP/2 streams): how many the hub closes within 35 s, and when
//
// The load clients share the 2 cores with the hub: the figures are what one machine carries with
// both on it. --quick runs smaller versions of each.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { MessageType, ReceiveResponse_Kind as ReceiveKind } from "@acb/gen/acb/v1/messaging_pb";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { auth, type Connection, connection } from "./lib/clients.ts";
import { type HubProcess, startHubProcess } from "./lib/hub-process.ts";
import { flags, log, percentiles, printTable } from "./lib/report.ts";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

/**
 * Creates a tenant (ENTERPRISE, with its default limits, unless `quotas` makes it CUSTOM) and
 * issues an agent-full token for each agent id.
 */
async function provisionTenant(
  hub: HubProcess,
  tenantId: string,
  agents: string[],
  quotas?: { agentBacklogMessages: bigint; tenantBacklogMessages: bigint },
): Promise<Map<string, string>> {
  const transport = createConnectTransport({ baseUrl: hub.url, httpVersion: "2" });
  const admin = auth(hub.adminToken);
  await createClient(AdminService, transport).createTenant(
    quotas ? { tenantId, tier: Tier.CUSTOM, quotas } : { tenantId, tier: Tier.ENTERPRISE },
    admin,
  );
  const authClient = createClient(AuthService, transport);
  const tokens = new Map<string, string>();
  await pool(agents, 32, async (agentId) => {
    const res = await authClient.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] }, admin);
    tokens.set(agentId, res.tokens?.accessToken ?? "");
  });
  return tokens;
}

/** The hub's event-loop delay, read from /metrics every second while `watch` runs. */
function watchLoop(hub: HubProcess) {
  const maxes: number[] = [];
  const p99s: number[] = [];
  let stopped = false;
  const scrape = async () => {
    const body = await fetch(`${hub.url}/metrics`).then((r) => r.text());
    const stat = (s: string) =>
      Number(
        new RegExp(`^acb_event_loop_delay_seconds\\{stat="${s}"\\} (\\S+)$`, "m").exec(body)?.[1],
      ) * 1000;
    maxes.push(stat("max"));
    p99s.push(stat("p99"));
  };
  const done = (async () => {
    await scrape(); // resets the hub's histogram: what follows is the measured phase
    maxes.length = 0;
    p99s.length = 0;
    while (!stopped) {
      await sleep(1000);
      await scrape().catch(() => {});
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return {
        loopMaxMs: Math.max(0, ...maxes.filter(Number.isFinite)),
        loopP99Ms: percentiles(p99s.filter(Number.isFinite)).p50,
      };
    },
  };
}

/** A payload of `bytes` whose first 8 bytes are the send time (ms since the epoch, float64). */
function timedPayload(bytes = 64) {
  const data = new Uint8Array(Math.max(8, bytes));
  new DataView(data.buffer).setFloat64(0, now());
  return { contentType: "application/octet-stream", data };
}

interface Receiving {
  ready: Promise<void>;
  stop(): void;
}

/**
 * An open Receive for `agentId` that acks what it gets (in batches when `batch`), calling
 * `onMessage` with each delivery's message id and payload.
 */
function receive(
  conn: Connection,
  token: string,
  onMessage: (messageId: string, data: Uint8Array) => void,
  options: { batch?: boolean; maxInFlight?: number; ack?: boolean } = {},
): Receiving {
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => {
    ready = r;
  });
  void (async () => {
    try {
      for await (const res of conn.messaging.receive(
        { maxInFlight: options.maxInFlight ?? 100, batchDeliveries: options.batch ?? false },
        { ...auth(token), signal: abort.signal },
      )) {
        if (res.kind === ReceiveKind.READY) ready();
        if (res.kind !== ReceiveKind.DELIVERY) continue;
        const deliveries = res.delivery ? [res.delivery] : res.deliveries;
        const ids: string[] = [];
        for (const d of deliveries) {
          onMessage(d.message?.id ?? "", d.message?.payload?.data ?? new Uint8Array(8));
          ids.push(d.deliveryId);
        }
        if (options.ack !== false && ids.length > 0)
          void conn.messaging.ack({ deliveryIds: ids }, auth(token)).catch(() => {});
      }
    } catch (err) {
      if (!abort.signal.aborted) log(`receive ended: ${ConnectError.from(err).message}`);
    }
  })();
  return { ready: readyP, stop: () => abort.abort() };
}

/**
 * Sends on a fixed schedule (open loop) for `seconds`, calling `send` for each; `onStart` is told
 * when the first send is due.
 */
async function openLoop(
  rate: number,
  seconds: number,
  send: (i: number) => void,
  onStart?: (start: number) => void,
) {
  const start = now();
  onStart?.(start);
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000));
    while (sent < due) send(sent++);
    await sleep(1);
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

// ---- agents ----------------------------------------------------------------------------------

/** Probes of the agents scenario sent before its measured ones, to warm the path. */
const AGENTS_WARMUP_MS = 2000;

/** Agents per thread of the agents scenario (bench/lib/load-agents.ts). */
const AGENTS_PER_THREAD = 1_250;

/**
 * Node flags of the agents scenario's load process. Its threads hold thousands of streams; with
 * V8's defaults their collectors pause 10–35 ms (scavenges of a young generation that grows to
 * 16 MB, full collections of an old generation that starts small), and those pauses, in the
 * clients, not the hub, were a third of the probes' tail. Agents would run on other machines;
 * here they share the hub's two cores, and these keep their pauses short.
 */
const LOAD_PROCESS_FLAGS = ["--max-semi-space-size=2", "--initial-old-space-size=200"];

/**
 * The agents scenario (also run by the messaging benchmark for its connected-agents figures), in
 * a process of its own started with {@link LOAD_PROCESS_FLAGS} (bench/lib/agents-scenario.ts).
 */
export async function agentsScenario(n: number, seconds: number): Promise<Record<string, number>> {
  const entry = fileURLToPath(new URL("./lib/agents-scenario.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    [...LOAD_PROCESS_FLAGS, entry, String(n), String(seconds)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  const [code] = (await once(child, "exit")) as [number | null];
  const last = out.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !last.startsWith("{"))
    throw new Error(`the agents scenario's process exited with ${code}: ${out.slice(-500)}`);
  return JSON.parse(last) as Record<string, number>;
}

/** The agents scenario in this process (bench/lib/agents-scenario.ts runs it). */
export async function agentsScenarioHere(n: number, seconds: number) {
  const hub = await startHubProcess();
  try {
    const ids = Array.from({ length: n }, (_, i) => `agent-${i}`);
    const tokens = await provisionTenant(hub, "load", [...ids, "probe"]);
    const rssBefore = hub.rssMB();
    // The agents run in threads of their own, as thousands of agents would run on many machines:
    // in one load process, its collector's pauses with thousands of streams (scavenges of 30 ms
    // and more at 5,000 agents) would be in every figure.
    const threads = Math.max(1, Math.ceil(n / AGENTS_PER_THREAD));
    log(`agents: connecting ${n} agents in ${threads} thread${threads > 1 ? "s" : ""}`);
    const workers = Array.from({ length: threads }, (_, w) => {
      const mine = ids.filter((_, i) => i % threads === w);
      return new Worker(new URL("./lib/load-agents.ts", import.meta.url), {
        workerData: { url: hub.url, agents: mine.map((id) => [id, tokens.get(id) ?? ""]) },
      });
    });
    const received = workers.map(() => 0);
    const finals: {
      latencies: number[];
      beatsOk: number;
      beatsFailed: number;
      beatLatency: number[];
    }[] = [];
    let finished!: () => void;
    const allFinished = new Promise<void>((r) => {
      finished = r;
    });
    await Promise.all(
      workers.map(
        (worker, w) =>
          new Promise<void>((resolve, reject) => {
            worker.on("error", reject);
            worker.on("message", (msg) => {
              if (msg.ready) resolve();
              if (typeof msg.received === "number") received[w] = msg.received;
              if (msg.done) {
                finals.push(msg);
                if (finals.length === workers.length) finished();
              }
            });
          }),
      ),
    );
    for (const worker of workers) worker.postMessage({ beat: true });
    await sleep(2000); // settle after connecting
    const rssConnected = hub.rssMB();
    log(`agents: ${n} connected; probing at 100 msg/s for ${seconds} s`);
    const probe = connection(hub.url);
    const probeToken = tokens.get("probe") ?? "";
    await probe.registry.register({ agentId: "probe", type: "load" }, auth(probeToken));
    // The first AGENTS_WARMUP_MS of probes warm the path and are not counted, as in the messaging
    // benchmark's latency phases: each thread keeps the latency of probes sent from `since` on.
    let since = Number.POSITIVE_INFINITY;
    let measured = 0;
    let sendErrors = 0;
    let loop: ReturnType<typeof watchLoop> | undefined;
    await openLoop(
      100,
      seconds + AGENTS_WARMUP_MS / 1000,
      () => {
        const to = ids[Math.floor(Math.random() * n)] as string;
        const payload = timedPayload();
        const counted = new DataView(payload.data.buffer).getFloat64(0) >= since;
        if (counted) {
          measured++;
          loop ??= watchLoop(hub);
        }
        probe.messaging
          .send(
            {
              target: { case: "recipientId", value: to },
              type: MessageType.EVENT,
              kind: "load.probe",
              payload,
            },
            auth(probeToken),
          )
          .catch(() => {
            if (counted) sendErrors++;
          });
      },
      (start) => {
        since = start + AGENTS_WARMUP_MS;
        for (const worker of workers) worker.postMessage({ measure: true, since });
      },
    );
    await waitUntil(() => received.reduce((x, y) => x + y, 0) >= measured - sendErrors, 10_000);
    const { loopMaxMs, loopP99Ms } = await (loop ?? watchLoop(hub)).stop();
    for (const worker of workers) worker.postMessage({ stop: true });
    await allFinished;
    const lat = percentiles(finals.flatMap((f) => f.latencies));
    const beatsOk = finals.reduce((x, f) => x + f.beatsOk, 0);
    const beatsFailed = finals.reduce((x, f) => x + f.beatsFailed, 0);
    return {
      [`agents_${n}_probe_p50_ms`]: lat.p50,
      [`agents_${n}_probe_p99_ms`]: lat.p99,
      [`agents_${n}_probes_lost`]: measured - sendErrors - lat.count,
      [`agents_${n}_loop_max_ms`]: loopMaxMs,
      [`agents_${n}_loop_p99_ms`]: loopP99Ms,
      [`agents_${n}_heartbeats_ok_ratio`]: beatsOk / Math.max(1, beatsOk + beatsFailed),
      [`agents_${n}_heartbeat_p99_ms`]: percentiles(finals.flatMap((f) => f.beatLatency)).p99,
      [`agents_${n}_rss_per_agent_kb`]: ((rssConnected - rssBefore) * 1024) / n,
      [`agents_${n}_hub_rss_mb`]: hub.rssMB(),
    };
  } finally {
    await hub.stop();
  }
}

// ---- fan-out ---------------------------------------------------------------------------------

/** Messages of the fan-out scenario published before its timed ones, to warm the path. */
const FANOUT_WARMUP_MS = 2000;

/** Threads the fan-out's subscribers are spread over (bench/lib/load-subscribers.ts). */
const SUBSCRIBER_THREADS = 2;

async function fanoutScenario(subscribers: number, rate: number, seconds: number) {
  const hub = await startHubProcess();
  try {
    const ids = Array.from({ length: subscribers }, (_, i) => `sub-${i}`);
    const tokens = await provisionTenant(hub, "load", [...ids, "pub"]);
    log(`fanout: ${subscribers} subscribers in ${SUBSCRIBER_THREADS} threads`);
    // The subscribers run in threads of their own, as a thousand subscribers would run on many
    // machines: one load process's loop would otherwise be what bounds the deliveries.
    const workers = Array.from({ length: SUBSCRIBER_THREADS }, (_, w) => {
      const mine = ids.filter((_, i) => i % SUBSCRIBER_THREADS === w);
      return new Worker(new URL("./lib/load-subscribers.ts", import.meta.url), {
        workerData: {
          url: hub.url,
          agents: mine.map((id) => [id, tokens.get(id) ?? ""]),
          pattern: "load.fan",
        },
      });
    });
    const counts = workers.map(() => 0);
    const finals: { latencies: number[]; duplicates: number; delivered: number }[] = [];
    const readies = workers.map(
      (worker, w) =>
        new Promise<void>((resolve, reject) => {
          worker.on("error", reject);
          worker.on("message", (msg) => {
            if (msg.ready) resolve();
            if (typeof msg.delivered === "number") counts[w] = msg.delivered;
            if (msg.done) finals.push(msg);
          });
        }),
    );
    await Promise.all(readies);
    const delivered = () => counts.reduce((x, y) => x + y, 0);
    const pub = connection(hub.url);
    const pubToken = tokens.get("pub") ?? "";
    await pub.registry.register({ agentId: "pub", type: "load" }, auth(pubToken));
    log(
      `fanout: publishing ${rate} msg/s for ${seconds} s (${rate * subscribers} deliveries/s offered)`,
    );
    const loop = watchLoop(hub);
    // The first FANOUT_WARMUP_MS of messages warm the path and are delivered but not timed, as
    // in the agents scenario and the messaging benchmark.
    const timeFrom = now() + FANOUT_WARMUP_MS;
    for (const worker of workers) worker.postMessage({ measure: true, timeFrom });
    const cpu0 = hub.cpuSeconds();
    const t0 = now();
    let sendErrors = 0;
    await openLoop(rate, seconds + FANOUT_WARMUP_MS / 1000, () => {
      pub.messaging
        .send(
          {
            target: { case: "topic", value: "load.fan" },
            type: MessageType.EVENT,
            kind: "load.fan",
            payload: timedPayload(),
          },
          auth(pubToken),
        )
        .catch(() => sendErrors++);
    });
    const expected = (rate * (seconds + FANOUT_WARMUP_MS / 1000) - sendErrors) * subscribers;
    await waitUntil(() => delivered() >= expected, 60_000);
    const elapsed = (now() - t0) / 1000;
    const hubCores = (hub.cpuSeconds() - cpu0) / elapsed;
    const { loopMaxMs } = await loop.stop();
    for (const worker of workers) worker.postMessage({ stop: true });
    await Promise.all(workers.map((worker) => once(worker, "exit")));
    const lat = percentiles(finals.flatMap((f) => f.latencies));
    const total = finals.reduce((x, f) => x + f.delivered, 0);
    const key = `fanout_${rate}`;
    return {
      [`${key}_deliveries_per_s`]: Math.round(total / elapsed),
      [`${key}_offered_deliveries_per_s`]: rate * subscribers,
      [`${key}_p50_ms`]: lat.p50,
      [`${key}_p99_ms`]: lat.p99,
      [`${key}_undelivered`]: expected - total,
      [`${key}_duplicates`]: finals.reduce((x, f) => x + f.duplicates, 0),
      [`${key}_loop_max_ms`]: loopMaxMs,
      [`${key}_hub_cores`]: hubCores,
      [`${key}_hub_rss_mb`]: hub.rssMB(),
    };
  } finally {
    await hub.stop();
  }
}

// ---- noisy neighbour -------------------------------------------------------------------------

async function noisyScenario(seconds: number) {
  const hub = await startHubProcess();
  try {
    const aProducers = Array.from({ length: 4 }, (_, i) => `a-prod-${i}`);
    const aConsumers = Array.from({ length: 8 }, (_, i) => `a-cons-${i}`);
    const aTokens = await provisionTenant(hub, "tenant-a", [...aProducers, ...aConsumers]);
    const bTokens = await provisionTenant(hub, "tenant-b", ["b-send", "b-recv"]);
    const receivers: Receiving[] = [];
    // Tenant B's clients run in a thread of their own (bench/lib/load-tenant.ts), as another
    // customer's clients would run in a process of their own: B's latency is then the hub's
    // treatment of B, not this process's event loop busy with A's flood.
    const b = new Worker(new URL("./lib/load-tenant.ts", import.meta.url), {
      workerData: {
        url: hub.url,
        senderToken: bTokens.get("b-send") ?? "",
        receiverToken: bTokens.get("b-recv") ?? "",
        rate: 100,
      },
    });
    const fromB = () =>
      new Promise<{ latencies?: number[]; ready?: boolean }>((resolve, reject) => {
        b.once("message", resolve);
        b.once("error", reject);
      });
    await fromB(); // ready: registered, and its Receive open
    const bSend = async (s: number) => {
      const answer = fromB();
      b.postMessage({ seconds: s });
      return (await answer).latencies ?? [];
    };
    const aConns = aConsumers.map(() => connection(hub.url));
    for (const [i, id] of aConsumers.entries()) {
      const conn = aConns[i] as Connection;
      const token = aTokens.get(id) ?? "";
      await conn.registry.register({ agentId: id, type: "load" }, auth(token));
      const r = receive(conn, token, () => {}, { batch: true, maxInFlight: 2000 });
      receivers.push(r);
      await r.ready;
    }
    log(`noisy: tenant B alone, 100 msg/s for ${seconds} s`);
    const quiet = percentiles(await bSend(seconds));
    log(`noisy: tenant A floods (4 producers, batches of 500) while B sends for ${seconds} s`);
    let flooding = true;
    let aAccepted = 0;
    let aRefused = 0;
    const aConnsProd = aProducers.map(() => connection(hub.url));
    for (const [i, id] of aProducers.entries())
      await (aConnsProd[i] as Connection).registry.register(
        { agentId: id, type: "load" },
        auth(aTokens.get(id) ?? ""),
      );
    const floods = aProducers.flatMap((id, p) =>
      [0, 1].map(async () => {
        const conn = aConnsProd[p] as Connection;
        let n = 0;
        while (flooding) {
          const requests = Array.from({ length: 500 }, () => ({
            target: { case: "recipientId" as const, value: aConsumers[n++ % 8] as string },
            type: MessageType.EVENT,
            kind: "load.a",
            payload: { contentType: "application/octet-stream", data: new Uint8Array(100) },
          }));
          try {
            const res = await conn.messaging.sendBatch({ requests }, auth(aTokens.get(id) ?? ""));
            for (const r of res.results) {
              if (r.error) aRefused++;
              else aAccepted++;
            }
          } catch (err) {
            aRefused += 500;
            if (ConnectError.from(err).code !== Code.ResourceExhausted) await sleep(10);
          }
        }
      }),
    );
    await sleep(1000); // the flood under way
    const t0 = now();
    const flood = percentiles(await bSend(seconds));
    const floodSeconds = (now() - t0) / 1000;
    flooding = false;
    await Promise.all(floods);
    b.postMessage({ stop: true });
    await once(b, "exit");
    for (const r of receivers) r.stop();
    return {
      noisy_b_quiet_p50_ms: quiet.p50,
      noisy_b_quiet_p99_ms: quiet.p99,
      noisy_b_flood_p50_ms: flood.p50,
      noisy_b_flood_p99_ms: flood.p99,
      noisy_b_p99_ratio: flood.p99 / quiet.p99,
      noisy_b_lost: 100 * seconds - flood.count,
      noisy_a_accepted_per_s: Math.round(aAccepted / (floodSeconds + 1)),
      noisy_a_refused: aRefused,
    };
  } finally {
    await hub.stop();
  }
}

// ---- slow consumer ---------------------------------------------------------------------------

async function slowScenario(total: number) {
  const hub = await startHubProcess();
  try {
    // The backlog limits of the FREE to PROFESSIONAL tiers, without their rate limits (the
    // sender sends as fast as the hub accepts).
    const tokens = await provisionTenant(hub, "load", ["sender", "slow"], {
      agentBacklogMessages: 10_000n,
      tenantBacklogMessages: 100_000n,
    });
    const conn = connection(hub.url);
    for (const id of ["sender", "slow"])
      await conn.registry.register({ agentId: id, type: "load" }, auth(tokens.get(id) ?? ""));
    const rssBefore = hub.rssMB();
    let accepted = 0;
    let refused = 0;
    let refusedCode = "";
    log(`slow: ${total} × 1 KiB to an agent that does not read`);
    for (let sent = 0; sent < total; sent += 500) {
      const requests = Array.from({ length: Math.min(500, total - sent) }, () => ({
        target: { case: "recipientId" as const, value: "slow" },
        type: MessageType.EVENT,
        kind: "load.slow",
        payload: { contentType: "application/octet-stream", data: new Uint8Array(1024) },
      }));
      try {
        const res = await conn.messaging.sendBatch({ requests }, auth(tokens.get("sender") ?? ""));
        for (const r of res.results) {
          if (r.error) {
            refused++;
            refusedCode ||= Code[r.error.code] ?? String(r.error.code);
          } else accepted++;
        }
      } catch (err) {
        refused += requests.length;
        refusedCode ||= Code[ConnectError.from(err).code];
      }
    }
    const rssBacklog = hub.rssMB();
    log(`slow: ${accepted} accepted, ${refused} refused; now reading and acking them all`);
    let got = 0;
    const r = receive(conn, tokens.get("slow") ?? "", () => got++, {
      batch: true,
      maxInFlight: 1000,
    });
    await r.ready;
    await waitUntil(() => got >= accepted, 300_000);
    await sleep(2000); // acks settle
    const rssAfterAcks = hub.rssMB();
    r.stop();
    return {
      slow_sent: total,
      slow_accepted: accepted,
      slow_refused: refused,
      slow_refused_code: refusedCode || "none",
      slow_rss_growth_mb: rssBacklog - rssBefore,
      slow_rss_after_acks_growth_mb: rssAfterAcks - rssBefore,
      slow_delivered_after: got,
    };
  } finally {
    await hub.stop();
  }
}

// ---- abandoned connections -------------------------------------------------------------------

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

async function abandonedScenario(count: number) {
  const hub = await startHubProcess();
  try {
    const { port } = new URL(hub.url);
    const fdsBefore = openFds(hub.pid);
    const closedAfter: number[] = [];
    const t0 = now();
    const kinds = ["partial-headers", "partial-body", "h2-unfinished-stream"] as const;
    log(`abandoned: ${count} connections left mid-request`);
    const all: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const kind = kinds[i % 3];
      if (kind === "h2-unfinished-stream") {
        const session = http2.connect(hub.url);
        session.on("error", () => {});
        const stream = session.request(
          {
            ":method": "POST",
            ":path": "/acb.v1.ServerInfoService/GetServerInfo",
            "content-type": "application/proto",
          },
          { endStream: false },
        );
        stream.on("error", () => {});
        all.push(
          new Promise((resolve) =>
            stream.once("close", () => {
              closedAfter.push((now() - t0) / 1000);
              session.destroy();
              resolve();
            }),
          ),
        );
      } else {
        const socket = netConnect(Number(port), "127.0.0.1");
        socket.on("error", () => {});
        socket.once("connect", () => {
          socket.write(
            kind === "partial-headers"
              ? "POST /acb.v1.ServerInfoService/GetServerInfo HTTP/1.1\r\nHost: x\r\n"
              : "POST /acb.v1.ServerInfoService/GetServerInfo HTTP/1.1\r\nHost: x\r\n" +
                  "Content-Type: application/proto\r\nContent-Length: 100\r\n\r\n0123",
          );
        });
        all.push(
          new Promise((resolve) =>
            socket.once("close", () => {
              closedAfter.push((now() - t0) / 1000);
              resolve();
            }),
          ),
        );
      }
    }
    await sleep(1000);
    const fdsHeld = openFds(hub.pid);
    await Promise.race([Promise.all(all), sleep(35_000)]);
    const closedIn35 = closedAfter.length;
    return {
      abandoned_connections: count,
      abandoned_closed_within_35s: closedIn35,
      abandoned_last_closed_s: closedAfter.length ? Math.max(...closedAfter) : Number.NaN,
      abandoned_hub_fds_held: fdsHeld - fdsBefore,
      abandoned_hub_fds_after: openFds(hub.pid) - fdsBefore,
    };
  } finally {
    await hub.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------

const SCENARIOS = ["agents", "fanout", "noisy", "slow", "abandoned"] as const;

export default async function main(args: string[]): Promise<void> {
  const { quick, json } = flags(args);
  const chosen = args
    .flatMap((a, i) => (a === "--scenario" ? [args[i + 1] ?? ""] : []))
    .filter(Boolean);
  for (const s of chosen) {
    if (!(SCENARIOS as readonly string[]).includes(s))
      throw new Error(`unknown scenario "${s}": one of ${SCENARIOS.join(", ")}`);
  }
  const run = (s: (typeof SCENARIOS)[number]) => chosen.length === 0 || chosen.includes(s);
  const results: Record<string, number | string> = {};
  const seconds = quick ? 8 : 20;

  if (run("agents"))
    for (const n of quick ? [1_000] : [1_000, 5_000, 10_000])
      Object.assign(results, await agentsScenario(n, seconds));
  if (run("fanout"))
    for (const rate of quick ? [10] : [10, 50])
      Object.assign(results, await fanoutScenario(1_000, rate, quick ? 5 : 10));
  if (run("noisy")) Object.assign(results, await noisyScenario(seconds));
  if (run("slow")) Object.assign(results, await slowScenario(quick ? 20_000 : 200_000));
  if (run("abandoned")) Object.assign(results, await abandonedScenario(quick ? 300 : 1_000));

  printTable(
    "ACB under load (embedded backend, hub in its own process, clients on the same machine)",
    Object.entries(results),
  );
  if (json) process.stdout.write(`${JSON.stringify({ ...results, quick })}\n`);
  process.exit(0);
}
