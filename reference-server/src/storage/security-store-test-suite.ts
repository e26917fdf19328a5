// The security stores' part of the shared backend contract (backend-test-suite.ts registers it):
// API keys, the audit log, usage metering and rate-limit counters.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ApiKeyRecord, AuditRecordData, Backend } from "./types.js";

const fresh = (prefix = "t") => `${prefix}${randomUUID().replaceAll("-", "")}`;

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

function audit(
  tenantId: string,
  id: string,
  time: number,
  action = "context.read",
): AuditRecordData {
  return {
    id,
    time,
    tenantId,
    actor: "a",
    action,
    target: "context/c",
    outcome: "success",
    correlationId: "cor",
    details: { k: "v" },
  };
}

export function securityStoreTests(get: () => Backend): void {
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
      await keys.deleteTenant(tenantId);
      expect(await keys.get(id2 as string)).toBeUndefined();
    });
  });

  describe("audit log", () => {
    it("queries by tenant, time, action prefix and outcome in id order, and prunes by time", async () => {
      const log = get().audit;
      const tenantId = fresh();
      const base = 2_000_000_000_000 + Math.floor(Math.random() * 1e9);
      await log.append(audit(tenantId, `aud_${base}_2`, base + 20, "context.update"));
      await log.append(audit(tenantId, `aud_${base}_1`, base + 10));
      await log.append({
        ...audit(tenantId, `aud_${base}_3`, base + 30, "authz.deny"),
        outcome: "denied",
      });
      await log.append(audit(fresh(), `aud_${base}_4`, base + 40));
      const all = { tenantId, start: base, end: base + 100 };
      expect((await log.query(all, "", 10)).map((r) => r.id)).toEqual([
        `aud_${base}_1`,
        `aud_${base}_2`,
        `aud_${base}_3`,
      ]);
      expect((await log.query({ ...all, action: "context." }, "", 10)).length).toBe(2);
      expect((await log.query({ ...all, action: "context.read" }, "", 10)).length).toBe(1);
      expect((await log.query({ ...all, outcome: "denied" }, "", 10))[0]?.action).toBe(
        "authz.deny",
      );
      expect((await log.query({ ...all, start: base + 15 }, "", 10)).length).toBe(2);
      expect((await log.query(all, `aud_${base}_1`, 1)).map((r) => r.id)).toEqual([
        `aud_${base}_2`,
      ]);
      expect((await log.query(all, "", 1))[0]?.details).toEqual({ k: "v" });
      expect(await log.prune(base + 25)).toBeGreaterThanOrEqual(2);
      expect((await log.query(all, "", 10)).map((r) => r.id)).toEqual([`aud_${base}_3`]);
    });
  });

  describe("audit aggregation", () => {
    it("appends the first event of a key and counts the repeats in that record", async () => {
      const log = get().audit;
      const tenantId = fresh();
      const base = 2_100_000_000_000 + Math.floor(Math.random() * 1e9);
      const key = `k-${tenantId}`;
      await log.appendAggregate(
        key,
        audit(tenantId, `aud_${base}_1`, base + 1, "auth.rate_limited"),
      );
      await log.appendAggregate(key, {
        ...audit(tenantId, `aud_${base}_2`, base + 2, "auth.rate_limited"),
        correlationId: "cor-2",
      });
      await log.appendAggregate(key, {
        ...audit(tenantId, `aud_${base}_3`, base + 3, "auth.rate_limited"),
        correlationId: "cor-3",
      });
      await log.appendAggregate(`other-${key}`, audit(tenantId, `aud_${base}_4`, base + 4));
      const all = await log.query({ tenantId, start: base, end: base + 100 }, "", 10);
      expect(all.map((r) => r.id)).toEqual([`aud_${base}_1`, `aud_${base}_4`]);
      expect(all[0]?.details).toEqual({
        k: "v",
        count: "3",
        last_time: String(base + 3),
        last_correlation_id: "cor-3",
      });
      expect(all[1]?.details["count"]).toBe("1");
    });
  });

  describe("usage", () => {
    it("adds to hourly buckets and keeps the storage total", async () => {
      const usage = get().usage;
      const tenantId = fresh();
      const h = 3_600_000;
      expect(await usage.add(tenantId, 0, { messages: 2, bytes: 10, storageDelta: 100 })).toBe(100);
      await usage.add(tenantId, 0, { messages: 1, bytes: 5, storageDelta: 0 });
      expect(await usage.add(tenantId, h, { messages: 0, bytes: 0, storageDelta: -40 })).toBe(60);
      expect(await usage.storageBytes(tenantId)).toBe(60);
      expect(await usage.read(tenantId, 0, 2 * h)).toEqual([
        { start: 0, messages: 3, bytes: 15, storageBytes: 100 },
        { start: h, messages: 0, bytes: 0, storageBytes: 60 },
      ]);
      expect(await usage.read(tenantId, h, 2 * h)).toHaveLength(1);
      await usage.deleteTenant(tenantId);
      expect(await usage.read(tenantId, 0, 2 * h)).toEqual([]);
      expect(await usage.storageBytes(tenantId)).toBe(0);
    });
  });

  describe("rate limits", () => {
    it("charges all counters or none, per window", async () => {
      const limiter = get().rateLimits;
      const t = fresh();
      const w = { windowStart: 0, windowEnd: 60_000 };
      const a = { key: `tenant:${t}:a`, amount: 2, limit: 3, ...w };
      const b = { key: `tenant:${t}:b`, amount: 2, limit: 10, ...w };
      expect(await limiter.consume([a, b])).toEqual({ ok: true });
      const refused = await limiter.consume([b, a]);
      expect(refused).toEqual({ ok: false, refused: a, used: 2 });
      // b was not charged by the refused call: 2 + 8 fits its limit of 10 exactly.
      expect(await limiter.consume([{ ...b, amount: 8 }])).toEqual({ ok: true });
      // A new window starts from zero.
      const next = { windowStart: 60_000, windowEnd: 120_000 };
      expect(await limiter.consume([{ ...a, ...next, amount: 3 }])).toEqual({ ok: true });
      await limiter.deleteTenant(t);
      expect(await limiter.consume([{ ...a, ...next, amount: 3 }])).toEqual({ ok: true });
    });
  });
}
