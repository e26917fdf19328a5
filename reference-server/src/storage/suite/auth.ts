// The AuthStore part of the shared backend suite: refresh tokens and their families.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../types.js";
import { deleteTenant, fresh, refreshToken } from "./helpers.js";

export function authStoreTests(get: () => Backend): void {
  describe("auth", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("puts and gets refresh tokens by hash", async () => {
      const tenant = fresh();
      const t = refreshToken(tenant, fresh("fam"));
      await backend.auth.putRefreshToken(t);
      expect(await backend.auth.getRefreshToken(t.hash)).toEqual(t);
      expect(await backend.auth.getRefreshToken(fresh("h"))).toBeUndefined();
    });

    it("keeps the latest not-before time per tenant and per subject, until the tenant is deleted", async () => {
      const tenant = fresh();
      const auth = backend.auth;
      expect(await auth.notBefore(tenant, "a")).toBe(0);
      await auth.setNotBefore(tenant, "a", 5_000);
      await auth.setNotBefore(tenant, "a", 4_000);
      expect(await auth.notBefore(tenant, "a")).toBe(5_000);
      expect(await auth.notBefore(tenant, "b")).toBe(0);
      await auth.setNotBefore(tenant, "", 7_000);
      expect(await auth.notBefore(tenant, "a")).toBe(7_000);
      expect(await auth.notBefore(tenant, "b")).toBe(7_000);
      expect(await auth.notBefore(tenant, "")).toBe(7_000);
      expect(await auth.notBefore(fresh(), "a")).toBe(0);
      await deleteTenant(backend, tenant);
      expect(await auth.notBefore(tenant, "a")).toBe(0);
    });

    it("keeps a refresh token's groups and issue time", async () => {
      const t = refreshToken(fresh(), fresh("fam"), { groups: ["g1", "g2"], issuedAt: 1_234 });
      await backend.auth.putRefreshToken(t);
      expect(await backend.auth.getRefreshToken(t.hash)).toEqual(t);
    });

    it("marks a token used exactly once", async () => {
      const tenant = fresh();
      const t = refreshToken(tenant, fresh("fam"));
      await backend.auth.putRefreshToken(t);
      expect(await backend.auth.markRefreshTokenUsed(t.hash, 5_000)).toBe(true);
      expect(await backend.auth.markRefreshTokenUsed(t.hash, 6_000)).toBe(false);
      expect((await backend.auth.getRefreshToken(t.hash))?.usedAt).toBe(5_000);
      expect(await backend.auth.markRefreshTokenUsed(fresh("h"), 5_000)).toBe(false);
    });

    it("marks a token used once even when two callers race", async () => {
      const t = refreshToken(fresh(), fresh("fam"));
      await backend.auth.putRefreshToken(t);
      const results = await Promise.all([
        backend.auth.markRefreshTokenUsed(t.hash, 1),
        backend.auth.markRefreshTokenUsed(t.hash, 2),
        backend.auth.markRefreshTokenUsed(t.hash, 3),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("revokes a token family and no other", async () => {
      const tenant = fresh();
      const fam = fresh("fam");
      const other = fresh("fam");
      await backend.auth.putRefreshToken(refreshToken(tenant, fam));
      await backend.auth.putRefreshToken(refreshToken(tenant, other));
      expect(await backend.auth.isFamilyRevoked(fam)).toBe(false);
      await backend.auth.revokeFamily(fam);
      expect(await backend.auth.isFamilyRevoked(fam)).toBe(true);
      expect(await backend.auth.isFamilyRevoked(other)).toBe(false);
      // Revoking twice is harmless.
      await backend.auth.revokeFamily(fam);
      expect(await backend.auth.isFamilyRevoked(fam)).toBe(true);
    });

    it("deleteTenant removes that tenant's refresh tokens only", async () => {
      const a = fresh();
      const b = fresh();
      const ta = refreshToken(a, fresh("fam"));
      const tb = refreshToken(b, fresh("fam"));
      await backend.auth.putRefreshToken(ta);
      await backend.auth.putRefreshToken(tb);
      await deleteTenant(backend, a);
      expect(await backend.auth.getRefreshToken(ta.hash)).toBeUndefined();
      expect(await backend.auth.getRefreshToken(tb.hash)).toEqual(tb);
    });
  });
}
