// What the Backend itself promises, beyond its stores: capabilities, a stored hub epoch, and
// deleting a tenant everywhere in one call.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import {
  agentRecord,
  contextRecord,
  conversationRecord,
  ev,
  fresh,
  messageRecord,
  refreshToken,
  tenantRecord,
} from "./helpers.js";

export function backendTests(get: () => Backend): void {
  describe("backend", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("declares its capabilities", () => {
      expect(backend.capabilities.name).toMatch(/\S/);
      expect(typeof backend.capabilities.durable).toBe("boolean");
      expect(typeof backend.capabilities.multiNode).toBe("boolean");
    });

    it("keeps one hub epoch: every call answers the same non-empty value", async () => {
      const [a, b] = await Promise.all([backend.epoch(), backend.epoch()]);
      expect(a).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      expect(b).toBe(a);
      expect(await backend.epoch()).toBe(a);
    });

    it("deleteTenant removes what the tenant owns in every store, and nothing of another's", async () => {
      const [t, other] = [fresh(), fresh()];
      for (const id of [t, other]) {
        await backend.tenants.create(tenantRecord(id));
        await backend.registry.put(agentRecord(id, "a"), ev());
        await backend.contexts.create(contextRecord(id, "c"), ev());
        await backend.auth.putRefreshToken(refreshToken(id, `fam-${id}`, { hash: `h-${id}` }));
        await backend.topics.subscribe({
          tenantId: id,
          agentId: "a",
          pattern: "x.*",
          createdAt: 1,
        });
        await backend.conversations.create(conversationRecord(id, "conv"));
        await backend.messages.enqueue(
          messageRecord(id, "m1", { idempotencyKey: "k", senderId: "s" }),
          ["a"],
          { idempotency: { expiresAt: 9_000_000_000_000, now: 1_000 } },
        );
        await backend.requests.open({
          tenantId: id,
          id: "r1",
          requesterId: "a",
          conversationId: "",
          forgetAt: 9_000_000_000_000,
        });
        await backend.apiKeys.create({
          id: `k${id}`,
          hash: `hash-${id}`,
          tenantId: id,
          agentId: "a",
          roles: [1],
          description: "",
          createdAt: 1,
        });
        await backend.usage.add(id, 0, { messages: 1, bytes: 1, storageDelta: 10 });
        await backend.streamSlots.acquire(id, "a", "slot", 1, 9_000_000_000_000, 1);
        await backend.releasedBlobs.add({
          tenantId: id,
          ref: { backend: "fs", bucket: "objects", key: `${id}/upl_1`, size: 5 },
          deleteAt: 9_000_000_000_000,
        });
      }
      expect(await backend.deleteTenant(t)).toBe(true);

      expect(await backend.tenants.get(t)).toBeUndefined();
      expect(await backend.registry.count(t)).toBe(0);
      expect(await backend.contexts.get(t, "c")).toBeUndefined();
      expect(await backend.events.read(t, "contexts", 0, 10)).toEqual([]);
      expect(await backend.events.read(t, "agents", 0, 10)).toEqual([]);
      expect(await backend.auth.getRefreshToken(`h-${t}`)).toBeUndefined();
      expect(await backend.topics.match(t, "x.y")).toEqual([]);
      expect(await backend.conversations.get(t, "conv")).toBeUndefined();
      expect(await backend.messages.backlog(t, "a")).toBe(0);
      expect(await backend.idempotency.lookup(t, "s", "k", 2_000)).toBeUndefined();
      expect(await backend.requests.get(t, "r1")).toBeUndefined();
      expect(await backend.apiKeys.get(`k${t}`)).toBeUndefined();
      expect(await backend.usage.storageBytes(t)).toBe(0);
      expect(await backend.streamSlots.acquire(t, "a", "other", 1, 9_000_000_000_000, 1)).toEqual({
        ok: true,
      });
      expect(await backend.releasedBlobs.list(t)).toEqual([]);

      expect(await backend.tenants.get(other)).toBeDefined();
      expect(await backend.registry.count(other)).toBe(1);
      expect(await backend.contexts.get(other, "c")).toBeDefined();
      expect((await backend.events.bounds(other, "contexts")).head).toBe(1);
      expect(await backend.auth.getRefreshToken(`h-${other}`)).toBeDefined();
      expect(await backend.topics.match(other, "x.y")).toEqual(["a"]);
      expect(await backend.conversations.get(other, "conv")).toBeDefined();
      expect(await backend.messages.backlog(other, "a")).toBe(1);
      expect(await backend.idempotency.lookup(other, "s", "k", 2_000)).toBe("m1");
      expect(await backend.requests.get(other, "r1")).toBeDefined();
      expect(await backend.apiKeys.get(`k${other}`)).toBeDefined();
      expect(await backend.usage.storageBytes(other)).toBe(10);
      expect(
        await backend.streamSlots.acquire(other, "a", "other", 1, 9_000_000_000_000, 1),
      ).toEqual({ ok: false, held: 1 });
      expect(await backend.releasedBlobs.list(other)).toHaveLength(1);
    });

    it("deleteTenant of an unknown tenant answers false", async () => {
      expect(await backend.deleteTenant(fresh())).toBe(false);
    });
  });
}
