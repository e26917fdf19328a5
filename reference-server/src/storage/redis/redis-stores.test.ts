// The Redis stores against a redis-server of the test's own (so it can be killed): a lost
// connection answers UNAVAILABLE with a retry hint and turns readiness false, charges nothing, and
// the stores work again once Redis is back.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { fresh } from "../suite/helpers.js";
import { createRedisStores } from "./redis-stores.js";

const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;
if (!hasRedis) console.warn("redis-server is not installed: skipping the Redis outage test");

const dir = mkdtempSync(join(tmpdir(), "acb-redis-"));
const children = new Set<ChildProcess>();
afterAll(async () => {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** Starts redis-server on `port`, persisting every write to an append-only file in `dir`. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.includes("Ready to accept connections")) resolve();
    });
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGKILL");
  await exited;
}

describe.skipIf(!hasRedis)("redis stores when Redis goes away", () => {
  it("answer UNAVAILABLE with retry info, report not ready, charge nothing, and recover", async () => {
    const port = await freePort();
    let server = await startRedis(port);
    const stores = await createRedisStores({ url: `redis://127.0.0.1:${port}` });
    try {
      const t = fresh();
      const charge = (amount: number) => ({
        key: `tenant:${t}:messages`,
        amount,
        limit: 3,
        windowStart: 0,
        windowEnd: 60_000,
      });
      expect(await stores.rateLimits.consume([charge(2)])).toEqual({ ok: true });
      expect(stores.isAvailable()).toBe(true);

      await stop(server);
      const err = await stores.rateLimits.consume([charge(1)]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      const e = err as ConnectError;
      expect(e.code).toBe(Code.Unavailable);
      expect(e.message).toContain("Redis cannot be reached");
      expect(Number(e.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds)).toBe(1);
      expect(stores.isAvailable()).toBe(false);
      const slot = await stores.streamSlots.acquire(t, "a", "h", 1, 10, 0).catch((x: unknown) => x);
      expect((slot as ConnectError).code).toBe(Code.Unavailable);

      server = await startRedis(port);
      await stores.whenAvailable();
      expect(stores.isAvailable()).toBe(true);
      // The refused charge was not applied: 2 + 1 fits the limit of 3, and one more does not.
      expect(await stores.rateLimits.consume([charge(1)])).toEqual({ ok: true });
      expect(await stores.rateLimits.consume([charge(1)])).toMatchObject({ ok: false, used: 3 });
      // Pub/sub subscriptions made after the restart deliver again.
      const got = new Promise<string>((resolve) => {
        void stores.notifier
          .subscribe("inbox:x", resolve)
          .then(() => stores.notifier.publish("inbox:x", "back"));
      });
      expect(await got).toBe("back");
    } finally {
      await stores.close();
      await stop(server);
    }
  });
});

if (!hasRedis) it.skip("redis stores when Redis goes away (redis-server not installed)", () => {});
