import type { ReleasedBlobRecord, ReleasedBlobStore, StorageRefRecord } from "../types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

const refId = (ref: StorageRefRecord) => `${ref.backend}\u0000${ref.bucket}\u0000${ref.key}`;

/** Released blobs in process memory; each method is one synchronous step. */
export function createMemoryReleasedBlobStore(): ReleasedBlobStore & TenantScoped {
  const released = new TenantMap<ReleasedBlobRecord>();
  return {
    async add(record) {
      const id = refId(record.ref);
      const current = released.get(record.tenantId, id);
      if (current && current.deleteAt >= record.deleteAt) return;
      released.set(record.tenantId, id, structuredClone(record));
    },
    async listDue(dueBy, limit) {
      const due: ReleasedBlobRecord[] = [];
      for (const r of released.allValues()) if (r.deleteAt <= dueBy) due.push(r);
      return due
        .sort((a, b) => a.deleteAt - b.deleteAt)
        .slice(0, limit)
        .map((r) => structuredClone(r));
    },
    async list(tenantId) {
      return [...released.values(tenantId)].map((r) => structuredClone(r));
    },
    async delete(tenantId, ref) {
      released.delete(tenantId, refId(ref));
    },
    deleteTenant(tenantId) {
      released.deleteTenant(tenantId);
    },
  };
}
