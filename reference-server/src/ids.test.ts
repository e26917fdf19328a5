import { describe, expect, it } from "vitest";
import { newId, randomToken } from "./ids.js";

describe("ids", () => {
  it("sort by their time, whatever order the times come in", () => {
    const times = [1_700_000_000_000, 1_700_000_000_000, 5, 1_700_000_000_001, 0, 2 ** 40];
    const ids = times.map((t) => newId("msg_", t));
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-hjkmnp-tv-z]{26}$/);
    // An earlier time gives a smaller id (ids of one millisecond differ in their random tail).
    for (const [i, a] of ids.entries())
      for (const [j, b] of ids.entries())
        if ((times[i] as number) < (times[j] as number)) expect(a < b).toBe(true);
    // The time part is the time's, also for a time met before (a clock moved back).
    expect(newId("x", 5).slice(1, 11)).toBe(ids[2]?.slice(4, 14));
    expect(ids[0]?.slice(4, 14)).toBe(ids[1]?.slice(4, 14));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("minted in one millisecond, sort in the order they were minted", () => {
    const ids = Array.from({ length: 10_000 }, () => newId("conv_", 1_800_000_000_000));
    for (const [i, id] of ids.entries()) {
      expect(id.slice(0, 15)).toBe(ids[0]?.slice(0, 15));
      if (i > 0) expect(id > (ids[i - 1] as string)).toBe(true);
    }
    // A new millisecond starts afresh: its ids are larger, whatever the last tail was.
    const next = newId("conv_", 1_800_000_000_001);
    expect(next > (ids.at(-1) as string)).toBe(true);
    expect(next.slice(15, 16) < "g").toBe(true);
  });

  it("tokens have the length asked and differ", () => {
    const tokens = Array.from({ length: 1000 }, () => randomToken(16));
    for (const t of tokens) expect(t).toMatch(/^[0-9a-hjkmnp-tv-z]{16}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
