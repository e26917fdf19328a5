import { randomBytes } from "node:crypto";
import {
  type AdminService,
  BacklogPolicy,
  type Tenant,
  TenantSchema,
  type TenantSettings,
  Tier,
} from "@acb/gen/acb/v1/admin_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Identity, isAdmin, PLATFORM_TENANT } from "../auth/identity.js";
import { decodePageToken, encodePageToken, pageSize } from "../domain/cursor.js";
import {
  backlogLimitsOf,
  defaultTenantSettings,
  presetOr,
  quotasForTier,
} from "../domain/tenant-defaults.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import type {
  StorageRefRecord,
  TenantQuotasRecord,
  TenantRecord,
  TenantSettingsRecord,
} from "../storage/types.js";
import { createUsageAuditHandlers } from "./admin-usage-audit.js";
import { administeredTenant } from "./auth-handler.js";
import { callerOf, durationMs, ts } from "./convert.js";

function settingsFrom(
  base: TenantSettingsRecord,
  s: TenantSettings | undefined,
): TenantSettingsRecord {
  if (!s) return { ...base };
  return {
    ackDeadlineMs: durationMs(s.ackDeadline) ?? base.ackDeadlineMs,
    maxDeliveryAttempts: s.maxDeliveryAttempts || base.maxDeliveryAttempts,
    dedupeWindowMs: durationMs(s.dedupeWindow) ?? base.dedupeWindowMs,
    heartbeatIntervalMs: durationMs(s.heartbeatInterval) ?? base.heartbeatIntervalMs,
    presenceTimeoutMs: durationMs(s.presenceTimeout) ?? base.presenceTimeoutMs,
    defaultMessageTtlMs: durationMs(s.defaultMessageTtl) ?? base.defaultMessageTtlMs,
    backlogPolicy: s.backlogPolicy || (base.backlogPolicy ?? BacklogPolicy.REFUSE),
  };
}

function quotasToProto(t: TenantRecord) {
  const q = t.quotas;
  // A record stored before the backlog fields existed shows the limits that apply to it.
  const backlog = backlogLimitsOf(t, 0);
  return {
    ...q,
    agentBacklogMessages: BigInt(backlog.agent),
    tenantBacklogMessages: BigInt(backlog.tenant),
    tenantMessagesPerSecond: BigInt(presetOr(t, "tenantMessagesPerSecond")),
    tenantMessagesPerMinute: BigInt(q.tenantMessagesPerMinute),
    agentMessagesPerMinute: BigInt(q.agentMessagesPerMinute),
    tenantBytesPerMinute: BigInt(q.tenantBytesPerMinute),
    agentBytesPerMinute: BigInt(q.agentBytesPerMinute),
    storageBytes: BigInt(q.storageBytes),
    messagesPerMonth: BigInt(q.messagesPerMonth),
  };
}

function quotasFromProto(
  q: { [K in keyof TenantQuotasRecord]: number | bigint },
): TenantQuotasRecord {
  return Object.fromEntries(
    Object.entries(q).map(([k, v]) => [k, Number(v)]),
  ) as unknown as TenantQuotasRecord;
}

function tenantToProto(t: TenantRecord): Tenant {
  const s = t.settings;
  return create(TenantSchema, {
    id: t.id,
    displayName: t.displayName,
    tier: t.tier,
    quotas: quotasToProto(t),
    settings: {
      ackDeadline: durationFromMs(s.ackDeadlineMs),
      maxDeliveryAttempts: s.maxDeliveryAttempts,
      dedupeWindow: durationFromMs(s.dedupeWindowMs),
      heartbeatInterval: durationFromMs(s.heartbeatIntervalMs),
      presenceTimeout: durationFromMs(s.presenceTimeoutMs),
      defaultMessageTtl: durationFromMs(s.defaultMessageTtlMs),
      backlogPolicy: s.backlogPolicy ?? BacklogPolicy.REFUSE,
    },
    createdAt: ts(t.createdAt),
  });
}

/**
 * Deletes a tenant and everything it owns (its audit records stay, as evidence). The backend
 * deletes the records in one step; large values live in the blob store, found through the
 * contexts that reference them and the released blobs still in their grace period (whose records
 * go with the tenant), and deleted after the records are gone.
 */
async function deleteTenantAndBlobs(hub: HubContext, tenantId: string): Promise<boolean> {
  const b = hub.backend;
  const refs: StorageRefRecord[] = (await b.releasedBlobs.list(tenantId)).map((r) => r.ref);
  for (let after = ""; ; ) {
    const page = await b.contexts.list(tenantId, {}, after, 1000);
    for (const c of page) if (c.storageRef) refs.push(c.storageRef);
    const last = page[page.length - 1];
    if (page.length < 1000 || !last) break;
    after = last.id;
  }
  if (!(await b.deleteTenant(tenantId))) return false;
  await hub.tenantChanged(tenantId);
  await Promise.all(refs.map((ref) => b.blobs.delete(ref)));
  return true;
}

/**
 * Who may change which tenant fields: tier and quotas are the platform's (a platform admin sets
 * them); a tenant's own admin may change only its settings and display name.
 */
function checkTenantFieldsChangeable(
  caller: Identity,
  req: { tenantId: string; tier: Tier; quotas?: unknown },
): void {
  if (caller.tenantId === PLATFORM_TENANT) return;
  const platformFields = [
    ...(req.tier !== Tier.UNSPECIFIED ? ["tier"] : []),
    ...(req.quotas !== undefined ? ["quotas"] : []),
  ];
  if (platformFields.length > 0) {
    throw hubError(
      Code.PermissionDenied,
      `only a platform admin may change the ${platformFields.join(" and ")} of tenant "${req.tenantId}"; a tenant admin may change its settings and display name`,
    );
  }
}

/** Tenant administration, usage metering and the audit log. Tenant changes are audited. */
export function createAdminHandler(hub: HubContext): ServiceImpl<typeof AdminService> {
  const requirePlatformAdmin = (
    tenantId: string,
    caller: { tenantId: string; roles: ReadonlySet<number> },
  ) => {
    if (caller.tenantId !== PLATFORM_TENANT || !isAdmin(caller as never)) {
      throw hubError(
        Code.PermissionDenied,
        `only a platform admin may create, list or delete tenants (tenant "${tenantId}")`,
      );
    }
  };
  const audited = (ctx: Parameters<typeof callerOf>[0], action: string, tenantId: string) =>
    hub.audit({
      identity: callerOf(ctx),
      tenantId,
      action,
      target: `tenant/${tenantId}`,
      outcome: "success",
    });
  return {
    ...createUsageAuditHandlers(hub),
    async createTenant(req, ctx) {
      requirePlatformAdmin(req.tenantId, callerOf(ctx));
      if (req.quotas && req.tier !== Tier.CUSTOM) {
        throw hubError(Code.InvalidArgument, "quotas may only be given with tier CUSTOM");
      }
      const tier = req.tier === Tier.UNSPECIFIED ? Tier.FREE : req.tier;
      const tenant: TenantRecord = {
        id: req.tenantId,
        displayName: req.displayName || req.tenantId,
        tier,
        quotas: quotasForTier(tier, req.quotas && quotasFromProto(req.quotas)),
        settings: settingsFrom(defaultTenantSettings, req.settings),
        createdAt: hub.clock.now(),
        incarnation: randomBytes(12).toString("base64url"),
      };
      if (!(await hub.backend.tenants.create(tenant))) {
        throw hubError(Code.AlreadyExists, `tenant "${req.tenantId}" already exists`);
      }
      await hub.tenantChanged(tenant.id);
      await audited(ctx, "tenant.create", tenant.id);
      return { tenant: tenantToProto(tenant) };
    },
    async getTenant(req, ctx) {
      const caller = callerOf(ctx);
      // Observers may read their own tenant.
      if (!isAdmin(caller) && caller.tenantId === req.tenantId) {
        return { tenant: tenantToProto(await hub.tenant(req.tenantId)) };
      }
      return { tenant: tenantToProto(await administeredTenant(hub, caller, req.tenantId)) };
    },
    async listTenants(req, ctx) {
      requirePlatformAdmin("*", callerOf(ctx));
      const limit = pageSize(req.pageSize);
      const found = await hub.backend.tenants.list(decodePageToken(req.pageToken), limit + 1);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return {
        tenants: page.map(tenantToProto),
        nextPageToken: found.length > limit && last ? encodePageToken(last.id) : "",
      };
    },
    async updateTenant(req, ctx) {
      const caller = callerOf(ctx);
      const current = await administeredTenant(hub, caller, req.tenantId);
      checkTenantFieldsChangeable(caller, req);
      const tier = req.quotas
        ? Tier.CUSTOM
        : req.tier === Tier.UNSPECIFIED
          ? current.tier
          : req.tier;
      const next: TenantRecord = {
        ...current,
        displayName: req.displayName || current.displayName,
        tier,
        quotas: req.quotas
          ? quotasFromProto(req.quotas)
          : tier === current.tier
            ? current.quotas
            : quotasForTier(tier),
        settings: settingsFrom(current.settings, req.settings),
      };
      if (!(await hub.backend.tenants.update(next)))
        throw hubError(Code.NotFound, `tenant "${req.tenantId}" not found`);
      await hub.tenantChanged(next.id);
      await audited(ctx, "tenant.update", next.id);
      return { tenant: tenantToProto(next) };
    },
    async deleteTenant(req, ctx) {
      requirePlatformAdmin(req.tenantId, callerOf(ctx));
      if (!(await deleteTenantAndBlobs(hub, req.tenantId))) {
        throw hubError(Code.NotFound, `tenant "${req.tenantId}" not found`);
      }
      await audited(ctx, "tenant.delete", req.tenantId);
      return {};
    },
  };
}
