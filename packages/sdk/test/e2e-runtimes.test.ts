// End-to-end encryption across runtimes: what one runtime encrypts (a context, a message and a
// 50 MiB large context whose upload loses a chunk's answer halfway and resumes), another
// decrypts while its Receive stream is open, then closes that stream. The same peer (e2e-runtime/peer.ts, fetch entry point, bundled with esbuild) runs in
// Node, Deno and Bun.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, exportAgentKey, generateAgentKey } from "../src/node.js";
import { startTestBed, type TestBed } from "./harness.js";
import { bundleForRuntimes, requireRuntime, runtimes } from "./runtimes.js";
import { startTcpProxy } from "./tcp-proxy.js";

const hint = "bash .ci/run installs it into .tools/, or set ACB_DENO / ACB_BUN";
const LARGE = 50 * 1024 * 1024;
type Name = "node" | "deno" | "bun";
const have = {
  node: true,
  deno: requireRuntime("deno", hint),
  bun: requireRuntime("bun", hint),
};
const command = (name: Name, bundle: string): [string, string[]] =>
  name === "node"
    ? [process.execPath, [bundle]]
    : name === "deno"
      ? [runtimes.deno ?? "deno", ["run", "--allow-net", "--allow-env", bundle]]
      : [runtimes.bun ?? "bun", ["run", bundle]];

/** Runs the peer; `onLine` sees each JSON event; resolves with the final event and exit code. */
function runPeer(
  name: Name,
  bundle: string,
  env: Record<string, string>,
  onLine: (e: Record<string, unknown>) => void,
): Promise<{ events: Record<string, unknown>[]; code: number | null; stderr: string }> {
  const [bin, args] = command(name, bundle);
  const child: ChildProcess = spawn(bin, args, {
    env: { ...process.env, ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const events: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const e = JSON.parse(line) as Record<string, unknown>;
    events.push(e);
    onLine(e);
  });
  return new Promise((r) => child.once("exit", (code) => r({ events, code, stderr })));
}

// A cycle, so each runtime encrypts once and decrypts once: Node writes for Deno, Deno for Bun,
// Bun for Node. (Chromium and Node write for each other in e2e-browser.test.ts.)
const pairs = (
  [
    ["node", "deno"],
    ["deno", "bun"],
    ["bun", "node"],
  ] as [Name, Name][]
).filter(([w, r]) => have[w] && have[r]);

describe.runIf(pairs.length > 0)("end-to-end encryption across runtimes", () => {
  let bed: TestBed;
  let dir: string;
  let bundle: string;
  beforeAll(async () => {
    bed = await startTestBed();
    ({ dir, file: bundle } = await bundleForRuntimes(
      resolve(import.meta.dirname, "e2e-runtime/peer.ts"),
      "acb-e2e-peer-",
      "peer.mjs",
    ));
  }, 60_000);
  afterAll(async () => {
    await bed?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(pairs)(
    "%s encrypts (upload cut and resumed), %s decrypts",
    async (writer, reader) => {
      const w = `${writer}-writer`;
      const r = `${reader}-reader`;
      const wKey = await generateAgentKey();
      const rKey = await generateAgentKey();
      // The reader's key is in the registry before the writer looks it up.
      const pre = createClient({
        baseUrl: bed.listener.url,
        token: await bed.tokenFor(r),
        e2e: { keys: [rKey] },
      });
      await pre.register({ id: r, type: "e2e-peer", heartbeat: false });
      await pre.close();
      const secret = `cross-runtime-${randomBytes(6).toString("hex")}`;
      const common = { ACB_SECRET: secret, ACB_LARGE_BYTES: String(LARGE) };
      const proxy = await startTcpProxy(bed.listener.port);
      const wrote = await runPeer(
        writer,
        bundle,
        {
          ...common,
          ACB_MODE: "write",
          ACB_URL: proxy.url,
          ACB_TOKEN: await bed.tokenFor(w),
          ACB_AGENT_ID: w,
          ACB_KEY: JSON.stringify(await exportAgentKey(wKey)),
          ACB_PEER: r,
        },
        (e) => {
          // Drops the upload's connection in the middle of its next chunk.
          if (e.event === "half") proxy.cutOnNextRequest();
        },
      );
      await proxy.close();
      expect(wrote.code, wrote.stderr).toBe(0);
      const written = wrote.events.find((e) => e.event === "written");
      expect(Number(written?.resumes)).toBeGreaterThanOrEqual(1);
      const read = await runPeer(
        reader,
        bundle,
        {
          ...common,
          ACB_MODE: "read",
          ACB_URL: bed.listener.url,
          ACB_TOKEN: await bed.tokenFor(r),
          ACB_AGENT_ID: r,
          ACB_KEY: JSON.stringify(await exportAgentKey(rKey)),
          ACB_IDS: JSON.stringify({ contextId: written?.contextId, largeId: written?.largeId }),
        },
        () => {},
      );
      expect(read.code, read.stderr).toBe(0);
      expect(read.events.find((e) => e.event === "read")).toMatchObject({
        context: secret,
        message: secret,
        largeOk: true,
      });
      expect(read.events.at(-1)?.event).toBe("closed");
    },
    240_000,
  );
});
