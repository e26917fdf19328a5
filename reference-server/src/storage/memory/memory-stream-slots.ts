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
      for (const [holder, until] of held) if (until <= now) held.delete(holder);
      if (!held.has(holderId) && held.size >= limit) return { ok: false, held: held.size };
      held.set(holderId, expiresAt);
      return { ok: true };
    },
    async renew(tenantId, agentId, holderId, expiresAt) {
      const held = agents.get(key(tenantId, agentId));
      if (held?.has(holderId)) held.set(holderId, expiresAt);
    },
    async release(tenantId, agentId, holderId) {
      const k = key(tenantId, agentId);
      const held = agents.get(k);
      held?.delete(holderId);
      if (held?.size === 0) agents.delete(k);
    },
    deleteTenant(tenantId) {
      for (const k of [...agents.keys()]) if (k.startsWith(`${tenantId}\u0000`)) agents.delete(k);
    },
  };
}
