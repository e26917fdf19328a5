import { BacklogPolicy, Tier } from "@acb/gen/acb/v1/admin_pb";
import type {
  BacklogLimits,
  TenantQuotasRecord,
  TenantRecord,
  TenantSettingsRecord,
} from "../storage/types.js";

/** The hub's defaults for settings a tenant does not set. */
export const defaultTenantSettings: Readonly<TenantSettingsRecord> = {
  ackDeadlineMs: 30_000,
  maxDeliveryAttempts: 5,
  dedupeWindowMs: 24 * 3_600_000,
  heartbeatIntervalMs: 10_000,
  presenceTimeoutMs: 30_000,
  defaultMessageTtlMs: 7 * 24 * 3_600_000,
  backlogPolicy: BacklogPolicy.REFUSE,
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
  agentBacklogMessages: 0,
  tenantBacklogMessages: 0,
  tenantMessagesPerSecond: 0,
};
// Per-agent limits every tier shares (seed 000, "Resource Limits (Per Agent)").
const perAgent = {
  agentMessagesPerMinute: 1_000,
  agentBytesPerMinute: 100 * MiB,
  agentConcurrentStreams: 10,
};
// Queued, unacknowledged messages (docs/messaging.md#backlog-limits): what a hub holds for agents
// that do not read stays bounded on every tier. 10,000 per agent is a few minutes of a busy
// agent's traffic; 100,000 per tenant bounds the embedded hub's memory to a known size per tenant.
const backlog = { agentBacklogMessages: 10_000, tenantBacklogMessages: 100_000 };
// Every tier also caps the tenant's messages per second (tenantMessagesPerSecond), so one tenant's
// flood is refused before it takes the hub from the others: ENTERPRISE's 10,000 is about a third
// of what one embedded hub accepts on two cores (docs/load.md).

/** Quota presets of the pricing tiers (seed 000, "Pricing Tiers"). */
export const tierQuotas: ReadonlyMap<Tier, TenantQuotasRecord> = new Map([
  [
    Tier.FREE,
    {
      ...noLimits,
      ...perAgent,
      ...backlog,
      maxAgents: 3,
      tenantMessagesPerSecond: 100,
      messagesPerMonth: 10_000,
      storageBytes: GiB,
    },
  ],
  [
    Tier.STARTER,
    {
      ...noLimits,
      ...perAgent,
      ...backlog,
      maxAgents: 10,
      tenantMessagesPerSecond: 500,
      messagesPerMonth: 500_000,
      storageBytes: 10 * GiB,
    },
  ],
  [
    Tier.PROFESSIONAL,
    {
      ...noLimits,
      ...perAgent,
      ...backlog,
      maxAgents: 50,
      tenantMessagesPerSecond: 2_000,
      messagesPerMonth: 5_000_000,
      storageBytes: 100 * GiB,
    },
  ],
  [
    Tier.ENTERPRISE,
    {
      ...noLimits,
      agentBacklogMessages: 100_000,
      tenantBacklogMessages: 1_000_000,
      tenantMessagesPerSecond: 10_000,
    },
  ],
]);

export function quotasForTier(tier: Tier, custom?: TenantQuotasRecord): TenantQuotasRecord {
  if (tier === Tier.CUSTOM) return { ...noLimits, ...custom };
  return { ...(tierQuotas.get(tier) ?? tierQuotas.get(Tier.FREE) ?? noLimits) };
}

/** The backlog limits a tenant's sends must fit in, and its policy at a limit. */
export function backlogLimitsOf(tenant: TenantRecord, now: number): BacklogLimits {
  return {
    agent: presetOr(tenant, "agentBacklogMessages"),
    tenant: presetOr(tenant, "tenantBacklogMessages"),
    policy:
      tenant.settings.backlogPolicy === BacklogPolicy.DEAD_LETTER_OLDEST
        ? "dead-letter-oldest"
        : // Stryker disable next-line StringLiteral: the stores read every policy but "dead-letter-oldest" as refusing
          "refuse",
    now,
  };
}

/**
 * A quota added after tenants were stored: the record's value, else its tier's preset (CUSTOM:
 * no limit).
 */
export function presetOr(
  tenant: TenantRecord,
  field: "agentBacklogMessages" | "tenantBacklogMessages" | "tenantMessagesPerSecond",
): number {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: every tenant record the hub writes has these fields, so the preset is read only for records stored before they existed
  const preset = tenant.tier === Tier.CUSTOM ? undefined : tierQuotas.get(tenant.tier as Tier);
  // Stryker disable next-line OptionalChaining: as above
  return tenant.quotas[field] ?? preset?.[field] ?? 0;
}
