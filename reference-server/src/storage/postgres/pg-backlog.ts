// Backlog limits in PostgreSQL. A send far from its limits costs one statement that checks and
// stores together (fitsStatement); only when that one finds a limit passed does a transaction
// count what each recipient and the tenant hold, plan the batch (backlog-plan.ts) and carry the
// plan out: dead-letter what it drops, store what fits.

import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { type BacklogHeld, planBacklog } from "../backlog-plan.js";
import type { BacklogFull, BacklogLimits, MessageRecord } from "../messaging-types.js";
import { num } from "./doc-codec.js";
import type { SqlClient } from "./sql-driver.js";

const WAITING = 0;

/** The columns deadLetter() reads of a delivery row. */
export const LEASE_COLUMNS =
  "seq, message_id, attempts, expires_at, last_error, delivery_id, deadline";

export interface LeaseRow {
  seq: unknown;
  message_id: string;
  attempts: number;
  expires_at: unknown;
  last_error: string;
  delivery_id: string | null;
  deadline: unknown;
}

/** Moves delivery rows of one agent to the dead letters (see createPgMessageStore). */
export type DeadLetterFn = (
  c: SqlClient,
  tenantId: string,
  agentId: string,
  rows: { row: LeaseRow; reason: DeadLetterReason; lastError: string }[],
  now: number,
) => Promise<void>;

/** Discards expired rows (deletes them and their unreferenced messages). */
export type DiscardFn = (c: SqlClient, tenantId: string, rows: LeaseRow[]) => Promise<void>;

/**
 * The one limit every item of a batch shares, when they do (the usual case: one tenant's
 * settings); undefined when no item has limits or they differ.
 */
export function sharedLimits(
  items: readonly { backlog?: BacklogLimits | undefined }[],
): { agent: number; tenant: number } | undefined | "mixed" {
  const first = items[0]?.backlog;
  for (const i of items) {
    const b = i.backlog;
    if (b?.agent !== first?.agent || b?.tenant !== first?.tenant) return "mixed";
  }
  return first && (first.agent > 0 || first.tenant > 0)
    ? { agent: first.agent, tenant: first.tenant }
    : undefined;
}

/**
 * The checking store's CTEs over the recipients' copies `r(a)` (one row per copy): `ah` (each
 * recipient, the copies it gets `k` and the entries it holds `held`), `th` (the entries the tenant
 * holds) and `fits` (`ok`: storing the copies keeps every recipient within `agentParam` and the
 * tenant within `tenantParam` entries; 0 is no limit, and its count is not made). Entries are
 * rows of acb_deliveries, waiting or in flight.
 */
export function fitsCtes(agentParam: string, tenantParam: string): string {
  return `w AS (SELECT a, count(*) AS k FROM r GROUP BY a),
    ah AS (SELECT w.a, w.k, CASE WHEN ${agentParam}::bigint = 0 THEN 0 ELSE (
      SELECT count(*) FROM acb_deliveries d WHERE d.tenant_id = $1 AND d.agent_id = w.a) END AS held
      FROM w),
    th AS (SELECT CASE WHEN ${tenantParam}::bigint = 0 THEN 0 ELSE (
      SELECT count(*) FROM acb_deliveries WHERE tenant_id = $1) END AS held),
    fits AS (SELECT (${tenantParam}::bigint = 0
        OR (SELECT held FROM th) + (SELECT count(*) FROM r) <= ${tenantParam}::bigint)
      AND (${agentParam}::bigint = 0 OR NOT EXISTS (
        SELECT 1 FROM ah WHERE ah.held + ah.k > ${agentParam}::bigint)) AS ok)`;
}

/** The row the checking store answers: `ok`, and the counts it made (before its insert). */
export const FITS_RESULT = `SELECT ok, (SELECT held FROM th) AS tenant_held,
  (SELECT coalesce(json_agg(json_build_array(a, held)), '[]'::json) FROM ah) AS agents_held
  FROM fits`;

/** What a node last counted of one backlog: entries held, when, and its own sends since. */
interface Seen {
  held: number;
  at: number;
}

/**
 * The backlogs this node counted lately. Counting what a recipient and its tenant hold costs a
 * scan of their entries, on every send: instead, a send is stored without counting when the last
 * count (at most `maxAgeMs` old) plus what this node stored since plus the send stays within
 * `margin` of each limit. Near a limit, or with no recent count, the send counts (and refreshes
 * what is known). Other nodes' sends since the count are not known here: a backlog can pass its
 * limit only if the other nodes store more than (1 - margin) of it within `maxAgeMs`.
 */
export class BacklogHeadroom {
  private readonly tenants = new Map<string, Seen>();
  private readonly agents = new Map<string, Seen>();

  constructor(
    private readonly maxAgeMs = 1_000,
    private readonly margin = 0.9,
  ) {}

  /** Whether storing these copies surely keeps every recipient and the tenant within `limits`. */
  clear(
    tenantId: string,
    items: readonly { recipients: readonly string[] }[],
    limits: { agent: number; tenant: number },
  ): boolean {
    const now = performance.now();
    const fresh = (seen: Seen | undefined, adding: number, limit: number) =>
      seen !== undefined &&
      now - seen.at <= this.maxAgeMs &&
      seen.held + adding <= limit * this.margin;
    const copies = copiesOf(items);
    if (limits.tenant > 0) {
      let total = 0;
      for (const k of copies.values()) total += k;
      if (!fresh(this.tenants.get(tenantId), total, limits.tenant)) return false;
    }
    if (limits.agent > 0) {
      for (const [a, k] of copies) {
        if (!fresh(this.agents.get(agentKey(tenantId, a)), k, limits.agent)) return false;
      }
    }
    return true;
  }

  /** Counts copies this node stored without counting the backlogs. */
  added(tenantId: string, items: readonly { recipients: readonly string[] }[]): void {
    for (const [a, k] of copiesOf(items)) {
      const seen = this.agents.get(agentKey(tenantId, a));
      if (seen) seen.held += k;
      const t = this.tenants.get(tenantId);
      if (t) t.held += k;
    }
  }

  /**
   * Records the counts a checking store answered (entries held before it), plus what it stored
   * when everything fitted.
   */
  counted(
    tenantId: string,
    items: readonly { recipients: readonly string[] }[],
    row: { ok?: unknown; tenant_held?: unknown; agents_held?: unknown } | undefined,
    limits: { agent: number; tenant: number },
  ): void {
    if (!row) return;
    if (this.agents.size > 100_000 || this.tenants.size > 10_000) {
      this.agents.clear();
      this.tenants.clear();
    }
    const at = performance.now();
    const stored = row.ok === true;
    const copies = copiesOf(items);
    if (limits.tenant > 0) {
      let total = 0;
      for (const k of copies.values()) total += k;
      this.tenants.set(tenantId, { held: num(row.tenant_held) + (stored ? total : 0), at });
    }
    if (limits.agent > 0) {
      const held = (
        typeof row.agents_held === "string" ? JSON.parse(row.agents_held) : row.agents_held
      ) as [string, unknown][] | null;
      for (const [a, h] of held ?? []) {
        this.agents.set(agentKey(tenantId, a), {
          held: num(h) + (stored ? (copies.get(a) ?? 0) : 0),
          at,
        });
      }
    }
  }

  /** Forgets what was counted of the tenant (its backlogs changed in a way not counted here). */
  forget(tenantId: string): void {
    this.tenants.delete(tenantId);
    for (const k of this.agents.keys())
      if (k.startsWith(`${tenantId}\u0000`)) this.agents.delete(k);
  }
}

const agentKey = (tenantId: string, agentId: string) => `${tenantId}\u0000${agentId}`;

/** Copies per recipient. */
function copiesOf(items: readonly { recipients: readonly string[] }[]): Map<string, number> {
  const copies = new Map<string, number>();
  for (const i of items) for (const a of i.recipients) copies.set(a, (copies.get(a) ?? 0) + 1);
  return copies;
}

/** Drops `rows` (oldest never-delivered entries) to the dead letters; expired ones are discarded. */
async function drop(
  c: SqlClient,
  tenantId: string,
  rows: (LeaseRow & { agent_id: string })[],
  now: number,
  deadLetter: DeadLetterFn,
  discard: DiscardFn,
): Promise<void> {
  const expired = rows.filter((r) => num(r.expires_at) <= now);
  if (expired.length > 0) await discard(c, tenantId, expired);
  const byAgent = new Map<string, LeaseRow[]>();
  for (const r of rows) {
    if (num(r.expires_at) <= now) continue;
    byAgent.set(r.agent_id, [...(byAgent.get(r.agent_id) ?? []), r]);
  }
  for (const [agentId, list] of byAgent) {
    await deadLetter(
      c,
      tenantId,
      agentId,
      list.map((row) => ({ row, reason: DeadLetterReason.BACKLOG_FULL, lastError: "" })),
      now,
    );
  }
}

/**
 * Inside the transaction of `c`: counts what the recipients and the tenant hold, plans `items`
 * (in order, as if sent one by one), drops what the plan drops before the batch, calls `store`
 * with the items that fit, then drops the copies of the batch that later items displaced.
 * Answers each item's refusal (undefined: stored). Sends of the tenant that reach this step take
 * turns (an advisory lock), so two of them cannot both take the last room.
 */
export async function admit(
  c: SqlClient,
  tenantId: string,
  items: readonly {
    message: MessageRecord;
    recipients: readonly string[];
    backlog?: BacklogLimits;
  }[],
  store: (accepted: number[]) => Promise<void>,
  deadLetter: DeadLetterFn,
  discard: DiscardFn,
): Promise<(BacklogFull | undefined)[]> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `backlog\u001f${tenantId}`,
  ]);
  const recipients = [...new Set(items.flatMap((i) => i.recipients))];
  const agents = new Map<string, BacklogHeld>();
  const counts = await c.query<{ agent_id: string; held: unknown; evictable: unknown }>(
    `SELECT agent_id, count(*) AS held,
       count(*) FILTER (WHERE state = ${WAITING} AND attempts = 0) AS evictable
     FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = ANY($2::text[]) GROUP BY agent_id`,
    [tenantId, recipients],
  );
  for (const row of counts.rows) {
    agents.set(row.agent_id, { held: num(row.held), evictable: num(row.evictable) });
  }
  const tenant = { held: 0, evictable: 0 };
  if (items.some((i) => (i.backlog?.tenant ?? 0) > 0)) {
    const t = await c.query<{ held: unknown; evictable: unknown }>(
      `SELECT count(*) AS held,
         count(*) FILTER (WHERE state = ${WAITING} AND attempts = 0) AS evictable
       FROM acb_deliveries WHERE tenant_id = $1`,
      [tenantId],
    );
    tenant.held = num(t.rows[0]?.held ?? 0);
    tenant.evictable = num(t.rows[0]?.evictable ?? 0);
  }
  const plan = planBacklog(items, agents, tenant);
  const now = items.find((i) => i.backlog)?.backlog?.now ?? 0;
  for (const [agentId, k] of plan.agentEvictions) {
    const r = await c.query<LeaseRow & { agent_id: string }>(
      `SELECT ${LEASE_COLUMNS}, agent_id FROM acb_deliveries
       WHERE tenant_id = $1 AND agent_id = $2 AND state = ${WAITING} AND attempts = 0
       ORDER BY seq LIMIT $3 FOR UPDATE`,
      [tenantId, agentId, k],
    );
    await drop(c, tenantId, r.rows, now, deadLetter, discard);
  }
  if (plan.tenantEvictions > 0) {
    const r = await c.query<LeaseRow & { agent_id: string }>(
      `SELECT ${LEASE_COLUMNS}, agent_id FROM acb_deliveries
       WHERE tenant_id = $1 AND state = ${WAITING} AND attempts = 0
       ORDER BY seq LIMIT $2 FOR UPDATE`,
      [tenantId, plan.tenantEvictions],
    );
    await drop(c, tenantId, r.rows, now, deadLetter, discard);
  }
  await store(plan.refused.flatMap((r, i) => (r ? [] : [i])));
  if (plan.batchEvictions.length > 0) {
    const r = await c.query<LeaseRow & { agent_id: string }>(
      `SELECT ${LEASE_COLUMNS}, d.agent_id FROM acb_deliveries d
       JOIN unnest($2::text[], $3::text[]) AS p(a, m) ON d.agent_id = p.a AND d.message_id = p.m
       WHERE d.tenant_id = $1 AND d.state = ${WAITING} FOR UPDATE OF d`,
      [
        tenantId,
        plan.batchEvictions.map((e) => e.agentId),
        plan.batchEvictions.map((e) => items[e.item]?.message.id ?? ""),
      ],
    );
    await drop(c, tenantId, r.rows, now, deadLetter, discard);
  }
  return plan.refused;
}
