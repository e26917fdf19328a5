// Backlog limits in the shared backend suite: a send that would pass an agent's or the tenant's
// limit is refused with nothing stored, or (policy dead-letter-oldest) accepted after the oldest
// never-delivered entries went to the dead letters with reason BACKLOG_FULL. Entries in flight or
// waiting for a redelivery are never dropped; acked entries stop counting.

import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { beforeAll, describe, expect, it } from "vitest";
import type { BacklogLimits, EnqueueResult } from "../messaging-types.js";
import type { Backend, ClaimedDelivery } from "../types.js";
import { conversationRecord, fresh, messageRecord } from "./helpers.js";

const NOW = 1_000;
const ids = (ds: ClaimedDelivery[]) => ds.map((d) => d.message.id);
const refuse = (agent: number, tenant = 0): BacklogLimits => ({
  agent,
  tenant,
  policy: "refuse",
  now: NOW,
});
const dropOldest = (agent: number, tenant = 0): BacklogLimits => ({
  ...refuse(agent, tenant),
  policy: "dead-letter-oldest",
});

export function backlogTests(get: () => Backend): void {
  describe("backlog limits", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });
    const send = (t: string, id: string, to: string[], backlog: BacklogLimits) =>
      backend.messages.enqueue(messageRecord(t, id), to, { backlog });
    const accepted: EnqueueResult = { ok: true };

    it("refuses a send past an agent's limit, storing nothing; an ack makes room", async () => {
      const t = fresh();
      expect(await send(t, "m1", ["a"], refuse(2))).toEqual(accepted);
      expect(await send(t, "m2", ["a"], refuse(2))).toEqual(accepted);
      expect(await send(t, "m3", ["a"], refuse(2))).toEqual({
        ok: false,
        backlogFull: { scope: "agent", agentId: "a", limit: 2 },
      });
      // Another agent of the tenant is not affected.
      expect(await send(t, "m4", ["b"], refuse(2))).toEqual(accepted);
      // In flight still counts; acked no longer does.
      const [d1] = await backend.messages.claim(t, "a", 1, NOW, NOW + 30_000);
      expect(await send(t, "m5", ["a"], refuse(2))).toMatchObject({ ok: false });
      expect(await backend.messages.ack(t, "a", [d1?.deliveryId ?? ""], NOW)).toEqual(["ok"]);
      expect(await send(t, "m6", ["a"], refuse(2))).toEqual(accepted);
      expect(ids(await backend.messages.claim(t, "a", 10, NOW, NOW + 30_000))).toEqual([
        "m2",
        "m6",
      ]);
      expect(await backend.messages.listDeadLetters(t, undefined, "", 10)).toEqual([]);
    });

    it("refuses a topic message when one recipient is full; counts each recipient for the tenant", async () => {
      const t = fresh();
      expect(await send(t, "m1", ["a"], refuse(1))).toEqual(accepted);
      expect(await send(t, "m2", ["b", "a", "c"], refuse(1))).toEqual({
        ok: false,
        backlogFull: { scope: "agent", agentId: "a", limit: 1 },
      });
      expect(await backend.messages.backlog(t, "b")).toBe(0);
      expect(await send(t, "m3", ["b", "c"], refuse(0, 3))).toEqual(accepted);
      expect(await send(t, "m4", ["d"], refuse(0, 3))).toEqual({
        ok: false,
        backlogFull: { scope: "tenant", agentId: "", limit: 3 },
      });
      expect(await backend.messages.backlog(t, "d")).toBe(0);
    });

    it("dead-letters the recipient's oldest undelivered message to make room", async () => {
      const t = fresh();
      for (const id of ["m1", "m2", "m3"]) {
        expect(await send(t, id, ["a"], dropOldest(3))).toEqual(accepted);
      }
      // m1 is in flight: it is never dropped; m2 is the oldest never delivered.
      expect(ids(await backend.messages.claim(t, "a", 1, NOW, NOW + 30_000))).toEqual(["m1"]);
      expect(await send(t, "m4", ["a"], dropOldest(3))).toEqual(accepted);
      const dead = await backend.messages.listDeadLetters(t, "a", "", 10);
      expect(dead.map((d) => [d.message.id, d.reason, d.attempts, d.deadLetteredAt])).toEqual([
        ["m2", DeadLetterReason.BACKLOG_FULL, 0, NOW],
      ]);
      expect(await backend.messages.inFlight(t, "a")).toBe(1);
      expect(ids(await backend.messages.claim(t, "a", 10, NOW, NOW + 30_000))).toEqual([
        "m3",
        "m4",
      ]);
      // Everything in flight: nothing can be dropped, so the send is refused after all.
      expect(await send(t, "m5", ["a"], dropOldest(3))).toEqual({
        ok: false,
        backlogFull: { scope: "agent", agentId: "a", limit: 3 },
      });
      expect(await backend.messages.listDeadLetters(t, "a", "", 10)).toHaveLength(1);
    });

    it("at the tenant limit, dead-letters the tenant's oldest undelivered message", async () => {
      const t = fresh();
      expect(await send(t, "m1", ["a"], dropOldest(0, 2))).toEqual(accepted);
      expect(await send(t, "m2", ["b"], dropOldest(0, 2))).toEqual(accepted);
      expect(await send(t, "m3", ["c"], dropOldest(0, 2))).toEqual(accepted);
      const dead = await backend.messages.listDeadLetters(t, undefined, "", 10);
      expect(dead.map((d) => [d.agentId, d.message.id, d.reason])).toEqual([
        ["a", "m1", DeadLetterReason.BACKLOG_FULL],
      ]);
      expect(await backend.messages.backlog(t, "a")).toBe(0);
      expect(await backend.messages.backlog(t, "b")).toBe(1);
      expect(await backend.messages.backlog(t, "c")).toBe(1);
    });

    it("every way a message leaves a queue gives the tenant's room back", async () => {
      const t = fresh();
      const limit = refuse(0, 4);
      const to = (id: string, agent: string, expiresAt = 4_000_000_000_000) =>
        backend.messages.enqueue(messageRecord(t, id, { expiresAt }), [agent], { backlog: limit });
      expect(await to("acked", "a")).toEqual(accepted);
      expect(await to("rejected", "b")).toEqual(accepted);
      expect(await to("expired", "c", NOW + 10)).toEqual(accepted);
      expect(await to("overdue", "d")).toEqual(accepted);
      expect(await to("one-more", "e")).toMatchObject({ ok: false });
      const claim = async (agent: string) => {
        const [d] = await backend.messages.claim(t, agent, 1, NOW, NOW + 100);
        return d?.deliveryId ?? "";
      };
      expect(await backend.messages.ack(t, "a", [await claim("a")], NOW)).toEqual(["ok"]);
      const nack = { availableAt: 0, deadLetter: true, error: "no", maxAttempts: 5 };
      expect(await backend.messages.nack(t, "b", [await claim("b")], NOW, nack)).toEqual(["ok"]);
      await claim("d");
      expect(await backend.messages.reap(t, "d", NOW + 100, 1)).toEqual({
        redelivered: 0,
        deadLettered: 1,
      });
      // The expired message is discarded when its queue is next read.
      expect(await backend.messages.claim(t, "c", 1, NOW + 20, NOW + 100)).toEqual([]);
      for (const id of ["n1", "n2", "n3", "n4"]) expect(await to(id, "e")).toEqual(accepted);
      expect(await to("n5", "e")).toMatchObject({ ok: false });
    });

    it("enqueueMany answers each item in order: those that fit are stored", async () => {
      const t = fresh();
      const results = await backend.messages.enqueueMany([
        { message: messageRecord(t, "m1"), recipients: ["a"], backlog: refuse(2) },
        { message: messageRecord(t, "m2"), recipients: ["a"], backlog: refuse(2) },
        { message: messageRecord(t, "m3"), recipients: ["a"], backlog: refuse(2) },
        { message: messageRecord(t, "m4"), recipients: ["b"], backlog: refuse(2) },
      ]);
      expect(results).toEqual([
        accepted,
        accepted,
        { ok: false, backlogFull: { scope: "agent", agentId: "a", limit: 2 } },
        accepted,
      ]);
      expect(ids(await backend.messages.claim(t, "a", 10, NOW, NOW + 30_000))).toEqual([
        "m1",
        "m2",
      ]);
      // As if sent one by one: m5 drops m4, m6 drops m5 (stored by the same batch), m7 is
      // refused under "refuse".
      const dropped = await backend.messages.enqueueMany([
        { message: messageRecord(t, "m5"), recipients: ["b"], backlog: dropOldest(1) },
        { message: messageRecord(t, "m6"), recipients: ["b", "c"], backlog: dropOldest(1) },
        { message: messageRecord(t, "m7"), recipients: ["b"], backlog: refuse(1) },
      ]);
      expect(dropped).toEqual([
        accepted,
        accepted,
        { ok: false, backlogFull: { scope: "agent", agentId: "b", limit: 1 } },
      ]);
      const dead = await backend.messages.listDeadLetters(t, "b", "", 10);
      // Dead letters made in one instant are listed in id order, not in the order made.
      expect(dead.map((d) => [d.message.id, d.reason]).sort()).toEqual([
        ["m4", DeadLetterReason.BACKLOG_FULL],
        ["m5", DeadLetterReason.BACKLOG_FULL],
      ]);
      expect(ids(await backend.messages.claim(t, "b", 10, NOW, NOW + 30_000))).toEqual(["m6"]);
      expect(ids(await backend.messages.claim(t, "c", 10, NOW, NOW + 30_000))).toEqual(["m6"]);
    });

    it("concurrent sends are answered as if made one by one, in the order they were made", async () => {
      // A SQL store may write sends that meet into one statement: within limits each is stored,
      // in order; at a limit, each is admitted or refused as it would be on its own.
      const t = fresh();
      const many = (prefix: string, n: number, to: string, limits?: BacklogLimits) =>
        Promise.all(
          Array.from({ length: n }, (_, k) =>
            backend.messages.enqueue(
              messageRecord(t, `${prefix}${String(k).padStart(2, "0")}`),
              [to],
              {
                ...(limits && { backlog: limits }),
              },
            ),
          ),
        );
      const names = (prefix: string, ks: number[]) =>
        ks.map((k) => `${prefix}${String(k).padStart(2, "0")}`);
      const range = (n: number) => Array.from({ length: n }, (_, k) => k);
      expect(await many("u", 30, "a")).toEqual(range(30).map(() => accepted));
      expect(ids(await backend.messages.claim(t, "a", 100, NOW, NOW + 30_000))).toEqual(
        names("u", range(30)),
      );
      const refused = await many("r", 30, "b", refuse(20));
      expect(refused.slice(0, 20)).toEqual(range(20).map(() => accepted));
      expect(refused.slice(20)).toEqual(
        range(10).map(() => ({
          ok: false,
          backlogFull: { scope: "agent", agentId: "b", limit: 20 },
        })),
      );
      expect(ids(await backend.messages.claim(t, "b", 100, NOW, NOW + 30_000))).toEqual(
        names("r", range(20)),
      );
      expect(await many("d", 30, "c", dropOldest(20))).toEqual(range(30).map(() => accepted));
      expect(ids(await backend.messages.claim(t, "c", 100, NOW, NOW + 30_000))).toEqual(
        names("d", range(30).slice(10)),
      );
      const dead = await backend.messages.listDeadLetters(t, "c", "", 100);
      expect(dead.map((d) => d.message.id).sort()).toEqual(names("d", range(10)));
    });

    it("a refused send keeps neither its idempotency key nor its conversation entry", async () => {
      const t = fresh();
      const idempotency = { expiresAt: 60_000, now: NOW };
      expect(await send(t, "m1", ["a"], refuse(1))).toEqual(accepted);
      const keyed = messageRecord(t, "m2", { idempotencyKey: "k" });
      expect(
        await backend.messages.enqueue(keyed, ["a"], { idempotency, backlog: refuse(1) }),
      ).toMatchObject({ ok: false, backlogFull: { scope: "agent" } });
      expect(await backend.idempotency.lookup(t, keyed.senderId, "k", NOW)).toBeUndefined();
      const conv = conversationRecord(t, "c1");
      expect(await backend.conversations.create(conv)).toBe(true);
      const next = { ...conv, messageCount: 1, version: conv.version + 1 };
      const inConv = messageRecord(t, "m3", { conversationId: "c1" });
      expect(
        await backend.messages.enqueue(inConv, ["a"], {
          conversation: { next, expectedVersion: conv.version },
          backlog: refuse(1),
        }),
      ).toMatchObject({ ok: false, backlogFull: { scope: "agent" } });
      expect((await backend.conversations.get(t, "c1"))?.version).toBe(conv.version);
      expect(await backend.conversations.history(t, "c1", -1, 10)).toEqual([]);
    });
  });
}
