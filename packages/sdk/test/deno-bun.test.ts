// The same example agent (examples/src/runtime-agent.ts, fetch entry point) run by Deno and by Bun
// against a live hub: it registers, answers a query over its Receive stream, shares a context and
// stops on a command. The agent is bundled with esbuild first, as an application would ship it.
import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../src/node.js";
import { startTestBed, type TestBed } from "./harness.js";
import { bundleForRuntimes, requireRuntime, runtimes } from "./runtimes.js";

const hint = "bash .ci/run installs it into .tools/, or set ACB_DENO / ACB_BUN";
const cases = [
  { name: "deno" as const, args: ["run", "--allow-net", "--allow-env"] },
  { name: "bun" as const, args: ["run"] },
].filter((c) => requireRuntime(c.name, hint));

/** Starts the agent; resolves each JSON line it prints through `lines`. */
function startAgent(bin: string, args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(bin, args, {
    env: { ...process.env, ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const events: Record<string, unknown>[] = [];
  const waiters: { event: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const e = JSON.parse(line) as Record<string, unknown>;
    events.push(e);
    for (const w of waiters.filter((w) => w.event === e.event)) w.resolve(e);
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    events,
    exited,
    stderr: () => stderr,
    next(event: string): Promise<Record<string, unknown>> {
      const seen = events.find((e) => e.event === event);
      if (seen) return Promise.resolve(seen);
      // Fails fast with the runtime's own output if the agent dies before saying it.
      return Promise.race([
        new Promise<Record<string, unknown>>((r) => waiters.push({ event, resolve: r })),
        exited.then((code) => {
          throw new Error(`agent exited (${code}) before "${event}": ${stderr}`);
        }),
      ]);
    },
    kill: () => child.kill(),
  };
}

describe.runIf(cases.length > 0)("the example agent in Deno and Bun", () => {
  let bed: TestBed;
  let dir: string;
  let bundle: string;
  beforeAll(async () => {
    bed = await startTestBed();
    ({ dir, file: bundle } = await bundleForRuntimes(
      resolve(import.meta.dirname, "../../../examples/src/runtime-agent.ts"),
      "acb-runtime-agent-",
      "runtime-agent.mjs",
    ));
  }, 60_000);
  afterAll(async () => {
    await bed?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(cases)(
    "$name runs the agent against a live hub",
    async ({ name, args }) => {
      const agentId = `${name}-agent`;
      const agent = startAgent(runtimes[name] ?? name, [...args, bundle], {
        ACB_URL: bed.listener.url,
        ACB_TOKEN: await bed.tokenFor(agentId),
        ACB_AGENT_ID: agentId,
      });
      try {
        const ready = await agent.next("ready");
        expect(String(ready.runtime)).toMatch(new RegExp(`^${name} \\d`));
        const me = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("tester") });
        const report = await me.getContext<{ runtime: string; agent: string }>(
          String(ready.contextId),
        );
        expect(report.value).toEqual({ runtime: ready.runtime, agent: agentId });
        const reply = await me
          .request<{ pong: number; runtime: string }>(
            agentId,
            "ping",
            { n: 7 },
            { timeoutMs: 10_000 },
          )
          .wait();
        expect(reply.value).toEqual({ pong: 7, runtime: ready.runtime });
        await me.request(agentId, "stop", {}, { type: "command", timeoutMs: 10_000 }).wait();
        await agent.next("stopped");
        expect(await agent.exited).toBe(0);
        expect((await me.discover({ type: "runtime-agent" })).map((a) => a.id)).not.toContain(
          agentId,
        );
        await me.close();
      } finally {
        agent.kill();
      }
    },
    60_000,
  );
});
