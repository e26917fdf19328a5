// The MessageStore part of the shared backend contract (backend-test-suite.ts registers it beside suite/messages.ts): what
// a retried Ack or Nack answers. The proto promises that settling is safe to retry, so a backend
// must remember how each delivery left the in-flight set for SETTLED_RETENTION_MS.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type MessageRecord, type NackOptions, SETTLED_RETENTION_MS } from "../messaging-types.js";
import type { Backend } from "../types.js";

const fresh = (prefix = "t") => `${prefix}${randomUUID().replaceAll("-", "")}`;

function messageRecord(tenantId: string, id: string): MessageRecord {
  return {
    tenantId,
    id,
    senderId: "alice",
    target: { kind: "agent", recipientId: "bob" },
    type: 1,
    kind: "",
    contentType: "text/plain",
    data: new Uint8Array([1, 2, 3]),
    contextId: "",
    correlationId: "",
    replyTo: "",
    conversationId: "",
    idempotencyKey: "",
    metadata: {},
    headers: {},
    createdAt: 1_000,
    expiresAt: 2_000_000_000_000,
  };
}

const NOW = 10_000;
const DEADLINE = NOW + 30_000;

function nackOptions(overrides: Partial<NackOptions> = {}): NackOptions {
  return { availableAt: NOW, deadLetter: false, error: "later", maxAttempts: 5, ...overrides };
}

/** Registers the MessageStore settlement cases; `get` returns the suite's backend. */
export function settleRetryTests(get: () => Backend): void {
  describe("messages: settling is safe to retry", () => {
    /** A tenant with one message claimed by "bob"; returns its delivery id. */
    async function claimed(): Promise<{ tenantId: string; deliveryId: string }> {
      const tenantId = fresh();
      const store = get().messages;
      await store.enqueue(messageRecord(tenantId, fresh("m")), ["bob"]);
      const [d] = await store.claim(tenantId, "bob", 1, NOW, DEADLINE);
      if (!d) throw new Error("nothing claimed");
      return { tenantId, deliveryId: d.deliveryId };
    }

    it("a repeated Ack answers ok and a Nack after it stale, for the retention window", async () => {
      const store = get().messages;
      const { tenantId, deliveryId } = await claimed();
      expect(await store.ack(tenantId, "bob", [deliveryId], NOW + 1)).toEqual(["ok"]);
      expect(await store.ack(tenantId, "bob", [deliveryId], NOW + 2)).toEqual(["ok"]);
      const late = NOW + 1 + SETTLED_RETENTION_MS - 1;
      expect(await store.ack(tenantId, "bob", [deliveryId], late)).toEqual(["ok"]);
      expect(await store.nack(tenantId, "bob", [deliveryId], late, nackOptions())).toEqual([
        "stale",
      ]);
      // Nothing came back: the acked message is done.
      expect(await store.backlog(tenantId, "bob")).toBe(0);
      expect(await store.inFlight(tenantId, "bob")).toBe(0);
      expect(await store.claim(tenantId, "bob", 5, late, late + 30_000)).toEqual([]);
    });

    it("a repeated Nack answers ok and an Ack after it stale; the message is redelivered once", async () => {
      const store = get().messages;
      const { tenantId, deliveryId } = await claimed();
      expect(await store.nack(tenantId, "bob", [deliveryId], NOW + 1, nackOptions())).toEqual([
        "ok",
      ]);
      expect(await store.nack(tenantId, "bob", [deliveryId], NOW + 2, nackOptions())).toEqual([
        "ok",
      ]);
      expect(await store.ack(tenantId, "bob", [deliveryId], NOW + 3)).toEqual(["stale"]);
      const again = await store.claim(tenantId, "bob", 5, NOW + 4, DEADLINE);
      expect(again.map((d) => d.attempt)).toEqual([2]);
      expect(again[0]?.deliveryId).not.toBe(deliveryId);
    });

    it("a delivery reaped past its deadline answers stale to Ack and Nack", async () => {
      const store = get().messages;
      const { tenantId, deliveryId } = await claimed();
      await store.reap(tenantId, "bob", DEADLINE, 5);
      expect(await store.ack(tenantId, "bob", [deliveryId], DEADLINE + 1)).toEqual(["stale"]);
      expect(await store.nack(tenantId, "bob", [deliveryId], DEADLINE + 1, nackOptions())).toEqual([
        "stale",
      ]);
      // Only the redelivery the reap made is waiting, once.
      expect(await store.backlog(tenantId, "bob")).toBe(1);
    });

    it("ids never issued, or issued to another agent, stay not-found", async () => {
      const store = get().messages;
      const { tenantId, deliveryId } = await claimed();
      expect(await store.ack(tenantId, "bob", [deliveryId], NOW + 1)).toEqual(["ok"]);
      expect(await store.ack(tenantId, "carol", [deliveryId], NOW + 2)).toEqual(["not-found"]);
      expect(await store.ack(fresh(), "bob", [deliveryId], NOW + 2)).toEqual(["not-found"]);
      expect(await store.ack(tenantId, "bob", ["no-such-delivery"], NOW + 2)).toEqual([
        "not-found",
      ]);
    });
  });
}
