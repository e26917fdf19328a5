// The conformance suite against `acb-hub dev` processes on the durable backends, PGlite (--data
// DIR), PostgreSQL and the production preset (PostgreSQL + Redis + Kafka), durability profile
// included: --restart-cmd SIGKILLs the hub mid-traffic
// and starts a new process on the same port and storage. The latency profile is left out: its
// thresholds describe the in-memory hub (docs/hub.md gives the SQL backends' figures' bounds).

import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  createTestSchema,
  testPostgresUrl,
} from "../../reference-server/src/storage/postgres/postgres-test-db.js";
import { testServices } from "../../reference-server/src/storage/production-test-services.js";
import { bundleCli, removeBundle } from "../../reference-server/test/hub-process.js";
import { profiles, runConformance } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "acb-durable-conformance-"));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
  await removeBundle();
});

// (Re)starts the hub: SIGKILLs the process in PID_FILE (if any), starts `node HUB_ARGS…` detached
// with its output in OUT_FILE, records its pid, and exits once it listens.
const restartScript = `
import { spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
const [pidFile, outFile, ...hubArgs] = process.argv.slice(2);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
let old = 0;
try { old = Number(readFileSync(pidFile, "utf8")); } catch {}
if (old > 0 && alive(old)) {
  process.kill(old, "SIGKILL");
  while (alive(old)) await new Promise((r) => setTimeout(r, 20));
}
writeFileSync(outFile, "");
const out = openSync(outFile, "a");
const child = spawn(process.execPath, hubArgs, { detached: true, stdio: ["ignore", out, out] });
writeFileSync(pidFile, String(child.pid));
let exited = false;
child.on("exit", () => { exited = true; });
const until = Date.now() + 120_000;
while (!readFileSync(outFile, "utf8").includes('"event":"listening"')) {
  if (exited || Date.now() > until) { process.stderr.write(readFileSync(outFile, "utf8")); process.exit(1); }
  await new Promise((r) => setTimeout(r, 50));
}
child.unref();
process.exit(0);
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

async function conformanceOn(name: string, storageArgs: string[], env: Record<string, string>) {
  const cli = await bundleCli();
  const script = join(dir, "restart.mjs");
  writeFileSync(script, restartScript);
  const pidFile = join(dir, `${name}.pid`);
  const outFile = join(dir, `${name}.out`);
  const port = await freePort();
  const args = [
    script,
    pidFile,
    outFile,
    cli,
    "dev",
    "--port",
    String(port),
    "--log-level",
    "warn",
    ...storageArgs,
  ];
  const envPrefix = Object.entries(env)
    .map(([k, v]) => `${k}=${quote(v)} `)
    .join("");
  const restartCmd = `${envPrefix}${quote(process.execPath)} ${args.map(quote).join(" ")}`;
  cleanups.push(() => {
    try {
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
    } catch {
      // already gone
    }
  });
  execFileSync("/bin/sh", ["-c", restartCmd], { stdio: "inherit" });
  const listening = JSON.parse(
    readFileSync(outFile, "utf8")
      .split("\n")
      .find((l) => l.includes('"event":"listening"')) ?? "{}",
  ) as { url: string; adminToken: string };
  const report = await runConformance({
    url: listening.url,
    adminToken: listening.adminToken,
    restartCmd,
    profiles: profiles.filter((p) => p !== "latency"),
  });
  const failed = report.cases.filter((c) => c.status === "failed");
  expect(failed.map((c) => `${c.id}: ${c.detail}`)).toEqual([]);
  expect(report.cases.find((c) => c.id === "durability.restart-no-loss")?.status).toBe("passed");
  return report;
}

describe("the conformance suite against durable hubs", () => {
  it("passes on PGlite (acb-hub dev --data DIR), restarts included", {
    timeout: 600_000,
  }, async () => {
    await conformanceOn("pglite", ["--data", join(dir, "pglite-data")], {});
  });

  const url = testPostgresUrl();
  it.skipIf(!url)("passes on PostgreSQL, restarts included", { timeout: 600_000 }, async () => {
    const base = url ?? "";
    const { schema, drop } = await createTestSchema(base);
    cleanups.push(drop);
    await conformanceOn("postgres", ["--database-url", base, "--data", join(dir, "pg-keys")], {
      ACB_DATABASE_SCHEMA: schema,
    });
  });

  const services = url ? testServices() : undefined;
  it.skipIf(!services)(
    "passes on the production preset (presence in Redis), restarts included",
    {
      timeout: 600_000,
    },
    async () => {
      if (!services) return;
      const { schema, drop } = await createTestSchema(services.postgresUrl);
      cleanups.push(drop);
      const run = randomUUID().replaceAll("-", "").slice(0, 12);
      const report = await conformanceOn("production", ["--data", join(dir, "production-keys")], {
        ACB_PRESET: "production",
        ACB_DATABASE_URL: services.postgresUrl,
        ACB_DATABASE_SCHEMA: schema,
        ACB_REDIS_URL: services.redisUrl,
        ACB_REDIS_KEY_PREFIX: `acbtest${run}:`,
        ACB_KAFKA_BROKERS: services.kafkaBrokers.join(","),
        ACB_KAFKA_TOPIC_PREFIX: `acbtest${run}`,
      });
      // Presence, which this preset keeps in Redis, was checked (not skipped).
      const presence = ["registry.presence-timeout", "registry.presence-timeout-repeats"];
      expect(
        report.cases.filter((c) => presence.includes(c.id)).map((c) => `${c.id}: ${c.status}`),
      ).toEqual(presence.map((id) => `${id}: passed`));
    },
  );
});
