// The Notifier part of the shared backend suite: a publish reaches every subscriber of its
// channel (also through another backend instance over the same state) and nobody else.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { fresh } from "./helpers.js";

/** Resolves with the first payload published on `channel`. */
async function next(backend: Backend, channel: string) {
  let resolve: (p: string) => void = () => {};
  const got = new Promise<string>((r) => {
    resolve = r;
  });
  const unsubscribe = await backend.notifier.subscribe(channel, (p) => resolve(p));
  return { got, unsubscribe };
}

export function notifierTests(get: () => Backend, reopen: () => Promise<Backend>): void {
  describe("notifier", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("delivers a publish to every subscriber of the channel, and not after unsubscribe", async () => {
      const channel = `inbox:${fresh()}:a`;
      const seen: string[] = [];
      const stop = await backend.notifier.subscribe(channel, (p) => seen.push(`1:${p}`));
      const second = await next(backend, channel);
      const elsewhere: string[] = [];
      const stopOther = await backend.notifier.subscribe(`${channel}x`, (p) => elsewhere.push(p));
      await backend.notifier.publish(channel, "hello");
      expect(await second.got).toBe("hello");
      second.unsubscribe();
      stop();
      // A publish after unsubscribing reaches only a new subscriber (which proves it was sent).
      const third = await next(backend, channel);
      await backend.notifier.publish(channel, "again");
      expect(await third.got).toBe("again");
      third.unsubscribe();
      stopOther();
      expect(seen).toEqual(["1:hello"]);
      expect(elsewhere).toEqual([]);
    });

    it("reaches a subscriber of another instance over the same state", async () => {
      const other = await reopen();
      try {
        const channel = `request:${fresh()}:r1`;
        const waiting = await next(other, channel);
        await backend.notifier.publish(channel, "");
        expect(await waiting.got).toBe("");
        waiting.unsubscribe();
      } finally {
        if (other !== backend) await other.close();
      }
    });
  });
}
