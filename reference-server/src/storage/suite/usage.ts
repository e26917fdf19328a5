// The UsageStore part of the shared backend suite.

import { describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { deleteTenant, fresh } from "./helpers.js";

export function usageStoreTests(get: () => Backend): void {
  describe("usage", () => {
    it("adds to hourly buckets and keeps the storage total", async () => {
      const usage = get().usage;
      const tenantId = fresh();
      const h = 3_600_000;
      expect(await usage.add(tenantId, 0, { messages: 2, bytes: 10, storageDelta: 100 })).toBe(100);
      await usage.add(tenantId, 0, { messages: 1, bytes: 5, storageDelta: 0 });
      expect(await usage.add(tenantId, h, { messages: 0, bytes: 0, storageDelta: -40 })).toBe(60);
      expect(await usage.storageBytes(tenantId)).toBe(60);
      expect(await usage.read(tenantId, 0, 2 * h)).toEqual([
        { start: 0, messages: 3, bytes: 15, storageBytes: 100 },
        { start: h, messages: 0, bytes: 0, storageBytes: 60 },
      ]);
      expect(await usage.read(tenantId, h, 2 * h)).toHaveLength(1);
      await deleteTenant(get(), tenantId);
      expect(await usage.read(tenantId, 0, 2 * h)).toEqual([]);
      expect(await usage.storageBytes(tenantId)).toBe(0);
    });
  });
}
