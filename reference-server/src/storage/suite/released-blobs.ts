// The ReleasedBlobStore part of the shared backend suite: released blobs with their
// delete-not-before time, found when due by any node, and forgotten once deleted.

import { describe, expect, it } from "vitest";
import type { Backend, StorageRefRecord } from "../types.js";
import { deleteTenant, fresh } from "./helpers.js";

const ref = (tenantId: string, upload: string, size = 100): StorageRefRecord => ({
  backend: "fs",
  bucket: "objects",
  key: `${tenantId}/${upload}`,
  size,
});

export function releasedBlobStoreTests(get: () => Backend): void {
  describe("released blobs", () => {
    it("listDue finds released blobs whose time passed, earliest first, with their refs", async () => {
      // Times a few ms after the epoch come before any other test's.
      const backend = get();
      const t = fresh();
      await backend.releasedBlobs.add({ tenantId: t, ref: ref(t, "late", 7), deleteAt: 9 });
      await backend.releasedBlobs.add({ tenantId: t, ref: ref(t, "early", 3), deleteAt: 3 });
      await backend.releasedBlobs.add({ tenantId: t, ref: ref(t, "mid"), deleteAt: 5 });
      const ours = async (dueBy: number) =>
        (await backend.releasedBlobs.listDue(dueBy, 1000)).filter((r) => r.tenantId === t);
      expect(await ours(2)).toEqual([]);
      expect((await ours(5)).map((r) => r.ref.key)).toEqual([`${t}/early`, `${t}/mid`]);
      expect(await ours(9)).toEqual([
        { tenantId: t, ref: ref(t, "early", 3), deleteAt: 3 },
        { tenantId: t, ref: ref(t, "mid"), deleteAt: 5 },
        { tenantId: t, ref: ref(t, "late", 7), deleteAt: 9 },
      ]);
      for (const upload of ["late", "early", "mid"]) {
        await backend.releasedBlobs.delete(t, ref(t, upload));
      }
      expect(await ours(9)).toEqual([]);
      await backend.releasedBlobs.delete(t, ref(t, "mid")); // forgetting twice is harmless
    });

    it("recording a blob again keeps the later time; blobs are told apart by tenant and ref", async () => {
      const backend = get();
      const [t, other] = [fresh(), fresh()];
      const r = ref(t, "u1");
      await backend.releasedBlobs.add({ tenantId: t, ref: r, deleteAt: 50 });
      await backend.releasedBlobs.add({ tenantId: t, ref: r, deleteAt: 40 });
      expect(await backend.releasedBlobs.list(t)).toEqual([{ tenantId: t, ref: r, deleteAt: 50 }]);
      await backend.releasedBlobs.add({ tenantId: t, ref: r, deleteAt: 60 });
      // The same key in another bucket, and another tenant's blob, are other records.
      await backend.releasedBlobs.add({
        tenantId: t,
        ref: { ...r, bucket: "other" },
        deleteAt: 10,
      });
      await backend.releasedBlobs.add({ tenantId: other, ref: ref(other, "u1"), deleteAt: 10 });
      expect(
        (await backend.releasedBlobs.list(t)).map((x) => [x.ref.bucket, x.deleteAt]).sort(),
      ).toEqual([
        ["objects", 60],
        ["other", 10],
      ]);
      await backend.releasedBlobs.delete(t, r);
      expect((await backend.releasedBlobs.list(t)).map((x) => x.ref.bucket)).toEqual(["other"]);
      await deleteTenant(backend, t);
      expect(await backend.releasedBlobs.list(t)).toEqual([]);
      expect(await backend.releasedBlobs.list(other)).toHaveLength(1);
      await deleteTenant(backend, other);
    });
  });
}
