// Large values in PostgreSQL: each append is one row of acb_blob_chunks at its offset, so an
// upload never rewrites what it stored before and a read fetches only the chunks of its range.
// Publishing flips the chunks from staged to published in one transaction.

import type { BlobStore, StorageRefRecord } from "../types.js";
import { num } from "./doc-codec.js";
import type { SqlDatabase } from "./sql-database.js";

const SEGMENT = /^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*$/;

/** The key checked like the file store does; its first segment is the tenant ("<tenant>/<upload>"). */
function tenantOf(key: string): string {
  const parts = key.split("/");
  if (!parts.every((p) => SEGMENT.test(p))) throw new Error(`invalid blob key "${key}"`);
  return parts[0] ?? "";
}

const BUCKET = "chunks";

export function createPgBlobStore(db: SqlDatabase): BlobStore {
  const size = async (key: string, published: boolean) =>
    db.tx(tenantOf(key), async (c) => {
      const r = await c.query<{ size: unknown }>(
        "SELECT size FROM acb_blob_objects WHERE key = $1 AND published = $2",
        [key, published],
      );
      const row = r.rows[0];
      return row ? num(row.size) : undefined;
    });
  const readRange = async (key: string, published: boolean, offset: number, length: number) =>
    db.tx(tenantOf(key), async (c) => {
      const r = await c.query<{ offset: unknown; data: Uint8Array }>(
        `SELECT "offset", data FROM acb_blob_chunks WHERE key = $1 AND published = $2
         AND "offset" < $3 AND "offset" + length(data) > $4 ORDER BY "offset"`,
        [key, published, offset + length, offset],
      );
      const out = new Uint8Array(length);
      let filled = 0;
      for (const row of r.rows) {
        const start = num(row.offset);
        const from = Math.max(0, offset - start);
        const to = Math.min(row.data.length, offset + length - start);
        out.set(row.data.subarray(from, to), start + from - offset);
        filled += to - from;
      }
      return out.subarray(0, filled);
    });
  const remove = async (key: string, published: boolean) =>
    db.tx(tenantOf(key), async (c) => {
      await c.query("DELETE FROM acb_blob_chunks WHERE key = $1 AND published = $2", [
        key,
        published,
      ]);
      await c.query("DELETE FROM acb_blob_objects WHERE key = $1 AND published = $2", [
        key,
        published,
      ]);
    });

  return {
    name: "pg",
    append: async (key, offset, data) =>
      db.tx(tenantOf(key), async (c) => {
        const tenantId = tenantOf(key);
        // The object row's lock orders appends to one key; the size check makes them in order.
        const r = await c.query<{ size: unknown }>(
          "SELECT size FROM acb_blob_objects WHERE key = $1 AND published = false FOR UPDATE",
          [key],
        );
        const current = r.rows[0] ? num(r.rows[0].size) : undefined;
        if (current === undefined) {
          if (offset !== 0)
            throw new Error(`no staged blob "${key}" to append to at offset ${offset}`);
          await c.query(
            "INSERT INTO acb_blob_objects (tenant_id, key, published, size) VALUES ($1, $2, false, $3)",
            [tenantId, key, data.length],
          );
        } else {
          if (current !== offset) {
            throw new Error(
              `staged blob "${key}" holds ${current} bytes; cannot append at ${offset}`,
            );
          }
          await c.query(
            "UPDATE acb_blob_objects SET size = $2 WHERE key = $1 AND published = false",
            [key, offset + data.length],
          );
        }
        if (data.length > 0) {
          await c.query(
            `INSERT INTO acb_blob_chunks (tenant_id, key, published, "offset", data)
             VALUES ($1, $2, false, $3, $4)`,
            [tenantId, key, offset, data],
          );
        }
      }),
    stagedSize: async (key) => (await size(key, false)) ?? 0,
    readStaged: async (key, offset, length) => {
      const staged = await size(key, false);
      if (staged === undefined) throw new Error(`no staged blob "${key}"`);
      return readRange(key, false, offset, Math.max(0, Math.min(length, staged - offset)));
    },
    publish: async (key) =>
      db.tx(tenantOf(key), async (c) => {
        const r = await c.query<{ size: unknown }>(
          "SELECT size FROM acb_blob_objects WHERE key = $1 AND published = false FOR UPDATE",
          [key],
        );
        const row = r.rows[0];
        if (!row) {
          // Nothing staged: published before (a retried commit) answers that object's ref.
          const done = await c.query<{ size: unknown }>(
            "SELECT size FROM acb_blob_objects WHERE key = $1 AND published = true",
            [key],
          );
          const published = done.rows[0];
          if (!published) throw new Error(`no staged blob "${key}" to publish`);
          return { backend: "pg", bucket: BUCKET, key, size: num(published.size) };
        }
        await c.query("DELETE FROM acb_blob_chunks WHERE key = $1 AND published = true", [key]);
        await c.query("DELETE FROM acb_blob_objects WHERE key = $1 AND published = true", [key]);
        await c.query(
          "UPDATE acb_blob_chunks SET published = true WHERE key = $1 AND published = false",
          [key],
        );
        await c.query(
          "UPDATE acb_blob_objects SET published = true WHERE key = $1 AND published = false",
          [key],
        );
        const ref: StorageRefRecord = { backend: "pg", bucket: BUCKET, key, size: num(row.size) };
        return ref;
      }),
    discard: (key) => remove(key, false),
    async *read(ref, offset, length, pieceSize) {
      const end = offset + length;
      for (let position = offset; position < end; ) {
        const want = Math.min(pieceSize, end - position);
        const piece = await readRange(ref.key, true, position, want);
        if (piece.length < want) throw new Error(`blob "${ref.key}" ends before byte ${end}`);
        position += piece.length;
        yield piece;
      }
    },
    exists: async (ref) => (await size(ref.key, true)) !== undefined,
    delete: (ref) => remove(ref.key, true),
    close: async () => {},
  };
}
