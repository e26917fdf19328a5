// Starts `acb-hub dev` in its own process, as a deployment would run it, so client and hub do not
// share a CPU's event loop; reads the URL and admin token from its first stdout line.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearer } from "./clients.ts";

export interface HubProcess {
  url: string;
  adminToken: string;
  pid: number;
  /** Current resident set size of the hub process, in MiB (from /proc). */
  rssMB(): number;
  /** Peak resident set size so far, in MiB (VmHWM). */
  peakRssMB(): number;
  /** CPU time the hub process has used so far (user + system), in seconds. */
  cpuSeconds(): number;
  /** CPU time the hub's main thread (its event loop) has used so far, in seconds. */
  mainThreadCpuSeconds(): number;
  /**
   * CPU time the hub's threads have used so far, in seconds, summed by thread name (the main
   * thread is "MainThread", libuv's "libuv-worker", V8's "V8Worker", worker threads others).
   */
  threadsCpuSeconds(): Map<string, number>;
  /**
   * SQL transactions the hub has run so far (its acb_db_query_duration_seconds count: a statement
   * sent on its own counts as one); 0 on the memory backend.
   */
  sqlTransactions(): Promise<number>;
  /**
   * The event loop's longest delay since the previous scrape of the hub's metrics, in ms (its
   * acb_event_loop_delay_seconds max; every scrape starts a new interval, this one too).
   */
  loopDelayMaxMs(): Promise<number>;
  stop(): Promise<void>;
}

/** The sum of every series of `name` in a Prometheus text exposition. */
export function metricTotal(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function procStatusMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  const kb = Number(line?.split(/\s+/)[1]);
  return kb / 1024;
}

/** User + system CPU seconds of a /proc stat file (a process's, or one thread's under task/). */
function statCpuSeconds(path: string): number {
  // Fields 14 and 15 of a stat file are utime and stime in clock ticks (100 per second).
  const fields = readFileSync(path, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** User + system CPU seconds of each thread of `pid`, summed by thread name. */
function threadsCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const s = statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
      byName.set(name, (byName.get(name) ?? 0) + s);
    } catch {
      // The thread ended while it was read.
    }
  }
  return byName;
}

/** Hub processes still running: killed when the benchmark exits, however it exits. */
const live = new Set<ChildProcess>();
let exitHooked = false;
/** Kills `child` (a hub, a relay) when the benchmark exits, however it exits. */
export function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  // A crash, process.exit() or a signal (`timeout` sends SIGTERM) must not leave hubs behind.
  process.once("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => process.exit(signal === "SIGINT" ? 130 : 143));
}

/** What a benchmark may add to the hub's process. */
export interface HubProcessOptions {
  /** Node flags for the hub, after those of ACB_BENCH_HUB_NODE_ARGS. */
  nodeArgs?: string[];
  /** Receives each line of the hub's standard output but the first (e.g. --trace-gc-nvp lines). */
  onLine?: (line: string) => void;
}

export async function startHubProcess(
  extraArgs: string[] = [],
  options: HubProcessOptions = {},
): Promise<HubProcess> {
  const bin = new URL("../../reference-server/bin/acb-hub.js", import.meta.url).pathname;
  // ACB_BENCH_HUB_NODE_ARGS passes Node flags to the hub only, e.g. "--cpu-prof" to profile it.
  const nodeArgs = [
    ...(process.env["ACB_BENCH_HUB_NODE_ARGS"] ?? "").split(" ").filter(Boolean),
    ...(options.nodeArgs ?? []),
  ];
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, bin, "dev", "--port", "0", "--log-level", "warn", ...extraArgs],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  killOnExit(child);
  // The first JSON line with event "listening" describes the hub; every other line (for example
  // --trace-gc output) is passed on to standard error, so the pipe never fills and blocks the hub.
  const info = await new Promise<{ url: string; adminToken: string }>((resolve, reject) => {
    if (!child.stdout) return reject(new Error("hub has no stdout"));
    let found = false;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!found && line.startsWith("{")) {
        const parsed = JSON.parse(line) as { event?: string; url: string; adminToken: string };
        if (parsed.event === "listening") {
          found = true;
          resolve(parsed);
          return;
        }
      }
      if (options.onLine) options.onLine(line);
      else process.stderr.write(`[hub] ${line}\n`);
    });
    child.once("exit", (code) =>
      reject(new Error(`hub exited with code ${code} before listening`)),
    );
  });
  const pid = child.pid ?? 0;
  return {
    url: info.url,
    adminToken: info.adminToken,
    pid,
    rssMB: () => procStatusMB(pid, "VmRSS"),
    peakRssMB: () => procStatusMB(pid, "VmHWM"),
    cpuSeconds: () => statCpuSeconds(`/proc/${pid}/stat`),
    // The thread whose id is the process id is the main thread.
    mainThreadCpuSeconds: () => statCpuSeconds(`/proc/${pid}/task/${pid}/stat`),
    threadsCpuSeconds: () => threadsCpuSeconds(pid),
    sqlTransactions: async () => {
      const res = await fetch(`${info.url}/metrics`);
      return metricTotal(await res.text(), "acb_db_query_duration_seconds_count");
    },
    loopDelayMaxMs: async () => {
      const text = await (await fetch(`${info.url}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith('acb_event_loop_delay_seconds{stat="max"}'));
      return Number(line?.slice(line.lastIndexOf(" ") + 1)) * 1000;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        // A hub still draining a long backlog after 10 s is killed: the run is over.
        const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/**
 * With the hub's admin token: creates tenant "bench" (no quota limits) and issues an agent-full
 * access token for each agent id.
 */
export async function provision(hub: HubProcess, agents: string[]): Promise<Map<string, string>> {
  const transport = createConnectTransport({
    baseUrl: hub.url,
    httpVersion: "2",
    interceptors: [bearer(hub.adminToken)],
  });
  // CUSTOM without quotas: every tier caps a tenant's messages per second and backlog, which
  // would bound what a throughput benchmark measures. ACB_BENCH_TIER (e.g. ENTERPRISE) measures
  // with a tier's quotas instead, and what charging them costs.
  const tier = process.env["ACB_BENCH_TIER"];
  const chosen = tier ? Tier[tier as keyof typeof Tier] : Tier.CUSTOM;
  if (chosen === undefined) throw new Error(`ACB_BENCH_TIER: no tier "${tier}"`);
  await createClient(AdminService, transport).createTenant({ tenantId: "bench", tier: chosen });
  const auth = createClient(AuthService, transport);
  const tokens = new Map<string, string>();
  for (const id of agents) {
    const res = await auth.issueToken({ tenantId: "bench", agentId: id, roles: [Role.AGENT_FULL] });
    tokens.set(id, res.tokens?.accessToken ?? "");
  }
  return tokens;
}
