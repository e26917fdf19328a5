// The RegistryStore part of the shared backend suite: agents, queries, and the events and owned
// records that go with each write.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import {
  agentRecord,
  attemptMutation,
  deleteTenant,
  ev,
  fresh,
  messageRecord,
  unev,
} from "./helpers.js";

export function registryStoreTests(get: () => Backend): void {
  describe("registry", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("puts, gets and replaces an agent", async () => {
      const tenant = fresh();
      const a = agentRecord(tenant, "a-1", {
        capabilities: ["vision", "ocr"],
        metadata: { zone: "z1" },
        groups: ["g1"],
      });
      await backend.registry.put(a, ev());
      expect(await backend.registry.get(tenant, "a-1")).toEqual(a);
      const replaced = { ...a, type: "rpa", sessionId: "ses-2", capabilities: ["ocr"] };
      await backend.registry.put(replaced, ev());
      expect(await backend.registry.get(tenant, "a-1")).toEqual(replaced);
      expect(await backend.registry.count(tenant)).toBe(1);
      expect(await backend.registry.get(tenant, "a-2")).toBeUndefined();
    });

    it("keeps an agent's published public keys as they were put", async () => {
      const tenant = fresh();
      const publicKeys = [
        { keyId: "k2", kemId: 32, publicKey: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA" },
        { keyId: "k1", kemId: 16, publicKey: "BA" },
      ];
      const a = agentRecord(tenant, "a-1", { publicKeys });
      await backend.registry.put(a, ev());
      expect((await backend.registry.get(tenant, "a-1"))?.publicKeys).toEqual(publicKeys);
      expect((await backend.registry.touch(tenant, "a-1", 9_000))?.publicKeys).toEqual(publicKeys);
      // Records without keys stay without.
      await backend.registry.put(agentRecord(tenant, "a-2"), ev());
      expect((await backend.registry.get(tenant, "a-2"))?.publicKeys ?? []).toEqual([]);
    });

    it("returns copies or frozen records of agents", async () => {
      const tenant = fresh();
      const a = agentRecord(tenant, "a-1", { capabilities: ["x"], metadata: { k: "v" } });
      await backend.registry.put(a, ev());
      const got = await backend.registry.get(tenant, "a-1");
      if (!got) throw new Error("agent not stored");
      attemptMutation(() => got.capabilities.push("y"));
      attemptMutation(() => {
        got.metadata["k"] = "changed";
      });
      expect(await backend.registry.get(tenant, "a-1")).toEqual(a);
      // Neither may the record the caller stored change what was stored.
      attemptMutation(() => a.capabilities.push("z"));
      expect((await backend.registry.get(tenant, "a-1"))?.capabilities).toEqual(["x"]);
    });

    it("touch sets lastSeen and returns the agent; unknown agents are undefined", async () => {
      const tenant = fresh();
      await backend.registry.put(agentRecord(tenant, "a-1", { lastSeen: 1_000 }), ev());
      const touched = await backend.registry.touch(tenant, "a-1", 5_000);
      expect(touched?.lastSeen).toBe(5_000);
      expect(touched?.id).toBe("a-1");
      expect((await backend.registry.get(tenant, "a-1"))?.lastSeen).toBe(5_000);
      expect(await backend.registry.touch(tenant, "nobody", 6_000)).toBeUndefined();
      expect(await backend.registry.get(tenant, "nobody")).toBeUndefined();
    });

    it("delete returns the removed agent, then undefined", async () => {
      const tenant = fresh();
      const a = agentRecord(tenant, "a-1");
      await backend.registry.put(a, ev());
      expect(await backend.registry.delete(tenant, "a-1", () => ev())).toEqual(a);
      expect(await backend.registry.get(tenant, "a-1")).toBeUndefined();
      expect(await backend.registry.delete(tenant, "a-1", () => ev())).toBeUndefined();
      expect(await backend.registry.count(tenant)).toBe(0);
    });

    it("lists agents ordered by id in pages", async () => {
      const tenant = fresh();
      for (const id of ["c", "a", "e", "b", "d"])
        await backend.registry.put(agentRecord(tenant, id), ev());
      const page1 = await backend.registry.list(tenant, {}, "", 2);
      expect(page1.map((a) => a.id)).toEqual(["a", "b"]);
      const page2 = await backend.registry.list(tenant, {}, "b", 2);
      expect(page2.map((a) => a.id)).toEqual(["c", "d"]);
      const page3 = await backend.registry.list(tenant, {}, "d", 2);
      expect(page3.map((a) => a.id)).toEqual(["e"]);
      expect(await backend.registry.list(tenant, {}, "e", 2)).toEqual([]);
      expect(await backend.registry.count(tenant)).toBe(5);
    });

    describe("queries", () => {
      const tenant = fresh();
      const agents = [
        agentRecord(tenant, "a1", {
          type: "ml",
          location: "eu/west",
          capabilities: ["vision", "ocr"],
          metadata: { zone: "z1", tier: "gold" },
          lastSeen: 1_000,
        }),
        agentRecord(tenant, "a2", {
          type: "rpa",
          location: "eu/north/plant-3",
          capabilities: ["ocr"],
          metadata: { zone: "z2" },
          lastSeen: 2_000,
        }),
        agentRecord(tenant, "a3", {
          type: "ml",
          location: "eu",
          capabilities: ["vision"],
          metadata: { zone: "z1" },
          lastSeen: 3_000,
        }),
        agentRecord(tenant, "a4", {
          type: "chatbot",
          location: "europe/x",
          capabilities: [],
          metadata: {},
          lastSeen: 4_000,
        }),
        agentRecord(tenant, "a5", {
          type: "ml",
          location: "us/east",
          capabilities: ["vision", "ocr", "speech"],
          metadata: { zone: "z1", tier: "gold" },
          lastSeen: 5_000,
        }),
      ];
      const ids = async (query: Parameters<Backend["registry"]["list"]>[1]) =>
        (await backend.registry.list(tenant, query, "", 100)).map((a) => a.id);

      beforeAll(async () => {
        for (const a of agents) await backend.registry.put(a, ev());
      });

      it("matches every agent with an empty query", async () => {
        expect(await ids({})).toEqual(["a1", "a2", "a3", "a4", "a5"]);
      });

      it("matches on type", async () => {
        expect(await ids({ type: "ml" })).toEqual(["a1", "a3", "a5"]);
        expect(await ids({ type: "nothing" })).toEqual([]);
      });

      it("matches a location exactly, or as a prefix when it ends with /", async () => {
        expect(await ids({ location: "eu" })).toEqual(["a3"]);
        expect(await ids({ location: "eu/west" })).toEqual(["a1"]);
        // "eu/" is a prefix: it matches eu/west and eu/north/..., not "eu" itself nor "europe/x".
        expect(await ids({ location: "eu/" })).toEqual(["a1", "a2"]);
        expect(await ids({ location: "eu/north/" })).toEqual(["a2"]);
        expect(await ids({ location: "eu/north" })).toEqual([]);
      });

      it("requires every listed capability", async () => {
        expect(await ids({ capabilities: ["ocr"] })).toEqual(["a1", "a2", "a5"]);
        expect(await ids({ capabilities: ["vision", "ocr"] })).toEqual(["a1", "a5"]);
        expect(await ids({ capabilities: ["vision", "speech"] })).toEqual(["a5"]);
        expect(await ids({ capabilities: ["teleport"] })).toEqual([]);
      });

      it("requires every listed metadata pair", async () => {
        expect(await ids({ metadata: { zone: "z1" } })).toEqual(["a1", "a3", "a5"]);
        expect(await ids({ metadata: { zone: "z1", tier: "gold" } })).toEqual(["a1", "a5"]);
        expect(await ids({ metadata: { zone: "z2", tier: "gold" } })).toEqual([]);
      });

      it("filters on seenSince (inclusive) and seenBefore (exclusive)", async () => {
        expect(await ids({ seenSince: 3_000 })).toEqual(["a3", "a4", "a5"]);
        expect(await ids({ seenBefore: 3_000 })).toEqual(["a1", "a2"]);
        expect(await ids({ seenSince: 2_000, seenBefore: 4_000 })).toEqual(["a2", "a3"]);
        expect(await ids({ seenSince: 6_000 })).toEqual([]);
      });

      it("combines criteria and pages through the matches", async () => {
        const q = { type: "ml", capabilities: ["vision"], metadata: { zone: "z1" } };
        expect(await ids(q)).toEqual(["a1", "a3", "a5"]);
        expect(await ids({ ...q, location: "eu/" })).toEqual(["a1"]);
        expect(await ids({ ...q, seenSince: 2_000 })).toEqual(["a3", "a5"]);
        const page1 = await backend.registry.list(tenant, q, "", 2);
        expect(page1.map((a) => a.id)).toEqual(["a1", "a3"]);
        const page2 = await backend.registry.list(tenant, q, "a3", 2);
        expect(page2.map((a) => a.id)).toEqual(["a5"]);
      });
    });

    it("appends each write's event to the tenant's agents stream in the same step", async () => {
      const tenant = fresh();
      const stream = async () =>
        (await backend.events.read(tenant, "agents", 0, 100)).map((e) => unev(e.data));
      await backend.registry.put(agentRecord(tenant, "a", { lastSeen: 1_000 }), ev("registered"));
      // The touch event sees the agent before and after, and may append nothing.
      const seen: number[][] = [];
      await backend.registry.touch(tenant, "a", 2_000, (before, after) => {
        seen.push([before.lastSeen, after.lastSeen]);
        return undefined;
      });
      await backend.registry.touch(tenant, "a", 3_000, (b) => ev(`online after ${b.lastSeen}`));
      expect(
        await backend.registry.touch(tenant, "ghost", 3_000, () => ev("never")),
      ).toBeUndefined();
      const removed = await backend.registry.delete(tenant, "a", (r) => ev(`gone ${r.lastSeen}`));
      expect(removed?.lastSeen).toBe(3_000);
      expect(await backend.registry.delete(tenant, "a", () => ev("twice"))).toBeUndefined();
      expect(seen).toEqual([[1_000, 2_000]]);
      expect(await stream()).toEqual(["registered", "online after 2000", "gone 3000"]);
    });

    it("keeps when an agent goes offline; the due ones are listed across tenants and announced once", async () => {
      const tenant = fresh();
      const other = fresh();
      const stream = async () =>
        (await backend.events.read(tenant, "agents", 0, 100)).map((e) => unev(e.data));
      await backend.registry.put(agentRecord(tenant, "a-1", { offlineAt: 6_000 }), ev("r1"));
      await backend.registry.put(agentRecord(tenant, "a-2", { offlineAt: 4_000 }), ev("r2"));
      await backend.registry.put(agentRecord(tenant, "a-3"), ev("r3"));
      await backend.registry.put(agentRecord(other, "b-1", { offlineAt: 5_000 }), ev());
      const due = async (dueBy: number) =>
        (await backend.registry.listOfflineDue(dueBy, 10_000))
          .filter((a) => a.tenantId === tenant || a.tenantId === other)
          .map((a) => `${a.id}@${a.offlineAt}`);
      expect(await due(5_000)).toEqual(["a-2@4000", "b-1@5000"]);
      expect(await due(Number.MAX_SAFE_INTEGER)).toEqual(["a-2@4000", "b-1@5000", "a-1@6000"]);
      // A touch with the presence timeout moves the moment; one without leaves it.
      const touched = await backend.registry.touch(tenant, "a-2", 3_000, undefined, 5_000);
      expect(touched?.offlineAt).toBe(8_000);
      expect((await backend.registry.touch(tenant, "a-1", 2_000))?.offlineAt).toBe(6_000);
      expect(await due(7_000)).toEqual(["b-1@5000", "a-1@6000"]);
      // Only the stored moment is announced, and only once.
      expect(await backend.registry.markOffline(tenant, "a-2", 4_000, ev("stale"))).toBe(false);
      expect(await backend.registry.markOffline(tenant, "a-1", 6_000, ev("offline"))).toBe(true);
      expect(await backend.registry.markOffline(tenant, "a-1", 6_000, ev("twice"))).toBe(false);
      expect(await backend.registry.markOffline(tenant, "ghost", 1, ev("never"))).toBe(false);
      expect((await backend.registry.get(tenant, "a-1"))?.offlineAt).toBeUndefined();
      expect(await due(Number.MAX_SAFE_INTEGER)).toEqual(["b-1@5000", "a-2@8000"]);
      expect(await stream()).toEqual(["r1", "r2", "r3", "offline"]);
    });

    describe("presence over repeated touches", () => {
      // Touches as the hub makes them (with the presence timeout), several in a row: a backend
      // may hold the latest elsewhere (the production preset keeps it in Redis), but every read
      // and the presence sweep answer as if each touch had been stored.
      const T = 10_000;

      it("get, list and the touch itself answer the latest touch", async () => {
        const tenant = fresh();
        await backend.registry.put(agentRecord(tenant, "a", { lastSeen: 1_000 }), ev());
        await backend.registry.put(agentRecord(tenant, "b", { lastSeen: 1_000 }), ev());
        for (const at of [2_000, 3_000, 4_000, 5_000]) {
          const touched = await backend.registry.touch(tenant, "a", at, undefined, T);
          expect(touched).toMatchObject({ id: "a", type: "ml", lastSeen: at, offlineAt: at + T });
        }
        // An older touch (another node's) moves nothing back.
        expect(await backend.registry.touch(tenant, "a", 4_500, undefined, T)).toMatchObject({
          lastSeen: 5_000,
          offlineAt: 15_000,
        });
        expect(await backend.registry.get(tenant, "a")).toMatchObject({
          lastSeen: 5_000,
          offlineAt: 15_000,
        });
        const listed = await backend.registry.list(tenant, {}, "", 10);
        expect(listed.map((x) => `${x.id}@${x.lastSeen}`)).toEqual(["a@5000", "b@1000"]);
        const ids = async (q: Parameters<Backend["registry"]["list"]>[1]) =>
          (await backend.registry.list(tenant, q, "", 10)).map((x) => x.id);
        expect(await ids({ seenSince: 5_000 })).toEqual(["a"]);
        expect(await ids({ seenSince: 5_001 })).toEqual([]);
        expect(await ids({ seenBefore: 5_000 })).toEqual(["b"]);
        expect(await ids({ seenBefore: 5_001 })).toEqual(["a", "b"]);
      });

      it("touch events see the latest touch before and after", async () => {
        const tenant = fresh();
        await backend.registry.put(agentRecord(tenant, "a", { lastSeen: 1_000 }), ev("r"));
        const seen: number[][] = [];
        const watch = (before: { lastSeen: number }, after: { lastSeen: number }) => {
          seen.push([before.lastSeen, after.lastSeen]);
          return after.lastSeen === 4_000 ? ev("at 4000") : undefined;
        };
        for (const at of [2_000, 3_000, 4_000])
          await backend.registry.touch(tenant, "a", at, watch, T);
        expect(seen).toEqual([
          [1_000, 2_000],
          [2_000, 3_000],
          [3_000, 4_000],
        ]);
        const stream = await backend.events.read(tenant, "agents", 0, 10);
        expect(stream.map((e) => unev(e.data))).toEqual(["r", "at 4000"]);
      });

      it("pages through seen queries by the latest touch", async () => {
        const tenant = fresh();
        for (const id of ["a", "b", "c", "d", "e"])
          await backend.registry.put(
            agentRecord(tenant, id, { lastSeen: 1_000, offlineAt: 1_000 + T }),
            ev(),
          );
        for (const at of [2_000, 3_000, 4_000]) {
          await backend.registry.touch(tenant, "b", at, undefined, T);
          await backend.registry.touch(tenant, "d", at, undefined, T);
        }
        const pages = async (q: Parameters<Backend["registry"]["list"]>[1]) => {
          const out: string[][] = [];
          let after = "";
          for (;;) {
            const page = await backend.registry.list(tenant, q, after, 1);
            if (page.length === 0) return out;
            out.push(page.map((x) => `${x.id}@${x.lastSeen}`));
            after = page[page.length - 1]?.id ?? "";
          }
        };
        expect(await pages({ seenSince: 3_500 })).toEqual([["b@4000"], ["d@4000"]]);
        expect(await pages({ seenBefore: 3_500 })).toEqual([["a@1000"], ["c@1000"], ["e@1000"]]);
        const twos = await backend.registry.list(tenant, { seenBefore: 3_500 }, "", 2);
        expect(twos.map((x) => x.id)).toEqual(["a", "c"]);
      });

      it("the sweep finds an agent only once its latest touch is a timeout old", async () => {
        const tenant = fresh();
        const due = async (dueBy: number) =>
          (await backend.registry.listOfflineDue(dueBy, 10_000))
            .filter((x) => x.tenantId === tenant)
            .map((x) => `${x.id}@${x.lastSeen}`);
        await backend.registry.put(
          agentRecord(tenant, "a", { lastSeen: 1_000, offlineAt: 1_000 + T }),
          ev("r"),
        );
        for (const at of [2_000, 3_000, 4_000, 5_000])
          await backend.registry.touch(tenant, "a", at, undefined, T);
        expect(await due(12_000)).toEqual([]);
        expect(await due(14_999)).toEqual([]);
        const [found] = (await backend.registry.listOfflineDue(15_000, 10_000)).filter(
          (x) => x.tenantId === tenant,
        );
        expect(found).toMatchObject({ id: "a", lastSeen: 5_000, offlineAt: 15_000 });
        const offlineAt = found?.offlineAt ?? 0;
        expect(await backend.registry.markOffline(tenant, "a", offlineAt, ev("offline"))).toBe(
          true,
        );
        expect(await backend.registry.markOffline(tenant, "a", offlineAt, ev("twice"))).toBe(false);
        expect(await due(Number.MAX_SAFE_INTEGER)).toEqual([]);
        expect(await backend.registry.get(tenant, "a")).toMatchObject({ lastSeen: 5_000 });
        expect((await backend.registry.get(tenant, "a"))?.offlineAt).toBeUndefined();
        // The next touch finds it offline, and sets a new moment.
        const back: number[] = [];
        const touched = await backend.registry.touch(
          tenant,
          "a",
          30_000,
          (before) => {
            back.push(before.lastSeen);
            return before.offlineAt === undefined ? ev("online") : undefined;
          },
          T,
        );
        expect(touched).toMatchObject({ lastSeen: 30_000, offlineAt: 40_000 });
        expect(back).toEqual([5_000]);
        const stream = await backend.events.read(tenant, "agents", 0, 10);
        expect(stream.map((e) => unev(e.data))).toEqual(["r", "offline", "online"]);
      });

      it("a sweep late past the latest touch's moment announces that touch's lastSeen", async () => {
        const tenant = fresh();
        await backend.registry.put(
          agentRecord(tenant, "a", { lastSeen: 1_000, offlineAt: 1_000 + T }),
          ev(),
        );
        for (const at of [2_000, 3_000, 4_000, 5_000])
          await backend.registry.touch(tenant, "a", at, undefined, T);
        const [found] = (await backend.registry.listOfflineDue(20_000, 10_000)).filter(
          (x) => x.tenantId === tenant,
        );
        expect(found).toMatchObject({ id: "a", lastSeen: 5_000, offlineAt: 15_000 });
        expect(
          await backend.registry.markOffline(tenant, "a", found?.offlineAt ?? 0, ev("offline")),
        ).toBe(true);
        expect(await backend.registry.get(tenant, "a")).toMatchObject({ lastSeen: 5_000 });
        expect((await backend.registry.get(tenant, "a"))?.offlineAt).toBeUndefined();
        const before: number[] = [];
        await backend.registry.touch(
          tenant,
          "a",
          30_000,
          (b) => {
            before.push(b.lastSeen);
            return undefined;
          },
          T,
        );
        expect(before).toEqual([5_000]);
      });

      it("markOffline of a moment a later touch replaced announces nothing", async () => {
        const tenant = fresh();
        await backend.registry.put(
          agentRecord(tenant, "a", { lastSeen: 1_000, offlineAt: 1_000 + T }),
          ev("r"),
        );
        await backend.registry.touch(tenant, "a", 2_000, undefined, T);
        for (const at of [3_000, 4_000, 5_000])
          await backend.registry.touch(tenant, "a", at, undefined, T);
        for (const stale of [11_000, 12_000, 13_000, 14_000])
          expect(await backend.registry.markOffline(tenant, "a", stale, ev("early"))).toBe(false);
        expect(await backend.registry.get(tenant, "a")).toMatchObject({
          lastSeen: 5_000,
          offlineAt: 15_000,
        });
        expect(await backend.registry.markOffline(tenant, "a", 15_000, ev("offline"))).toBe(true);
        const stream = await backend.events.read(tenant, "agents", 0, 10);
        expect(stream.map((e) => unev(e.data))).toEqual(["r", "offline"]);
      });

      it("a touch after markOffline of a later touch's moment announces nothing twice", async () => {
        const tenant = fresh();
        await backend.registry.put(
          agentRecord(tenant, "a", { lastSeen: 1_000, offlineAt: 1_000 + T }),
          ev(),
        );
        await backend.registry.touch(tenant, "a", 2_000, undefined, T);
        await backend.registry.touch(tenant, "a", 3_000, undefined, T);
        // The moment read before the touches is stale: nothing is announced.
        expect(await backend.registry.markOffline(tenant, "a", 11_000, ev("stale"))).toBe(false);
        expect((await backend.registry.get(tenant, "a"))?.offlineAt).toBe(13_000);
      });

      it("put and delete replace what the touches left", async () => {
        const tenant = fresh();
        await backend.registry.put(agentRecord(tenant, "a", { lastSeen: 1_000 }), ev());
        for (const at of [2_000, 3_000, 4_000])
          await backend.registry.touch(tenant, "a", at, undefined, T);
        const again = agentRecord(tenant, "a", { lastSeen: 1_500, sessionId: "ses-2" });
        await backend.registry.put(again, ev());
        expect(await backend.registry.get(tenant, "a")).toEqual(again);
        expect(await backend.registry.list(tenant, {}, "", 10)).toEqual([again]);
        expect(await backend.registry.touch(tenant, "a", 1_600, undefined, T)).toMatchObject({
          sessionId: "ses-2",
          lastSeen: 1_600,
        });
        expect(await backend.registry.touch(tenant, "a", 1_700, undefined, T)).toMatchObject({
          sessionId: "ses-2",
          lastSeen: 1_700,
        });
        expect((await backend.registry.delete(tenant, "a", () => ev()))?.lastSeen).toBe(1_700);
        expect(await backend.registry.touch(tenant, "a", 1_800, undefined, T)).toBeUndefined();
        expect(await backend.registry.get(tenant, "a")).toBeUndefined();
      });
    });

    it("delete also drops the agent's queue, dead letters and topic subscriptions", async () => {
      const tenant = fresh();
      await backend.registry.put(agentRecord(tenant, "a"), ev());
      await backend.registry.put(agentRecord(tenant, "b"), ev());
      for (const agent of ["a", "b"]) {
        await backend.topics.subscribe({
          tenantId: tenant,
          agentId: agent,
          pattern: "t",
          createdAt: 1,
        });
        await backend.messages.enqueue(messageRecord(tenant, `dead-${agent}`), [agent]);
        const [d] = await backend.messages.claim(tenant, agent, 1, 1_000, 30_000);
        await backend.messages.nack(tenant, agent, [d?.deliveryId ?? ""], 1_000, {
          availableAt: 0,
          deadLetter: true,
          error: "",
          maxAttempts: 5,
        });
        await backend.messages.enqueue(messageRecord(tenant, `m-${agent}`), [agent]);
      }
      await backend.registry.delete(tenant, "a", () => ev());
      expect(await backend.messages.backlog(tenant, "a")).toBe(0);
      expect(await backend.messages.listDeadLetters(tenant, "a", "", 10)).toEqual([]);
      expect(await backend.topics.list(tenant, "a")).toEqual([]);
      expect(await backend.topics.match(tenant, "t")).toEqual(["b"]);
      expect(await backend.messages.backlog(tenant, "b")).toBe(1);
      expect((await backend.messages.listDeadLetters(tenant, "b", "", 10)).length).toBe(1);
    });

    it("deleteTenant removes that tenant's agents only", async () => {
      const a = fresh();
      const b = fresh();
      await backend.registry.put(agentRecord(a, "x"), ev());
      await backend.registry.put(agentRecord(a, "y"), ev());
      await backend.registry.put(agentRecord(b, "x"), ev());
      await deleteTenant(backend, a);
      expect(await backend.registry.count(a)).toBe(0);
      expect(await backend.registry.get(a, "x")).toBeUndefined();
      expect(await backend.registry.list(a, {}, "", 10)).toEqual([]);
      expect(await backend.registry.count(b)).toBe(1);
      expect(await backend.registry.get(b, "x")).toEqual(agentRecord(b, "x"));
    });
  });
}
