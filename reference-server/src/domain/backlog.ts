import { Code, hubError } from "../errors.js";
import type { BacklogFull } from "../storage/types.js";

/** How long a sender refused for a full backlog is asked to wait before it retries. */
export const BACKLOG_RETRY_AFTER_MS = 1_000;

/**
 * The refusal of a send past a backlog limit (the tenant's policy is REFUSE, or nothing
 * undelivered was left to drop): RESOURCE_EXHAUSTED with RetryInfo naming the limit.
 */
export function backlogFullError(tenantId: string, full: BacklogFull) {
  if (full.scope === "agent") {
    return hubError(
      Code.ResourceExhausted,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `agent "${full.agentId}" has ${full.limit} messages queued and not acknowledged (its agent.backlog_messages): retry once it has read some`,
      { retryAfterMs: BACKLOG_RETRY_AFTER_MS, limit: "agent.backlog_messages" },
    );
  }
  return hubError(
    Code.ResourceExhausted,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `tenant "${tenantId}" has ${full.limit} messages queued and not acknowledged (its tenant.backlog_messages): retry once its agents have read some`,
    { retryAfterMs: BACKLOG_RETRY_AFTER_MS, limit: "tenant.backlog_messages" },
  );
}
