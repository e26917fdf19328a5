import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryNotifier } from "../storage/memory/memory-notifier.js";
import type { TenantRecord } from "../storage/types.js";
import { KnownAgents } from "./known-agents.js";
import { TenantCache } from "./tenant-cache.js";

/** A read the test answers when it chooses, counting how many were made. */
function gatedReads<T>() {
  const waiting: ((value: T) => void)[] = [];
  return {
    get count() {
      return waiting.length;
    },
    read: () => new Promise<T>((resolve) => waiting.push(resolve)),
    answerAll(value: T) {
      for (const resolve of waiting.splice(0)) resolve(value);
    },
  };
}

const tenant = { id: "t1" } as unknown as TenantRecord;

describe("TenantCache", () => {
  it("shares one store read among the calls that miss together", async () => {
    const reads = gatedReads<TenantRecord | undefined>();
    const cache = new TenantCache({ get: reads.read } as never, createMemoryNotifier());
    const calls = [cache.get("t1"), cache.get("t1"), cache.get("t1")];
    expect(reads.count).toBe(1);
    reads.answerAll(tenant);
    expect(await Promise.all(calls)).toEqual([tenant, tenant, tenant]);
    expect(await cache.get("t1")).toBe(tenant); // kept: no further read
    expect(reads.count).toBe(0);
  });

  it("does not share a read that began before a change was heard", async () => {
    const reads = gatedReads<TenantRecord | undefined>();
    const cache = new TenantCache({ get: reads.read } as never, createMemoryNotifier());
    const before = cache.get("t1");
    await cache.changed("t1");
    const after = cache.get("t1");
    expect(reads.count).toBe(2);
    reads.answerAll(tenant);
    await Promise.all([before, after]);
  });

  it("lets a failed read fail its callers and the next call read again", async () => {
    let n = 0;
    const cache = new TenantCache(
      {
        get: () => (++n === 1 ? Promise.reject(new Error("down")) : Promise.resolve(tenant)),
      } as never,
      createMemoryNotifier(),
    );
    await expect(Promise.all([cache.get("t1"), cache.get("t1")])).rejects.toThrow("down");
    expect(await cache.get("t1")).toBe(tenant);
    expect(n).toBe(2);
  });
});

describe("TenantCache: a copy in the last quarter of its life", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers at once and is read again beside the call, which renews it", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    const reads = gatedReads<TenantRecord | undefined>();
    const cache = new TenantCache({ get: reads.read } as never, createMemoryNotifier(), 1_000);
    const first = cache.get("t1");
    reads.answerAll(tenant);
    expect(await first).toBe(tenant);
    vi.advanceTimersByTime(700); // first three quarters: no read
    expect(await cache.get("t1")).toBe(tenant);
    expect(reads.count).toBe(0);
    vi.advanceTimersByTime(100); // last quarter: answered at once, one read started
    expect(await Promise.all([cache.get("t1"), cache.get("t1")])).toEqual([tenant, tenant]);
    expect(reads.count).toBe(1);
    const renewed = { ...tenant, name: "renewed" } as TenantRecord;
    reads.answerAll(renewed);
    await new Promise((resolve) => setImmediate(resolve)); // the refresh has settled
    vi.advanceTimersByTime(900); // past the first copy's end, within the renewed one's
    expect(await cache.get("t1")).toBe(renewed);
  });

  it("is dropped when the refresh finds the tenant gone", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    const reads = gatedReads<TenantRecord | undefined>();
    const cache = new TenantCache({ get: reads.read } as never, createMemoryNotifier(), 1_000);
    const first = cache.get("t1");
    reads.answerAll(tenant);
    await first;
    vi.advanceTimersByTime(800);
    expect(await cache.get("t1")).toBe(tenant);
    reads.answerAll(undefined);
    await new Promise((resolve) => setImmediate(resolve));
    const next = cache.get("t1");
    expect(reads.count).toBe(1);
    reads.answerAll(undefined);
    expect(await next).toBeUndefined();
  });
});

describe("KnownAgents", () => {
  it("shares one registry read among the sends that miss together", async () => {
    const reads = gatedReads<unknown>();
    const known = new KnownAgents({ get: reads.read } as never, createMemoryNotifier());
    const calls = [known.exists("t1", "a"), known.exists("t1", "a"), known.exists("t1", "b")];
    expect(reads.count).toBe(2); // one per agent
    reads.answerAll({ id: "x" });
    expect(await Promise.all(calls)).toEqual([true, true, true]);
    expect(await known.exists("t1", "a")).toBe(true);
    expect(reads.count).toBe(0);
  });

  describe("an entry in the last quarter of its life", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("answers at once and is read again beside the send, which keeps it", async () => {
      vi.useFakeTimers({ toFake: ["performance"] });
      const reads = gatedReads<unknown>();
      const known = new KnownAgents({ get: reads.read } as never, createMemoryNotifier(), 1_000);
      const first = known.exists("t1", "a");
      reads.answerAll({ id: "a" });
      expect(await first).toBe(true);
      vi.advanceTimersByTime(700); // first three quarters: no read
      expect(await known.exists("t1", "a")).toBe(true);
      expect(reads.count).toBe(0);
      vi.advanceTimersByTime(100); // last quarter: answered at once, one read started
      expect(await known.exists("t1", "a")).toBe(true);
      expect(await known.exists("t1", "a")).toBe(true);
      expect(reads.count).toBe(1);
      reads.answerAll({ id: "a" });
      await new Promise((resolve) => setImmediate(resolve)); // the refresh has settled
      // Renewed from when the refresh began (800): still known at 1,700, past the first entry's end.
      vi.advanceTimersByTime(900);
      expect(await known.exists("t1", "a")).toBe(true);
      expect(reads.count).toBe(1); // aging again: refreshed beside the send, not waited for
    });

    it("is forgotten when the refresh finds the agent gone", async () => {
      vi.useFakeTimers({ toFake: ["performance"] });
      const reads = gatedReads<unknown>();
      const known = new KnownAgents({ get: reads.read } as never, createMemoryNotifier(), 1_000);
      const first = known.exists("t1", "a");
      reads.answerAll({ id: "a" });
      await first;
      vi.advanceTimersByTime(800);
      expect(await known.exists("t1", "a")).toBe(true);
      reads.answerAll(undefined); // unregistered, and the announcement was lost
      await new Promise((resolve) => setImmediate(resolve)); // the refresh has settled
      const next = known.exists("t1", "a");
      expect(reads.count).toBe(1); // not answered from the entry: read again
      reads.answerAll(undefined);
      expect(await next).toBe(false);
    });
  });

  it("does not share a read that began before the agent was announced gone", async () => {
    const reads = gatedReads<unknown>();
    const known = new KnownAgents({ get: reads.read } as never, createMemoryNotifier());
    const before = known.exists("t1", "a");
    await known.gone("t1", "a");
    const after = known.exists("t1", "a");
    expect(reads.count).toBe(2);
    reads.answerAll(undefined);
    expect(await Promise.all([before, after])).toEqual([false, false]);
  });
});
