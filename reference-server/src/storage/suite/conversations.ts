// The ConversationStore part of the shared backend suite: compare-and-set, listings, stored
// timeouts (listDue) and history (written by MessageStore.enqueue).

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { conversationRecord, fresh, messageRecord } from "./helpers.js";

export function conversationStoreTests(get: () => Backend): void {
  describe("conversations", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("creates once, reads back, and replaces by compare-and-set on version", async () => {
      const t = fresh();
      const c = conversationRecord(t, "c1", { metadata: { k: "v" }, timeoutMs: 5 });
      expect(await backend.conversations.create(c)).toBe(true);
      expect(await backend.conversations.create({ ...c, subject: "dup" })).toBe(false);
      expect(await backend.conversations.get(t, "c1")).toEqual(c);
      expect(await backend.conversations.get(fresh(), "c1")).toBeUndefined();
      const closed = { ...c, state: 2, closedBy: "a", endedAt: 2_000, version: 2 };
      expect(await backend.conversations.replace(closed, 1)).toBe(true);
      expect(await backend.conversations.replace({ ...closed, subject: "lost" }, 1)).toBe(false);
      expect(await backend.conversations.get(t, "c1")).toEqual(closed);
    });

    it("lists a participant's conversations newest id first, before beforeId", async () => {
      const t = fresh();
      for (const id of ["c1", "c2", "c3"])
        await backend.conversations.create(conversationRecord(t, id));
      await backend.conversations.create(conversationRecord(t, "c4", { participants: ["x", "y"] }));
      const ids = async (p: string, before: string, limit = 10) =>
        (await backend.conversations.list(t, p, before, limit)).map((c) => c.id);
      expect(await ids("b", "")).toEqual(["c3", "c2", "c1"]);
      expect(await ids("b", "c3", 1)).toEqual(["c2"]);
      expect(await ids("x", "")).toEqual(["c4"]);
      expect(await ids("nobody", "")).toEqual([]);
    });

    it("listDue finds OPEN conversations whose timeout passed, earliest first", async () => {
      // Deadlines a few ms after the epoch come before any other test's.
      const t = fresh();
      await backend.conversations.create(conversationRecord(t, "late", { timeoutAt: 9 }));
      await backend.conversations.create(conversationRecord(t, "early", { timeoutAt: 3 }));
      await backend.conversations.create(
        conversationRecord(t, "closed", { timeoutAt: 2, state: 2 }),
      );
      await backend.conversations.create(conversationRecord(t, "none"));
      const ours = async (dueBy: number) =>
        (await backend.conversations.listDue(dueBy, 1000))
          .filter((c) => c.tenantId === t)
          .map((c) => c.id);
      expect(await ours(2)).toEqual([]);
      expect(await ours(3)).toEqual(["early"]);
      expect(await ours(100)).toEqual(["early", "late"]);
      expect((await backend.conversations.listDue(100, 1))[0]?.timeoutAt).toBeLessThanOrEqual(3);
      const early = await backend.conversations.get(t, "early");
      if (!early) throw new Error("not stored");
      await backend.conversations.replace({ ...early, state: 3, version: 2 }, 1);
      expect(await ours(100)).toEqual(["late"]);
      const late = await backend.conversations.get(t, "late");
      await backend.conversations.replace({ ...(late ?? early), state: 2, version: 2 }, 1);
    });

    it("keeps history in acceptance order, with indexes", async () => {
      const t = fresh();
      let c = conversationRecord(t, "c1");
      await backend.conversations.create(c);
      for (const id of ["m1", "m2", "m3"]) {
        const next = { ...c, messageCount: c.messageCount + 1, version: c.version + 1 };
        const m = messageRecord(t, id, { conversationId: "c1" });
        await backend.messages.enqueue(m, ["b"], {
          conversation: { next, expectedVersion: c.version },
        });
        c = next;
      }
      const h = await backend.conversations.history(t, "c1", -1, 10);
      expect(h.map((e) => [e.index, e.message.id])).toEqual([
        [0, "m1"],
        [1, "m2"],
        [2, "m3"],
      ]);
      expect((await backend.conversations.history(t, "c1", 0, 1)).map((e) => e.index)).toEqual([1]);
      expect(await backend.conversations.indexOf(t, "c1", "m3")).toBe(2);
      expect(await backend.conversations.indexOf(t, "c1", "nope")).toBe(-1);
      expect(await backend.conversations.history(fresh(), "c1", -1, 10)).toEqual([]);
    });
  });
}
