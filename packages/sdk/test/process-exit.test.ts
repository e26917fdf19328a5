// A Node process that registers (heartbeats running), opens streams and sends, then closes its
// client without unregistering, must exit by itself: close() (or `await using`) ends everything
// the client started. Each script is bundled with esbuild, as an application would ship it, and
// run by this Node binary against a live hub.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBed, type TestBed } from "./harness.js";

const agent = (closing: string) => `
import { createClient } from "../src/node.js";
async function main() {
  ${closing === "using" ? "await using" : "const"} client = createClient({
    baseUrl: process.env.ACB_URL ?? "",
    token: process.env.ACB_TOKEN ?? "",
  });
  const session = await client.register({ type: "worker" });
  const sub = client.subscribe("note", () => {});
  const receiver = client.receive();
  await Promise.all([sub.ready, receiver.ready]);
  await client.sendTo(session.agent.id, "ping", { n: 1 });
  await client.shareContext("note", { n: 1 });
  ${closing === "close" ? "await client.close();" : ""}
}
await main();
console.log("finished");
`;

/** Runs `source` bundled; resolves with its exit code and output (kills it after `boundMs`). */
async function run(dir: string, name: string, source: string, env: Record<string, string>) {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    stdin: { contents: source, resolveDir: import.meta.dirname, loader: "ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    conditions: ["source"],
    outfile,
    logLevel: "silent",
  });
  const child = spawn(process.execPath, [outfile], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  // A bound, not a measurement: a process still running then has not exited by itself.
  const bound = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(bound);
  return { code, output };
}

describe("a Node process that closes its client", () => {
  let bed: TestBed;
  let dir: string;
  beforeAll(async () => {
    bed = await startTestBed();
    dir = await mkdtemp(join(tmpdir(), "acb-exit-"));
  });
  afterAll(async () => {
    await bed?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const closing of ["close", "using"] as const) {
    it(`exits by itself after ${closing === "close" ? "client.close()" : "`await using`"}, still registered`, async () => {
      const env = { ACB_URL: bed.listener.url, ACB_TOKEN: await bed.tokenFor(`exit-${closing}`) };
      const { code, output } = await run(dir, closing, agent(closing), env);
      expect(output).toContain("finished");
      expect(code, output).toBe(0);
    }, 30_000);
  }
});
