// The AuditStore part of the shared backend suite.

import { describe, expect, it } from "vitest";
import type { AuditRecordData, Backend } from "../types.js";
import { fresh } from "./helpers.js";

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

export function auditStoreTests(get: () => Backend): void {
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
}
