import { Tier } from "@acb/gen/acb/v1/admin_pb";
import type { TenantQuotasRecord, TenantSettingsRecord } from "../storage/types.js";

/** The hub's defaults for settings a tenant does not set. */
export const defaultTenantSettings: Readonly<TenantSettingsRecord> = {
  ackDeadlineMs: 30_000,
  maxDeliveryAttempts: 5,
  dedupeWindowMs: 24 * 3_600_000,
  heartbeatIntervalMs: 10_000,
  presenceTimeoutMs: 30_000,
  defaultMessageTtlMs: 7 * 24 * 3_600_000,
};

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const noLimits: TenantQuotasRecord = {
  maxAgents: 0,
  tenantMessagesPerMinute: 0,
  agentMessagesPerMinute: 0,
  tenantBytesPerMinute: 0,
  agentBytesPerMinute: 0,
  agentConcurrentStreams: 0,
  storageBytes: 0,
  messagesPerMonth: 0,
};
// Per-agent limits every tier shares (seed 000, "Resource Limits (Per Agent)").
const perAgent = {
  agentMessagesPerMinute: 1_000,
  agentBytesPerMinute: 100 * MiB,
  agentConcurrentStreams: 10,
};

/** Quota presets of the pricing tiers (seed 000, "Pricing Tiers"). */
export const tierQuotas: ReadonlyMap<Tier, TenantQuotasRecord> = new Map([
  [
    Tier.FREE,
    { ...noLimits, ...perAgent, maxAgents: 3, messagesPerMonth: 10_000, storageBytes: GiB },
  ],
  [
    Tier.STARTER,
    { ...noLimits, ...perAgent, maxAgents: 10, messagesPerMonth: 500_000, storageBytes: 10 * GiB },
  ],
  [
    Tier.PROFESSIONAL,
    {
      ...noLimits,
      ...perAgent,
      maxAgents: 50,
      messagesPerMonth: 5_000_000,
      storageBytes: 100 * GiB,
    },
  ],
  [Tier.ENTERPRISE, { ...noLimits }],
]);

export function quotasForTier(tier: Tier, custom?: TenantQuotasRecord): TenantQuotasRecord {
  if (tier === Tier.CUSTOM) return { ...noLimits, ...custom };
  return { ...(tierQuotas.get(tier) ?? tierQuotas.get(Tier.FREE) ?? noLimits) };
}
