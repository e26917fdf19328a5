// When the SQL store may skip counting a backlog: only with a fresh count far from the limit.
import { describe, expect, it } from "vitest";
import { BacklogEstimates } from "./pg-backlog.js";

describe("BacklogEstimates", () => {
  it("checks what is unknown, stale, or could reach 90 % of the limit", () => {
    const e = new BacklogEstimates();
    expect(e.mustCheck("t\u0000a", 1, 100, 0)).toBe(true);
    e.counted("t\u0000a", 50, 0);
    expect(e.mustCheck("t\u0000a", 1, 100, 500)).toBe(false);
    expect(e.mustCheck("t\u0000a", 41, 100, 500)).toBe(true);
    e.added("t\u0000a", 39);
    expect(e.mustCheck("t\u0000a", 1, 100, 500)).toBe(false);
    expect(e.mustCheck("t\u0000a", 2, 100, 500)).toBe(true);
    expect(e.mustCheck("t\u0000a", 1, 100, BacklogEstimates.REFRESH_MS)).toBe(true);
    // No limit: nothing to check.
    expect(e.mustCheck("t\u0000b", 1, 0, 0)).toBe(false);
  });

  it("forgets a tenant's counts, not another's", () => {
    const e = new BacklogEstimates();
    e.counted("t\u0000", 1, 0);
    e.counted("t\u0000a", 1, 0);
    e.counted("u\u0000a", 1, 0);
    e.forget("t");
    expect(e.mustCheck("t\u0000", 1, 100, 1)).toBe(true);
    expect(e.mustCheck("t\u0000a", 1, 100, 1)).toBe(true);
    expect(e.mustCheck("u\u0000a", 1, 100, 1)).toBe(false);
  });
});
