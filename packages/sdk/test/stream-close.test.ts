// Closing a stream of the fetch client ends it in Node, Deno and Bun even after garbage was
// collected while its read waited for the hub. In Deno, a fetch's abort once stopped reaching the
// response body after a collection, so receiver.close() waited forever (regression test for the
// fix in src/web.ts; the runtime side is runtime-close/closer.ts, bundled with esbuild).
import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestBed, type TestBed } from "./harness.js";
import { bundleForRuntimes, requireRuntime, runtimes } from "./runtimes.js";

const hint = "bash .ci/run installs it into .tools/, or set ACB_DENO / ACB_BUN";
const cases = [
  { name: "node", bin: process.execPath, args: ["--expose-gc"] },
  ...(requireRuntime("deno", hint)
    ? [
        {
          name: "deno",
          bin: runtimes.deno as string,
          args: ["run", "--allow-net", "--allow-env", "--v8-flags=--expose-gc"],
        },
      ]
    : []),
  ...(requireRuntime("bun", hint)
    ? [{ name: "bun", bin: runtimes.bun as string, args: ["run"] }]
    : []),
];

describe("closing a Receive stream after garbage collection (fetch client)", () => {
  let bed: TestBed;
  let dir: string;
  let bundle: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    bed = await startTestBed();
    ({ dir, file: bundle } = await bundleForRuntimes(
      resolve(import.meta.dirname, "runtime-close/closer.ts"),
      "acb-stream-close-",
      "closer.mjs",
    ));
  }, 60_000);
  afterEach(() => {
    // A runtime whose close() hangs is still running when its test times out.
    for (const child of children.splice(0)) child.kill();
  });
  afterAll(async () => {
    await bed?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(cases)("$name: receiver.close() resolves", async ({ name, bin, args }) => {
    const agentId = `${name}-closer`;
    const child = spawn(bin, [...args, bundle], {
      env: {
        ...process.env,
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
        ACB_URL: bed.listener.url,
        ACB_TOKEN: await bed.tokenFor(agentId),
        ACB_AGENT_ID: agentId,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const events: string[] = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.startsWith("{")) events.push(String((JSON.parse(line) as { event: string }).event));
    });
    // Without the fix, Deno never gets here: its close() waits on a read nothing settles.
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code, stderr).toBe(0);
    expect(events).toEqual(["live", "closed"]);
  });
});
