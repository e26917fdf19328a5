import type { ContextRecord, ContextStore } from "../types.js";
import type { MemoryEventLog } from "./memory-event-log.js";
import { matchesMetadata, pageAfter, TenantMap, type TenantScoped } from "./tenant-map.js";

/**
 * Contexts in process memory. Each write and its change event happen in one synchronous step (no
 * await in between), the in-process equivalent of one transaction.
 */
export function createMemoryContextStore(events: MemoryEventLog): ContextStore & TenantScoped {
  const contexts = new TenantMap<ContextRecord>();
  // Stryker disable next-line BlockStatement: the store's own revision check refuses only a write that landed between the domain's check (which refuses a stale expected_revision first) and this one, and on the memory backend nothing yields to other calls between them
  const conflict = (tenantId: string, id: string) => {
    const current = contexts.get(tenantId, id);
    // Stryker disable next-line ObjectLiteral,ConditionalExpression,LogicalOperator: see conflict
    return { ok: false as const, current: current && structuredClone(current) };
  };
  return {
    async create(context, event) {
      if (contexts.get(context.tenantId, context.id)) return false;
      contexts.set(context.tenantId, context.id, structuredClone(context));
      events.appendNow(context.tenantId, "contexts", event);
      return true;
    },
    async tenantsHolding(id, limit) {
      return contexts.tenantsWith(id, limit);
    },
    async get(tenantId, id) {
      const c = contexts.get(tenantId, id);
      // Stryker disable next-line LogicalOperator: the stored record itself instead of a copy; no caller changes a record it read
      return c && structuredClone(c);
    },
    async replace(next, expectedRevision, event) {
      const current = contexts.get(next.tenantId, next.id);
      // Stryker disable next-line LogicalOperator: see conflict
      if (!current || current.revision !== expectedRevision)
        return conflict(next.tenantId, next.id);
      contexts.set(next.tenantId, next.id, structuredClone(next));
      events.appendNow(next.tenantId, "contexts", event);
      return { ok: true };
    },
    async delete(tenantId, id, expectedRevision, event) {
      const current = contexts.get(tenantId, id);
      // Stryker disable next-line LogicalOperator: see conflict
      if (!current || current.revision !== expectedRevision) return conflict(tenantId, id);
      contexts.delete(tenantId, id);
      events.appendNow(tenantId, "contexts", event);
      return { ok: true };
    },
    async list(tenantId, query, afterId, limit) {
      const keep = (c: ContextRecord) =>
        (!query.type || c.type === query.type) &&
        (!query.ownerId || c.ownerId === query.ownerId) &&
        (!query.metadata || matchesMetadata(c.metadata, query.metadata));
      return pageAfter(contexts.values(tenantId), afterId, limit, keep).map((c) =>
        structuredClone(c),
      );
    },
    async listExpired(now, limit) {
      const out: ContextRecord[] = [];
      for (const c of contexts.allValues()) {
        if (c.expiresAt !== undefined && c.expiresAt <= now) out.push(structuredClone(c));
        if (out.length >= limit) break;
      }
      return out;
    },
    async nextExpiry() {
      let next: number | undefined;
      for (const c of contexts.allValues()) {
        if (c.expiresAt !== undefined && (next === undefined || c.expiresAt < next))
          next = c.expiresAt;
      }
      return next;
    },
    deleteTenant(tenantId) {
      contexts.deleteTenant(tenantId);
    },
  };
}
