// Where a benchmarked hub keeps its state: `--backend memory` (the default), `pglite` (a fresh
// data directory, removed afterwards), `postgres` (a fresh schema in the database named by
// ACB_BENCH_POSTGRES_URL or ACB_TEST_POSTGRES_URL, dropped afterwards) or `production`
// (PostgreSQL as for postgres, plus Redis from ACB_BENCH_REDIS_URL or ACB_TEST_REDIS_URL and Kafka
// from ACB_BENCH_KAFKA_BROKERS or ACB_TEST_KAFKA_BROKERS, under a fresh key and topic prefix).
// `--nodes N` (production only) runs N hub processes of one hub on that store.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { type HubProcess, startHubProcess } from "./hub-process.ts";

export type BenchBackend = "memory" | "pglite" | "postgres" | "production";
const backends: readonly BenchBackend[] = ["memory", "pglite", "postgres", "production"];

/** The --backend of the benchmark's arguments; memory when absent. */
export function benchBackend(args: string[]): BenchBackend {
  const i = args.indexOf("--backend");
  if (i === -1) return "memory";
  const name = args[i + 1];
  if (!backends.includes(name as BenchBackend)) {
    throw new Error(`--backend must be one of ${backends.join(", ")}, not "${name ?? ""}"`);
  }
  return name as BenchBackend;
}

/** The acb-hub dev arguments for a fresh store of this kind, and how to remove it afterwards. */
export async function backendArgs(
  backend: BenchBackend,
): Promise<{ args: string[]; dispose: () => Promise<void> }> {
  if (backend === "memory") return { args: ["--memory"], dispose: async () => {} };
  if (backend === "pglite") {
    const dir = await mkdtemp(join(tmpdir(), "acb-bench-pglite-"));
    return { args: ["--data", dir], dispose: () => rm(dir, { recursive: true, force: true }) };
  }
  const url = process.env["ACB_BENCH_POSTGRES_URL"] ?? process.env["ACB_TEST_POSTGRES_URL"];
  if (!url) {
    throw new Error(
      `--backend ${backend} needs ACB_BENCH_POSTGRES_URL (or ACB_TEST_POSTGRES_URL), e.g. postgres://postgres@127.0.0.1:5432/test`,
    );
  }
  const run = randomBytes(6).toString("hex");
  const schema = `acb_bench_${run}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const dropSchema = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA ${schema} CASCADE`);
    await c.end();
  };
  if (backend === "postgres") {
    // The hub reads the schema from ACB_DATABASE_SCHEMA; the child inherits this process's env.
    process.env["ACB_DATABASE_SCHEMA"] = schema;
    return {
      args: ["--database-url", url],
      dispose: async () => {
        delete process.env["ACB_DATABASE_SCHEMA"];
        await dropSchema();
      },
    };
  }
  const redisUrl = process.env["ACB_BENCH_REDIS_URL"] ?? process.env["ACB_TEST_REDIS_URL"];
  const brokers = process.env["ACB_BENCH_KAFKA_BROKERS"] ?? process.env["ACB_TEST_KAFKA_BROKERS"];
  if (!redisUrl || !brokers) {
    await dropSchema();
    throw new Error(
      '--backend production needs ACB_BENCH_REDIS_URL (or ACB_TEST_REDIS_URL) and ACB_BENCH_KAFKA_BROKERS (or ACB_TEST_KAFKA_BROKERS): start Kafka with eval "$(./dev services up)"',
    );
  }
  // Every node gets the same settings (the child inherits them) and, through --data, one signing
  // key, so a token issued by one node is good on all.
  const keyPrefix = `acbbench${run}:`;
  const env = {
    ACB_PRESET: "production",
    ACB_DATABASE_URL: url,
    ACB_DATABASE_SCHEMA: schema,
    ACB_REDIS_URL: redisUrl,
    ACB_REDIS_KEY_PREFIX: keyPrefix,
    ACB_KAFKA_BROKERS: brokers,
    ACB_KAFKA_TOPIC_PREFIX: `acbbench${run}`,
  };
  Object.assign(process.env, env);
  const keys = await mkdtemp(join(tmpdir(), "acb-bench-keys-"));
  return {
    args: ["--data", keys],
    dispose: async () => {
      for (const name of Object.keys(env)) delete process.env[name];
      await rm(keys, { recursive: true, force: true });
      await dropSchema();
      // The run's Redis keys go too; its Kafka topics (acbbench<run>.*) stay, as a deleted
      // tenant's do.
      const redis = new Redis(redisUrl);
      try {
        let cursor = "0";
        do {
          const [next, found] = await redis.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000);
          cursor = next;
          if (found.length > 0) await redis.del(...found);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** Several hub processes of one hub, seen as one: CPU and stop cover them all. */
export interface HubNodes extends HubProcess {
  /** Every node's URL, starting at node `i` (mod N), so clients spread over the nodes. */
  urlsFrom(i: number): string[];
  readonly count: number;
}

/** The --nodes of the benchmark's arguments (1 when absent); more than one needs production. */
export function benchNodes(args: string[], backend: BenchBackend): number {
  const i = args.indexOf("--nodes");
  if (i === -1) return 1;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--nodes must be a whole number of at least 1, not "${args[i + 1] ?? ""}"`);
  }
  if (n > 1 && backend !== "production") {
    throw new Error(`--nodes ${n} needs --backend production (nodes of one hub share its stores)`);
  }
  return n;
}

/** Starts `count` hub processes with the same arguments, one after the other. */
export async function startHubNodes(args: string[], count: number): Promise<HubNodes> {
  const nodes: HubProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startHubProcess(args));
  const first = nodes[0] as HubProcess;
  const urls = nodes.map((n) => n.url);
  return {
    ...first,
    count,
    urlsFrom: (i) => urls.map((_, k) => urls[(i + k) % urls.length] as string),
    cpuSeconds: () => nodes.reduce((sum, n) => sum + n.cpuSeconds(), 0),
    sqlTransactions: async () =>
      (await Promise.all(nodes.map((n) => n.sqlTransactions()))).reduce((sum, n) => sum + n, 0),
    loopDelayMaxMs: async () =>
      Math.max(...(await Promise.all(nodes.map((n) => n.loopDelayMaxMs())))),
    rssMB: () => nodes.reduce((sum, n) => sum + n.rssMB(), 0),
    peakRssMB: () => nodes.reduce((sum, n) => sum + n.peakRssMB(), 0),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
