// Turns rotate between tenants: a tenant with many calls waiting gets one turn, then another's.
import { describe, expect, it } from "vitest";
import { FairTurns } from "./fair-turns.js";

describe("FairTurns", () => {
  it("gives waiting tenants one turn each in rotation, in arrival order within a tenant", async () => {
    const turns = new FairTurns();
    const order: string[] = [];
    const call = (tenant: string, name: string) =>
      turns.take(tenant).then(() => {
        order.push(name);
      });
    await Promise.all([
      call("a", "a1"),
      call("a", "a2"),
      call("a", "a3"),
      call("b", "b1"),
      call("c", "c1"),
      call("b", "b2"),
    ]);
    expect(order).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
  });

  it("starts a turn in a macrotask of its own, after those already queued", async () => {
    const turns = new FairTurns();
    const order: string[] = [];
    setImmediate(() => order.push("queued before"));
    const turn = turns.take("a").then(() => order.push("turn"));
    queueMicrotask(() => order.push("the caller's step"));
    await turn;
    expect(order).toEqual(["the caller's step", "queued before", "turn"]);
  });
});
