// A redis-server of a test's own, which the test may kill (SIGKILL) and start again on the same
// port: every write goes to an append-only file in a directory of its own, so a restart keeps it.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Whether a redis-server binary is installed (the tests skip, saying so, without one). */
export const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;

export interface TestRedisServer {
  readonly url: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Kills it and removes its data. */
  dispose(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export async function startTestRedisServer(): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "acb-redis-"));
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn(
      "redis-server",
      [
        ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""],
        ...["--appendonly", "yes", "--appendfsync", "always"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = c;
    await new Promise<void>((resolve, reject) => {
      c.once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
      createInterface({ input: c.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        if (line.includes("Ready to accept connections")) resolve();
      });
    });
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: start,
    async dispose() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
