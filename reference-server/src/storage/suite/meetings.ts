// The MeetingStore part of the shared backend contract (backend-test-suite.ts registers it). What
// matters most for several hub nodes: update() is a compare-and-set on the meeting version that
// stores the meeting and its events together, so of two writers at the same version exactly one
// wins and the event sequence never has a gap or a duplicate.

import { describe, expect, it } from "vitest";
import type { Backend, MeetingEventRecord, MeetingRecord } from "../types.js";

import { deleteTenant, fresh } from "./helpers.js";

function meetingRecord(
  tenantId: string,
  id: string,
  overrides: Partial<MeetingRecord> = {},
): MeetingRecord {
  return {
    tenantId,
    id,
    title: `Meeting ${id}`,
    agenda: ["one", "two"],
    metadata: { k: "v" },
    state: 1,
    policy: 1,
    creatorId: "alice",
    moderatorId: "",
    participants: [
      { agentId: "alice", status: 1 },
      { agentId: "bob", status: 2, joinedAt: 1_500 },
    ],
    turnHolderId: "",
    lastHolderId: "",
    turnNumber: 0,
    queue: [],
    createdAt: 1_000,
    endReason: 0,
    endNote: "",
    maxDurationMs: 60_000,
    turnTimeoutMs: 5_000,
    lastSeq: 0,
    speakKeys: {},
    version: 1,
    ...overrides,
  };
}

function eventRecord(seq: number, overrides: Partial<MeetingEventRecord> = {}): MeetingEventRecord {
  return {
    seq,
    kind: 2,
    time: 1_000 + seq,
    actorId: "bob",
    subjectId: "",
    turnHolderId: "",
    turnNumber: 0,
    state: 1,
    queuePosition: 0,
    endReason: 0,
    ...overrides,
  };
}

/** Registers the meeting store contract; `backend` is read when each test runs. */
export function meetingStoreTests(backend: () => Backend): void {
  describe("meetings", () => {
    it("creates a meeting once, returns copies, and keeps tenants apart", async () => {
      const t = fresh();
      const m = meetingRecord(t, "m-1");
      const store = backend().meetings;
      expect(await store.create(m)).toBe(true);
      expect(await store.create({ ...m, title: "imposter" })).toBe(false);
      const got = await store.get(t, "m-1");
      expect(got).toEqual(m);
      if (!got) throw new Error("meeting not stored");
      got.participants[0] = { agentId: "mallory", status: 2 };
      expect(await store.get(t, "m-1")).toEqual(m);
      expect(await store.get(fresh(), "m-1")).toBeUndefined();
      expect(await store.tenantsHolding("m-1", 10)).toContain(t);
      expect(await store.tenantsHolding(fresh("none-"), 10)).toEqual([]);
    });

    it("updates by compare-and-set on the version, storing events with the change", async () => {
      const t = fresh();
      const store = backend().meetings;
      await store.create(meetingRecord(t, "m"));
      const v2 = meetingRecord(t, "m", { version: 2, lastSeq: 2, state: 2 });
      const entry = {
        sequence: 2,
        turnNumber: 1,
        speakerId: "bob",
        contentType: "text/plain",
        data: new Uint8Array([104, 105]),
        time: 1_002,
      };
      const events = [eventRecord(1), eventRecord(2, { kind: 6, entry })];
      expect(await store.update(v2, 1, events)).toEqual({ ok: true });

      // A second writer that read version 1 loses and learns the current record; its events are
      // not stored.
      const stale = await store.update(meetingRecord(t, "m", { version: 2, lastSeq: 1 }), 1, [
        eventRecord(2, { kind: 3 }),
      ]);
      expect(stale.ok).toBe(false);
      if (!stale.ok) expect(stale.current).toEqual(v2);
      const stored = await store.readEvents(t, "m", 0, 10);
      expect(stored.map((e) => e.kind)).toEqual([2, 6]);
      expect(Array.from(stored[1]?.entry?.data ?? [])).toEqual([104, 105]);
      expect(await store.readEvents(t, "m", 1, 10)).toHaveLength(1);
      expect(await store.readEvents(t, "m", 0, 1)).toHaveLength(1);
      expect(await store.update(meetingRecord(t, "gone"), 1, [])).toEqual({
        ok: false,
        current: undefined,
      });
    });

    it("lets exactly one of many concurrent writers at the same version win", async () => {
      const t = fresh();
      const store = backend().meetings;
      await store.create(meetingRecord(t, "race"));
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.update(
            meetingRecord(t, "race", { version: 2, lastSeq: 1, turnHolderId: `a${i}` }),
            1,
            [eventRecord(1, { kind: 5, subjectId: `a${i}` })],
          ),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.findIndex((r) => r.ok);
      expect((await store.get(t, "race"))?.turnHolderId).toBe(`a${winner}`);
      expect((await store.readEvents(t, "race", 0, 100)).map((e) => e.subjectId)).toEqual([
        `a${winner}`,
      ]);
    });

    it("wakes event waiters on update and delete, and honours the abort signal", async () => {
      const t = fresh();
      const store = backend().meetings;
      await store.create(meetingRecord(t, "w"));
      const abort = new AbortController();
      let woke = false;
      const waiting = store.waitForEvents(t, "w", 0, abort.signal).then(() => {
        woke = true;
      });
      await Promise.resolve();
      expect(woke).toBe(false);
      await store.update(meetingRecord(t, "w", { version: 2, lastSeq: 1 }), 1, [eventRecord(1)]);
      await waiting;
      expect(woke).toBe(true);
      // Already past afterSeq: resolves at once.
      await store.waitForEvents(t, "w", 0, abort.signal);

      const pending = store.waitForEvents(t, "w", 1, abort.signal);
      abort.abort();
      await pending;
      const again = store.waitForEvents(t, "w", 1, new AbortController().signal);
      expect(await store.delete(t, "w")).toBe(true);
      await again;
      expect(await store.delete(t, "w")).toBe(false);
      expect(await store.readEvents(t, "w", 0, 10)).toEqual([]);
    });

    it("lists newest first with filters and positions", async () => {
      const t = fresh();
      const store = backend().meetings;
      const alice = [{ agentId: "alice", status: 1 }];
      await store.create(meetingRecord(t, "a", { createdAt: 1_000 }));
      await store.create(meetingRecord(t, "b", { createdAt: 3_000, state: 2 }));
      await store.create(meetingRecord(t, "c", { createdAt: 3_000, participants: alice }));
      await store.create(meetingRecord(t, "d", { createdAt: 2_000 }));
      const ids = async (...args: Parameters<typeof store.list>) =>
        (await store.list(...args)).map((m) => m.id);

      expect(await ids(t, {}, undefined, 10)).toEqual(["c", "b", "d", "a"]);
      expect(await ids(t, {}, { createdAt: 3_000, id: "b" }, 2)).toEqual(["d", "a"]);
      expect(await ids(t, {}, { createdAt: 3_000, id: "c" }, 1)).toEqual(["b"]);
      expect(await ids(t, { state: 2 }, undefined, 10)).toEqual(["b"]);
      expect(await ids(t, { participantIds: ["bob"] }, undefined, 10)).toEqual(["b", "d", "a"]);
      expect(await ids(t, { participantIds: ["alice", "bob"] }, undefined, 10)).toEqual([
        "b",
        "d",
        "a",
      ]);
      expect(await ids(t, { participantIds: ["carol"] }, undefined, 10)).toEqual([]);
      expect(await ids(fresh(), {}, undefined, 10)).toEqual([]);
    });

    it("finds meetings whose stored deadline is due, in any tenant, earliest first", async () => {
      const [t1, t2] = [fresh(), fresh()];
      const store = backend().meetings;
      // Far-future deadlines, so meetings other tests left behind never fall in the window.
      const base = 9_000_000_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000;
      await store.create(meetingRecord(t1, "late", { wakeAt: base + 500 }));
      await store.create(meetingRecord(t2, "early", { wakeAt: base + 100 }));
      await store.create(meetingRecord(t2, "none"));
      const due = (await store.listDue(base + 500, 1000)).filter((m) =>
        [t1, t2].includes(m.tenantId),
      );
      expect(due.map((m) => m.id)).toEqual(["early", "late"]);
      const soon = (await store.listDue(base + 200, 1000)).filter((m) =>
        [t1, t2].includes(m.tenantId),
      );
      expect(soon.map((m) => m.id)).toEqual(["early"]);
    });

    it("deletes a tenant's meetings and nobody else's", async () => {
      const [a, b] = [fresh(), fresh()];
      const store = backend().meetings;
      await store.create(meetingRecord(a, "same"));
      await store.create(meetingRecord(b, "same"));
      await store.update(meetingRecord(b, "same", { version: 2, lastSeq: 1 }), 1, [eventRecord(1)]);
      await deleteTenant(backend(), b);
      expect(await store.get(b, "same")).toBeUndefined();
      expect(await store.readEvents(b, "same", 0, 10)).toEqual([]);
      expect(await store.get(a, "same")).toEqual(meetingRecord(a, "same"));
    });
  });
}
