// The Redis stores against a redis-server of the test's own (so it can be killed): a lost
// connection answers UNAVAILABLE with a retry hint and turns readiness false, charges nothing, and
// the stores work again once Redis is back.

import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { fresh } from "../suite/helpers.js";
import { createRedisStores, tenantKey } from "./redis-stores.js";
import { hasRedisServer as hasRedis, startTestRedisServer } from "./redis-test-server.js";

if (!hasRedis) console.warn("redis-server is not installed: skipping the Redis outage test");
const disposers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of disposers) await d();
});

describe.skipIf(!hasRedis)("redis stores when Redis goes away", () => {
  it("answer INTERNAL, not UNAVAILABLE, when Redis refuses a command, and stay available", async () => {
    const server = await startTestRedisServer();
    disposers.push(server.dispose);
    const stores = await createRedisStores({ url: server.url });
    const raw = new Redis(server.url);
    try {
      const t = fresh();
      // A counter key that someone else filled with text: the script fails on it.
      await raw.set(tenantKey(t, "rate:messages:0"), "not a number");
      const charge = {
        key: `tenant:${t}:messages`,
        amount: 1,
        limit: 5,
        windowStart: 0,
        windowEnd: 60_000,
      };
      const err = await stores.rateLimits.consume([charge]).catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.Internal);
      expect(stores.isAvailable()).toBe(true);
    } finally {
      raw.disconnect();
      await stores.close();
    }
  });

  it("answer UNAVAILABLE with retry info, report not ready, charge nothing, and recover", async () => {
    const server = await startTestRedisServer();
    disposers.push(server.dispose);
    const stores = await createRedisStores({ url: server.url });
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

      await server.kill();
      const err = await stores.rateLimits.consume([charge(1)]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      const e = err as ConnectError;
      expect(e.code).toBe(Code.Unavailable);
      expect(e.message).toContain("Redis cannot be reached");
      expect(Number(e.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds)).toBe(1);
      expect(stores.isAvailable()).toBe(false);
      const subscribed = await stores.notifier
        .subscribe("inbox:y", () => {})
        .catch((x: unknown) => x);
      expect((subscribed as ConnectError).code).toBe(Code.Unavailable);
      const slot = await stores.streamSlots.acquire(t, "a", "h", 1, 10, 0).catch((x: unknown) => x);
      expect((slot as ConnectError).code).toBe(Code.Unavailable);

      await server.restart();
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
    }
  });
});

if (!hasRedis) it.skip("redis stores when Redis goes away (redis-server not installed)", () => {});
