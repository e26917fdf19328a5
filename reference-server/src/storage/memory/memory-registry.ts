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
  if (a.lastSeen < (q.seenSince ?? Number.NEGATIVE_INFINITY)) return false;
  if (a.lastSeen >= (q.seenBefore ?? Number.POSITIVE_INFINITY)) return false;
  return true;
}

/**
 * An agent as kept: its record as last written, and its presence, which touches move in place.
 * A heartbeat or an open stream touches each agent every few seconds; a new record per touch
 * would live until the next one, long enough for the collector to copy and promote it, and with
 * thousands of agents that was a steady share of what the hub promoted.
 */
interface KeptAgent {
  /** Frozen; its lastSeen and offlineAt are those of the last write, not of the last touch. */
  record: AgentRecord;
  lastSeen: number;
  offlineAt: number | undefined;
}

/** The agent as readers see it: its record with its current presence (a new frozen object). */
function viewOf(kept: KeptAgent): AgentRecord {
  const { record, lastSeen, offlineAt } = kept;
  // Stryker disable next-line LogicalOperator,EqualityOperator: the record itself or a copy with the same values, unless lastSeen or offlineAt alone changed since the write; offlineAt is never sent, and a touch moves both (offlineAt = lastSeen + the presence timeout), so lastSeen alone changes only if the tenant's timeout changed in the same millisecond
  if (record.lastSeen === lastSeen && record.offlineAt === offlineAt) return record;
  const { offlineAt: _written, ...rest } = record;
  return Object.freeze(
    offlineAt === undefined ? { ...rest, lastSeen } : { ...rest, lastSeen, offlineAt },
  );
}

/**
 * Agents in process memory. Each write, its event and (on delete) the removal of what the agent
 * owned in other stores (`dropOwned`, synchronous) happen in one step with no await in between.
 */
export function createMemoryRegistryStore(
  events: MemoryEventLog,
  dropOwned: (tenantId: string, agentId: string) => void,
): RegistryStore & TenantScoped {
  const agents = new TenantMap<KeptAgent>();
  const emit = (tenantId: string, data: Uint8Array | undefined) => {
    if (data) events.appendNow(tenantId, "agents", data);
  };
  const keep = (record: AgentRecord): KeptAgent => ({
    record,
    lastSeen: record.lastSeen,
    offlineAt: record.offlineAt,
  });
  return {
    async put(agent, event) {
      agents.set(agent.tenantId, agent.id, keep(deepFreeze(structuredClone(agent))));
      emit(agent.tenantId, event);
    },
    async get(tenantId, agentId) {
      const kept = agents.get(tenantId, agentId);
      return kept && viewOf(kept);
    },
    async tenantsHolding(id, limit) {
      return agents.tenantsWith(id, limit);
    },
    async touch(tenantId, agentId, at, event, offlineAfterMs) {
      const kept = agents.get(tenantId, agentId);
      if (!kept) return undefined;
      const before = event && viewOf(kept);
      kept.lastSeen = Math.max(kept.lastSeen, at);
      if (offlineAfterMs !== undefined) kept.offlineAt = kept.lastSeen + offlineAfterMs;
      const touched = viewOf(kept);
      // Stryker disable next-line OptionalChaining: `before` is set only when `event` is given
      if (before) emit(tenantId, event?.(before, touched));
      return touched;
    },
    async listOfflineDue(dueBy, limit) {
      const due: KeptAgent[] = [];
      for (const a of agents.allValues()) {
        if ((a.offlineAt ?? Number.POSITIVE_INFINITY) <= dueBy) due.push(a);
      }
      due.sort((x, y) => (x.offlineAt ?? 0) - (y.offlineAt ?? 0));
      // Stryker disable next-line MethodExpression: the limit only caps a batch; the sweep reads due agents until a batch is short, and the earliest moment is the first of the sorted list either way
      return due.slice(0, limit).map(viewOf);
    },
    async markOffline(tenantId, agentId, offlineAt, event) {
      const kept = agents.get(tenantId, agentId);
      // Stryker disable next-line LogicalOperator: the sweep calls this right after listOfflineDue with only this store's own steps in between, so the agent is there with the moment it read (a race on other stores, which the storage tests check)
      if (!kept || kept.offlineAt !== offlineAt) return false;
      kept.offlineAt = undefined;
      emit(tenantId, event);
      // Stryker disable next-line BooleanLiteral: the registry's sweep, this store's one caller in the hub, ignores the answer
      return true;
    },
    async delete(tenantId, agentId, event) {
      const kept = agents.delete(tenantId, agentId);
      if (!kept) return undefined;
      const removed = viewOf(kept);
      dropOwned(tenantId, agentId);
      emit(tenantId, event(removed));
      return removed;
    },
    async list(tenantId, query, afterId, limit) {
      return pageAfter([...agents.values(tenantId)].map(viewOf), afterId, limit, (a) =>
        matchesAgent(a, query),
      );
    },
    async count(tenantId) {
      return agents.size(tenantId);
    },
    deleteTenant(tenantId) {
      agents.deleteTenant(tenantId);
    },
  };
}
