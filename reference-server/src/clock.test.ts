import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, systemClock } from "./clock.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("systemClock", () => {
  it("runs a timer once when due, and not at all once cancelled", () => {
    vi.useFakeTimers();
    const fired: string[] = [];
    systemClock.setTimer(100, () => fired.push("a"));
    const b = systemClock.setTimer(100, () => fired.push("b"));
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    b.cancel();
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["a"]);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(["a"]);
    b.cancel();
  });

  it("fires a delay past Node's 32-bit bound at that bound, not at once", async () => {
    let fired = false;
    const t = systemClock.setTimer(30 * 24 * 3_600_000, () => {
      fired = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.cancel();
    expect(fired).toBe(false);
  });

  it("treats a negative delay as none", () => {
    vi.useFakeTimers();
    let fired = false;
    systemClock.setTimer(-5, () => {
      fired = true;
    });
    vi.advanceTimersByTime(0);
    expect(fired).toBe(true);
  });
});

describe("repeating timers", () => {
  it("systemClock: runs every interval until cancelled", () => {
    vi.useFakeTimers();
    let runs = 0;
    const t = systemClock.setRepeating(100, () => runs++);
    vi.advanceTimersByTime(99);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(1);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(250);
    expect(runs).toBe(3);
    t.cancel();
    vi.advanceTimersByTime(1_000);
    expect(runs).toBe(3);
  });

  it("ManualClock: runs at each interval, in order with other timers, until cancelled", () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    const t = clock.setRepeating(100, () => seen.push(`r@${clock.now()}`));
    clock.setTimer(150, () => seen.push(`once@${clock.now()}`));
    clock.advance(350);
    expect(seen).toEqual(["r@100", "once@150", "r@200", "r@300"]);
    t.cancel();
    clock.advance(1_000);
    expect(seen).toHaveLength(4);
  });

  it("ManualClock: a timer cancelled from its own run does not run again", () => {
    const clock = new ManualClock(0);
    let runs = 0;
    const t = clock.setRepeating(10, () => {
      runs++;
      if (runs === 2) t.cancel();
    });
    clock.advance(100);
    expect(runs).toBe(2);
  });
});
