import { afterEach, describe, expect, it, vi } from "vitest";
import { GroupCommit, TurnBatch } from "./group-commit.js";

/** A commit the test completes when it chooses, recording each batch. */
function gatedCommits() {
  const batches: { key: string; items: number[]; done: (fail?: Error) => void }[] = [];
  const commit = (key: string, items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({
        key,
        items,
        done: (fail) => (fail ? reject(fail) : resolve(items.map((i) => `${key}:${i}`))),
      });
    });
  return { batches, commit };
}

describe("GroupCommit", () => {
  it("starts a quiet group's write at once, and commits what queued meanwhile together, in order", async () => {
    const { batches, commit } = gatedCommits();
    const group = new GroupCommit(commit);
    const first = group.submit("t", 1);
    expect(batches.map((b) => b.items)).toEqual([[1]]);
    const later = [group.submit("t", 2), group.submit("t", 3), group.submit("t", 4)];
    expect(batches).toHaveLength(1);
    batches[0]?.done();
    expect(await first).toBe("t:1");
    await Promise.resolve();
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
    batches[1]?.done();
    expect(await Promise.all(later)).toEqual(["t:2", "t:3", "t:4"]);
    expect(group.active).toBe(0);
  });

  it("keeps groups apart: another key does not wait", () => {
    const { batches, commit } = gatedCommits();
    const group = new GroupCommit(commit);
    void group.submit("a", 1);
    void group.submit("b", 2);
    expect(batches.map((b) => [b.key, b.items])).toEqual([
      ["a", [1]],
      ["b", [2]],
    ]);
  });

  it("fails every write of a failed batch, and goes on with the next", async () => {
    const { batches, commit } = gatedCommits();
    const group = new GroupCommit(commit);
    const first = group.submit("t", 1);
    const second = [group.submit("t", 2), group.submit("t", 3)];
    const third = expect(Promise.all(second)).rejects.toThrow("down");
    batches[0]?.done();
    await first;
    await Promise.resolve();
    const fourth = group.submit("t", 4);
    batches[1]?.done(new Error("down"));
    await third;
    await Promise.resolve();
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3], [4]]);
    batches[2]?.done();
    expect(await fourth).toBe("t:4");
  });

  it("commits at most maxBatch writes at a time", async () => {
    const { batches, commit } = gatedCommits();
    const group = new GroupCommit(commit, { maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => group.submit("t", i));
    for (let k = 0; k < 3; k++) {
      batches[k]?.done();
      await Promise.resolve();
      await Promise.resolve();
    }
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3], [4, 5]]);
    expect(await Promise.all(all)).toHaveLength(5);
  });
});

describe("GroupCommit with a linger", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("holds a quiet group's first write for lingerMs, and commits what joined it together", async () => {
    vi.useFakeTimers();
    const { batches, commit } = gatedCommits();
    const group = new GroupCommit(commit, { lingerMs: 4 });
    const writes = [group.submit("t", 1)];
    vi.advanceTimersByTime(3);
    writes.push(group.submit("t", 2), group.submit("t", 3));
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3]]);
    // Writes that queue while a batch commits follow it at once: only a quiet group lingers.
    writes.push(group.submit("t", 4));
    batches[0]?.done();
    await Promise.resolve();
    await Promise.resolve();
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3], [4]]);
    batches[1]?.done();
    expect(await Promise.all(writes)).toEqual(["t:1", "t:2", "t:3", "t:4"]);
    expect(group.active).toBe(0);
  });
});

describe("TurnBatch", () => {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it("runs the requests of one group made in one turn as one batch, each answered in its place", async () => {
    const { batches, commit } = gatedCommits();
    const batch = new TurnBatch(commit);
    const a = [batch.submit("t", 1), batch.submit("t", 2), batch.submit("u", 3)];
    expect(batches).toHaveLength(0);
    await turn();
    expect(batches.map((b) => [b.key, b.items])).toEqual([
      ["t", [1, 2]],
      ["u", [3]],
    ]);
    for (const b of batches) b.done();
    expect(await Promise.all(a)).toEqual(["t:1", "t:2", "u:3"]);
  });

  it("does not hold a later turn's requests behind a batch still running", async () => {
    const { batches, commit } = gatedCommits();
    const batch = new TurnBatch(commit);
    const first = batch.submit("t", 1);
    await turn();
    const second = batch.submit("t", 2);
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1], [2]]);
    batches[1]?.done();
    expect(await second).toBe("t:2");
    batches[0]?.done();
    expect(await first).toBe("t:1");
  });

  it("splits a turn's requests into batches of at most maxBatch, and fails each failed batch whole", async () => {
    const { batches, commit } = gatedCommits();
    const batch = new TurnBatch(commit, 2);
    const all = [1, 2, 3].map((i) => batch.submit("t", i));
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1, 2], [3]]);
    const failed = expect(Promise.all(all.slice(0, 2))).rejects.toThrow("down");
    batches[0]?.done(new Error("down"));
    batches[1]?.done();
    await failed;
    expect(await all[2]).toBe("t:3");
  });
});
