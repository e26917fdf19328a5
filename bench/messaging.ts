// The messaging benchmark (`npm run bench -- messaging [--quick] [--json] [--backend B]
// [--rate N] [--nodes N] [--no-agents] [--no-browser] [--browser-rate N]`; with --nodes, N hub
// processes of one production-preset hub, clients spread over them).
//
// In one run, against a hub in its own process (embedded backend):
//   1. send→deliver latency of 100-byte messages at a fixed offered rate (1,000 msg/s) across 50
//      agents (open loop: messages go out on a schedule whatever the answers; latency runs from the
//      send call to the receiving handler, both in this process);
//   2. the highest sustained delivered rate with batched sends (closed-loop producers, receivers
//      acking as they go);
//   3. with the memory backend, connected agents (the load benchmark's agents scenario): probe
//      latency to random agents with 1,000 (and, in a full run, 5,000) agents connected, each with
//      heartbeats and an open Receive, and the hub's memory per agent (--no-agents skips it);
// and, side by side, the same measurements against NATS (nats-server from Debian, `nats` client):
// core pub→sub latency at the same offered rate, and JetStream publish-with-ack throughput. The
// NATS server on 127.0.0.1:4222 is used when one answers; otherwise the run starts its own from
// /usr/bin or /usr/sbin/nats-server, or reports NATS as unavailable (`nats_unavailable`).
// `hub_us_per_msg` is the hub's CPU time (from /proc) per delivered message with batched sends.
// Beside NATS, the floor of the transport itself: the same open loop through a relay in plain
// node:http2 (bench/lib/http2-relay-server.ts, its own process, cleartext as `acb-hub dev`),
// with the frames a message costs through the hub (the send on a long-lived request stream, its
// answer, the delivery on the recipient's long-lived response stream, the recipient's ack and its
// answer) and nothing else: no protocol library, validation, auth or storage (`http2_floor_*` in
// the JSON; skipped with --only-acb, like NATS).
// Then, from headless Chromium, the send→deliver latency of the SDK's web entry point
// (bench/lib/browser-messaging.ts: 10 agents in one page, 50 msg/s, 25 with --quick, or
// --browser-rate N; report only, `browser_*` in the JSON); --no-browser skips it, and without
// Chromium its figures are left empty.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type AcbClient, createClient } from "@acb/sdk/node";
import { Code } from "@connectrpc/connect";
import { connect, type NatsConnection, RetentionPolicy, StorageType } from "nats";
import {
  backendArgs,
  benchBackend,
  benchNodes,
  type HubNodes,
  startHubNodes,
} from "./lib/backends.ts";
import { type BrowserLatency, browserLatency } from "./lib/browser-messaging.ts";
import { killOnExit, provision } from "./lib/hub-process.ts";
import { flags, log, percentiles, printTable } from "./lib/report.ts";
import { agentsScenario } from "./load.ts";

const now = () => performance.timeOrigin + performance.now();
const PAYLOAD_BYTES = 100;
/** The latency phases' first seconds of sending, not measured. */
const WARMUP_MS = 2000;

/** A 100-byte JSON payload carrying its scheduled send time. */
function payload(t: number): { t: number; pad: string } {
  const base = JSON.stringify({ t, pad: "" }).length;
  return { t, pad: "x".repeat(Math.max(0, PAYLOAD_BYTES - base)) };
}

/**
 * Schedules `total` sends at `rate` per second, whatever the answers; `send(i)` must not block.
 * `onStart` is told when the first send is due (the warm-up counts from there, not from set-up).
 */
async function openLoop(
  rate: number,
  total: number,
  send: (i: number) => void,
  onStart?: (start: number) => void,
): Promise<void> {
  const start = now() + 50;
  onStart?.(start);
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000));
      while (sent < due) {
        send(sent);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 50);
  });
}

function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      if (cond()) resolve(true);
      else if (Date.now() > deadline) resolve(false);
      else setTimeout(check, 5);
    };
    check();
  });
}

/**
 * CPU seconds (user + system) of the PostgreSQL server's processes so far, from /proc: the
 * server the benchmark uses when it runs on this machine (0 when none does).
 */
function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") continue;
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / 100;
}

async function acbLatency(hub: HubNodes, seconds: number, rate: number) {
  const ids = Array.from({ length: 50 }, (_, i) => `lat-${i}`);
  const tokens = await provision(hub, ids);
  const clients: AcbClient[] = [];
  const samples: number[] = [];
  let warmupUntil = Number.POSITIVE_INFINITY;
  let received = 0;
  for (const [i, id] of ids.entries()) {
    const c = createClient({ baseUrl: hub.urlsFrom(i), token: tokens.get(id) ?? "" });
    await c.register({ id, type: "bench" });
    c.handle<{ t: number }>("lat", (m) => {
      received++;
      const t = now();
      if (m.value.t >= warmupUntil) samples.push(t - m.value.t);
    });
    await c.receive({ maxInFlight: 1000 }).ready;
    clients.push(c);
  }
  const total = rate * seconds;
  let errors = 0;
  const hubCpu0 = hub.cpuSeconds();
  const pgCpu0 = postgresCpuSeconds();
  const tx0 = await hub.sqlTransactions();
  const ownCpu0 = process.cpuUsage();
  // Whether a stall was an event loop's (the hub's or the clients') or a wait for something else.
  await hub.loopDelayMaxMs(); // starts the hub's interval here
  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  await openLoop(
    rate,
    total,
    (i) => {
      const from = i % ids.length;
      // Any agent but the sender, spread over all of them.
      const to = ids[(from + 1 + ((i * 7) % (ids.length - 1))) % ids.length] ?? "lat-0";
      clients[from]?.sendTo(to, "lat", payload(now())).catch(() => errors++);
    },
    (start) => {
      warmupUntil = start + WARMUP_MS;
    },
  );
  await waitFor(() => received >= total - errors, 10_000);
  clientLoop.disable();
  const hubLoopMaxMs = await hub.loopDelayMaxMs();
  const clientLoopMaxMs = clientLoop.max / 1e6;
  // What one message cost the hub, whatever else loads the machine: CPU, and SQL transactions
  // (sends, deliveries, acks and the streams' polls, all counted).
  const hubCpuMsPerMessage = ((hub.cpuSeconds() - hubCpu0) * 1000) / Math.max(1, received);
  // And the clients' (the SDK's send, receive and ack of each message, in this process).
  const ownCpu = process.cpuUsage(ownCpu0);
  const clientCpuMsPerMessage = (ownCpu.user + ownCpu.system) / 1000 / Math.max(1, received);
  // And what it cost a PostgreSQL server on this machine (every process of it, background work too).
  const postgresCpuMsPerMessage = ((postgresCpuSeconds() - pgCpu0) * 1000) / Math.max(1, received);
  const sqlTxPerMessage = ((await hub.sqlTransactions()) - tx0) / Math.max(1, received);
  return {
    ...percentiles(samples),
    sent: total,
    received,
    errors,
    hubCpuMsPerMessage,
    clientCpuMsPerMessage,
    postgresCpuMsPerMessage,
    sqlTxPerMessage,
    hubLoopMaxMs,
    clientLoopMaxMs,
  };
}

/**
 * The send→deliver latency of the same open loop through a plain node:http2 relay in its own
 * process: 50 clients, each on its own HTTP/2 connection with one long-lived stream to send on
 * and one to receive on; each message a 5-byte envelope, a 2-byte recipient and the JSON payload.
 * The frames are those of a message through the hub: the send, its answer, the delivery, the
 * receiver's ack (at once, as a small envelope on its send stream) and the ack's answer.
 */
async function http2FloorLatency(seconds: number, rate: number) {
  const ACK = Buffer.from([0, 0, 0, 0, 2, 0xff, 0xff]);
  const relay = spawn(
    process.execPath,
    [new URL("./lib/http2-relay-server.ts", import.meta.url).pathname],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  killOnExit(relay);
  const url = await new Promise<string>((resolve, reject) => {
    relay.once("exit", (code) => reject(new Error(`the HTTP/2 relay exited (${code})`)));
    relay.stdout?.once("data", (line: Buffer) => resolve(JSON.parse(String(line)).url));
  });
  const samples: number[] = [];
  let warmupUntil = Number.POSITIVE_INFINITY;
  let received = 0;
  const sessions: http2.ClientHttp2Session[] = [];
  const senders: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < 50; i++) {
    const session = http2.connect(url);
    sessions.push(session);
    const recv = session.request(
      { ":method": "POST", ":path": `/recv/${i}` },
      { endStream: false },
    );
    let pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    recv.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const size = pending.readUInt32BE(1);
        if (pending.length < 5 + size) break;
        const body = pending.subarray(7, 5 + size);
        pending = pending.subarray(5 + size);
        received++;
        const t = now();
        const sent = (JSON.parse(body.toString("utf8")) as { t: number }).t;
        if (sent >= warmupUntil) samples.push(t - sent);
        senders[i]?.write(ACK);
      }
    });
    await new Promise((resolve) => recv.once("response", resolve));
    const send = session.request({ ":method": "POST", ":path": "/send" }, { endStream: false });
    await new Promise((resolve) => send.once("response", resolve));
    send.resume(); // the relay's answers, read and dropped
    senders.push(send);
  }
  const total = rate * seconds;
  await openLoop(
    rate,
    total,
    (i) => {
      const from = i % senders.length;
      const to = (from + 1 + ((i * 7) % (senders.length - 1))) % senders.length;
      const json = Buffer.from(JSON.stringify(payload(now())));
      const envelope = Buffer.allocUnsafe(7 + json.length);
      envelope[0] = 0;
      envelope.writeUInt32BE(2 + json.length, 1);
      envelope.writeUInt16BE(to, 5);
      json.copy(envelope, 7);
      senders[from]?.write(envelope);
    },
    (start) => {
      warmupUntil = start + WARMUP_MS;
    },
  );
  await waitFor(() => received >= total, 10_000);
  for (const s of sessions) s.destroy();
  relay.kill();
  return { ...percentiles(samples), received };
}

async function acbThroughput(hub: HubNodes, seconds: number) {
  const producers = Array.from({ length: 4 }, (_, i) => `prod-${i}`);
  const consumers = Array.from({ length: 8 }, (_, i) => `cons-${i}`);
  const tokens = await provision(
    hub,
    [...producers, ...consumers].map((x) => x),
  );
  let delivered = 0;
  const receivers = [];
  const consumerClients: AcbClient[] = [];
  for (const [i, id] of consumers.entries()) {
    const c = createClient({ baseUrl: hub.urlsFrom(i), token: tokens.get(id) ?? "" });
    await c.register({ id, type: "bench" });
    c.handle("tp", () => {
      delivered++;
    });
    const r = c.receive({ maxInFlight: 2000 });
    await r.ready;
    receivers.push(r);
    consumerClients.push(c);
  }
  const producerClients: AcbClient[] = [];
  for (const [i, id] of producers.entries()) {
    const c = createClient({ baseUrl: hub.urlsFrom(i), token: tokens.get(id) ?? "" });
    await c.register({ id, type: "bench" });
    producerClients.push(c);
  }
  const BATCH = 500;
  const IN_FLIGHT = 2;
  let stop = false;
  let accepted = 0;
  let refusedBatches = 0;
  const refusals = new Map<string, number>(); // why batches were refused, and how often
  const body = payload(0);
  const loops = producerClients.flatMap((c, p) =>
    Array.from({ length: IN_FLIGHT }, async () => {
      let k = 0;
      while (!stop) {
        const items = Array.from({ length: BATCH }, (_, j) => ({
          to: { recipientId: consumers[(p + k + j) % consumers.length] ?? "cons-0" },
          kind: "tp",
          value: body,
        }));
        k++;
        let results: unknown[];
        try {
          results = await c.sendBatch(items);
        } catch (err) {
          // A hub that cannot reach a store now (UNAVAILABLE) or refuses for quota is asked
          // again a moment later, as a client would; anything else ends the run.
          const code = (err as { code?: unknown }).code;
          if (code !== Code.Unavailable && code !== Code.ResourceExhausted) throw err;
          refusedBatches++;
          const why = (err as Error).message;
          refusals.set(why, (refusals.get(why) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        accepted += results.length;
        // Keep the hub's backlog bounded: producers wait while receivers lag far behind.
        while (!stop && accepted - delivered > 40_000) await new Promise((r) => setTimeout(r, 2));
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const d0 = delivered;
  const t0 = now();
  const hubCpu0 = hub.cpuSeconds();
  const ownCpu0 = process.cpuUsage();
  const tx0 = await hub.sqlTransactions();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (now() - t0) / 1000;
  const rate = (delivered - d0) / elapsed;
  if (refusedBatches > 0) {
    log(`throughput: ${refusedBatches} batches refused and sent again:`);
    for (const [why, n] of refusals) log(`  ${n} × ${why}`);
  }
  const sqlTxPerMessage = ((await hub.sqlTransactions()) - tx0) / Math.max(1, delivered - d0);
  // How busy each process was: on two cores, hub + clients near 2.0 means the machine is the limit.
  const ownCpu = process.cpuUsage(ownCpu0);
  const hubCores = (hub.cpuSeconds() - hubCpu0) / elapsed;
  const clientCores = (ownCpu.user + ownCpu.system) / 1e6 / elapsed;
  stop = true;
  await Promise.all(loops);
  await waitFor(() => delivered >= accepted, 20_000);
  for (const r of receivers) await r.close();
  const hubCpuMsPerMessage = (hubCores * elapsed * 1000) / Math.max(1, delivered - d0);
  return {
    rate,
    accepted,
    delivered,
    hubCores,
    clientCores,
    hubCpuMsPerMessage,
    sqlTxPerMessage,
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const NATS_BINARIES = ["/usr/bin/nats-server", "/usr/sbin/nats-server"];

/**
 * The NATS server to compare with: the one on 127.0.0.1:4222 if it answers, else one this run
 * starts (Debian's nats-server, JetStream on, a temporary store directory, a free port) and stops
 * at exit; undefined with the reason when neither is possible.
 */
async function natsServer(): Promise<{ url: string; stop(): void } | { unavailable: string }> {
  if (await listening(4222)) return { url: "127.0.0.1:4222", stop() {} };
  const bin = NATS_BINARIES.find((b) => existsSync(b));
  if (!bin) {
    return {
      unavailable: `nothing listens on 127.0.0.1:4222 and no nats-server at ${NATS_BINARIES.join(" or ")} (Debian package nats-server)`,
    };
  }
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), "acb-bench-nats-"));
  const child: ChildProcess = spawn(
    bin,
    ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store],
    {
      stdio: "ignore",
    },
  );
  const stop = () => {
    child.kill("SIGKILL");
    rmSync(store, { recursive: true, force: true });
  };
  process.once("exit", stop);
  for (let i = 0; i < 100; i++) {
    if (await listening(port)) {
      log(`NATS: started ${bin} on 127.0.0.1:${port}`);
      return { url: `127.0.0.1:${port}`, stop };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  stop();
  return { unavailable: `${bin} did not start listening on 127.0.0.1:${port}` };
}

async function natsLatency(servers: string, seconds: number, rate: number) {
  const conns: NatsConnection[] = [];
  const samples: number[] = [];
  let warmupUntil = Number.POSITIVE_INFINITY;
  let received = 0;
  for (let i = 0; i < 50; i++) {
    const nc = await connect({ servers });
    nc.subscribe(`bench.lat.${i}`, {
      callback: (_err, msg) => {
        received++;
        const t = now();
        const sent = (JSON.parse(new TextDecoder().decode(msg.data)) as { t: number }).t;
        if (sent >= warmupUntil) samples.push(t - sent);
      },
    });
    await nc.flush();
    conns.push(nc);
  }
  const total = rate * seconds;
  const enc = new TextEncoder();
  await openLoop(
    rate,
    total,
    (i) => {
      const from = conns[i % conns.length];
      from?.publish(
        `bench.lat.${(i + 1) % conns.length}`,
        enc.encode(JSON.stringify(payload(now()))),
      );
    },
    (start) => {
      warmupUntil = start + WARMUP_MS;
    },
  );
  await waitFor(() => received >= total, 10_000);
  for (const nc of conns) await nc.close();
  return { ...percentiles(samples), received };
}

async function jetStreamThroughput(servers: string, seconds: number) {
  const nc = await connect({ servers });
  const jsm = await nc.jetstreamManager();
  const name = `ACBBENCH${process.pid}`;
  await jsm.streams.add({
    name,
    subjects: [`acbbench${process.pid}.>`],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    max_msgs: 2_000_000,
  });
  const js = nc.jetstream();
  const data = new TextEncoder().encode(JSON.stringify(payload(0)));
  let acked = 0;
  let stop = false;
  const IN_FLIGHT = 256;
  const workers = Array.from({ length: IN_FLIGHT }, async (_, w) => {
    while (!stop) {
      await js.publish(`acbbench${process.pid}.s${w % 8}`, data);
      acked++;
    }
  });
  await new Promise((r) => setTimeout(r, 1000));
  const a0 = acked;
  const t0 = now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = ((acked - a0) * 1000) / (now() - t0);
  stop = true;
  await Promise.all(workers);
  await jsm.streams.delete(name);
  await nc.close();
  return { rate };
}

export default async function main(args: string[]): Promise<void> {
  const { quick, json } = flags(args);
  // --only-acb skips the NATS reference (for profiling the hub alone).
  const onlyAcb = args.includes("--only-acb");
  const latencySeconds = quick ? 8 : 30;
  const throughputSeconds = quick ? 5 : 15;
  // --backend memory|pglite|postgres: where the hub keeps its state (a fresh store per run).
  const backend = benchBackend(args);
  // --rate N: the offered rate of the latency measurement (default 1,000 msg/s).
  const rateAt = args.indexOf("--rate");
  const rate = rateAt === -1 ? 1000 : Number(args[rateAt + 1]);
  if (!Number.isInteger(rate) || rate <= 0) throw new Error("--rate must be a positive integer");
  // --browser-rate N: the offered rate of the browser phase. Each message costs Chromium
  // 13–17 ms of CPU on the 2-core development machine (the Send and Ack fetch calls, the stream's
  // chunk), so the default is modest and the figure is latency rather than a queue in Chromium.
  const browserRateAt = args.indexOf("--browser-rate");
  const browserRate = browserRateAt === -1 ? (quick ? 25 : 50) : Number(args[browserRateAt + 1]);
  if (!Number.isInteger(browserRate) || browserRate <= 0)
    throw new Error("--browser-rate must be a positive integer");
  // --nodes N (production only): N hub processes of one hub.
  const nodes = benchNodes(args, backend);

  log(`backend: ${backend}${nodes > 1 ? `, ${nodes} nodes` : ""}`);
  log(`latency: 50 agents, ${rate} msg/s offered, ${latencySeconds} s (first 2 s are warm-up)`);
  let store = await backendArgs(backend);
  let hub = await startHubNodes(store.args, nodes);
  const acb = await acbLatency(hub, latencySeconds, rate);
  await hub.stop();
  await store.dispose();

  log(`throughput: 4 producers → 8 receivers, batches of 500, ${throughputSeconds} s`);
  store = await backendArgs(backend);
  hub = await startHubNodes(store.args, nodes);
  const tp = await acbThroughput(hub, throughputSeconds);
  await hub.stop();
  await store.dispose();

  // Connected agents (the load benchmark's agents scenario): probe latency to random agents, each
  // with heartbeats and an open Receive, and the hub's memory per agent. --no-agents skips it.
  const agents: Record<string, number> = {};
  if (backend === "memory" && nodes === 1 && !args.includes("--no-agents")) {
    for (const n of quick ? [1_000] : [1_000, 5_000]) {
      log(`connected agents: ${n}`);
      const r = await agentsScenario(n, quick ? 8 : 20);
      agents[`agents_${n}_p99_ms`] = r[`agents_${n}_probe_p99_ms`] ?? Number.NaN;
      agents[`agents_${n}_p50_ms`] = r[`agents_${n}_probe_p50_ms`] ?? Number.NaN;
      agents.hub_rss_per_agent_kb = r[`agents_${n}_rss_per_agent_kb`] ?? Number.NaN;
    }
  }

  // The same latency from the web entry point in headless Chromium (report only).
  const browserAgents = 10;
  let browser: BrowserLatency = { unavailable: "skipped (--no-browser)" };
  if (!args.includes("--no-browser")) {
    log(
      `browser: ${browserAgents} web clients in headless Chromium, ${browserRate} msg/s offered, ${latencySeconds} s (first 2 s are warm-up)`,
    );
    store = await backendArgs(backend);
    hub = await startHubNodes(store.args, nodes);
    browser = await browserLatency(hub, browserAgents, browserRate, latencySeconds);
    await hub.stop();
    await store.dispose();
    if ("unavailable" in browser)
      log(`browser unavailable: ${browser.unavailable}; the browser figures are left empty`);
  }
  const web = "unavailable" in browser ? undefined : browser;

  const none = { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN };
  let nats = none;
  let js = { rate: Number.NaN };
  let natsUnavailable: string | undefined;
  let floor = none;
  if (!onlyAcb) {
    log("node:http2 relay (the transport's floor), same offered rate");
    floor = await http2FloorLatency(latencySeconds, rate);
    const server = await natsServer();
    if ("unavailable" in server) {
      natsUnavailable = server.unavailable;
      log(`NATS unavailable: ${natsUnavailable}; the NATS figures are left empty`);
    } else {
      log("NATS core pub→sub latency, same offered rate");
      nats = await natsLatency(server.url, latencySeconds, rate);
      log("JetStream publish-with-ack throughput (memory storage, 256 in flight)");
      js = await jetStreamThroughput(server.url, throughputSeconds);
      server.stop();
    }
  }

  const where = nodes > 1 ? `${nodes} hub processes` : "hub in its own process";
  printTable(`ACB (${backend} backend, ${where})`, [
    ["send→deliver p50 ms", acb.p50],
    ["send→deliver p99 ms", acb.p99],
    ["send→deliver p99.9 ms", acb.p999],
    ["send→deliver max ms", acb.max],
    ["messages measured", acb.count],
    ["send errors", acb.errors],
    ["  hub CPU ms per message", acb.hubCpuMsPerMessage],
    ["  clients' CPU ms per message (SDK)", acb.clientCpuMsPerMessage],
    ["  SQL transactions per message", acb.sqlTxPerMessage],
    ["  PostgreSQL CPU ms per message", acb.postgresCpuMsPerMessage],
    ["  hub event loop: longest delay ms", acb.hubLoopMaxMs],
    ["  clients' event loop: longest delay ms", acb.clientLoopMaxMs],
    ["delivered msg/s (batched sends)", Math.round(tp.rate)],
    ["  hub CPU (cores) while at it", tp.hubCores],
    ["  clients CPU (cores) while at it", tp.clientCores],
    ["  hub CPU µs per delivered message", tp.hubCpuMsPerMessage * 1000],
    ["  SQL transactions per message", tp.sqlTxPerMessage],
    ...Object.entries(agents).map(([k, v]): [string, number] => [k.replaceAll("_", " "), v]),
    [
      `browser send→deliver p50 ms (${web ? `${browserRate} msg/s` : "not run"})`,
      web?.p50 ?? Number.NaN,
    ],
    ["browser send→deliver p99 ms", web?.p99 ?? Number.NaN],
    ["browser send→deliver p99.9 ms", web?.p999 ?? Number.NaN],
    ["  browser messages measured", web?.count ?? Number.NaN],
    ["  browser send errors", web?.errors ?? Number.NaN],
    ["  Chromium CPU (cores) while at it", web?.chromiumCores ?? Number.NaN],
  ]);
  printTable(natsUnavailable ? `NATS (unavailable: ${natsUnavailable})` : "NATS (reference)", [
    ["core pub→sub p50 ms", nats.p50],
    ["core pub→sub p99 ms", nats.p99],
    ["core pub→sub p99.9 ms", nats.p999],
    ["JetStream publish+ack msg/s", Math.round(js.rate)],
  ]);
  printTable("node:http2 relay (the transport's floor)", [
    ["send→deliver p50 ms", floor.p50],
    ["send→deliver p99 ms", floor.p99],
    ["send→deliver p99.9 ms", floor.p999],
  ]);
  printTable("Ratios (ACB / NATS)", [
    ["p50 latency", acb.p50 / nats.p50],
    ["p99 latency", acb.p99 / nats.p99],
    ["throughput vs JetStream", tp.rate / js.rate],
  ]);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        p50_ms: acb.p50,
        p99_ms: acb.p99,
        p999_ms: acb.p999,
        max_ms: acb.max,
        latency_samples: acb.count,
        send_errors: acb.errors,
        throughput_msgs_per_s: Math.round(tp.rate),
        throughput_hub_cpu_cores: tp.hubCores,
        throughput_client_cpu_cores: tp.clientCores,
        latency_hub_cpu_ms_per_message: acb.hubCpuMsPerMessage,
        latency_client_cpu_ms_per_message: acb.clientCpuMsPerMessage,
        latency_sql_transactions_per_message: acb.sqlTxPerMessage,
        latency_hub_loop_max_ms: acb.hubLoopMaxMs,
        latency_client_loop_max_ms: acb.clientLoopMaxMs,
        latency_postgres_cpu_ms_per_message: acb.postgresCpuMsPerMessage,
        throughput_hub_cpu_ms_per_message: tp.hubCpuMsPerMessage,
        // Hub CPU time per delivered message in the throughput phase (batched sends), in µs.
        hub_us_per_msg: tp.hubCpuMsPerMessage * 1000,
        ...agents,
        throughput_sql_transactions_per_message: tp.sqlTxPerMessage,
        browser_p50_ms: web?.p50 ?? null,
        browser_p99_ms: web?.p99 ?? null,
        browser_p999_ms: web?.p999 ?? null,
        browser_rate: web ? browserRate : null,
        browser_chromium_cpu_cores: web?.chromiumCores ?? null,
        ...("unavailable" in browser && { browser_unavailable: browser.unavailable }),
        nats_p50_ms: nats.p50,
        nats_p99_ms: nats.p99,
        nats_p999_ms: nats.p999,
        jetstream_throughput_msgs_per_s: Math.round(js.rate),
        http2_floor_p50_ms: floor.p50,
        http2_floor_p99_ms: floor.p99,
        http2_floor_p999_ms: floor.p999,
        ...(natsUnavailable !== undefined && { nats_unavailable: natsUnavailable }),
        backend,
        rate,
        nodes,
        quick,
      })}\n`,
    );
  }
  process.exit(0);
}
