// What the embedded store keeps: settled delivery ids bounded in time and in count, no payload
// once its delivery is acked, and each claimed delivery's place in the queue.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { inQueueOrder } from "../../domain/delivery.js";
import {
  type MessageRecord,
  SETTLED_RETENTION_COUNT,
  SETTLED_RETENTION_MS,
} from "../messaging-types.js";
import { createMemoryMessageStore } from "./memory-messages.js";

const message = (id: string): MessageRecord => ({
  tenantId: "t",
  id,
  senderId: "alice",
  target: { kind: "agent", recipientId: "bob" },
  type: 1,
  kind: "",
  contentType: "",
  data: new Uint8Array(),
  contextId: "",
  correlationId: "",
  replyTo: "",
  conversationId: "",
  idempotencyKey: "",
  metadata: {},
  headers: {},
  createdAt: 0,
  expiresAt: Number.MAX_SAFE_INTEGER,
});

describe("memory message store: settled delivery ids", () => {
  it("forgets a settled id once the retention window has passed", async () => {
    const store = createMemoryMessageStore();
    await store.enqueue(message("m1"), ["bob"]);
    const [d] = await store.claim("t", "bob", 1, 0, 30_000);
    const id = d?.deliveryId ?? "";
    expect(await store.ack("t", "bob", [id], 1)).toEqual(["ok"]);
    expect(await store.ack("t", "bob", [id], SETTLED_RETENTION_MS)).toEqual(["ok"]);
    expect(await store.ack("t", "bob", [id], 1 + SETTLED_RETENTION_MS)).toEqual(["not-found"]);
  });

  it("keeps at most SETTLED_RETENTION_COUNT ids per agent, forgetting the oldest", async () => {
    const store = createMemoryMessageStore();
    const n = SETTLED_RETENTION_COUNT + 1;
    for (let i = 0; i < n; i++) await store.enqueue(message(`m${i}`), ["bob"]);
    const claimed = await store.claim("t", "bob", n, 0, 30_000);
    const ids = claimed.map((c) => c.deliveryId);
    expect(ids).toHaveLength(n);
    const acked = await store.ack("t", "bob", ids, 1);
    expect(acked.every((o) => o === "ok")).toBe(true);
    expect(await store.ack("t", "bob", [ids[0] ?? ""], 2)).toEqual(["not-found"]);
    expect(await store.ack("t", "bob", [ids[1] ?? "", ids[n - 1] ?? ""], 2)).toEqual(["ok", "ok"]);
  });
});

// A full collection on demand: V8's gc() in a fresh context (the flag is read when one is created).
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

describe("memory message store: acked payloads", () => {
  it("holds no reference to an acked message's payload", async () => {
    const store = createMemoryMessageStore();
    // Enqueued, claimed and acked inside a function, so the test keeps only the weak references.
    const send = async (i: number) => {
      const m = { ...message(`m${i}`), data: new Uint8Array(256 * 1024) };
      await store.enqueue(m, ["bob"]);
      return new WeakRef(m.data);
    };
    const payloads: WeakRef<Uint8Array>[] = [];
    for (let i = 0; i < 20; i++) payloads.push(await send(i));
    const deliveries = await store.claim("t", "bob", 20, 0, 30_000);
    expect(deliveries).toHaveLength(20);
    const acked = await store.ack(
      "t",
      "bob",
      deliveries.map((d) => d.deliveryId),
      1,
    );
    expect(acked.every((o) => o === "ok")).toBe(true);
    deliveries.length = 0;
    // A WeakRef's target is kept until the current job ends: collect from a later turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(payloads.filter((p) => p.deref() !== undefined)).toHaveLength(0);
  });
});

describe("memory message store: the next wake after settlements in any order", () => {
  it("is the deadline of the earliest claim still in flight", async () => {
    const store = createMemoryMessageStore();
    for (let i = 0; i < 3; i++) await store.enqueue(message(`m${i}`), ["bob"]);
    // Three claims with increasing deadlines.
    const [a] = await store.claim("t", "bob", 1, 0, 10_000);
    const [b] = await store.claim("t", "bob", 1, 1, 20_000);
    const [c] = await store.claim("t", "bob", 1, 2, 30_000);
    const id = (d: typeof a) => d?.deliveryId ?? "";
    expect(await store.nextWake("t", "bob")).toBe(10_000);
    await store.ack("t", "bob", [id(c)], 3);
    expect(await store.nextWake("t", "bob")).toBe(10_000);
    await store.ack("t", "bob", [id(a)], 3);
    expect(await store.nextWake("t", "bob")).toBe(20_000);
    await store.ack("t", "bob", [id(b)], 3);
    expect(await store.nextWake("t", "bob")).toBeUndefined();
  });

  it("stays right through many claims and acks (the claim order is compacted)", async () => {
    const store = createMemoryMessageStore();
    let inFlight: string[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) await store.enqueue(message(`m${round}-${i}`), ["bob"]);
      const claimed = await store.claim("t", "bob", 100, round, 1_000 + round);
      inFlight.push(...claimed.map((d) => d.deliveryId));
      // Ack all but the last 50 claimed, newest first.
      const done = inFlight.slice(0, -50).reverse();
      expect((await store.ack("t", "bob", done, round)).every((o) => o === "ok")).toBe(true);
      inFlight = inFlight.slice(-50);
      // The 50 left were all claimed in this round: their deadline is the next wake.
      expect(await store.nextWake("t", "bob")).toBe(1_000 + round);
      const polled = await store.poll("t", "bob", {
        limit: 200,
        now: round,
        deadline: 0,
        maxAttempts: 5,
      });
      expect(polled.inFlight).toBe(50);
    }
  });
});

describe("memory message store: the queue order of what a poll claims", () => {
  it("tells each delivery's place in the queue, as claimWaiting does, so a stream sends them in queue order", async () => {
    const store = createMemoryMessageStore();
    store.enqueue(message("m1"), ["bob"]);
    const claimed = store.claimWaiting("t", "bob", 30_000);
    store.enqueue(message("m2"), ["bob"]);
    const { deliveries: polled } = await store.poll("t", "bob", {
      limit: 10,
      now: 0,
      deadline: 30_000,
      maxAttempts: 5,
    });
    // A poll that answered after a write claimed: m2 was queued after the claimed m1.
    expect(inQueueOrder([...polled, ...claimed]).map((d) => d.message.id)).toEqual(["m1", "m2"]);
  });
});
