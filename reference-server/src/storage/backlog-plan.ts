// Backlog limits (acb.v1.TenantQuotas agent_backlog_messages, tenant_backlog_messages): which
// sends of a batch fit, and how many undelivered entries must be dead-lettered to make room.
// A backend that finds a send past a limit counts what it holds, runs this plan, then carries it
// out in one atomic step, so every backend answers a send at a limit alike.

import type { BacklogFull, BacklogLimits } from "./messaging-types.js";

/** What an agent (or the whole tenant) holds now. */
export interface BacklogHeld {
  /** Entries waiting or in flight (not acknowledged, not dead-lettered). */
  held: number;
  /** Of those, entries waiting that were never delivered: the ones a full backlog may drop. */
  evictable: number;
}

export interface BacklogPlan {
  /** Per item: undefined when it fits (after the evictions below), else the limit that refused it. */
  refused: (BacklogFull | undefined)[];
  /**
   * For each agent, how many of its oldest never-delivered entries stored before the batch go to
   * the dead letters (carried out first).
   */
  agentEvictions: Map<string, number>;
  /** How many of the tenant's oldest never-delivered entries stored before the batch go too. */
  tenantEvictions: number;
  /**
   * Copies the batch itself stores and a later item of it drops again (as if the items were
   * sent one by one): the item's copy for that agent goes to the dead letters once stored.
   */
  batchEvictions: { item: number; agentId: string }[];
}

/**
 * Plans a batch of sends as if they were sent one by one, in item order: an item whose
 * recipients all stay within the limits is accepted and counted; otherwise, under
 * "dead-letter-oldest", it is accepted when enough never-delivered entries can be dropped
 * (oldest first: those stored before the batch, then earlier items' copies), and under "refuse"
 * (or when there are not enough) it is refused and counts for nothing. `agents` should hold every
 * recipient (missing ones count as empty); neither argument is changed.
 */
export function planBacklog(
  items: readonly { recipients: readonly string[]; backlog?: BacklogLimits | undefined }[],
  agents: ReadonlyMap<string, BacklogHeld>,
  tenant: BacklogHeld,
): BacklogPlan {
  // Drops take the oldest copies first, so an agent's oldest live copy is also the oldest of the
  // batch's for it: each list is consumed from its front (`next`), skipping dropped copies.
  /** Per agent: what it holds; its copies stored by earlier items, oldest first; how many live. */
  const state = new Map<string, BacklogHeld & { batch: number[]; next: number; live: number }>();
  const of = (a: string) => {
    let h = state.get(a);
    if (!h) {
      h = { ...(agents.get(a) ?? { held: 0, evictable: 0 }), batch: [], next: 0, live: 0 };
      state.set(a, h);
    }
    return h;
  };
  const plan: BacklogPlan = {
    refused: [],
    agentEvictions: new Map(),
    tenantEvictions: 0,
    batchEvictions: [],
  };
  const t = { ...tenant };
  /** The batch's copies in the order they were stored; dropped ones are in `dropped`. */
  const batch: { item: number; agentId: string }[] = [];
  let batchNext = 0;
  let batchLive = 0;
  const dropped = new Set<string>();
  const copy = (item: number, agentId: string) => `${item}\u0000${agentId}`;
  /** Drops the oldest live copy of agent `a` (or of the whole batch). */
  const dropOldest = (a: string | undefined) => {
    let c: { item: number; agentId: string } | undefined;
    if (a === undefined) {
      while (batchNext < batch.length) {
        const b = batch[batchNext++];
        if (b && !dropped.has(copy(b.item, b.agentId))) {
          c = b;
          break;
        }
      }
    } else {
      const h = of(a);
      while (h.next < h.batch.length) {
        const i = h.batch[h.next++];
        if (i !== undefined && !dropped.has(copy(i, a))) {
          c = { item: i, agentId: a };
          break;
        }
      }
    }
    if (!c) return;
    dropped.add(copy(c.item, c.agentId));
    of(c.agentId).live -= 1;
    batchLive -= 1;
    plan.batchEvictions.push(c);
  };
  for (const [index, item] of items.entries()) {
    const recipients = [...new Set(item.recipients)];
    const limits = item.backlog;
    let refusal: BacklogFull | undefined;
    /** What this item would drop: per agent (of those before the batch, of the batch's), tenant-wide. */
    const agentDrops = new Map<string, { before: number; batch: number }>();
    let dropsSoFar = 0;
    let tenantDrop = { before: 0, batch: 0 };
    if (limits) {
      const evict = limits.policy === "dead-letter-oldest";
      if (limits.agent > 0) {
        for (const a of recipients) {
          const h = of(a);
          const over = h.held + 1 - limits.agent;
          if (over <= 0) continue;
          const before = Math.min(over, h.evictable);
          if (!evict || before + h.live < over) {
            refusal = { scope: "agent", agentId: a, limit: limits.agent };
            break;
          }
          agentDrops.set(a, { before, batch: over - before });
          dropsSoFar += over;
        }
      }
      if (!refusal && limits.tenant > 0) {
        const over = t.held - dropsSoFar + recipients.length - limits.tenant;
        if (over > 0) {
          const beforeLeft = t.evictable - sum(agentDrops, "before");
          const batchLeft = batchLive - sum(agentDrops, "batch");
          const before = Math.min(over, Math.max(0, beforeLeft));
          if (!evict || before + batchLeft < over)
            refusal = { scope: "tenant", agentId: "", limit: limits.tenant };
          else tenantDrop = { before, batch: over - before };
        }
      }
    }
    plan.refused.push(refusal);
    if (refusal) continue;
    for (const [a, k] of agentDrops) {
      const h = of(a);
      h.held -= k.before + k.batch;
      h.evictable -= k.before;
      t.held -= k.before + k.batch;
      t.evictable -= k.before;
      if (k.before > 0) plan.agentEvictions.set(a, (plan.agentEvictions.get(a) ?? 0) + k.before);
      for (let n = 0; n < k.batch; n++) dropOldest(a);
    }
    t.held -= tenantDrop.before;
    t.evictable -= tenantDrop.before;
    plan.tenantEvictions += tenantDrop.before;
    for (let n = 0; n < tenantDrop.batch; n++) {
      const before = plan.batchEvictions.length;
      dropOldest(undefined);
      const c = plan.batchEvictions[before];
      if (c) of(c.agentId).held -= 1;
      t.held -= 1;
    }
    for (const a of recipients) {
      const h = of(a);
      h.held += 1;
      h.live += 1;
      h.batch.push(index);
      batch.push({ item: index, agentId: a });
    }
    batchLive += recipients.length;
    t.held += recipients.length;
  }
  return plan;
}

const sum = (m: Map<string, { before: number; batch: number }>, k: "before" | "batch") =>
  [...m.values()].reduce((n, v) => n + v[k], 0);
