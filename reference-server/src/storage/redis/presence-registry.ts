// Presence in Redis in front of the durable (SQL) registry, for the production preset: Redis
// absorbs the heartbeats, and the durable registry is written only when presence changes or its
// stored moment has to move.
//
// Each agent has a presence key (PresenceKeys, tenant:{<t>}:presence:<agent>) holding the agent as
// the durable registry last stored it through a touch, the offlineAt stored there, and the precise
// lastSeen. A touch with the presence timeout is absorbed (recorded in Redis only) while the stored
// offlineAt is at least half the timeout after it: the agent is ONLINE before and after, so the
// touch has no event to decide. Any other touch goes to the durable registry as before (which
// decides "came back online" under its row lock, answers for unregistered agents, moves offlineAt)
// and then refreshes the key. With heartbeats every 10 s and a 30 s timeout (the defaults), every
// other heartbeat reaches the durable registry; with heartbeats more frequent than that, one per
// half timeout does.
//
// The stored offlineAt never passes the precise moment (lastSeen + timeout), so the presence sweep
// (listOfflineDue, on any node) still finds every agent that may be due; it then reads the precise
// lastSeen and moves the stored moment of an agent still within its timeout instead of returning
// it. markOffline announces only the precise moment (moving the stored one to it first, then the
// durable registry's compare-and-set). Reads answer with the precise lastSeen. Losing Redis's data loses only absorbed heartbeats
// (agents announced OFFLINE early, back ONLINE with their next heartbeat), never an announcement.

import type { SqlRegistryStore } from "../postgres/pg-core-stores.js";
import type { AgentQuery, AgentRecord, EventLog, RegistryStore } from "../types.js";
import type { PresenceEntry, PresenceKeys } from "./redis-stores.js";

export interface PresenceRegistryParts {
  /** The durable registry whose writes append their events (and copy them, e.g. to Kafka). */
  registry: RegistryStore;
  /** The same registry's SQL store, for what only it offers; neither appends an event. */
  sql: Pick<SqlRegistryStore, "list" | "postponeOffline">;
  /** Where an absorbed touch's event goes, should its builder make one. */
  events: Pick<EventLog, "append">;
  keys: PresenceKeys;
}

/**
 * The record with the precise lastSeen, and the precise moment it goes offline: the later of the
 * stored one and the precise lastSeen + its timeout (none once announced).
 */
function overlay(agent: AgentRecord, p: PresenceEntry | undefined): AgentRecord {
  if (!p || p.seen <= agent.lastSeen) return agent;
  return {
    ...agent,
    lastSeen: p.seen,
    ...(agent.offlineAt !== undefined && {
      offlineAt: Math.max(agent.offlineAt, p.seen + p.timeoutMs),
    }),
  };
}

const matchesSeen = (a: AgentRecord, q: AgentQuery) =>
  (q.seenSince === undefined || a.lastSeen >= q.seenSince) &&
  (q.seenBefore === undefined || a.lastSeen < q.seenBefore);

/** A RegistryStore with the agents' presence in Redis (see the top of this file). */
export function createPresenceRegistry(parts: PresenceRegistryParts): RegistryStore {
  const { registry, sql, events, keys } = parts;
  const overlayAll = async (agents: AgentRecord[]) => {
    const found = await keys.read(agents);
    return agents.map((a, i) => overlay(a, found[i]));
  };
  return {
    ...registry,
    async put(agent, event) {
      // Fenced before (a Redis outage refuses the write before anything is stored) and after (a
      // touch refreshing the key in between would bring the replaced agent back into it).
      await keys.fence(agent.tenantId, agent.id);
      await registry.put(agent, event);
      await keys.fence(agent.tenantId, agent.id);
    },
    async get(tenantId, agentId) {
      const [agent, [p]] = await Promise.all([
        registry.get(tenantId, agentId),
        keys.read([{ tenantId, id: agentId }]),
      ]);
      return agent && overlay(agent, p);
    },
    async touch(tenantId, agentId, at, event, offlineAfterMs) {
      let token: string | undefined;
      let seen: number | undefined;
      if (offlineAfterMs !== undefined) {
        const r = await keys.absorb(tenantId, agentId, at, offlineAfterMs);
        if (r.absorbed) {
          const after = r.agent;
          const data = event?.(
            { ...after, lastSeen: r.seenBefore, offlineAt: r.seenBefore + offlineAfterMs },
            after,
          );
          if (data) await events.append(tenantId, "agents", data);
          return after;
        }
        token = r.token;
        seen = r.seen;
      } else {
        const [p] = await keys.read([{ tenantId, id: agentId }]);
        seen = p?.seen;
      }
      // The durable touch sees, and keeps, the precise lastSeen as if every touch had reached it.
      const precise = seen;
      const after = await registry.touch(
        tenantId,
        agentId,
        precise === undefined ? at : Math.max(at, precise),
        event &&
          ((before, next) =>
            event(
              precise !== undefined && precise > before.lastSeen
                ? { ...before, lastSeen: precise }
                : before,
              next,
            )),
        offlineAfterMs,
      );
      if (after && offlineAfterMs !== undefined && token !== undefined)
        await keys.refresh(tenantId, agentId, token, after, offlineAfterMs, at);
      return after;
    },
    async listOfflineDue(dueBy, limit) {
      for (;;) {
        const rows = await registry.listOfflineDue(dueBy, limit);
        const found = await keys.read(rows);
        const due: AgentRecord[] = [];
        const moves: Promise<boolean>[] = [];
        for (const [i, row] of rows.entries()) {
          const agent = overlay(row, found[i]);
          if (agent.offlineAt === undefined || agent.offlineAt <= dueBy) {
            due.push(agent);
            continue;
          }
          // Heard from since the stored moment was set, and still within its timeout: not due.
          // The stored moment moves to the precise one (unless it moved or was announced since).
          moves.push(sql.postponeOffline(row.tenantId, row.id, agent.lastSeen, agent.offlineAt));
        }
        await Promise.all(moves);
        // Only moved ones: they are no longer due, so the next read finds the next ones.
        if (moves.length === 0 || due.length > 0 || rows.length < limit) return due;
      }
    },
    async markOffline(tenantId, agentId, offlineAt, event) {
      // Fenced first: no touch is absorbed after this, so a touch racing the announcement reaches
      // the durable registry, whose compare-and-set on offlineAt lets one of them win. The precise
      // lastSeen stays, for reads.
      const p = await keys.fence(tenantId, agentId, true);
      if (p) {
        const precise = p.seen + p.timeoutMs;
        if (precise > offlineAt) {
          // Touched after that moment (a touch absorbed after the caller read it): not announced;
          // the stored moment moves to the precise one.
          await sql.postponeOffline(tenantId, agentId, p.seen, precise);
          return false;
        }
        // That moment is the precise one: the stored moment, which may be earlier, moves to it
        // first (nothing moves when it is later: touched since, and the announcement fails).
        if (precise === offlineAt) await sql.postponeOffline(tenantId, agentId, p.seen, precise);
      }
      return registry.markOffline(tenantId, agentId, offlineAt, event);
    },
    async delete(tenantId, agentId, event) {
      const p = await keys.fence(tenantId, agentId);
      const removed = await registry.delete(tenantId, agentId, (r) => event(overlay(r, p)));
      await keys.fence(tenantId, agentId);
      return removed && overlay(removed, p);
    },
    async list(tenantId, query, afterId, limit) {
      if (query.seenSince === undefined && query.seenBefore === undefined)
        return overlayAll(await sql.list(tenantId, query, afterId, limit));
      // The stored lastSeen may be older than the precise one: ask the SQL store for a superset
      // (a precise lastSeen newer than the stored one implies a pending offlineAt), decide on the
      // precise values, and read on until the page is full or the agents run out.
      const loose = { ...query, ...(query.seenSince !== undefined && { orOfflinePending: true }) };
      const page: AgentRecord[] = [];
      let after = afterId;
      for (;;) {
        const rows = await sql.list(tenantId, loose, after, limit);
        for (const a of await overlayAll(rows)) if (matchesSeen(a, query)) page.push(a);
        const last = rows[rows.length - 1];
        if (page.length >= limit || rows.length < limit || !last) return page.slice(0, limit);
        after = last.id;
      }
    },
  };
}
