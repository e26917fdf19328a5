import { describe, expect, it } from "vitest";
import { DeliveryTurns } from "./delivery-turns.js";

describe("delivery turns", () => {
  it("hands out perTick turns per event-loop turn, the rest in the order they asked", async () => {
    const turns = new DeliveryTurns(2);
    expect(turns.take()).toBeUndefined();
    expect(turns.take()).toBeUndefined();
    const order: number[] = [];
    const waits = [3, 4, 5, 6, 7].map((n) => turns.take()?.then(() => order.push(n)));
    expect(waits.every((w) => w instanceof Promise)).toBe(true);
    expect(turns.queued).toBe(5);
    // The next loop turn admits two of them, the one after two more, then the last.
    await waits[1];
    expect(order).toEqual([3, 4]);
    expect(turns.queued).toBe(3);
    // A caller arriving now queues behind those already waiting.
    const late = turns.take()?.then(() => order.push(8));
    await Promise.all([...waits, late]);
    expect(order).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it("gives a free turn at once again after a quiet loop turn", async () => {
    const turns = new DeliveryTurns(1);
    expect(turns.take()).toBeUndefined();
    const next = turns.take();
    expect(next).toBeInstanceOf(Promise);
    await next;
    // Wait one more loop turn without taking: the count starts again.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(turns.take()).toBeUndefined();
  });

  it("refuses a count below one", () => {
    expect(() => new DeliveryTurns(0)).toThrow(RangeError);
  });
});
