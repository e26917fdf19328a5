// The ApiKeyStore part of the shared backend suite.

import { describe, expect, it } from "vitest";
import type { ApiKeyRecord, Backend } from "../types.js";
import { deleteTenant, fresh } from "./helpers.js";

function apiKey(tenantId: string, id: string): ApiKeyRecord {
  return {
    id,
    hash: "ab".repeat(32),
    tenantId,
    tenantIncarnation: "inc-1",
    agentId: "robot",
    roles: [2],
    description: "d",
    createdAt: 1_000,
  };
}

export function apiKeyStoreTests(get: () => Backend): void {
  describe("api keys", () => {
    it("creates once, lists by tenant, revokes at the first revocation time, deletes with the tenant", async () => {
      const keys = get().apiKeys;
      const tenantId = fresh();
      const [id1, id2] = [fresh("k"), fresh("k")].sort();
      expect(await keys.create(apiKey(tenantId, id1 as string))).toBe(true);
      expect(await keys.create(apiKey(tenantId, id1 as string))).toBe(false);
      expect(await keys.create(apiKey(tenantId, id2 as string))).toBe(true);
      expect((await keys.list(tenantId, "", 10)).map((k) => k.id)).toEqual([id1, id2]);
      expect((await keys.list(tenantId, id1 as string, 10)).map((k) => k.id)).toEqual([id2]);
      expect((await keys.revoke(id1 as string, 5_000))?.revokedAt).toBe(5_000);
      expect((await keys.revoke(id1 as string, 6_000))?.revokedAt).toBe(5_000);
      expect((await keys.get(id1 as string))?.revokedAt).toBe(5_000);
      expect(await keys.revoke(fresh("k"), 1)).toBeUndefined();
      // Groups are kept as given.
      const id3 = fresh("k");
      expect(await keys.create({ ...apiKey(tenantId, id3), groups: ["finance", "ops"] })).toBe(
        true,
      );
      expect((await keys.get(id3))?.groups).toEqual(["finance", "ops"]);
      await deleteTenant(get(), tenantId);
      expect(await keys.get(id2 as string)).toBeUndefined();
    });
  });
}
