// The MessageStore part of the shared backend suite: per-recipient queues with claim, ack, nack
// and reap, dead letters, and what enqueue commits with a message (idempotency key, conversation
// entry). Includes the cases a shared backend must get right between nodes: two claimers never
// receive the same delivery, and a claim that is never acknowledged (its node crashed) is
// redelivered by another backend instance over the same state.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend, ClaimedDelivery } from "../types.js";
import { conversationRecord, fresh, messageRecord } from "./helpers.js";

const NEVER = 4_000_000_000_000;
const nack = { availableAt: 0, deadLetter: false, error: "", maxAttempts: 5 };
const ids = (ds: ClaimedDelivery[]) => ds.map((d) => d.message.id);

export function messageStoreTests(get: () => Backend, reopen: () => Promise<Backend>): void {
  describe("messages", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });
    const send = async (tenant: string, id: string, to: string[], expiresAt = NEVER) => {
      const r = await backend.messages.enqueue(messageRecord(tenant, id, { expiresAt }), to);
      expect(r).toEqual({ ok: true });
    };

    it("queues a message for each recipient and hands out first attempts in order", async () => {
      const t = fresh();
      await send(t, "m1", ["a", "b"]);
      await send(t, "m2", ["a"]);
      await send(t, "m3", ["a"]);
      expect(await backend.messages.backlog(t, "a")).toBe(3);
      expect(await backend.messages.backlog(t, "b")).toBe(1);
      const first = await backend.messages.claim(t, "a", 2, 1_000, 31_000);
      expect(ids(first)).toEqual(["m1", "m2"]);
      expect(first.map((d) => [d.attempt, d.deadline])).toEqual([
        [1, 31_000],
        [1, 31_000],
      ]);
      expect(new Set(first.map((d) => d.deliveryId)).size).toBe(2);
      expect(Array.from(first[0]?.message.data ?? [])).toEqual(
        Array.from(messageRecord(t, "m1").data),
      );
      expect(await backend.messages.inFlight(t, "a")).toBe(2);
      expect(await backend.messages.backlog(t, "a")).toBe(1);
      expect(ids(await backend.messages.claim(t, "a", 10, 1_000, 31_000))).toEqual(["m3"]);
      expect(await backend.messages.claim(t, "a", 10, 1_000, 31_000)).toEqual([]);
      expect(ids(await backend.messages.claim(t, "b", 10, 1_000, 31_000))).toEqual(["m1"]);
    });

    it("enqueueMany stores each message as enqueue would, in item order, each with its result", async () => {
      const t = fresh();
      const idem = { expiresAt: 60_000, now: 1_000 };
      expect(
        await backend.messages.enqueue(messageRecord(t, "m0", { idempotencyKey: "k0" }), ["a"], {
          idempotency: idem,
        }),
      ).toEqual({ ok: true });
      const results = await backend.messages.enqueueMany([
        { message: messageRecord(t, "m1"), recipients: ["a", "b"] },
        {
          message: messageRecord(t, "m2", { idempotencyKey: "k0" }),
          recipients: ["a"],
          idempotency: idem,
        },
        {
          message: messageRecord(t, "m3", { idempotencyKey: "k3" }),
          recipients: ["a"],
          idempotency: idem,
        },
        {
          message: messageRecord(t, "m4", { idempotencyKey: "k3" }),
          recipients: ["a"],
          idempotency: idem,
        },
        { message: messageRecord(t, "m5"), recipients: [] },
        { message: messageRecord(t, "m6"), recipients: ["a"] },
      ]);
      expect(results).toEqual([
        { ok: true },
        { ok: false, duplicateOf: "m0" },
        { ok: true },
        { ok: false, duplicateOf: "m3" },
        { ok: true },
        { ok: true },
      ]);
      expect(ids(await backend.messages.claim(t, "a", 10, 1_000, 31_000))).toEqual([
        "m0",
        "m1",
        "m3",
        "m6",
      ]);
      expect(ids(await backend.messages.claim(t, "b", 10, 1_000, 31_000))).toEqual(["m1"]);
      expect(await backend.messages.enqueueMany([])).toEqual([]);
      // Without idempotency keys: one step for many messages.
      const many = Array.from({ length: 50 }, (_, i) => ({
        message: messageRecord(t, `n${String(i).padStart(2, "0")}`),
        recipients: ["c"],
      }));
      expect((await backend.messages.enqueueMany(many)).every((r) => r.ok)).toBe(true);
      expect(ids(await backend.messages.claim(t, "c", 100, 1_000, 31_000))).toEqual(
        many.map((m) => m.message.id),
      );
    });

    it("poll reaps what is overdue, claims within the window, and reports in-flight and the next wake", async () => {
      const t = fresh();
      for (const id of ["m1", "m2", "m3", "m4"]) await send(t, id, ["a"]);
      const options = { limit: 3, maxAttempts: 5 };
      const p1 = await backend.messages.poll(t, "a", { ...options, now: 1_000, deadline: 5_000 });
      expect(ids(p1.deliveries)).toEqual(["m1", "m2", "m3"]);
      expect(p1.inFlight).toBe(3);
      expect(p1.nextWake).toBe(5_000);
      // The window is full: nothing more until a slot is free.
      const p2 = await backend.messages.poll(t, "a", { ...options, now: 2_000, deadline: 6_000 });
      expect(p2.deliveries).toEqual([]);
      expect(p2.inFlight).toBe(3);
      const [d1] = p1.deliveries;
      expect(await backend.messages.ack(t, "a", [d1?.deliveryId ?? ""], 2_000)).toEqual(["ok"]);
      const p3 = await backend.messages.poll(t, "a", { ...options, now: 3_000, deadline: 7_000 });
      expect(ids(p3.deliveries)).toEqual(["m4"]);
      expect(p3.inFlight).toBe(3);
      expect(p3.nextWake).toBe(5_000);
      // Past the first deadline: m2 and m3 come back as second attempts, first in the batch.
      const p4 = await backend.messages.poll(t, "a", { ...options, now: 5_000, deadline: 9_000 });
      expect(p4.deliveries.map((d) => [d.message.id, d.attempt])).toEqual([
        ["m2", 2],
        ["m3", 2],
      ]);
      expect(p4.inFlight).toBe(3);
      expect(p4.nextWake).toBe(7_000);
      // An expired message is dropped, never delivered.
      await send(t, "old", ["b"], 6_000);
      await send(t, "new", ["b"]);
      const p5 = await backend.messages.poll(t, "b", { ...options, now: 6_000, deadline: 9_000 });
      expect(ids(p5.deliveries)).toEqual(["new"]);
      expect(await backend.messages.backlog(t, "b")).toBe(0);
    });

    it("commits a send's effects with what it stores, and none for what it does not", async () => {
      const store = backend.messages;
      const folds = store.folds;
      if (!folds) return; // this store leaves usage and wake-ups to the hub
      const t = fresh();
      const hour = 7 * 3_600_000;
      const woken: string[] = [];
      const unsubscribe = await backend.notifier.subscribe(`fx:${t}`, () => woken.push("a"));
      const effects = { meter: { hourStart: hour }, wake: [`fx:${t}`] };
      const idem = { expiresAt: NEVER, now: 0 };
      try {
        // One plain send, one batch with a duplicate, one send with no recipient.
        const m1 = { ...messageRecord(t, "m1"), data: new Uint8Array(10) };
        expect(await store.enqueue(m1, ["a"], { effects })).toEqual({ ok: true });
        const k1 = { ...messageRecord(t, "k1"), idempotencyKey: "k", data: new Uint8Array(5) };
        const k2 = { ...messageRecord(t, "k2"), idempotencyKey: "k", data: new Uint8Array(7) };
        const batch = [
          { message: k1, recipients: ["a"], idempotency: idem },
          { message: k2, recipients: ["a"], idempotency: idem },
        ];
        expect(await store.enqueueMany(batch, effects)).toEqual([
          { ok: true },
          { ok: false, duplicateOf: "k1" },
        ]);
        const lone = { ...messageRecord(t, "lone"), data: new Uint8Array(3) };
        expect(await store.enqueue(lone, [], { effects })).toEqual({ ok: true });
        // A refused send (its key taken) commits nothing.
        const again = { ...messageRecord(t, "k3"), idempotencyKey: "k", data: new Uint8Array(9) };
        expect(await store.enqueue(again, ["a"], { effects, idempotency: idem })).toEqual({
          ok: false,
          duplicateOf: "k1",
        });
        if (folds.meter) {
          expect(await backend.usage.read(t, hour, hour + 1)).toEqual([
            { start: hour, messages: 3, bytes: 18, storageBytes: 0 },
          ]);
        }
        if (folds.wake) {
          // A wake-up per stored send with a recipient: the notifier hands them over in order,
          // after a publish of this test's own that comes last.
          await new Promise<void>((resolve) => {
            void backend.notifier
              .subscribe(`fx-end:${t}`, () => resolve())
              .then(() => backend.notifier.publish(`fx-end:${t}`));
          });
          expect(woken).toEqual(["a", "a"]);
        }
      } finally {
        unsubscribe();
      }
    });

    it("claims for a live stream's offer as it stores, when nothing waits and the offer has room", async () => {
      const store = backend.messages;
      if (!store.folds?.claim) return; // this store leaves every delivery to the stream's poll
      const t = fresh();
      const woken: string[] = [];
      const offer = (agentId: string, room: number) => ({
        agentId,
        room,
        deadline: 31_000,
        channel: `fx:${t}:${agentId}`,
      });
      const unsubscribe = await Promise.all(
        ["a", "b"].map((a) => backend.notifier.subscribe(`fx:${t}:${a}`, () => woken.push(a))),
      );
      /** The wake-ups so far: the notifier hands them over in order, before this publish's. */
      const wakeUps = async () => {
        await new Promise<void>((resolve) => {
          const end = `fx-end:${t}:${woken.length}:${Math.random()}`;
          void backend.notifier
            .subscribe(end, () => resolve())
            .then(() => backend.notifier.publish(end));
        });
        return woken.splice(0);
      };
      try {
        // Nothing waiting, room in the offer: in flight at once, answered with the result.
        const m1 = messageRecord(t, "m1");
        const r1 = await store.enqueue(m1, ["a"], { effects: { claim: [offer("a", 2)] } });
        const claimed1 = r1.ok ? (r1.claimed ?? []) : [];
        expect(claimed1.map((c) => [c.agentId, c.delivery.attempt, c.delivery.deadline])).toEqual([
          ["a", 1, 31_000],
        ]);
        expect(claimed1[0]?.delivery.message.id).toBe("m1");
        expect(await store.inFlight(t, "a")).toBe(1);
        expect(await store.backlog(t, "a")).toBe(0);
        expect(await store.ack(t, "a", [claimed1[0]?.delivery.deliveryId ?? ""], 2_000)).toEqual([
          "ok",
        ]);
        if (store.folds.wake) expect(await wakeUps()).toEqual([]);

        // Three messages where the offer has room for two: none claimed, the stream is woken.
        const many = ["m2", "m3", "m4"].map((id) => ({
          message: messageRecord(t, id),
          recipients: ["a"],
        }));
        expect(await store.enqueueMany(many, { claim: [offer("a", 2)] })).toEqual([
          { ok: true },
          { ok: true },
          { ok: true },
        ]);
        expect(await store.backlog(t, "a")).toBe(3);
        if (store.folds.wake) expect(await wakeUps()).toEqual(["a"]);

        // Something waiting: the new message queues behind it (order kept), nothing claimed.
        expect(
          await store.enqueue(messageRecord(t, "m5"), ["a"], {
            effects: { claim: [offer("a", 10)] },
          }),
        ).toEqual({ ok: true });
        if (store.folds.wake) expect(await wakeUps()).toEqual(["a"]);
        expect(ids(await store.claim(t, "a", 10, 3_000, 33_000))).toEqual(["m2", "m3", "m4", "m5"]);

        // Per agent: a's offer has no room for the message, b's has.
        const r6 = await store.enqueueMany(
          [{ message: messageRecord(t, "m6"), recipients: ["a", "b"] }],
          {
            claim: [offer("a", 0), offer("b", 1)],
          },
        );
        const claimed6 = r6[0]?.ok ? (r6[0].claimed ?? []) : [];
        expect(claimed6.map((c) => [c.agentId, c.delivery.message.id])).toEqual([["b", "m6"]]);
        if (store.folds.wake) expect(await wakeUps()).toEqual(["a"]);
        expect(await store.backlog(t, "a")).toBe(1);

        // A claimed delivery counts in the window of later polls, and comes again after its
        // deadline as any other claim would, with the next attempt number.
        const polled = await store.poll(t, "b", {
          limit: 1,
          now: 4_000,
          deadline: 34_000,
          maxAttempts: 5,
        });
        expect(polled.deliveries).toEqual([]);
        expect(polled.inFlight).toBe(1);
        expect(polled.nextWake).toBe(31_000);
        expect(await store.reap(t, "b", 31_000, 5)).toEqual({ redelivered: 1, deadLettered: 0 });
        const again = await store.claim(t, "b", 10, 31_000, 61_000);
        expect(again.map((d) => [d.message.id, d.attempt])).toEqual([["m6", 2]]);
        expect(again[0]?.deliveryId).not.toBe(claimed6[0]?.delivery.deliveryId);
      } finally {
        for (const u of unsubscribe) u();
      }
    });

    it("polls of several agents made at once each claim and report their own agent's queue", async () => {
      // A backend may run polls made together as one step (streams woken by one notification
      // read): each still answers as if run on its own, within its own window and deadline.
      const t = fresh();
      for (const id of ["m1", "m2", "m3"]) await send(t, id, ["a", "b"]);
      await send(t, "m4", ["c"]);
      const [lease] = await backend.messages.claim(t, "c", 1, 1_000, 2_000);
      expect(lease?.message.id).toBe("m4");
      await send(t, "m5", ["c"]);
      await send(t, "old", ["d"], 2_500);
      await send(t, "new", ["d"]);
      const options = { maxAttempts: 5, now: 3_000 };
      const [a, b, c, d, e] = await Promise.all([
        backend.messages.poll(t, "a", { ...options, limit: 2, deadline: 8_000 }),
        backend.messages.poll(t, "b", { ...options, limit: 5, deadline: 9_000 }),
        backend.messages.poll(t, "c", { ...options, limit: 5, deadline: 7_000 }),
        backend.messages.poll(t, "d", { ...options, limit: 5, deadline: 6_000 }),
        backend.messages.poll(t, "e", { ...options, limit: 5, deadline: 6_000 }),
      ]);
      expect(ids(a?.deliveries ?? [])).toEqual(["m1", "m2"]);
      expect(a?.deliveries.map((x) => x.deadline)).toEqual([8_000, 8_000]);
      expect([a?.inFlight, a?.nextWake]).toEqual([2, 8_000]);
      expect(ids(b?.deliveries ?? [])).toEqual(["m1", "m2", "m3"]);
      expect([b?.inFlight, b?.nextWake]).toEqual([3, 9_000]);
      // c's overdue lease comes back as a second attempt, before the new message.
      expect(c?.deliveries.map((x) => [x.message.id, x.attempt])).toEqual([
        ["m4", 2],
        ["m5", 1],
      ]);
      expect([c?.inFlight, c?.nextWake]).toEqual([2, 7_000]);
      // d's expired message is dropped, never delivered.
      expect(ids(d?.deliveries ?? [])).toEqual(["new"]);
      expect(await backend.messages.backlog(t, "d")).toBe(0);
      expect(e).toEqual({ deliveries: [], inFlight: 0, nextWake: undefined });
    });

    it("polls of one agent made at once never claim an entry twice nor overfill the window", async () => {
      // Two streams of one agent (an older one and the newer that replaces it) may poll together.
      const t = fresh();
      for (const id of ["m1", "m2", "m3"]) await send(t, id, ["a"]);
      const options = { limit: 2, maxAttempts: 5, now: 1_000, deadline: 5_000 };
      const polls = await Promise.all([
        backend.messages.poll(t, "a", options),
        backend.messages.poll(t, "a", options),
        backend.messages.poll(t, "a", options),
      ]);
      const claimed = polls.flatMap((p) => ids(p.deliveries));
      expect(claimed.sort()).toEqual(["m1", "m2"]);
      expect(await backend.messages.inFlight(t, "a")).toBe(2);
    });

    it("poll keeps first attempts in queue order when reaping frees slots of the window", async () => {
      // A lease past its deadline on its last attempt is dead-lettered, not returned to the
      // queue: the slot it frees lets the same poll claim one more new message, which must come
      // after the new messages claimed before the reap (a node that died with leases out does
      // this to the stream that takes over).
      const t = fresh();
      await send(t, "m1", ["a"]);
      const [lease] = await backend.messages.claim(t, "a", 1, 1_000, 2_000);
      expect(lease?.message.id).toBe("m1");
      for (const id of ["m2", "m3", "m4"]) await send(t, id, ["a"]);
      const p = await backend.messages.poll(t, "a", {
        limit: 3,
        maxAttempts: 1,
        now: 3_000,
        deadline: 9_000,
      });
      expect(p.deliveries.map((d) => [d.message.id, d.attempt])).toEqual([
        ["m2", 1],
        ["m3", 1],
        ["m4", 1],
      ]);
      expect(p.inFlight).toBe(3);
    });

    it("ack settles a delivery once: ok, then not-found; after its deadline it is stale", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      await send(t, "m2", ["a"]);
      const [d1, d2] = await backend.messages.claim(t, "a", 2, 1_000, 2_000);
      if (!d1 || !d2) throw new Error("nothing claimed");
      expect(await backend.messages.ack(t, "a", [d1.deliveryId, "nope"], 1_500)).toEqual([
        "ok",
        "not-found",
      ]);
      expect(await backend.messages.ack(t, "a", [d2.deliveryId], 2_000)).toEqual(["stale"]);
      expect(await backend.messages.ack(t, "b", [d2.deliveryId], 1_500)).toEqual(["not-found"]);
      expect(await backend.messages.inFlight(t, "a")).toBe(1);
    });

    it("concurrent acks of several agents are each answered as if made on their own", async () => {
      // A SQL store may settle acks that meet into one statement.
      const t = fresh();
      await send(t, "m1", ["a", "b", "c"]);
      await send(t, "m2", ["a"]);
      const [da1, da2] = await backend.messages.claim(t, "a", 2, 1_000, 2_000);
      const [db1] = await backend.messages.claim(t, "b", 1, 1_000, 3_000);
      const [dc1] = await backend.messages.claim(t, "c", 1, 1_000, 3_000);
      if (!da1 || !da2 || !db1 || !dc1) throw new Error("nothing claimed");
      const answers = await Promise.all([
        backend.messages.ack(t, "a", [da1.deliveryId], 1_500),
        backend.messages.ack(t, "b", [db1.deliveryId], 1_500),
        backend.messages.ack(t, "c", ["nope", dc1.deliveryId], 1_500),
        // Past a's deadline; and b's delivery id is not a's.
        backend.messages.ack(t, "a", [da2.deliveryId, db1.deliveryId], 2_500),
        // The same deliveries again, at once: answered as a repeated ack is.
        backend.messages.ack(t, "a", [da1.deliveryId], 1_600),
        backend.messages.ack(t, "c", [dc1.deliveryId], 1_600),
      ]);
      expect(answers).toEqual([
        ["ok"],
        ["ok"],
        ["not-found", "ok"],
        ["stale", "not-found"],
        ["ok"],
        ["ok"],
      ]);
      expect(await backend.messages.inFlight(t, "a")).toBe(1);
      expect(await backend.messages.inFlight(t, "b")).toBe(0);
      expect(await backend.messages.inFlight(t, "c")).toBe(0);
    });

    it("nack redelivers no earlier than availableAt, with the next attempt number", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      const [d] = await backend.messages.claim(t, "a", 1, 1_000, 31_000);
      if (!d) throw new Error("nothing claimed");
      const out = await backend.messages.nack(t, "a", [d.deliveryId], 1_100, {
        ...nack,
        availableAt: 5_000,
        error: "busy",
      });
      expect(out).toEqual(["ok"]);
      expect(await backend.messages.nextWake(t, "a")).toBe(5_000);
      expect(await backend.messages.claim(t, "a", 1, 4_999, 40_000)).toEqual([]);
      const [again] = await backend.messages.claim(t, "a", 1, 5_000, 40_000);
      expect(again?.message.id).toBe("m1");
      expect(again?.attempt).toBe(2);
      expect(again?.deliveryId).not.toBe(d.deliveryId);
    });

    it("serves due retries before new messages", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      const [d] = await backend.messages.claim(t, "a", 1, 1_000, 31_000);
      await send(t, "m2", ["a"]);
      await backend.messages.nack(t, "a", [d?.deliveryId ?? ""], 1_000, nack);
      expect(ids(await backend.messages.claim(t, "a", 2, 1_000, 31_000))).toEqual(["m1", "m2"]);
    });

    it("nack with deadLetter, or at maxAttempts, dead-letters with the reason", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      await send(t, "m2", ["a"]);
      const [d1, d2] = await backend.messages.claim(t, "a", 2, 1_000, 31_000);
      await backend.messages.nack(t, "a", [d1?.deliveryId ?? ""], 1_000, {
        ...nack,
        deadLetter: true,
        error: "poison",
      });
      await backend.messages.nack(t, "a", [d2?.deliveryId ?? ""], 1_000, {
        ...nack,
        maxAttempts: 1,
        error: "gave up",
      });
      const dead = await backend.messages.listDeadLetters(t, "a", "", 10);
      expect(dead.map((d) => [d.message.id, d.reason, d.attempts, d.lastError]).sort()).toEqual([
        ["m1", 2, 1, "poison"],
        ["m2", 1, 1, "gave up"],
      ]);
      expect(await backend.messages.backlog(t, "a")).toBe(0);
      expect(await backend.messages.inFlight(t, "a")).toBe(0);
    });

    it("reap returns overdue deliveries for redelivery, or dead-letters them at maxAttempts", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      await send(t, "m2", ["a"]);
      await backend.messages.claim(t, "a", 1, 1_000, 2_000);
      await backend.messages.claim(t, "a", 1, 1_000, 3_000);
      expect(await backend.messages.nextWake(t, "a")).toBe(2_000);
      expect(await backend.messages.reap(t, "a", 1_999, 5)).toEqual({
        redelivered: 0,
        deadLettered: 0,
      });
      expect(await backend.messages.reap(t, "a", 2_000, 5)).toEqual({
        redelivered: 1,
        deadLettered: 0,
      });
      const [again] = await backend.messages.claim(t, "a", 5, 2_000, 4_000);
      expect([again?.message.id, again?.attempt]).toEqual(["m1", 2]);
      expect(await backend.messages.reap(t, "a", 5_000, 2)).toEqual({
        redelivered: 1,
        deadLettered: 1,
      });
      const dead = await backend.messages.listDeadLetters(t, "a", "", 10);
      expect(dead.map((d) => [d.message.id, d.reason, d.attempts])).toEqual([["m1", 1, 2]]);
      // DeadLetter.last_error: the last Nack's error, or "ack deadline exceeded".
      expect(dead[0]?.lastError).toBe("ack deadline exceeded");
    });

    it("discards expired messages instead of delivering them", async () => {
      const t = fresh();
      await send(t, "old", ["a"], 1_500);
      await send(t, "new", ["a"]);
      expect(ids(await backend.messages.claim(t, "a", 10, 2_000, 30_000))).toEqual(["new"]);
    });

    it("lists, gets, replays and purges dead letters", async () => {
      const t = fresh();
      for (const id of ["m1", "m2", "m3"]) await send(t, id, [id === "m3" ? "b" : "a"]);
      for (const agent of ["a", "b"]) {
        const claimed = await backend.messages.claim(t, agent, 10, 1_000, 30_000);
        const opts = { ...nack, deadLetter: true };
        await backend.messages.nack(
          t,
          agent,
          claimed.map((d) => d.deliveryId),
          1_000,
          opts,
        );
      }
      const all = await backend.messages.listDeadLetters(t, undefined, "", 10);
      expect(all.map((d) => d.message.id).sort()).toEqual(["m1", "m2", "m3"]);
      expect([...all].sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(all);
      const page = await backend.messages.listDeadLetters(t, undefined, all[0]?.id ?? "", 1);
      expect(page.map((d) => d.id)).toEqual([all[1]?.id]);
      expect((await backend.messages.listDeadLetters(t, "a", "", 10)).length).toBe(2);
      const one = all.find((d) => d.message.id === "m1");
      if (!one) throw new Error("m1 not dead-lettered");
      expect((await backend.messages.getDeadLetter(t, one.id))?.agentId).toBe("a");
      expect(await backend.messages.getDeadLetter(fresh(), one.id)).toBeUndefined();

      expect(await backend.messages.replayDeadLetter(t, one.id, NEVER)).toBe(true);
      expect(await backend.messages.replayDeadLetter(t, one.id, NEVER)).toBe(false);
      const [replayed] = await backend.messages.claim(t, "a", 10, 2_000, 30_000);
      expect([replayed?.message.id, replayed?.attempt]).toEqual(["m1", 1]);
      const m2 = all.find((d) => d.message.id === "m2");
      expect(await backend.messages.purgeDeadLetter(t, m2?.id ?? "")).toBe(true);
      expect(await backend.messages.purgeDeadLetter(t, m2?.id ?? "")).toBe(false);
      expect((await backend.messages.listDeadLetters(t, "a", "", 10)).length).toBe(0);
    });

    it("stores an idempotency key with its message; a live key makes a retry store nothing", async () => {
      const t = fresh();
      const idem = { expiresAt: 10_000, now: 1_000 };
      const m = (id: string, senderId = "s") =>
        messageRecord(t, id, { idempotencyKey: "k1", senderId });
      expect(await backend.messages.enqueue(m("m1"), ["a"], { idempotency: idem })).toEqual({
        ok: true,
      });
      expect(await backend.idempotency.lookup(t, "s", "k1", 9_999)).toBe("m1");
      expect(await backend.idempotency.lookup(t, "s", "k1", 10_000)).toBeUndefined();
      expect(await backend.messages.enqueue(m("m2"), ["a"], { idempotency: idem })).toEqual({
        ok: false,
        duplicateOf: "m1",
      });
      // Another sender's key is its own.
      expect(
        await backend.messages.enqueue(m("m3", "other"), ["a"], { idempotency: idem }),
      ).toEqual({ ok: true });
      // Past the window the key is free again.
      const later = { expiresAt: 20_000, now: 10_000 };
      expect(await backend.messages.enqueue(m("m4"), ["a"], { idempotency: later })).toEqual({
        ok: true,
      });
      expect(await backend.idempotency.lookup(t, "s", "k1", 10_001)).toBe("m4");
      expect(ids(await backend.messages.claim(t, "a", 10, 1_000, 30_000))).toEqual([
        "m1",
        "m3",
        "m4",
      ]);
    });

    it("commits a conversation entry with its message, or nothing on a version conflict", async () => {
      const t = fresh();
      const c = conversationRecord(t, "conv", { timeoutMs: 5_000, timeoutAt: 6_000 });
      await backend.conversations.create(c);
      const next = { ...c, messageCount: 1, timeoutAt: 7_000, updatedAt: 2_000, version: 2 };
      const m1 = messageRecord(t, "m1", { conversationId: "conv", idempotencyKey: "k" });
      const idem = { expiresAt: 10_000, now: 2_000 };
      expect(
        await backend.messages.enqueue(m1, ["b"], {
          idempotency: idem,
          conversation: { next, expectedVersion: 1 },
        }),
      ).toEqual({ ok: true });
      expect(await backend.conversations.get(t, "conv")).toEqual(next);
      expect(
        (await backend.conversations.history(t, "conv", -1, 10)).map((h) => h.message.id),
      ).toEqual(["m1"]);

      // A writer that still believes version 1 stores nothing: no message, entry or key.
      const m2 = messageRecord(t, "m2", { conversationId: "conv", idempotencyKey: "k2" });
      expect(
        await backend.messages.enqueue(m2, ["b"], {
          idempotency: idem,
          conversation: { next: { ...next, messageCount: 9 }, expectedVersion: 1 },
        }),
      ).toEqual({ ok: false, conversationConflict: true });
      expect(await backend.conversations.get(t, "conv")).toEqual(next);
      expect(await backend.conversations.history(t, "conv", 0, 10)).toEqual([]);
      expect(await backend.idempotency.lookup(t, "sender", "k2", 2_000)).toBeUndefined();
      expect(ids(await backend.messages.claim(t, "b", 10, 2_000, 30_000))).toEqual(["m1"]);
    });

    it("two concurrent claimers never receive the same delivery", async () => {
      const t = fresh();
      const total = 60;
      for (let i = 0; i < total; i++) await send(t, `m${String(i).padStart(3, "0")}`, ["a"]);
      const other = await reopen();
      try {
        const drain = async (b: Backend) => {
          const got: string[] = [];
          for (;;) {
            const batch = await b.messages.claim(t, "a", 7, 1_000, 30_000);
            if (batch.length === 0) return got;
            got.push(...ids(batch));
          }
        };
        const [x, y] = await Promise.all([drain(backend), drain(other)]);
        const all = [...x, ...y];
        expect(all).toHaveLength(total);
        expect(new Set(all).size).toBe(total);
      } finally {
        if (other !== backend) await other.close();
      }
    });

    it("a claim never acknowledged (its hub crashed) is redelivered by a new instance", async () => {
      const t = fresh();
      await send(t, "m1", ["a"]);
      const [claimed] = await backend.messages.claim(t, "a", 1, 1_000, 2_000);
      expect(claimed?.attempt).toBe(1);
      // The hub that claimed it is gone; another one opens the same stored state.
      const after = await reopen();
      try {
        expect(await after.messages.inFlight(t, "a")).toBe(1);
        expect(await after.messages.nextWake(t, "a")).toBe(2_000);
        expect(await after.messages.reap(t, "a", 2_000, 5)).toEqual({
          redelivered: 1,
          deadLettered: 0,
        });
        const [again] = await after.messages.claim(t, "a", 1, 2_000, 3_000);
        expect([again?.message.id, again?.attempt]).toEqual(["m1", 2]);
        expect(await after.messages.ack(t, "a", [again?.deliveryId ?? ""], 2_500)).toEqual(["ok"]);
        // The first attempt's id was requeued past its deadline: acking it now is STALE.
        expect(await after.messages.ack(t, "a", [claimed?.deliveryId ?? ""], 2_500)).toEqual([
          "stale",
        ]);
      } finally {
        if (after !== backend) await after.close();
      }
    });

    it("keeps each tenant's queues apart", async () => {
      const [t1, t2] = [fresh(), fresh()];
      await send(t1, "m1", ["a"]);
      expect(await backend.messages.claim(t2, "a", 10, 1_000, 30_000)).toEqual([]);
      expect(await backend.messages.backlog(t2, "a")).toBe(0);
      const [d] = await backend.messages.claim(t1, "a", 10, 1_000, 30_000);
      expect(await backend.messages.ack(t2, "a", [d?.deliveryId ?? ""], 1_000)).toEqual([
        "not-found",
      ]);
    });
  });
}
