import type {
  ApiKeyRecord,
  ApiKeyStore,
  AuditRecordData,
  AuditStore,
  RateLimiter,
  UsageStore,
} from "../security-types.js";
import { decodeDoc, encodeDoc, num } from "./doc-codec.js";
import { likePrefix } from "./pg-core-stores.js";
import { ALL_TENANTS, type SqlDatabase } from "./sql-database.js";

export function createPgApiKeyStore(db: SqlDatabase): ApiKeyStore {
  return {
    create: (k) =>
      db.tx(k.tenantId, async (c) => {
        const r = await c.query(
          "INSERT INTO acb_api_keys (tenant_id, id, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
          [k.tenantId, k.id, encodeDoc(k)],
        );
        return r.rowCount === 1;
      }),
    // A key is looked up by its id before its tenant is known.
    get: (id) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ doc: unknown }>("SELECT doc FROM acb_api_keys WHERE id = $1", [
          id,
        ]);
        const row = r.rows[0];
        return row && decodeDoc<ApiKeyRecord>(row.doc);
      }),
    list: (tenantId, afterId, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
          [tenantId, afterId, limit],
        );
        return r.rows.map((row) => decodeDoc<ApiKeyRecord>(row.doc));
      }),
    revoke: (id, at) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          `UPDATE acb_api_keys SET doc = CASE WHEN doc ? 'revokedAt' THEN doc
             ELSE jsonb_set(doc, '{revokedAt}', to_jsonb($2::float8)) END
           WHERE id = $1 RETURNING doc`,
          [id, at],
        );
        const row = r.rows[0];
        return row && decodeDoc<ApiKeyRecord>(row.doc);
      }),
  };
}

/** The audit log in PostgreSQL; the hub prunes records past the retention (90 days by default). */
export function createPgAuditStore(db: SqlDatabase): AuditStore {
  return {
    append: (rec) =>
      db.tx(rec.tenantId, async (c) => {
        await c.query(
          `INSERT INTO acb_audit (tenant_id, id, time, action, actor, outcome, doc)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [rec.tenantId, rec.id, rec.time, rec.action, rec.actor, rec.outcome, encodeDoc(rec)],
        );
      }),
    appendAggregate: (key, rec) =>
      db.tx(rec.tenantId, async (c) => {
        // The first record of a key counts 1; repeats count on it and note their time and
        // correlation id. Pruning the record forgets the key (it lives in the same row).
        const first = { ...rec, details: { ...rec.details, count: "1" } };
        await c.query(
          `INSERT INTO acb_audit (tenant_id, id, time, action, actor, outcome, doc, agg_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (tenant_id, agg_key) WHERE agg_key IS NOT NULL DO UPDATE SET doc =
             jsonb_set(jsonb_set(jsonb_set(acb_audit.doc,
               '{details,count}',
               to_jsonb((coalesce((acb_audit.doc->'details'->>'count')::bigint, 1) + 1)::text)),
               '{details,last_time}', to_jsonb($9::text)),
               '{details,last_correlation_id}', to_jsonb($10::text))`,
          [
            rec.tenantId,
            rec.id,
            rec.time,
            rec.action,
            rec.actor,
            rec.outcome,
            encodeDoc(first),
            key,
            String(rec.time),
            rec.correlationId,
          ],
        );
      }),
    query: (q, afterId, limit) =>
      db.tx(q.tenantId ?? ALL_TENANTS, async (c) => {
        const where = ["id > $1", "time >= $2", "time < $3"];
        const params: unknown[] = [afterId, q.start, q.end];
        const add = (clause: string, value: unknown) => {
          params.push(value);
          where.push(clause.replaceAll("$?", () => `$${params.length}`));
        };
        if (q.tenantId !== undefined) add("tenant_id = $?", q.tenantId);
        if (q.action !== undefined) {
          if (q.action.endsWith(".")) add("action LIKE $?", likePrefix(q.action));
          else add("action = $?", q.action);
        }
        if (q.actor !== undefined) add("actor = $?", q.actor);
        if (q.outcome !== undefined) add("outcome = $?", q.outcome);
        params.push(limit);
        const r = await c.query<{ doc: unknown }>(
          `SELECT doc FROM acb_audit WHERE ${where.join(" AND ")} ORDER BY id LIMIT $${params.length}`,
          params,
        );
        return r.rows.map((row) => decodeDoc<AuditRecordData>(row.doc));
      }),
    prune: (before) =>
      db.tx(ALL_TENANTS, async (c) => {
        const r = await c.query("DELETE FROM acb_audit WHERE time < $1", [before]);
        return r.rowCount;
      }),
  };
}

/**
 * The CTE (named `name`) that meters a send into a shard of its hour's usage bucket, as
 * UsageStore.add does, for a statement whose $1 is the tenant: `hour`, `messages` and `bytes`
 * are its parameters (e.g. "$9"), and `when` an SQL condition it runs under ("TRUE": always).
 */
export function meterCte(
  name: string,
  hour: string,
  messages: string,
  bytes: string,
  when = "TRUE",
): string {
  const shard = 1 + Math.floor(Math.random() * USAGE_SHARDS);
  return `${name} AS (INSERT INTO acb_usage_buckets
      (tenant_id, start, shard, messages, bytes, storage_bytes, at)
    SELECT $1, ${hour}::bigint, ${shard}, ${messages}::bigint, ${bytes}::bigint,
      coalesce((SELECT storage_bytes FROM acb_usage_storage WHERE tenant_id = $1), 0), ${NOW_US}
    WHERE ${when} AND ${messages}::bigint > 0
    ON CONFLICT (tenant_id, start, shard) DO UPDATE SET
      messages = acb_usage_buckets.messages + EXCLUDED.messages,
      bytes = acb_usage_buckets.bytes + EXCLUDED.bytes,
      storage_bytes = EXCLUDED.storage_bytes, at = EXCLUDED.at)`;
}

/** Shards of an hour's usage bucket that sends count into (1..USAGE_SHARDS; 0 is storage's). */
const USAGE_SHARDS = 16;

/** The database's clock in microseconds: orders the writes of an hour across hub nodes. */
const NOW_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

export function createPgUsageStore(db: SqlDatabase): UsageStore {
  return {
    add: async (tenantId, hourStart, delta) => {
      if (delta.storageDelta === 0) {
        // A send: a shard of the hour, with the storage total read (not locked).
        const r = await db.one<{ storage_bytes: unknown }>(
          tenantId,
          `INSERT INTO acb_usage_buckets (tenant_id, start, shard, messages, bytes, storage_bytes, at)
             SELECT $1, $2, $3, $4, $5,
               coalesce((SELECT storage_bytes FROM acb_usage_storage WHERE tenant_id = $1), 0), ${NOW_US}
             ON CONFLICT (tenant_id, start, shard) DO UPDATE SET
               messages = acb_usage_buckets.messages + EXCLUDED.messages,
               bytes = acb_usage_buckets.bytes + EXCLUDED.bytes,
               storage_bytes = EXCLUDED.storage_bytes, at = EXCLUDED.at
             RETURNING storage_bytes`,
          [
            tenantId,
            hourStart,
            1 + Math.floor(Math.random() * USAGE_SHARDS),
            delta.messages,
            delta.bytes,
          ],
          false,
        );
        return num(r.rows[0]?.storage_bytes ?? 0);
      }
      // The storage total and the hour's shard 0 in one statement.
      const r = await db.one<{ storage_bytes: unknown }>(
        tenantId,
        `WITH total AS (
             INSERT INTO acb_usage_storage (tenant_id, storage_bytes) VALUES ($1, greatest(0, $2::bigint))
             ON CONFLICT (tenant_id) DO UPDATE
               SET storage_bytes = greatest(0, acb_usage_storage.storage_bytes + $2::bigint)
             RETURNING storage_bytes)
           INSERT INTO acb_usage_buckets (tenant_id, start, shard, messages, bytes, storage_bytes, at)
           SELECT $1, $3, 0, $4, $5, total.storage_bytes, ${NOW_US} FROM total
           ON CONFLICT (tenant_id, start, shard) DO UPDATE SET
             messages = acb_usage_buckets.messages + EXCLUDED.messages,
             bytes = acb_usage_buckets.bytes + EXCLUDED.bytes,
             storage_bytes = EXCLUDED.storage_bytes, at = EXCLUDED.at
           RETURNING storage_bytes`,
        [tenantId, delta.storageDelta, hourStart, delta.messages, delta.bytes],
        false,
      );
      return num(r.rows[0]?.storage_bytes ?? 0);
    },
    storageBytes: (tenantId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ storage_bytes: unknown }>(
          "SELECT storage_bytes FROM acb_usage_storage WHERE tenant_id = $1",
          [tenantId],
        );
        return num(r.rows[0]?.storage_bytes ?? 0);
      }),
    read: (tenantId, start, end) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<Record<string, unknown>>(
          `SELECT start, sum(messages) AS messages, sum(bytes) AS bytes,
             (array_agg(storage_bytes ORDER BY at DESC, shard))[1] AS storage_bytes
           FROM acb_usage_buckets WHERE tenant_id = $1 AND start >= $2 AND start < $3
           GROUP BY start ORDER BY start`,
          [tenantId, start, end],
        );
        return r.rows.map((row) => ({
          start: num(row.start),
          messages: num(row.messages),
          bytes: num(row.bytes),
          storageBytes: num(row.storage_bytes),
        }));
      }),
  };
}

/** The tenant a counter key belongs to ("tenant:<id>:..."), "" for hub-wide counters. */
const tenantOfKey = (key: string) => /^tenant:([^:]*):/.exec(key)?.[1] ?? "";

export function createPgRateLimiter(db: SqlDatabase): RateLimiter {
  return {
    consume: (charges) =>
      db.tx(ALL_TENANTS, async (c) => {
        // Lock the counters in key order (so two callers never deadlock), check, then charge.
        const keys = [...new Set(charges.map((ch) => ch.key))].sort();
        // A counter's first charges race: FOR UPDATE locks only rows that exist, so two callers
        // would both read "none" and both charge. Create missing rows first (empty, in no
        // window); a concurrent insert of the same key waits for this one, then finds it.
        await c.query(
          `INSERT INTO acb_rate_counters (tenant_id, key, window_start, window_end, used)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $3::bigint[], $3::bigint[])
           ON CONFLICT (key) DO NOTHING`,
          [keys.map(tenantOfKey), keys, keys.map(() => 0)],
        );
        const r = await c.query<{
          key: string;
          window_start: unknown;
          window_end: unknown;
          used: unknown;
        }>(
          `SELECT key, window_start, window_end, used FROM acb_rate_counters
           WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`,
          [keys],
        );
        const counters = new Map(r.rows.map((row) => [row.key, row]));
        const used = new Map<string, number>();
        const usedOf = (ch: (typeof charges)[number]) => {
          if (used.has(ch.key)) return used.get(ch.key) ?? 0;
          const row = counters.get(ch.key);
          return row &&
            num(row.window_start) === ch.windowStart &&
            num(row.window_end) === ch.windowEnd
            ? num(row.used)
            : 0;
        };
        for (const ch of charges) {
          const u = usedOf(ch);
          if (ch.limit > 0 && u + ch.amount > ch.limit)
            return { ok: false as const, refused: ch, used: u };
        }
        const next = new Map<string, (typeof charges)[number]>();
        for (const ch of charges) {
          used.set(ch.key, usedOf(ch) + ch.amount);
          next.set(ch.key, ch);
        }
        // Every counter in one statement (each key once: a row is written once per statement).
        const rows = [...next.values()];
        await c.query(
          `INSERT INTO acb_rate_counters (tenant_id, key, window_start, window_end, used)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
           ON CONFLICT (key) DO UPDATE SET window_start = EXCLUDED.window_start,
             window_end = EXCLUDED.window_end, used = EXCLUDED.used`,
          [
            rows.map((ch) => tenantOfKey(ch.key)),
            rows.map((ch) => ch.key),
            rows.map((ch) => ch.windowStart),
            rows.map((ch) => ch.windowEnd),
            rows.map((ch) => used.get(ch.key) ?? 0),
          ],
        );
        return { ok: true as const };
      }),
  };
}
