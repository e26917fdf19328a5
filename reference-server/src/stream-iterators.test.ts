import { describe, expect, it } from "vitest";
import { flatMapStream, observeStream } from "./stream-iterators.js";

/** A source that records what was asked of it. */
function source<T>(items: T[], options: { failAt?: number } = {}) {
  const log: string[] = [];
  let at = 0;
  let done = false;
  const it: AsyncIterator<T> = {
    async next() {
      log.push("next");
      if (done) return { done: true, value: undefined };
      if (options.failAt === at) throw new Error(`source failed at ${at}`);
      if (at >= items.length) {
        done = true;
        return { done: true, value: undefined };
      }
      return { done: false, value: items[at++] as T };
    },
    async return(value?: unknown) {
      log.push("return");
      done = true;
      return { done: true, value };
    },
  };
  return { log, iterable: { [Symbol.asyncIterator]: () => it } as AsyncIterable<T> };
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("observeStream", () => {
  function observed<T>(items: T[], options: { failAt?: number } = {}) {
    const s = source(items, options);
    const events: string[] = [];
    const stream = observeStream(s.iterable, {
      started: () => events.push("started"),
      ended: (failure) =>
        events.push(failure === undefined ? "ended" : `ended: ${(failure as Error).message}`),
    });
    return { stream, events, log: s.log };
  }

  it("passes the items on, reporting the start at the first next() and the end once", async () => {
    const { stream, events } = observed([1, 2, 3]);
    expect(events).toEqual([]);
    expect(await drain(stream)).toEqual([1, 2, 3]);
    expect(events).toEqual(["started", "ended"]);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(events).toEqual(["started", "ended"]);
  });

  it("reports the source's failure and passes it on", async () => {
    const { stream, events } = observed([1, 2], { failAt: 1 });
    expect(await stream.next()).toEqual({ done: false, value: 1 });
    await expect(stream.next()).rejects.toThrow("source failed at 1");
    expect(events).toEqual(["started", "ended: source failed at 1"]);
  });

  it("ends when the consumer returns early, returning from the source", async () => {
    const { stream, events, log } = observed([1, 2, 3]);
    for await (const x of stream) if (x === 1) break;
    expect(log).toEqual(["next", "return"]);
    expect(events).toEqual(["started", "ended"]);
  });

  it("a return() before the first next() starts nothing and touches no source", async () => {
    const { stream, events, log } = observed([1]);
    expect(await stream.return(7)).toEqual({ done: true, value: 7 });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(events).toEqual([]);
    expect(log).toEqual([]);
  });
});

describe("flatMapStream", () => {
  it("opens the source at the first next() and yields every item each step makes, in order", async () => {
    const s = source([1, 2, 3]);
    let opened = 0;
    const stream = flatMapStream(
      () => {
        opened++;
        return s.iterable;
      },
      (n) => Array.from({ length: n - 1 }, (_, i) => `${n}.${i}`),
    );
    expect(opened).toBe(0);
    expect(await drain(stream)).toEqual(["2.0", "3.0", "3.1"]);
    expect(opened).toBe(1);
  });

  it("returns from the source before passing on a step's error, transformed by failed()", async () => {
    const s = source([1, 2]);
    const stream = flatMapStream(
      () => s.iterable,
      (n) => {
        if (n === 2) throw new Error("bad item");
        return [n];
      },
      (err) => new Error(`wrapped: ${(err as Error).message}`),
    );
    expect(await stream.next()).toEqual({ done: false, value: 1 });
    await expect(stream.next()).rejects.toThrow("wrapped: bad item");
    expect(s.log).toEqual(["next", "next", "return"]);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it("passes on the source's error through failed()", async () => {
    const s = source([1], { failAt: 0 });
    const stream = flatMapStream(
      () => s.iterable,
      (n) => [n],
      (err) => new Error(`wrapped: ${(err as Error).message}`),
    );
    await expect(stream.next()).rejects.toThrow("wrapped: source failed at 0");
    expect(s.log).toEqual(["next"]);
  });

  it("return() returns from the source and drops the items not yet taken", async () => {
    const s = source([3]);
    const stream = flatMapStream(
      () => s.iterable,
      (n) => [n, n, n],
    );
    expect(await stream.next()).toEqual({ done: false, value: 3 });
    expect(await stream.return("x")).toEqual({ done: true, value: "x" });
    expect(s.log).toEqual(["next", "return"]);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it("a return() before the first next() opens nothing", async () => {
    let opened = false;
    const stream = flatMapStream(
      () => {
        opened = true;
        return source([1]).iterable;
      },
      (n) => [n],
    );
    expect(await stream.return()).toEqual({ done: true, value: undefined });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(opened).toBe(false);
  });
});
