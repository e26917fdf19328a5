import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "./clock.js";

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
