import type { AgentQuery, AgentRecord, RegistryStore } from "../types.js";
import type { MemoryEventLog } from "./memory-event-log.js";
import {
  deepFreeze,
  matchesMetadata,
  pageAfter,
  TenantMap,
  type TenantScoped,
} from "./tenant-map.js";

export function matchesAgent(a: AgentRecord, q: AgentQuery): boolean {
  if (q.type && a.type !== q.type) return false;
  if (q.location) {
    if (q.location.endsWith("/") ? !a.location.startsWith(q.location) : a.location !== q.location) {
      return false;
    }
  }
  if (q.capabilities?.some((c) => !a.capabilities.includes(c))) return false;
  if (q.metadata && !matchesMetadata(a.metadata, q.metadata)) return false;
  if (q.seenSince !== undefined && a.lastSeen < q.seenSince) return false;
  if (q.seenBefore !== undefined && a.lastSeen >= q.seenBefore) return false;
  return true;
}

/**
 * Agents in process memory. Each write, its event and (on delete) the removal of what the agent
 * owned in other stores (`dropOwned`, synchronous) happen in one step with no await in between.
 */
export function createMemoryRegistryStore(
  events: MemoryEventLog,
  dropOwned: (tenantId: string, agentId: string) => void,
): RegistryStore & TenantScoped {
  const agents = new TenantMap<AgentRecord>();
  const emit = (tenantId: string, data: Uint8Array | undefined) => {
    if (data) events.appendNow(tenantId, "agents", data);
  };
  return {
    async put(agent, event) {
      agents.set(agent.tenantId, agent.id, deepFreeze(structuredClone(agent)));
      emit(agent.tenantId, event);
    },
    async get(tenantId, agentId) {
      return agents.get(tenantId, agentId);
    },
    async tenantsHolding(id, limit) {
      return agents.tenantsWith(id, limit);
    },
    async touch(tenantId, agentId, at, event, offlineAfterMs) {
      const a = agents.get(tenantId, agentId);
      if (!a) return undefined;
      const lastSeen = Math.max(a.lastSeen, at);
      const touched = deepFreeze({
        ...a,
        lastSeen,
        ...(offlineAfterMs !== undefined && { offlineAt: lastSeen + offlineAfterMs }),
      });
      agents.set(tenantId, agentId, touched);
      emit(tenantId, event?.(a, touched));
      return touched;
    },
    async listOfflineDue(dueBy, limit) {
      const due: AgentRecord[] = [];
      for (const a of agents.allValues()) {
        if (a.offlineAt !== undefined && a.offlineAt <= dueBy) due.push(a);
      }
      return due.sort((x, y) => (x.offlineAt ?? 0) - (y.offlineAt ?? 0)).slice(0, limit);
    },
    async markOffline(tenantId, agentId, offlineAt, event) {
      const a = agents.get(tenantId, agentId);
      if (!a || a.offlineAt !== offlineAt) return false;
      const { offlineAt: _announced, ...rest } = a;
      agents.set(tenantId, agentId, deepFreeze(rest));
      emit(tenantId, event);
      return true;
    },
    async delete(tenantId, agentId, event) {
      const removed = agents.delete(tenantId, agentId);
      if (!removed) return undefined;
      dropOwned(tenantId, agentId);
      emit(tenantId, event(removed));
      return removed;
    },
    async list(tenantId, query, afterId, limit) {
      return pageAfter(agents.values(tenantId), afterId, limit, (a) => matchesAgent(a, query));
    },
    async count(tenantId) {
      return agents.size(tenantId);
    },
    deleteTenant(tenantId) {
      agents.deleteTenant(tenantId);
    },
  };
}
