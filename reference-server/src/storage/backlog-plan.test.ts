// The batch plan behind backlog limits: items in order as if sent one by one, oldest entries
// dropped first (those stored before the batch, then the batch's own), refusals counting nothing.
import { describe, expect, it } from "vitest";
import { planBacklog } from "./backlog-plan.js";
import type { BacklogLimits } from "./messaging-types.js";

const limits = (agent: number, tenant: number, evict = true): BacklogLimits => ({
  agent,
  tenant,
  policy: evict ? "dead-letter-oldest" : "refuse",
  now: 0,
});
const item = (recipients: string[], backlog?: BacklogLimits) => ({ recipients, backlog });

describe("planBacklog", () => {
  it("accepts what fits and counts it for the items after it", () => {
    const plan = planBacklog(
      [item(["a"], limits(2, 0, false)), item(["a"], limits(2, 0, false))],
      new Map([["a", { held: 1, evictable: 1 }]]),
      { held: 1, evictable: 1 },
    );
    expect(plan.refused).toEqual([undefined, { scope: "agent", agentId: "a", limit: 2 }]);
    expect(plan.agentEvictions.size).toBe(0);
  });

  it("drops entries stored before the batch first, then the batch's own oldest copies", () => {
    const plan = planBacklog(
      [item(["a"], limits(1, 0)), item(["a"], limits(1, 0)), item(["a"], limits(1, 0))],
      new Map([["a", { held: 1, evictable: 1 }]]),
      { held: 1, evictable: 1 },
    );
    expect(plan.refused).toEqual([undefined, undefined, undefined]);
    expect(plan.agentEvictions).toEqual(new Map([["a", 1]]));
    expect(plan.batchEvictions).toEqual([
      { item: 0, agentId: "a" },
      { item: 1, agentId: "a" },
    ]);
  });

  it("at the tenant limit drops the tenant's oldest, then the batch's oldest copy of any agent", () => {
    const plan = planBacklog(
      [item(["b"], limits(0, 2)), item(["c"], limits(0, 2)), item(["d"], limits(0, 2))],
      new Map(),
      { held: 2, evictable: 1 },
    );
    expect(plan.refused).toEqual([undefined, undefined, undefined]);
    expect(plan.tenantEvictions).toBe(1);
    expect(plan.batchEvictions).toEqual([
      { item: 0, agentId: "b" },
      { item: 1, agentId: "c" },
    ]);
  });

  it("refuses when in-flight entries leave nothing to drop, and the refusal counts nothing", () => {
    const plan = planBacklog(
      [item(["a", "b"], limits(1, 0)), item(["b"], limits(1, 0))],
      new Map([["a", { held: 1, evictable: 0 }]]),
      { held: 1, evictable: 0 },
    );
    expect(plan.refused).toEqual([{ scope: "agent", agentId: "a", limit: 1 }, undefined]);
    expect(plan.batchEvictions).toEqual([]);
  });

  it("items without limits are stored and counted, never refused", () => {
    const plan = planBacklog([item(["a"]), item(["a"], limits(1, 0, false))], new Map(), {
      held: 0,
      evictable: 0,
    });
    expect(plan.refused).toEqual([undefined, { scope: "agent", agentId: "a", limit: 1 }]);
  });
});
