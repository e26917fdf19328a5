// The RequestStore part of the shared backend suite: a reply reaches the waiting request once,
// whichever node accepted it; late and stray replies are told apart.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { fresh, messageRecord } from "./helpers.js";

const RESPONSE = 4;

export function requestStoreTests(get: () => Backend): void {
  describe("requests", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });
    const open = (tenantId: string, id: string) =>
      backend.requests.open({
        tenantId,
        id,
        requesterId: "asker",
        conversationId: "",
        forgetAt: 100_000,
      });
    const reply = (tenantId: string, id: string, to = "asker", correlationId = "r1") =>
      messageRecord(tenantId, id, {
        type: RESPONSE,
        correlationId,
        target: { kind: "agent", recipientId: to },
      });

    it("accepts the first reply addressed to the requester, and only that one", async () => {
      const t = fresh();
      await open(t, "r1");
      expect(await backend.requests.get(t, "r1")).toEqual({
        tenantId: t,
        id: "r1",
        requesterId: "asker",
        conversationId: "",
        ended: false,
        forgetAt: 100_000,
      });
      expect(await backend.requests.answer(reply(t, "x", "someone-else"), 1_000)).toBe("none");
      expect(await backend.requests.answer(reply(t, "y", "asker", "r-unknown"), 1_000)).toBe(
        "none",
      );
      expect(await backend.requests.answer(reply(t, "a1"), 1_000)).toBe("accepted");
      expect(await backend.requests.answer(reply(t, "a2"), 1_000)).toBe("late");
      expect((await backend.requests.get(t, "r1"))?.reply?.id).toBe("a1");
      expect(await backend.requests.answer(reply(fresh(), "z"), 1_000)).toBe("none");
    });

    it("drops replies to an ended request until it is forgotten", async () => {
      const t = fresh();
      await open(t, "r1");
      const before = await backend.requests.end(t, "r1", 50_000);
      expect(before?.ended).toBe(false);
      expect((await backend.requests.get(t, "r1"))?.ended).toBe(true);
      expect(await backend.requests.answer(reply(t, "a1"), 49_999)).toBe("late");
      expect(await backend.requests.answer(reply(t, "a2"), 50_000)).toBe("none");
      expect(await backend.requests.end(t, "unknown", 1)).toBeUndefined();
    });

    it("end returns a reply that arrived just before", async () => {
      const t = fresh();
      await open(t, "r1");
      await backend.requests.answer(reply(t, "a1"), 1_000);
      expect((await backend.requests.end(t, "r1", 9_000))?.reply?.id).toBe("a1");
    });
  });
}
