import { type Identity, PLATFORM_TENANT } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";

/** How long a refused caller is told to wait: streams typically end within seconds. */
const RETRY_AFTER_MS = 1_000;

/**
 * Counts the large-context streams each agent holds (open upload sessions and running downloads)
 * against the lower of the hub's limit and the tenant's agentConcurrentStreams quota (0: no quota).
 */
export class StreamSlots {
  private readonly held = new Map<string, number>();

  constructor(private readonly hub: HubContext) {}

  /** Takes a slot or fails with RESOURCE_EXHAUSTED; returns the (idempotent) release function. */
  async acquire(identity: Identity): Promise<() => void> {
    const quota =
      identity.tenantId === PLATFORM_TENANT
        ? 0
        : (await this.hub.tenant(identity.tenantId)).quotas.agentConcurrentStreams;
    const hubLimit = this.hub.limits.maxConcurrentStreamsPerAgent;
    const limit = quota > 0 ? Math.min(quota, hubLimit) : hubLimit;
    const key = `${identity.tenantId}\u0000${identity.agentId}`;
    // Check and take in one synchronous step, after the only await, so two calls cannot both win.
    const current = this.held.get(key) ?? 0;
    if (current >= limit) {
      throw hubError(
        Code.ResourceExhausted,
        `agent "${identity.agentId}" already holds ${current} of its ${limit} concurrent large-context streams: finish, commit or abort one first`,
        { retryAfterMs: RETRY_AFTER_MS, limit: "agent.concurrent_streams" },
      );
    }
    this.held.set(key, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left === 0) this.held.delete(key);
      else this.held.set(key, left);
    };
  }
}
