// What heartbeats cost PostgreSQL (`npm run bench -- presence [--backend B] [--agents M]
// [--rounds N] [--interval-ms I] [--timeout-ms T] [--json]`): M agents (default 200) register,
// then send N rounds (default 10) of one Heartbeat each, a round every I ms (default 1000) with a
// presence timeout of T ms (default 3000): the defaults' 10 s / 30 s, ten times faster. The hub
// runs on a PostgreSQL database of its own, created for the run and dropped after it, so
// pg_stat_database counts the hub alone; the figures are the difference between this run and one
// with no rounds (same registrations), read after the hub stopped (its sessions' statistics are
// flushed when they end). Needs --backend postgres or production (default production).

import { randomBytes } from "node:crypto";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { type BenchBackend, backendArgs, benchBackend, startHubNodes } from "./lib/backends.ts";
import { bearer } from "./lib/clients.ts";
import { provision } from "./lib/hub-process.ts";
import { flags, log, numberFlag, printTable } from "./lib/report.ts";

interface Counts {
  xactCommit: number;
  tupUpdated: number;
  tupInserted: number;
  /** SQL transactions the hub counted during the rounds. */
  hubTransactions: number;
}

export default async function main(args: string[]): Promise<void> {
  const { json } = flags(args);
  const backend: BenchBackend = args.includes("--backend") ? benchBackend(args) : "production";
  if (backend !== "postgres" && backend !== "production")
    throw new Error("presence needs --backend postgres or production");
  const agents = numberFlag(args, "--agents", 200);
  const rounds = numberFlag(args, "--rounds", 10);
  const intervalMs = numberFlag(args, "--interval-ms", 1_000);
  const timeoutMs = numberFlag(args, "--timeout-ms", 3_000);
  const server = process.env["ACB_BENCH_POSTGRES_URL"] ?? process.env["ACB_TEST_POSTGRES_URL"];
  if (!server) throw new Error("needs ACB_BENCH_POSTGRES_URL or ACB_TEST_POSTGRES_URL");
  log(
    `backend: ${backend}; ${agents} agents, ${rounds} rounds of heartbeats every ${intervalMs} ms, presence timeout ${timeoutMs} ms`,
  );
  const base = await measure(backend, server, { agents, rounds: 0, intervalMs, timeoutMs });
  const run = await measure(backend, server, { agents, rounds, intervalMs, timeoutMs });
  const heartbeats = agents * rounds;
  const per = (n: number) => Math.round((n / heartbeats) * 1000) / 1000;
  const xact = run.xactCommit - base.xactCommit;
  const updated = run.tupUpdated - base.tupUpdated;
  const inserted = run.tupInserted - base.tupInserted;
  printTable(`ACB heartbeats (${backend} backend)`, [
    ["heartbeats", heartbeats],
    ["xact_commit (run − no-round run)", xact],
    ["xact_commit per heartbeat", per(xact)],
    ["rows updated per heartbeat", per(updated)],
    ["rows inserted per heartbeat", per(inserted)],
    ["hub SQL transactions per heartbeat (rounds only)", per(run.hubTransactions)],
  ]);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ backend, agents, rounds, intervalMs, timeoutMs, heartbeats, xact_commit: xact, tup_updated: updated, tup_inserted: inserted, hub_transactions: run.hubTransactions })}\n`,
    );
  }
  process.exit(0);
}

async function measure(
  backend: BenchBackend,
  server: string,
  o: { agents: number; rounds: number; intervalMs: number; timeoutMs: number },
): Promise<Counts> {
  const database = `acb_bench_presence_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(server);
  url.pathname = `/${database}`;
  const saved = process.env["ACB_BENCH_POSTGRES_URL"];
  process.env["ACB_BENCH_POSTGRES_URL"] = url.toString();
  try {
    const store = await backendArgs(backend);
    const hub = await startHubNodes(store.args, 1);
    let hubTransactions = 0;
    try {
      const ids = Array.from({ length: o.agents }, (_, i) => `hb-${i}`);
      const tokens = await provision(hub, ids);
      const adminClient = createClient(
        AdminService,
        createConnectTransport({
          baseUrl: hub.url,
          httpVersion: "2",
          interceptors: [bearer(hub.adminToken)],
        }),
      );
      const ms = (n: number) => ({
        seconds: BigInt(Math.floor(n / 1000)),
        nanos: (n % 1000) * 1_000_000,
      });
      await adminClient.updateTenant({
        tenantId: "bench",
        settings: { heartbeatInterval: ms(o.intervalMs), presenceTimeout: ms(o.timeoutMs) },
      });
      const clients = ids.map((id) =>
        createClient(
          RegistryService,
          createConnectTransport({
            baseUrl: hub.url,
            httpVersion: "2",
            interceptors: [bearer(tokens.get(id) ?? "")],
          }),
        ),
      );
      // All at once, so none has timed out before the first round.
      const sessions = await Promise.all(
        clients.map(
          async (c, i) =>
            (await c.register({ agentId: ids[i] ?? "", type: "bench" })).agent?.sessionId ?? "",
        ),
      );
      const tx0 = await hub.sqlTransactions();
      for (let r = 0; r < o.rounds; r++) {
        const started = Date.now();
        await Promise.all(
          clients.map((c, i) =>
            c.heartbeat({ agentId: ids[i] ?? "", sessionId: sessions[i] ?? "" }),
          ),
        );
        const left = started + o.intervalMs - Date.now();
        if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
      }
      hubTransactions = (await hub.sqlTransactions()) - tx0;
    } finally {
      await hub.stop();
    }
    // The hub's sessions report their statistics as they end: wait until none is left.
    for (;;) {
      const r = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1",
        [database],
      );
      if (r.rows[0].n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await admin.query("SELECT pg_stat_clear_snapshot()");
    const s = await admin.query(
      "SELECT xact_commit::int AS x, tup_updated::int AS u, tup_inserted::int AS i FROM pg_stat_database WHERE datname = $1",
      [database],
    );
    await store.dispose();
    return {
      xactCommit: s.rows[0].x,
      tupUpdated: s.rows[0].u,
      tupInserted: s.rows[0].i,
      hubTransactions,
    };
  } finally {
    if (saved === undefined) delete process.env["ACB_BENCH_POSTGRES_URL"];
    else process.env["ACB_BENCH_POSTGRES_URL"] = saved;
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}
