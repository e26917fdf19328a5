import {
  type AdminService,
  type AuditRecord,
  AuditRecordSchema,
  type UsageBucket,
  UsageBucketSchema,
} from "@acb/gen/acb/v1/admin_pb";
import { create, toJsonString } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Identity, isAdmin, PLATFORM_TENANT } from "../auth/identity.js";
import { decodePageToken, encodePageToken, pageSize } from "../domain/cursor.js";
import { notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import type {
  AuditOutcome,
  AuditQuery,
  AuditRecordData,
  UsageBucketRecord,
} from "../storage/types.js";
import { callerOf, msOf, ts } from "./convert.js";

const HOUR = 3_600_000;

function usageToProto(b: UsageBucketRecord): UsageBucket {
  return create(UsageBucketSchema, {
    start: ts(b.start),
    messages: BigInt(b.messages),
    bytes: BigInt(b.bytes),
    storageBytes: BigInt(b.storageBytes),
  });
}

function auditToProto(r: AuditRecordData): AuditRecord {
  return create(AuditRecordSchema, { ...r, time: ts(r.time) });
}

/**
 * The tenant a caller may read usage or audit records of: a platform admin any (and "*" for all,
 * returned as undefined), a tenant admin or observer its own. Anything else is NOT_FOUND.
 */
function readableTenant(caller: Identity, tenantId: string, allowAll: boolean): string | undefined {
  if (caller.tenantId === PLATFORM_TENANT && isAdmin(caller)) {
    if (tenantId === PLATFORM_TENANT && allowAll) return undefined;
    return tenantId;
  }
  if (caller.tenantId === tenantId) return tenantId;
  throw notFound("tenant", tenantId);
}

/** AdminService's usage metering and audit log RPCs. */
export function createUsageAuditHandlers(
  hub: HubContext,
): Pick<ServiceImpl<typeof AdminService>, "getUsage" | "queryAuditLog" | "exportAuditLog"> {
  const auditQuery = (
    caller: Identity,
    req: { tenantId: string; start?: Parameters<typeof msOf>[0]; end?: Parameters<typeof msOf>[0] },
  ): AuditQuery => {
    const now = hub.clock.now();
    const tenantId = readableTenant(caller, req.tenantId, true);
    return {
      ...(tenantId !== undefined && { tenantId }),
      // Records past retention may still wait for the hourly prune; they are never returned.
      start: Math.max(msOf(req.start) ?? 0, now - hub.auditRetentionMs),
      end: msOf(req.end) ?? now + 1,
    };
  };
  return {
    async getUsage(req, ctx) {
      const caller = callerOf(ctx);
      const tenantId = readableTenant(caller, req.tenantId, false) ?? req.tenantId;
      await hub.tenant(tenantId);
      const end = msOf(req.end) ?? hub.clock.now() + 1;
      const start = msOf(req.start) ?? end - 24 * HOUR;
      // A bucket belongs to the period when its hour overlaps it.
      const buckets = await hub.backend.usage.read(tenantId, Math.floor(start / HOUR) * HOUR, end);
      const last = buckets[buckets.length - 1];
      return {
        hourly: buckets.map(usageToProto),
        total: create(UsageBucketSchema, {
          start: ts(start),
          messages: BigInt(buckets.reduce((n, b) => n + b.messages, 0)),
          bytes: BigInt(buckets.reduce((n, b) => n + b.bytes, 0)),
          storageBytes: BigInt(
            last?.storageBytes ?? (await hub.backend.usage.storageBytes(tenantId)),
          ),
        }),
      };
    },
    async queryAuditLog(req, ctx) {
      const query: AuditQuery = {
        ...auditQuery(callerOf(ctx), req),
        ...(req.action !== "" && { action: req.action }),
        ...(req.actor !== "" && { actor: req.actor }),
        ...(req.outcome !== "" && { outcome: req.outcome as AuditOutcome }),
      };
      const limit = pageSize(req.pageSize);
      const found = await hub.backend.audit.query(query, decodePageToken(req.pageToken), limit + 1);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return {
        records: page.map(auditToProto),
        nextPageToken: found.length > limit && last ? encodePageToken(last.id) : "",
      };
    },
    async *exportAuditLog(req, ctx) {
      const caller = callerOf(ctx);
      const query = auditQuery(caller, req);
      await hub.audit({
        identity: caller,
        ...(query.tenantId !== undefined && { tenantId: query.tenantId }),
        action: "audit.export",
        target: `tenant/${req.tenantId}`,
        outcome: "success",
      });
      let after = "";
      for (;;) {
        const page = await hub.backend.audit.query(query, after, 1000);
        if (page.length > 0) {
          const lines = page.map((r) => `${toJsonString(AuditRecordSchema, auditToProto(r))}\n`);
          yield { jsonl: new TextEncoder().encode(lines.join("")) };
        }
        const last = page[page.length - 1];
        if (page.length < 1000 || !last) return;
        after = last.id;
      }
    },
  };
}
