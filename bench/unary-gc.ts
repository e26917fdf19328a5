// What the hub's unary calls leave to its collector (`npm run bench -- unary-gc [--rate N]
// [--seconds S] [--runs N] [--json]`): a hub in its own process, traced with --trace-gc-nvp,
// answers Heartbeat calls from 50 agents over 5 HTTP/2 connections at a fixed offered rate
// (default 1,000 calls/s, 12 s after a 2 s warm-up; 6 s with --quick). It reports the bytes the
// hub allocated per call, the bytes its young-generation collections (scavenges) promoted to the
// old generation per call, and their pauses. Allocation sets how often the scavenges come. A
// call's objects should die young: bytes promoted per call are objects that outlived it, which
// make each scavenge longer (the connected-agents tail in docs/messaging.md) and bring full
// collections sooner. With --runs N each figure is the median of N runs, a fresh hub each.

import { auth, connection } from "./lib/clients.ts";
import { provision, startHubProcess } from "./lib/hub-process.ts";
import { flags, log, numberFlag, percentiles, printTable } from "./lib/report.ts";

const AGENTS = 50;
const CONNECTIONS = 5;
const WARM_UP_MS = 2000;

interface Scavenge {
  /** When it ended, in this process's clock. */
  at: number;
  pauseMs: number;
  promoted: number;
  /** Bytes allocated since the collection before it. */
  allocated: number;
  /** Calls answered when its line arrived. */
  answered: number;
}

/** Parses one --trace-gc-nvp line of a scavenge ("gc=s"); anything else gives undefined. */
function parseScavenge(line: string, at: number, answered: number): Scavenge | undefined {
  if (!line.includes(" gc=s ")) return undefined;
  const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1]);
  const pauseMs = field("pause");
  const promoted = field("promoted");
  const allocated = field("allocated");
  if (!Number.isFinite(pauseMs) || !Number.isFinite(promoted)) return undefined;
  return { at, pauseMs, promoted, allocated: Number.isFinite(allocated) ? allocated : 0, answered };
}

async function run(rate: number, seconds: number) {
  const scavenges: Scavenge[] = [];
  let ok = 0;
  const hub = await startHubProcess([], {
    nodeArgs: ["--trace-gc-nvp"],
    onLine: (line) => {
      const s = parseScavenge(line, performance.now(), ok);
      if (s) scavenges.push(s);
    },
  });
  try {
    const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
    const issued = await provision(hub, ids);
    const tokens = ids.map((id) => issued.get(id) ?? "");
    const conns = Array.from({ length: CONNECTIONS }, () => connection(hub.url));
    for (const [i, agentId] of ids.entries())
      await conns[i % CONNECTIONS]?.registry.register(
        { agentId, type: "gc" },
        auth(tokens[i] ?? ""),
      );

    let next = 0;
    let failed = 0;
    let firstError = "";
    const beat = () => {
      const i = next++ % AGENTS;
      conns[i % CONNECTIONS]?.registry
        .heartbeat({ agentId: ids[i] ?? "" }, auth(tokens[i] ?? ""))
        .then(
          () => ok++,
          (err: unknown) => {
            failed++;
            firstError ||= String(err);
          },
        );
    };
    // Open loop in 10 ms ticks: the offered rate does not depend on how fast the hub answers.
    const start = performance.now();
    const measureFrom = start + WARM_UP_MS;
    const end = measureFrom + seconds * 1000;
    let okAtStart = 0;
    let cpuAtStart = 0;
    let sent = 0;
    await new Promise<void>((done) => {
      let measuring = false;
      const tick = setInterval(() => {
        const now = performance.now();
        if (!measuring && now >= measureFrom) {
          measuring = true;
          okAtStart = ok;
          cpuAtStart = hub.cpuSeconds();
        }
        if (now >= end) {
          clearInterval(tick);
          done();
          return;
        }
        const due = Math.floor(((now - start) * rate) / 1000);
        while (sent < due) {
          beat();
          sent++;
        }
      }, 10);
    });
    const calls = ok - okAtStart;
    const cpu = hub.cpuSeconds() - cpuAtStart;
    const inWindow = scavenges.filter((s) => s.at >= measureFrom && s.at <= end);
    const promoted = inWindow.reduce((sum, s) => sum + s.promoted, 0);
    // Each scavenge reports what was allocated since the collection before it: from the window's
    // first scavenge to its last, that is the later ones' sum over the calls answered between.
    const [first, ...later] = inWindow;
    const last = later.at(-1);
    const allocated = later.reduce((sum, s) => sum + s.allocated, 0);
    const allocatedPerCall =
      first && last && last.answered > first.answered
        ? allocated / (last.answered - first.answered)
        : Number.NaN;
    const pauses = percentiles(inWindow.map((s) => s.pauseMs));
    if (failed > 0) log(`unary-gc: ${failed} heartbeats failed, the first: ${firstError}`);
    return {
      calls,
      failed,
      promotedBytesPerCall: calls > 0 ? promoted / calls : Number.NaN,
      allocatedBytesPerCall: allocatedPerCall,
      promotedMBPerScavenge: inWindow.length > 0 ? promoted / inWindow.length / 1e6 : Number.NaN,
      scavenges: inWindow.length,
      pauseP50Ms: pauses.p50,
      pauseMaxMs: pauses.max,
      hubUsPerCall: calls > 0 ? (cpu * 1e6) / calls : Number.NaN,
    };
  } finally {
    await hub.stop();
  }
}

const median = (xs: number[]) => percentiles(xs).p50;

export default async function main(args: string[]): Promise<void> {
  const { quick, json } = flags(args);
  const rate = numberFlag(args, "--rate", 1000);
  const seconds = numberFlag(args, "--seconds", quick ? 6 : 12);
  const runs = numberFlag(args, "--runs", 1);
  const results: Awaited<ReturnType<typeof run>>[] = [];
  for (let r = 1; r <= runs; r++) {
    log(`unary-gc: run ${r} of ${runs}, ${rate} heartbeats/s for ${seconds} s`);
    results.push(await run(rate, seconds));
  }
  const pick = (k: keyof Awaited<ReturnType<typeof run>>) => median(results.map((x) => x[k]));
  const report = {
    rate,
    seconds,
    runs,
    calls: pick("calls"),
    failed: results.reduce((sum, x) => sum + x.failed, 0),
    promoted_bytes_per_call: pick("promotedBytesPerCall"),
    allocated_bytes_per_call: pick("allocatedBytesPerCall"),
    promoted_mb_per_scavenge: pick("promotedMBPerScavenge"),
    scavenges: pick("scavenges"),
    scavenge_pause_p50_ms: pick("pauseP50Ms"),
    scavenge_pause_max_ms: pick("pauseMaxMs"),
    hub_us_per_call: pick("hubUsPerCall"),
  };
  printTable(`Heartbeat calls and the hub's collector (medians of ${runs})`, [
    ["calls answered in the window", report.calls],
    ["calls failed (all runs)", report.failed],
    ["bytes promoted per call", report.promoted_bytes_per_call],
    ["bytes allocated per call", report.allocated_bytes_per_call],
    ["MB promoted per scavenge", report.promoted_mb_per_scavenge],
    ["scavenges in the window", report.scavenges],
    ["scavenge pause p50 ms", report.scavenge_pause_p50_ms],
    ["scavenge pause max ms", report.scavenge_pause_max_ms],
    ["hub CPU µs per call", report.hub_us_per_call],
  ]);
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
}
