// The hub's hot state in Redis (ioredis): quota counters, large-context stream slots and
// cross-node notifications (pub/sub). Every key lives under "tenant:{<tenant>}:" — the braces are
// a Redis Cluster hash tag, so all keys of one tenant share a slot and one Lua script may touch
// several of them. Multi-key changes run as Lua scripts (defineCommand), so each is atomic.
//
// A lost connection never waits: commands fail at once (no offline queue) with UNAVAILABLE and a
// retry hint, `isAvailable()` turns false (the hub's readiness), and ioredis reconnects by itself.

import { Redis, ReplyError } from "ioredis";
import { Code, hubError } from "../../errors.js";
import type { BackendMetricsHook } from "../backend-metrics.js";
import type { Notifier, RateCharge, RateLimiter, StreamSlotStore } from "../types.js";

/** Options of {@link createRedisStores}. */
export interface RedisStoresOptions {
  /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
  url: string;
  /**
   * Prepended to every key and pub/sub channel, for several hubs (or test runs) on one Redis.
   * Default: none.
   */
  keyPrefix?: string;
  /** Where command counts and failures go (the hub's metrics). Default: none. */
  metrics?: BackendMetricsHook;
}

/** The Redis-held stores a composed backend uses in place of the SQL ones. */
export interface RedisStores {
  readonly rateLimits: RateLimiter;
  readonly streamSlots: StreamSlotStore;
  readonly notifier: Notifier;
  /** False while a connection (commands, pub/sub) is not ready. */
  isAvailable(): boolean;
  /** Resolves once both connections are ready (at once when they are). */
  whenAvailable(): Promise<void>;
  /** Forgets every key of the tenant (counters, slots). */
  deleteTenant(tenantId: string): Promise<void>;
  /** The keys of a tenant, without the key prefix (for checks). */
  tenantKeys(tenantId: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The key of a tenant's hot state: tenant:{<tenant>}:<rest>. */
export const tenantKey = (tenantId: string, rest: string) => `tenant:{${tenantId}}:${rest}`;

/** RateCharge keys are "tenant:<id>:<rest>" (see RateLimiter). */
function chargeKey(c: RateCharge): string {
  const m = /^tenant:([^:]+):(.*)$/.exec(c.key);
  if (!m?.[1]) throw new Error(`a rate counter key must start with "tenant:<id>:", not "${c.key}"`);
  return tenantKey(m[1], `rate:${m[2]}:${c.windowStart}`);
}

// KEYS: the counters; ARGV: amount, limit, time to live (ms) for each in turn. Refuses when any
// counter would pass its limit (returns its index, 1-based, and current value); otherwise charges
// all and returns {0, 0}.
const CONSUME = `
for i = 1, #KEYS do
  local amount = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if limit > 0 and used + amount > limit then return {i, used} end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[3 * i - 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[3 * i])
end
return {0, 0}`;

// KEYS[1]: the agent's slots (sorted set holder -> expiresAt). ARGV: holder, limit, expiresAt, now.
// Leases are decided by their scores (hub clock); the key's own TTL (a day, renewed by every
// acquire and renew) only collects the sets of agents that went away.
// Returns -1 when granted, else the number of unexpired slots held.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 86400000)
  return -1
end
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[2]) then return held end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
return -1`;

// KEYS[1]: the agent's slots. ARGV: holder, expiresAt. Moves the lease of a held slot (XX).
const RENEW = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 86400000)
end
return 0`;

/**
 * A counter lives one window length (plus this) after its first charge: long enough for its
 * window, whatever the hub clock's origin, and then it is gone by itself.
 */
const WINDOW_SLACK_MS = 60_000;

type ScriptedRedis = Redis & {
  acbConsume(...args: (string | number)[]): Promise<[number, number]>;
  acbAcquire(key: string, ...args: (string | number)[]): Promise<number>;
  acbRenew(key: string, holder: string, expiresAt: number): Promise<number>;
};

const unavailable = (err: unknown) =>
  hubError(Code.Unavailable, "the hub's Redis cannot be reached; retry later", {
    retryAfterMs: 1_000,
    cause: err,
  });

/** Reports every command `conn` sends, by command name (bounded: Redis's command set). */
function countCommands(conn: Redis, metrics: BackendMetricsHook): void {
  const send = conn.sendCommand.bind(conn);
  conn.sendCommand = (command, stream) => {
    const result = send(command, stream);
    command.promise.then(
      () => metrics.redisCommand(command.name, true),
      () => metrics.redisCommand(command.name, false),
    );
    return result;
  };
}

/** Connects to Redis (waiting until the connection is ready) and builds the stores. */
export async function createRedisStores(options: RedisStoresOptions): Promise<RedisStores> {
  const prefix = options.keyPrefix ?? "";
  const common = {
    // Fail commands at once while disconnected instead of queueing them: the caller answers
    // UNAVAILABLE and its client retries, which never applies a charge twice.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(100 * times, 2_000),
  };
  const redis = new Redis(options.url, { ...common, keyPrefix: prefix }) as ScriptedRedis;
  // Pub/sub needs its own connection.
  const sub = new Redis(options.url, { ...common, enableOfflineQueue: true });
  const metrics = options.metrics;
  if (metrics) for (const conn of [redis, sub]) countCommands(conn, metrics);
  redis.on("error", () => {}); // state is reported through isAvailable; each command fails itself
  sub.on("error", () => {});
  try {
    await redis.connect();
    await sub.connect();
  } catch (err) {
    redis.disconnect();
    sub.disconnect();
    throw new Error(`cannot connect to Redis at ${redactRedisUrl(options.url)}: ${String(err)}`);
  }
  redis.defineCommand("acbConsume", { lua: CONSUME });
  redis.defineCommand("acbAcquire", { numberOfKeys: 1, lua: ACQUIRE });
  redis.defineCommand("acbRenew", { numberOfKeys: 1, lua: RENEW });

  // A command that failed for want of a connection marks the connection broken until it is
  // ready again (ioredis may reject a command before it updates its status).
  let broken = false;
  redis.on("ready", () => {
    broken = false;
  });
  const recheck = async () => {
    // Broken while ioredis still says ready: one PING decides (e.g. a failure that closed nothing).
    if (broken && redis.status === "ready")
      broken = !(await redis.ping().then(
        () => true,
        () => false,
      ));
  };
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    await recheck();
    if (broken || redis.status !== "ready")
      throw unavailable(new Error(`connection ${redis.status}`));
    try {
      return await fn();
    } catch (err) {
      // An error reply is Redis refusing a command (a bug, not an outage).
      if (err instanceof ReplyError)
        throw hubError(Code.Internal, "a Redis command failed", { cause: err });
      broken = true;
      throw unavailable(err);
    }
  };

  const rateLimits: RateLimiter = {
    async consume(charges) {
      if (charges.length === 0) return { ok: true };
      const keys = charges.map(chargeKey);
      const args = charges.flatMap((c) => [
        c.amount,
        c.limit,
        c.windowEnd - c.windowStart + WINDOW_SLACK_MS,
      ]);
      const [index, used] = await call(() =>
        redis.acbConsume(keys.length, ...keys, ...args.map(String)),
      );
      if (index === 0) return { ok: true };
      const refused = charges[index - 1] as RateCharge;
      return { ok: false, refused, used };
    },
  };

  const slotsKey = (tenantId: string, agentId: string) => tenantKey(tenantId, `slots:${agentId}`);
  const streamSlots: StreamSlotStore = {
    async acquire(tenantId, agentId, holderId, limit, expiresAt, now) {
      const held = await call(() =>
        redis.acbAcquire(slotsKey(tenantId, agentId), holderId, limit, expiresAt, now),
      );
      return held < 0 ? { ok: true } : { ok: false, held };
    },
    async renew(tenantId, agentId, holderId, expiresAt) {
      await call(() => redis.acbRenew(slotsKey(tenantId, agentId), holderId, expiresAt));
    },
    async release(tenantId, agentId, holderId) {
      await call(() => redis.zrem(slotsKey(tenantId, agentId), holderId));
    },
  };

  // Pub/sub: one Redis channel per hub channel, subscribed while anyone in this process listens.
  const listeners = new Map<string, Set<(payload: string) => void>>();
  sub.on("message", (channel: string, payload: string) => {
    const name = channel.slice(prefix.length);
    for (const l of [...(listeners.get(name) ?? [])]) l(payload);
  });
  const notifier: Notifier = {
    async publish(channel, payload = "") {
      await call(() => redis.publish(prefix + channel, payload));
    },
    async subscribe(channel, listener) {
      // Fail at once while the pub/sub connection is away (ioredis subscribes again, by itself,
      // to the channels it had when it comes back).
      // A broken command connection means the same server is away.
      await recheck();
      if (broken || sub.status !== "ready")
        throw unavailable(new Error(`pub/sub connection ${sub.status}`));
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        try {
          await sub.subscribe(prefix + channel);
        } catch (err) {
          listeners.delete(channel);
          throw unavailable(err);
        }
      }
      // A wrapper, so the same function subscribed twice is two subscriptions.
      const entry = (payload: string) => listener(payload);
      set.add(entry);
      return () => {
        set.delete(entry);
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel);
          sub.unsubscribe(prefix + channel).catch(() => {});
        }
      };
    },
  };

  const tenantKeys = async (tenantId: string) => {
    // SCAN MATCH does not apply keyPrefix: give the full pattern, strip the prefix after.
    const pattern = `${globEscape(prefix + tenantKey(tenantId, ""))}*`;
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await call(() => redis.scan(cursor, "MATCH", pattern, "COUNT", 500));
      cursor = next;
      for (const k of keys) found.push(k.slice(prefix.length));
    } while (cursor !== "0");
    return found;
  };

  return {
    rateLimits,
    streamSlots,
    notifier,
    isAvailable: () => !broken && redis.status === "ready" && sub.status === "ready",
    async whenAvailable() {
      if (broken && redis.status === "ready")
        await new Promise<void>((r) => redis.once("ready", () => r()));
      for (const c of [redis, sub]) {
        if (c.status !== "ready") await new Promise<void>((r) => c.once("ready", () => r()));
      }
    },
    async deleteTenant(tenantId) {
      const keys = await tenantKeys(tenantId);
      for (let i = 0; i < keys.length; i += 500) {
        const batch = keys.slice(i, i + 500);
        await call(() => redis.del(...batch));
      }
    },
    tenantKeys,
    async close() {
      redis.disconnect();
      sub.disconnect();
    },
  };
}

const globEscape = (s: string) => s.replaceAll(/[*?[\]\\]/g, "\\$&");

/** The URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}
