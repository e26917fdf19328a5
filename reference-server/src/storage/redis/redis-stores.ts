// The hub's hot state in Redis (ioredis): quota counters, large-context stream slots and
// cross-node notifications (pub/sub). Every key lives under "tenant:{<tenant>}:" — the braces are
// a Redis Cluster hash tag, so all keys of one tenant share a slot and one Lua script may touch
// several of them. Multi-key changes run as Lua scripts (defineCommand), so each is atomic.
//
// A lost connection never waits: commands fail at once (no offline queue) with UNAVAILABLE and a
// retry hint, `isAvailable()` turns false (the hub's readiness), and ioredis reconnects by itself.

import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import { Code, hubError } from "../../errors.js";
import type { BackendMetricsHook } from "../backend-metrics.js";
import type { AgentRecord, Notifier, RateCharge, RateLimiter, StreamSlotStore } from "../types.js";

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
  /** The agents' presence keys (see redis/presence-registry.ts). */
  readonly presence: PresenceKeys;
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

/** What an agent's presence key holds when it may absorb touches. */
export interface PresenceEntry {
  /** The agent's precise lastSeen (at least the stored one). */
  seen: number;
  /** The presence timeout of the touches it absorbs. */
  timeoutMs: number;
}

/**
 * An agent's presence key, tenant:{<t>}:presence:<agent>: a hash of the agent as the durable
 * registry last stored it through a touch (`doc`, `off` = its stored offlineAt, `t` = the
 * presence timeout), the precise lastSeen (`seen`, moved by absorbed touches), and a fence token
 * (`g`). A write that changes the agent otherwise (put, delete, markOffline) fences the key: it
 * empties it under a new token, so a refresh computed before that write (which names the token
 * it read) is refused instead of bringing back what the write replaced.
 */
export interface PresenceKeys {
  /**
   * Records `at` as the precise lastSeen when the key may absorb it: it holds the agent, its
   * timeout is `timeoutMs`, and the stored offlineAt is at least half of it after `at`. Otherwise
   * answers the key's token (for {@link refresh}) and the precise lastSeen it holds, if any.
   */
  absorb(
    tenantId: string,
    agentId: string,
    at: number,
    timeoutMs: number,
  ): Promise<
    | { absorbed: true; agent: AgentRecord; seenBefore: number; seen: number }
    | { absorbed: false; token: string; seen?: number }
  >;
  /**
   * Stores `agent` as the durable registry now holds it (after a touch with `timeoutMs`) when
   * the key's token is still `token`; keeps a later precise lastSeen. False when refused.
   */
  refresh(
    tenantId: string,
    agentId: string,
    token: string,
    agent: AgentRecord,
    timeoutMs: number,
    at: number,
  ): Promise<boolean>;
  /**
   * Empties the key under a new token (see {@link PresenceKeys}), keeping only the precise
   * lastSeen with `keepSeen`; answers the precise lastSeen it held.
   */
  fence(tenantId: string, agentId: string, keepSeen?: boolean): Promise<PresenceEntry | undefined>;
  /** The precise lastSeen the keys of these agents hold, in one round trip. */
  read(agents: readonly { tenantId: string; id: string }[]): Promise<(PresenceEntry | undefined)[]>;
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

// KEYS[1]: an agent's presence key. ARGV: at, timeout, time to live (ms). Absorbs `at` when the
// key holds the agent with this timeout and its stored offlineAt is at least half the timeout
// after `at`: returns {1, seen before, seen now, doc}; else {0, token, seen or ''}. Numbers stay
// the strings they came as (a Lua number would print in exponent form or lose its fraction).
const ABSORB = `
local v = redis.call('HMGET', KEYS[1], 'g', 'seen', 'off', 't', 'doc')
local at = tonumber(ARGV[1])
if v[3] and v[5] and tonumber(v[4]) == tonumber(ARGV[2])
    and tonumber(v[3]) - at >= tonumber(ARGV[2]) / 2 then
  local seen = v[2]
  if at > tonumber(seen) then
    seen = ARGV[1]
    redis.call('HSET', KEYS[1], 'seen', seen)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, v[2], seen, v[5]}
end
return {0, v[1] or '', v[2] or ''}`;

// KEYS[1]: an agent's presence key. ARGV: token, seen, off, timeout, doc, time to live (ms).
// Stores the agent when the key's token is still the one given (absent = ''); keeps a later seen.
const REFRESH = `
if (redis.call('HGET', KEYS[1], 'g') or '') ~= ARGV[1] then return 0 end
local seen = ARGV[2]
local cur = redis.call('HGET', KEYS[1], 'seen')
if cur and tonumber(cur) > tonumber(seen) then seen = cur end
redis.call('HSET', KEYS[1], 'seen', seen, 'off', ARGV[3], 't', ARGV[4], 'doc', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1`;

// KEYS[1]: an agent's presence key. ARGV: new token, time to live (ms), '1' to keep the precise
// lastSeen (and its timeout). Returns the precise lastSeen and timeout it held ('' for none).
const FENCE = `
local v = redis.call('HMGET', KEYS[1], 'seen', 't')
redis.call('DEL', KEYS[1])
if ARGV[3] == '1' and v[1] and v[2] then
  redis.call('HSET', KEYS[1], 'g', ARGV[1], 'seen', v[1], 't', v[2])
else
  redis.call('HSET', KEYS[1], 'g', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {v[1] or '', v[2] or ''}`;

/**
 * How long a presence key outlives the latest moment it may matter (its precise offline moment)
 * and how long a fence lasts: longer than any touch takes between reading a token and refreshing.
 */
const PRESENCE_SLACK_MS = 10 * 60_000;

type ScriptedRedis = Redis & {
  acbConsume(...args: (string | number)[]): Promise<[number, number]>;
  acbAcquire(key: string, ...args: (string | number)[]): Promise<number>;
  acbRenew(key: string, holder: string, expiresAt: number): Promise<number>;
  acbAbsorb(key: string, ...args: (string | number)[]): Promise<[number, string, string, string?]>;
  acbRefresh(key: string, ...args: (string | number)[]): Promise<number>;
  acbFence(key: string, token: string, ttl: number, keep: string): Promise<[string, string]>;
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
  redis.defineCommand("acbAbsorb", { numberOfKeys: 1, lua: ABSORB });
  redis.defineCommand("acbRefresh", { numberOfKeys: 1, lua: REFRESH });
  redis.defineCommand("acbFence", { numberOfKeys: 1, lua: FENCE });

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

  const presenceKey = (tenantId: string, agentId: string) =>
    tenantKey(tenantId, `presence:${agentId}`);
  // Times to live are relative (PEXPIRE), from the hub clock's `at`: right whatever its origin.
  const presence: PresenceKeys = {
    async absorb(tenantId, agentId, at, timeoutMs) {
      const ttl = Math.ceil(timeoutMs) + PRESENCE_SLACK_MS;
      const [absorbed, a, b, doc] = await call(() =>
        redis.acbAbsorb(presenceKey(tenantId, agentId), String(at), String(timeoutMs), ttl),
      );
      if (absorbed === 1) {
        const seen = Number(b);
        return {
          absorbed: true,
          seenBefore: Number(a),
          seen,
          agent: {
            ...(JSON.parse(doc ?? "") as AgentRecord),
            lastSeen: seen,
            offlineAt: seen + timeoutMs,
          },
        };
      }
      return { absorbed: false, token: a, ...(b !== "" && { seen: Number(b) }) };
    },
    async refresh(tenantId, agentId, token, agent, timeoutMs, at) {
      const off = agent.offlineAt ?? agent.lastSeen + timeoutMs;
      const ttl = Math.max(0, Math.ceil(off - at)) + Math.ceil(timeoutMs) + PRESENCE_SLACK_MS;
      const done = await call(() =>
        redis.acbRefresh(
          presenceKey(tenantId, agentId),
          token,
          String(agent.lastSeen),
          String(off),
          String(timeoutMs),
          JSON.stringify(agent),
          ttl,
        ),
      );
      return done === 1;
    },
    async fence(tenantId, agentId, keepSeen = false) {
      const token = randomBytes(9).toString("base64url");
      const [seen, t] = await call(() =>
        redis.acbFence(
          presenceKey(tenantId, agentId),
          token,
          PRESENCE_SLACK_MS,
          keepSeen ? "1" : "0",
        ),
      );
      return seen !== "" && t !== "" ? { seen: Number(seen), timeoutMs: Number(t) } : undefined;
    },
    async read(agents) {
      if (agents.length === 0) return [];
      const replies = await call(async () => {
        const pipeline = redis.pipeline();
        for (const a of agents) pipeline.hmget(presenceKey(a.tenantId, a.id), "seen", "t");
        const results = (await pipeline.exec()) ?? [];
        // A failed command fails the whole read, as `call` classifies it (refusal or outage).
        for (const [err] of results) if (err) throw err;
        return results.map(([, value]) => value as (string | null)[]);
      });
      return replies.map(([seen, t]) =>
        seen != null && t != null ? { seen: Number(seen), timeoutMs: Number(t) } : undefined,
      );
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
    presence,
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
