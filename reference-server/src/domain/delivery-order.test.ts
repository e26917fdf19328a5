import { describe, expect, it } from "vitest";
import type { ClaimedDelivery, MessageRecord } from "../storage/types.js";
import { inQueueOrder } from "./delivery.js";

const d = (id: string, attempt: number, order: number): ClaimedDelivery => ({
  deliveryId: id,
  attempt,
  deadline: 0,
  message: { id } as MessageRecord,
  order,
});

describe("inQueueOrder", () => {
  it("sends due retries first as the poll ordered them, then first attempts in queue order", () => {
    // A poll's answer (a retry, then first attempts) and two deliveries claimed as stored, one
    // queued before the poll's first attempts and one after.
    const polled = [d("r9", 2, 9), d("r3", 3, 3), d("p12", 1, 12), d("p14", 1, 14)];
    const claimed = [d("c11", 1, 11), d("c20", 1, 20)];
    expect(inQueueOrder([...polled, ...claimed]).map((x) => x.deliveryId)).toEqual([
      "r9",
      "r3",
      "c11",
      "p12",
      "p14",
      "c20",
    ]);
  });
});
