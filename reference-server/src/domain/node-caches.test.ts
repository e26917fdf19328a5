import { describe, expect, it } from "vitest";
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
