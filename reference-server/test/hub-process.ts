// Runs `acb-hub` from the current sources in a process of its own, as a deployment runs it, so a
// test can kill it (SIGKILL) and start another. The CLI is bundled once per run with esbuild
// (workspace packages from their TypeScript sources; npm packages stay external).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";

const root = resolve(import.meta.dirname, "../..");
let bundled: Promise<string> | undefined;

/** The CLI bundled into node_modules/.cache (ignored by git; npm packages resolve from there). */
export function bundleCli(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import("esbuild");
    const outfile = join(root, "node_modules/.cache/acb-hub-test", `cli-${process.pid}.mjs`);
    mkdirSync(dirname(outfile), { recursive: true });
    await build({
      entryPoints: [join(root, "reference-server/src/cli.ts")],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      conditions: ["source"],
      external: ["pg", "@electric-sql/pglite", "@bufbuild/*", "@connectrpc/*", "jose"],
      logLevel: "error",
    });
    return outfile;
  })();
  return bundled;
}

/** Deletes this run's bundle. */
export async function removeBundle(): Promise<void> {
  const file = await bundled?.catch(() => undefined);
  bundled = undefined;
  if (file) rmSync(file, { force: true });
}

export interface HubProcess {
  url: string;
  adminToken: string;
  epoch: string;
  child: ChildProcess;
  /** SIGKILL: no drain, no shutdown hook; resolves once the process is gone. */
  kill(): Promise<void>;
}

/** Starts `acb-hub dev ARGS` and resolves once it listens. */
export async function startHubProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<HubProcess> {
  const cli = await bundleCli();
  const child = spawn(
    process.execPath,
    [cli, "dev", "--port", "0", "--log-level", "warn", ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  const stderr: string[] = [];
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const info = await new Promise<{ url: string; adminToken: string; epoch: string }>(
    (resolveInfo, reject) => {
      child.once("exit", (code) =>
        reject(new Error(`acb-hub exited (${code}) before listening: ${stderr.join("")}`)),
      );
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        if (!line.startsWith("{")) return;
        const parsed = JSON.parse(line) as {
          event?: string;
          url: string;
          adminToken: string;
          epoch: string;
        };
        if (parsed.event === "listening") resolveInfo(parsed);
      });
    },
  );
  return {
    ...info,
    child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
