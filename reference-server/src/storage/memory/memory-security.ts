import type {
  ApiKeyRecord,
  ApiKeyStore,
  AuditRecordData,
  AuditStore,
  RateCharge,
  RateLimiter,
  UsageBucketRecord,
  UsageStore,
} from "../security-types.js";
import type { TenantScoped } from "./tenant-map.js";

export function createMemoryApiKeyStore(): ApiKeyStore & TenantScoped {
  const keys = new Map<string, ApiKeyRecord>();
  return {
    async create(key) {
      if (keys.has(key.id)) return false;
      keys.set(key.id, structuredClone(key));
      return true;
    },
    async get(id) {
      const k = keys.get(id);
      return k && structuredClone(k);
    },
    async list(tenantId, afterId, limit) {
      return [...keys.values()]
        .filter((k) => k.tenantId === tenantId && k.id > afterId)
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .slice(0, limit)
        .map((k) => structuredClone(k));
    },
    async revoke(id, at) {
      const k = keys.get(id);
      if (!k) return undefined;
      k.revokedAt ??= at;
      return structuredClone(k);
    },
    deleteTenant(tenantId) {
      for (const [id, k] of keys) if (k.tenantId === tenantId) keys.delete(id);
    },
  };
}

/** Options of the in-memory audit store. */
export interface MemoryAuditStoreOptions {
  /**
   * Records kept at most; the oldest are dropped beyond it (process memory is the bound of the
   * embedded backend). Default 1,000,000.
   */
  maxRecords?: number;
}

export function createMemoryAuditStore(options: MemoryAuditStoreOptions = {}): AuditStore {
  const maxRecords = options.maxRecords ?? 1_000_000;
  // Ordered by id; ids increase with time, so appends almost always go at the end.
  let records: AuditRecordData[] = [];
  // appendAggregate: key → the record it counts in (the same object as in `records`).
  const aggregates = new Map<string, AuditRecordData>();
  const forgetAggregates = (dropped: (r: AuditRecordData) => boolean) => {
    for (const [k, r] of aggregates) if (dropped(r)) aggregates.delete(k);
  };
  /** Index of the first record with id > `id`. */
  const after = (id: string) => {
    let lo = 0;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((records[mid]?.id ?? "") <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const append = async (record: AuditRecordData) => {
    const copy = structuredClone(record);
    const last = records[records.length - 1];
    if (!last || last.id < copy.id) records.push(copy);
    else records.splice(after(copy.id), 0, copy);
    if (records.length > maxRecords) {
      records = records.slice(records.length - maxRecords);
      const oldest = records[0]?.id ?? "";
      if (aggregates.size > 0) forgetAggregates((r) => r.id < oldest);
    }
  };
  return {
    append,
    async appendAggregate(key, record) {
      const existing = aggregates.get(key);
      if (existing) {
        existing.details["count"] = String(Number(existing.details["count"] ?? "1") + 1);
        existing.details["last_time"] = String(record.time);
        existing.details["last_correlation_id"] = record.correlationId;
        return;
      }
      await append({ ...record, details: { ...record.details, count: "1" } });
      const stored = records[after(record.id) - 1];
      if (stored?.id === record.id) aggregates.set(key, stored);
    },
    async query(q, afterId, limit) {
      const out: AuditRecordData[] = [];
      const prefix = q.action?.endsWith(".") ? q.action : undefined;
      for (let i = after(afterId); i < records.length && out.length < limit; i++) {
        const r = records[i] as AuditRecordData;
        if (r.time < q.start || r.time >= q.end) continue;
        if (q.tenantId !== undefined && r.tenantId !== q.tenantId) continue;
        if (
          q.action !== undefined &&
          (prefix ? !r.action.startsWith(prefix) : r.action !== q.action)
        )
          continue;
        if (q.actor !== undefined && r.actor !== q.actor) continue;
        if (q.outcome !== undefined && r.outcome !== q.outcome) continue;
        out.push(structuredClone(r));
      }
      return out;
    },
    async prune(before) {
      const kept = records.filter((r) => r.time >= before);
      const removed = records.length - kept.length;
      records = kept;
      if (removed > 0) forgetAggregates((r) => r.time < before);
      return removed;
    },
  };
}

export function createMemoryUsageStore(): UsageStore & TenantScoped {
  const tenants = new Map<string, { storage: number; buckets: Map<number, UsageBucketRecord> }>();
  const of = (tenantId: string) => {
    let t = tenants.get(tenantId);
    if (!t) {
      t = { storage: 0, buckets: new Map() };
      tenants.set(tenantId, t);
    }
    return t;
  };
  return {
    async add(tenantId, hourStart, delta) {
      const t = of(tenantId);
      t.storage = Math.max(0, t.storage + delta.storageDelta);
      let b = t.buckets.get(hourStart);
      if (!b) {
        b = { start: hourStart, messages: 0, bytes: 0, storageBytes: 0 };
        t.buckets.set(hourStart, b);
      }
      b.messages += delta.messages;
      b.bytes += delta.bytes;
      b.storageBytes = t.storage;
      return t.storage;
    },
    async storageBytes(tenantId) {
      return tenants.get(tenantId)?.storage ?? 0;
    },
    async read(tenantId, start, end) {
      const t = tenants.get(tenantId);
      if (!t) return [];
      return [...t.buckets.values()]
        .filter((b) => b.start >= start && b.start < end)
        .sort((a, b) => a.start - b.start)
        .map((b) => ({ ...b }));
    },
    deleteTenant(tenantId) {
      tenants.delete(tenantId);
    },
  };
}

export function createMemoryRateLimiter(): RateLimiter & TenantScoped {
  const counters = new Map<string, { windowStart: number; windowEnd: number; used: number }>();
  const usedOf = (c: RateCharge) => {
    const counter = counters.get(c.key);
    return counter?.windowStart === c.windowStart && counter.windowEnd === c.windowEnd
      ? counter.used
      : 0;
  };
  return {
    async consume(charges) {
      // Counters of windows that ended are forgotten now and then, so the map stays bounded.
      const earliest = Math.min(...charges.map((c) => c.windowStart));
      if (counters.size > 10_000) {
        for (const [k, c] of counters) if (c.windowEnd <= earliest) counters.delete(k);
      }
      // Check every counter, then charge every counter, in one synchronous step (no await between).
      for (const c of charges) {
        const used = usedOf(c);
        if (c.limit > 0 && used + c.amount > c.limit) return { ok: false, refused: c, used };
      }
      for (const c of charges) {
        counters.set(c.key, {
          windowStart: c.windowStart,
          windowEnd: c.windowEnd,
          used: usedOf(c) + c.amount,
        });
      }
      return { ok: true };
    },
    deleteTenant(tenantId) {
      const prefix = `tenant:${tenantId}:`;
      for (const k of counters.keys()) if (k.startsWith(prefix)) counters.delete(k);
    },
  };
}
