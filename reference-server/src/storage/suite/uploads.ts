// The UploadSessionStore part of the shared backend suite: sessions by compare-and-set, context
// id reservations of CREATE uploads, and stored deadlines.

import { beforeAll, describe, expect, it } from "vitest";
import type { Backend, UploadSessionRecord } from "../types.js";
import { bytes, deleteTenant, fresh } from "./helpers.js";

function session(
  tenantId: string,
  id: string,
  overrides: Partial<UploadSessionRecord> = {},
): UploadSessionRecord {
  return {
    tenantId,
    id,
    uploaderId: "alice",
    mode: 1,
    contextId: `ctx-${id}`,
    type: "blob",
    totalSize: 100,
    sha256: new Uint8Array(32).fill(1),
    chunkSize: 50,
    verifiedOffset: 0,
    bytesReceived: 0,
    state: 1,
    createdAt: 1_000,
    expiresAt: 61_000,
    idleTimeoutMs: 60_000,
    committedRevision: 0,
    target: {
      metadata: { k: "v" },
      replaceMetadata: false,
      schemaVersion: "1",
      access: { scope: 4, allowedIds: ["bob"] },
      ttlMs: 5_000,
      expectedRevision: 0,
    },
    blobKey: `${tenantId}/${id}`,
    wakeAt: 61_000,
    version: 1,
    ...overrides,
  };
}

const comparable = (s: UploadSessionRecord | undefined) =>
  s && { ...s, sha256: bytes(s.sha256), digest: bytes(s.digest) };

export function uploadSessionStoreTests(get: () => Backend): void {
  describe("uploads", () => {
    let backend: Backend;
    beforeAll(() => {
      backend = get();
    });

    it("creates, reads back every field and replaces by compare-and-set", async () => {
      const t = fresh();
      const s = session(t, "u1");
      expect(await backend.uploads.create(s)).toBe(true);
      expect(await backend.uploads.create(s)).toBe(false);
      expect(comparable(await backend.uploads.get(t, "u1"))).toEqual(comparable(s));
      expect(await backend.uploads.get(fresh(), "u1")).toBeUndefined();
      const next = {
        ...s,
        verifiedOffset: 100,
        bytesReceived: 100,
        digest: new Uint8Array(32).fill(9),
        version: 2,
      };
      expect(await backend.uploads.replace(next, 1)).toBe(true);
      expect(await backend.uploads.replace({ ...next, bytesReceived: 7 }, 1)).toBe(false);
      expect(comparable(await backend.uploads.get(t, "u1"))).toEqual(comparable(next));
    });

    it("an OPEN CREATE session reserves its context id until it leaves OPEN", async () => {
      const t = fresh();
      const first = session(t, "u1", { contextId: "c" });
      expect(await backend.uploads.create(first)).toBe(true);
      expect(await backend.uploads.reservedBy(t, "c")).toBe("u1");
      expect(await backend.uploads.create(session(t, "u2", { contextId: "c" }))).toBe(false);
      expect(await backend.uploads.get(t, "u2")).toBeUndefined();
      // UPDATE sessions reserve nothing; other tenants have their own ids.
      expect(await backend.uploads.create(session(t, "u3", { contextId: "c", mode: 2 }))).toBe(
        true,
      );
      expect(await backend.uploads.create(session(fresh(), "u4", { contextId: "c" }))).toBe(true);
      await backend.uploads.replace({ ...first, state: 3, version: 2 }, 1);
      expect(await backend.uploads.reservedBy(t, "c")).toBeUndefined();
      expect(await backend.uploads.create(session(t, "u5", { contextId: "c" }))).toBe(true);
      await backend.uploads.delete(t, "u5");
      expect(await backend.uploads.reservedBy(t, "c")).toBeUndefined();
      expect(await backend.uploads.get(t, "u5")).toBeUndefined();
    });

    it("listDue finds sessions whose wakeAt passed, earliest first", async () => {
      // Deadlines a few ms after the epoch come before any other test's.
      const t = fresh();
      await backend.uploads.create(session(t, "late", { wakeAt: 9 }));
      await backend.uploads.create(session(t, "early", { wakeAt: 3 }));
      await backend.uploads.create(session(t, "closed", { wakeAt: 5, state: 2, mode: 2 }));
      const ours = async (dueBy: number) =>
        (await backend.uploads.listDue(dueBy, 1000))
          .filter((s) => s.tenantId === t)
          .map((s) => s.id);
      expect(await ours(2)).toEqual([]);
      expect(await ours(5)).toEqual(["early", "closed"]);
      expect(await ours(9)).toEqual(["early", "closed", "late"]);
      for (const id of ["late", "early", "closed"]) await backend.uploads.delete(t, id);
      expect(await ours(9)).toEqual([]);
    });

    it("stagedBytes sums the verified bytes of OPEN sessions, per tenant and in all", async () => {
      const t = fresh();
      const other = fresh();
      const before = (await backend.uploads.stagedBytes(t)).all;
      const staged = async () => {
        const { tenant, all } = await backend.uploads.stagedBytes(t);
        return { tenant, all: all - before };
      };
      expect(await staged()).toEqual({ tenant: 0, all: 0 });
      await backend.uploads.create(session(t, "s1", { verifiedOffset: 10 }));
      await backend.uploads.create(session(t, "s2"));
      await backend.uploads.create(session(other, "s3", { verifiedOffset: 7 }));
      expect(await staged()).toEqual({ tenant: 10, all: 17 });
      const s2 = await backend.uploads.get(t, "s2");
      if (!s2) throw new Error("session not stored");
      expect(await backend.uploads.replace({ ...s2, verifiedOffset: 30, version: 2 }, 1)).toBe(
        true,
      );
      expect(await staged()).toEqual({ tenant: 40, all: 47 });
      // A refused replace changes nothing; a session that leaves OPEN stages nothing any more.
      expect(await backend.uploads.replace({ ...s2, verifiedOffset: 50, version: 2 }, 1)).toBe(
        false,
      );
      expect(
        await backend.uploads.replace({ ...s2, verifiedOffset: 30, state: 3, version: 3 }, 2),
      ).toBe(true);
      expect(await staged()).toEqual({ tenant: 10, all: 17 });
      await backend.uploads.delete(t, "s1");
      expect(await staged()).toEqual({ tenant: 0, all: 7 });
      await deleteTenant(backend, other);
      expect(await staged()).toEqual({ tenant: 0, all: 0 });
    });
  });
}
