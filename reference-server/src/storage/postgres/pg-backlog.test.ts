// BacklogHeadroom decides when a send to PostgreSQL may skip counting the backlogs: only while
// a recent count plus what this node stored since stays within the margin of every limit.

import { describe, expect, it } from "vitest";
import { BacklogHeadroom } from "./pg-backlog.js";

const to = (...recipients: string[]) => [{ recipients }];
const limits = { agent: 10, tenant: 100 };

describe("BacklogHeadroom", () => {
  it("counts before anything is known, and after a count skips while far from the limits", () => {
    const h = new BacklogHeadroom(60_000, 0.9);
    expect(h.clear("t", to("a"), limits)).toBe(false);
    h.counted("t", to("a"), { ok: true, tenant_held: 3, agents_held: [["a", 3]] }, limits);
    // Held 4 now (3 + the stored copy): room for 5 more below 90 % of 10.
    for (let i = 0; i < 5; i++) {
      expect(h.clear("t", to("a"), limits)).toBe(true);
      h.added("t", to("a"));
    }
    expect(h.clear("t", to("a"), limits)).toBe(false);
    // Another recipient was never counted.
    expect(h.clear("t", to("b"), limits)).toBe(false);
  });

  it("counts again near the tenant's limit, and when the last count is too old", () => {
    const h = new BacklogHeadroom(60_000, 0.9);
    h.counted("t", to("a"), { ok: false, tenant_held: 89, agents_held: [["a", 0]] }, limits);
    expect(h.clear("t", to("a"), limits)).toBe(true); // 89 + 1 <= 90
    expect(h.clear("t", to("a", "a"), limits)).toBe(false); // 89 + 2 > 90
    const stale = new BacklogHeadroom(0, 0.9);
    stale.counted("t", to("a"), { ok: true, tenant_held: 0, agents_held: [["a", 0]] }, limits);
    expect(stale.clear("t", to("a"), { agent: 10, tenant: 0 })).toBe(false);
  });

  it("ignores limits of 0, reads counts answered as JSON text, and forgets a tenant", () => {
    const h = new BacklogHeadroom(60_000, 0.9);
    const agentOnly = { agent: 10, tenant: 0 };
    h.counted("t", to("a"), { ok: true, tenant_held: 0, agents_held: '[["a", 1]]' }, agentOnly);
    expect(h.clear("t", to("a"), agentOnly)).toBe(true);
    expect(h.clear("t", to("a"), limits)).toBe(false); // the tenant was not counted
    h.forget("t");
    expect(h.clear("t", to("a"), agentOnly)).toBe(false);
  });
});
