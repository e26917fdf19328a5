import { type Identity, PLATFORM_TENANT } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";

/** How long a refused caller is told to wait: streams typically end within seconds. */
const RETRY_AFTER_MS = 1_000;

/** A held slot: renew it while the stream runs, release it when it ends (both idempotent). */
export interface StreamSlot {
  /** Moves the lease to `expiresAt` (hub clock). */
  renew(expiresAt: number): Promise<void>;
  release(): Promise<void>;
}

/**
 * Counts the large-context streams each agent holds (open upload sessions and running downloads)
 * against the lower of the hub's limit and the tenant's agentConcurrentStreams quota (0: no quota).
 * The count lives in the backend (StreamSlotStore), so it holds across every node; each slot is a
 * lease its holder renews, so the slots of a node that died free themselves.
 */
export class StreamSlots {
  constructor(private readonly hub: HubContext) {}

  /**
   * Takes a slot leased until `expiresAt` for `holderId` (an upload id; a new id when omitted) or
   * fails with RESOURCE_EXHAUSTED.
   */
  async acquire(identity: Identity, expiresAt: number, holderId?: string): Promise<StreamSlot> {
    const quota =
      identity.tenantId === PLATFORM_TENANT
        ? 0
        : (await this.hub.tenant(identity.tenantId)).quotas.agentConcurrentStreams;
    const hubLimit = this.hub.limits.maxConcurrentStreamsPerAgent;
    const limit = quota > 0 ? Math.min(quota, hubLimit) : hubLimit;
    const { tenantId, agentId } = identity;
    const now = this.hub.clock.now();
    // Stryker disable next-line StringLiteral: a download's holder id stays in the hub (no RPC names it)
    const holder = holderId ?? newId("dl_", now);
    const store = this.hub.backend.streamSlots;
    const taken = await store.acquire(tenantId, agentId, holder, limit, expiresAt, now);
    if (!taken.ok) {
      throw hubError(
        Code.ResourceExhausted,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `agent "${agentId}" already holds ${taken.held} of its ${limit} concurrent large-context streams: finish, commit or abort one first`,
        { retryAfterMs: RETRY_AFTER_MS, limit: "agent.concurrent_streams" },
      );
    }
    let released = false;
    return {
      // Stryker disable next-line ArrowFunction: a download renews its 60-second lease only after 30 s of streaming, longer than a case runs
      renew: (until) =>
        released ? Promise.resolve() : store.renew(tenantId, agentId, holder, until),
      release: async () => {
        if (released) return;
        // Stryker disable next-line BooleanLiteral: each slot is released once (the download's finally, or a refused BeginUpload) and renewed only before, and a second release is a no-op in the store too
        released = true;
        await store.release(tenantId, agentId, holder);
      },
    };
  }
}
