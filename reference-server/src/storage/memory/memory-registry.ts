import type { AgentQuery, AgentRecord, RegistryStore } from "../types.js";
import { deepFreeze, matchesMetadata, pageAfter, TenantMap } from "./tenant-map.js";

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

export function createMemoryRegistryStore(): RegistryStore {
  const agents = new TenantMap<AgentRecord>();
  return {
    async put(agent) {
      agents.set(agent.tenantId, agent.id, deepFreeze(structuredClone(agent)));
    },
    async get(tenantId, agentId) {
      return agents.get(tenantId, agentId);
    },
    async tenantsHolding(id, limit) {
      return agents.tenantsWith(id, limit);
    },
    async touch(tenantId, agentId, at) {
      const a = agents.get(tenantId, agentId);
      if (!a) return undefined;
      const touched = deepFreeze({ ...a, lastSeen: Math.max(a.lastSeen, at) });
      agents.set(tenantId, agentId, touched);
      return touched;
    },
    async delete(tenantId, agentId) {
      return agents.delete(tenantId, agentId);
    },
    async list(tenantId, query, afterId, limit) {
      return pageAfter(agents.values(tenantId), afterId, limit, (a) => matchesAgent(a, query));
    },
    async count(tenantId) {
      return agents.size(tenantId);
    },
    async deleteTenant(tenantId) {
      agents.deleteTenant(tenantId);
    },
  };
}
