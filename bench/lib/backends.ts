// Where a benchmarked hub keeps its state: `--backend memory` (the default), `pglite` (a fresh
// data directory, removed afterwards) or `postgres` (a fresh schema in the database named by
// ACB_BENCH_POSTGRES_URL or ACB_TEST_POSTGRES_URL, dropped afterwards).

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type BenchBackend = "memory" | "pglite" | "postgres";
const backends: readonly BenchBackend[] = ["memory", "pglite", "postgres"];

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
      "--backend postgres needs ACB_BENCH_POSTGRES_URL (or ACB_TEST_POSTGRES_URL), e.g. postgres://postgres@127.0.0.1:5432/test",
    );
  }
  const schema = `acb_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  // The hub reads the schema from ACB_DATABASE_SCHEMA; the child inherits this process's env.
  process.env["ACB_DATABASE_SCHEMA"] = schema;
  return {
    args: ["--database-url", url],
    dispose: async () => {
      delete process.env["ACB_DATABASE_SCHEMA"];
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}
