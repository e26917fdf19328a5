// Where an idle connected agent's heap goes (`npm run bench -- agents-heap [--agents N]
// [--window S] [--dir D] [--top K] [--json]`): starts a hub in its own process with
// --heapsnapshot-signal, registers N agents (default 5,000), takes a heap snapshot, connects them as
// the load benchmark's agents scenario does (an open Receive each, a heartbeat each every 10 s,
// 10 agents per HTTP/2 connection), waits 12 s and takes a second snapshot, and prints what the
// second holds more than the first, per agent, by node type and constructor (self sizes, so
// nothing is counted twice). With --window S it takes a third snapshot S seconds later and prints
// what was allocated in between and is still alive, per agent per second: what an idle agent
// makes the collector promote. Snapshots (and the hub's heap) are large: run it with
// --max-old-space-size=12000 or so, under the benchmark lock.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ReceiveResponse_Kind as ReceiveKind } from "@acb/gen/acb/v1/messaging_pb";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { auth, connection } from "./lib/clients.ts";
import { startHubProcess } from "./lib/hub-process.ts";
import { flags, log, numberFlag, printTable } from "./lib/report.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Self size and count per "type:name" of one .heapsnapshot file. */
export function heapSummary(
  file: string,
  include: (id: number) => boolean = () => true,
): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const idAt = fields.indexOf("id");
  const out = new Map<string, { size: number; count: number }>();
  const { nodes, strings } = snap;
  for (let i = 0; i < nodes.length; i += width) {
    if (!include(nodes[i + idAt] as number)) continue;
    const type = types[nodes[i + typeAt] as number] ?? "?";
    let name = strings[nodes[i + nameAt] as number] ?? "?";
    // Strings and code are grouped by type alone; their names are their contents.
    if (type === "string" || type === "concatenated string" || type === "sliced string") name = "";
    else if (type === "code" || type === "number") name = "";
    else if (name.length > 60) name = `${name.slice(0, 60)}…`;
    const key = `${type}:${name}`;
    const had = out.get(key);
    const size = nodes[i + sizeAt] as number;
    if (had) {
      had.size += size;
      had.count++;
    } else out.set(key, { size, count: 1 });
  }
  return out;
}

/** Self sizes, by "type:name", of the nodes of `later` with ids above every id of `earlier`. */
function bornSince(earlier: string, later: string) {
  const maxId = (file: string) => {
    const snap = JSON.parse(readFileSync(file, "utf8")) as {
      snapshot: { meta: { node_fields: string[] } };
      nodes: number[];
    };
    const fields = snap.snapshot.meta.node_fields;
    const idAt = fields.indexOf("id");
    let max = 0;
    for (let i = idAt; i < snap.nodes.length; i += fields.length)
      max = Math.max(max, snap.nodes[i] as number);
    return max;
  };
  const since = maxId(earlier);
  const rows = heapSummary(later, (id) => id > since);
  let total = 0;
  for (const v of rows.values()) total += v.size;
  return { rows, total };
}

async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  for (;;) {
    await sleep(500);
    const fresh = readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (fresh.length === 0) continue;
    const file = join(dir, fresh[0] as string);
    // Written when its size stops changing (the hub writes it synchronously, then goes on).
    let size = -1;
    for (;;) {
      const now = statSync(file).size;
      if (now === size && now > 0) return file;
      size = now;
      await sleep(1000);
    }
  }
}

export default async function main(args: string[]): Promise<void> {
  const { json } = flags(args);
  const n = numberFlag(args, "--agents", 5_000);
  const top = numberFlag(args, "--top", 40);
  const wi = args.indexOf("--window");
  const windowSeconds = wi === -1 ? 0 : Number(args[wi + 1]);
  const di = args.indexOf("--dir");
  const dir = di === -1 ? "/tmp/acb-agents-heap" : (args[di + 1] ?? "");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.env["ACB_BENCH_HUB_NODE_ARGS"] =
    `${process.env["ACB_BENCH_HUB_NODE_ARGS"] ?? ""} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
  const hub = await startHubProcess();
  try {
    const admin = createConnectTransport({ baseUrl: hub.url, httpVersion: "2" });
    await createClient(AdminService, admin).createTenant(
      { tenantId: "load", tier: Tier.ENTERPRISE },
      auth(hub.adminToken),
    );
    const ids = Array.from({ length: n }, (_, i) => `agent-${i}`);
    const tokens = new Map<string, string>();
    const issuer = createClient(AuthService, admin);
    for (const agentId of ids) {
      const res = await issuer.issueToken(
        { tenantId: "load", agentId, roles: [Role.AGENT_FULL] },
        auth(hub.adminToken),
      );
      tokens.set(agentId, res.tokens?.accessToken ?? "");
    }
    const conns = Array.from({ length: Math.ceil(n / 10) }, () => connection(hub.url));
    // Registered first, so the first snapshot holds the agents' records and only the streams differ.
    for (const [i, id] of ids.entries()) {
      await conns[Math.floor(i / 10)]?.registry.register(
        { agentId: id, type: "load" },
        auth(tokens.get(id) ?? ""),
      );
    }
    await sleep(1000);
    log("snapshot before the streams");
    const first = await snapshot(hub.pid, dir);
    const rss0 = hub.rssMB();
    const stop = new AbortController();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) {
          const i = next++;
          const id = ids[i] as string;
          const conn = conns[Math.floor(i / 10)];
          if (!conn) return;
          await new Promise<void>((ready, fail) => {
            void (async () => {
              try {
                for await (const r of conn.messaging.receive(
                  { maxInFlight: 100 },
                  { ...auth(tokens.get(id) ?? ""), signal: stop.signal },
                ))
                  if (r.kind === ReceiveKind.READY) ready();
              } catch (err) {
                if (!stop.signal.aborted) fail(err);
              }
            })();
          });
        }
      }),
    );
    // Heartbeats every 10 s per agent in 50 ms ticks (this measures the heap, not latency).
    let beating = true;
    const beats = (async () => {
      let next = 0;
      while (beating) {
        for (let k = 0; k < n / 200; k++) {
          const i = next++ % n;
          const id = ids[i] as string;
          conns[Math.floor(i / 10)]?.registry
            .heartbeat({ agentId: id }, auth(tokens.get(id) ?? ""))
            .catch(() => {});
        }
        await sleep(50);
      }
    })();
    await sleep(12_000);
    const rss1 = hub.rssMB();
    log(`${n} streams open; snapshot`);
    const second = await snapshot(hub.pid, dir);
    let third: string | undefined;
    if (windowSeconds > 0) {
      await sleep(windowSeconds * 1000);
      log(`snapshot after ${windowSeconds} s more`);
      third = await snapshot(hub.pid, dir);
    }
    beating = false;
    await beats;
    stop.abort();
    if (third) {
      // What the window allocated and still holds: nodes whose ids the second snapshot had not
      // handed out yet (ids of one heap profiler grow, and stay with their object).
      const born = bornSince(second, third);
      printTable(`allocated in ${windowSeconds} s and alive at its end, per agent per second`, [
        ["total bytes", Math.round(born.total / n / windowSeconds)],
        ...[...born.rows]
          .sort((x, y) => y[1].size - x[1].size)
          .slice(0, top)
          .map(([k, v]): [string, string] => [
            k,
            `${(v.size / n / windowSeconds).toFixed(1).padStart(7)}  ×${(v.count / n / windowSeconds).toFixed(3)}`,
          ]),
      ]);
    }
    const a = heapSummary(first);
    const b = heapSummary(second);
    const rows: { key: string; bytes: number; count: number }[] = [];
    let total = 0;
    for (const [key, v] of b) {
      const w = a.get(key) ?? { size: 0, count: 0 };
      const bytes = (v.size - w.size) / n;
      const count = (v.count - w.count) / n;
      total += bytes;
      rows.push({ key, bytes, count });
    }
    rows.sort((x, y) => y.bytes - x.bytes);
    printTable(`heap per connected agent (${n} agents), bytes and objects`, [
      ["total heap bytes per agent", Math.round(total)],
      ["rss kb per agent", ((rss1 - rss0) * 1024) / n],
      ...rows
        .slice(0, top)
        .map((r): [string, string] => [
          r.key,
          `${r.bytes.toFixed(0).padStart(6)}  ×${r.count.toFixed(2)}`,
        ]),
    ]);
    if (json)
      process.stdout.write(
        `${JSON.stringify({ agents: n, heap_bytes_per_agent: total, rows: rows.slice(0, top) })}\n`,
      );
  } finally {
    await hub.stop();
  }
  process.exit(0);
}
