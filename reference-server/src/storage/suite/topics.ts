// The TopicStore part of the shared backend suite: durable subscriptions and wildcard matching.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { fresh } from "./helpers.js";

export function topicStoreTests(get: () => Backend): void {
  describe("topics", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });
    const sub = (tenantId: string, agentId: string, pattern: string) => ({
      tenantId,
      agentId,
      pattern,
      createdAt: 1_000,
    });

    it("subscribes once per pattern, lists by pattern and unsubscribes", async () => {
      const t = fresh();
      expect(await backend.topics.subscribe(sub(t, "a", "orders.*"))).toBe(true);
      expect(await backend.topics.subscribe(sub(t, "a", "orders.*"))).toBe(false);
      expect(await backend.topics.subscribe(sub(t, "a", "alerts.>"))).toBe(true);
      expect(await backend.topics.list(t, "a")).toEqual([
        sub(t, "a", "alerts.>"),
        sub(t, "a", "orders.*"),
      ]);
      expect(await backend.topics.unsubscribe(t, "a", "orders.*")).toBe(true);
      expect(await backend.topics.unsubscribe(t, "a", "orders.*")).toBe(false);
      expect((await backend.topics.list(t, "a")).map((s) => s.pattern)).toEqual(["alerts.>"]);
    });

    it("matches wildcards and names each agent once", async () => {
      const t = fresh();
      await backend.topics.subscribe(sub(t, "a", "orders.*"));
      await backend.topics.subscribe(sub(t, "a", "orders.>"));
      await backend.topics.subscribe(sub(t, "b", "orders.eu.*"));
      await backend.topics.subscribe(sub(t, "c", "orders.us"));
      expect((await backend.topics.match(t, "orders.us")).sort()).toEqual(["a", "c"]);
      expect((await backend.topics.match(t, "orders.eu.paris")).sort()).toEqual(["a", "b"]);
      expect(await backend.topics.match(t, "billing.us")).toEqual([]);
      expect(await backend.topics.match(fresh(), "orders.us")).toEqual([]);
    });
  });
}
