import type { ReleasedBlobRecord, ReleasedBlobStore } from "../types.js";
import { num } from "./doc-codec.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";

interface Row {
  tenant_id: string;
  backend: string;
  bucket: string;
  key: string;
  size: unknown;
  delete_at: unknown;
}

const COLUMNS = "tenant_id, backend, bucket, key, size, delete_at";

const recordOf = (r: Row): ReleasedBlobRecord => ({
  tenantId: r.tenant_id,
  ref: { backend: r.backend, bucket: r.bucket, key: r.key, size: num(r.size) },
  deleteAt: num(r.delete_at),
});

/** Released blobs in PostgreSQL, found by any node's sweep through the delete_at index. */
export function createPgReleasedBlobStore(db: SqlDatabase): ReleasedBlobStore {
  return {
    add: ({ tenantId, ref, deleteAt }) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          `INSERT INTO acb_released_blobs (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, backend, bucket, key)
           DO UPDATE SET delete_at = greatest(acb_released_blobs.delete_at, EXCLUDED.delete_at)`,
          [tenantId, ref.backend, ref.bucket, ref.key, ref.size, deleteAt],
        );
      }),
    listDue: (dueBy, limit) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<Row>(
          `SELECT ${COLUMNS} FROM acb_released_blobs WHERE delete_at <= $1
           ORDER BY delete_at LIMIT $2`,
          [dueBy, limit],
        );
        return r.rows.map(recordOf);
      }),
    list: (tenantId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<Row>(
          `SELECT ${COLUMNS} FROM acb_released_blobs WHERE tenant_id = $1 ORDER BY delete_at`,
          [tenantId],
        );
        return r.rows.map(recordOf);
      }),
    delete: (tenantId, ref) =>
      db.tx(tenantId, async (c) => {
        await c.query(
          `DELETE FROM acb_released_blobs
           WHERE tenant_id = $1 AND backend = $2 AND bucket = $3 AND key = $4`,
          [tenantId, ref.backend, ref.bucket, ref.key],
        );
      }),
  };
}
