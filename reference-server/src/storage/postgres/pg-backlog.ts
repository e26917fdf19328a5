// Backlog limits in PostgreSQL. A send far from its limits costs one statement that checks and
// stores together (fitsStatement); only when that one finds a limit passed does a transaction
// count what each recipient and the tenant hold, plan the batch (backlog-plan.ts) and carry the
// plan out: dead-letter what it drops, store what fits.

import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { type BacklogHeld, planBacklog } from "../backlog-plan.js";
import type { BacklogFull, BacklogLimits, EnqueueItem } from "../messaging-types.js";

/** A message to store with the backlog limits it must fit in. */
export type BacklogItem = Pick<EnqueueItem, "message" | "recipients" | "backlog">;

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
 * SQL over the recipients' copies `r(a)` (one row per copy): `held` counts the rows of
 * acb_deliveries (waiting or in flight) of the tenant when `${tenantParam}` > 0 and of each
 * recipient when `${agentParam}` > 0 (a JSON object, agent to count); `fits` says whether storing
 * the copies keeps every count checked within its limit.
 */
export function fitsCtes(agentParam: string, tenantParam: string): string {
  return `held AS (SELECT
       CASE WHEN ${tenantParam}::bigint > 0 THEN
         (SELECT count(*) FROM acb_deliveries WHERE tenant_id = $1) END AS tenant,
       CASE WHEN ${agentParam}::bigint > 0 THEN
         (SELECT coalesce(json_object_agg(w.a, (SELECT count(*) FROM acb_deliveries d
            WHERE d.tenant_id = $1 AND d.agent_id = w.a)), '{}'::json)
          FROM (SELECT DISTINCT a FROM r) w) END AS agents),
     fits AS (SELECT
       (${tenantParam}::bigint = 0 OR held.tenant + (SELECT count(*) FROM r) <= ${tenantParam}::bigint)
       AND (${agentParam}::bigint = 0 OR NOT EXISTS (
         SELECT 1 FROM (SELECT a, count(*) AS k FROM r GROUP BY a) w
         WHERE coalesce((held.agents ->> w.a)::bigint, 0) + w.k > ${agentParam}::bigint)) AS ok
       FROM held)`;
}

/** What the checking store statement answers (see fitsCtes). */
export interface FitsRow {
  ok: boolean;
  tenant_held: unknown;
  agents_held: Record<string, unknown> | string | null;
}

/**
 * What this node last counted of each tenant's and agent's backlog, so that a send far from its
 * limits need not count rows (on PostgreSQL a count reads the whole backlog: 3 ms per send at
 * 10,000 rows, 15 ms and more at 50,000). A count is checked (exact, in the storing statement)
 * when it is unknown, older than REFRESH_MS of hub time, or could reach 90 % of its limit with
 * the send; otherwise the last count plus what this node stored since stands for it. Acks are not
 * seen, so an estimate only errs high, except for what other nodes stored since the last count.
 */
export class BacklogEstimates {
  static readonly REFRESH_MS = 1_000;
  private readonly known = new Map<string, { n: number; at: number }>();

  /** Whether the count of `key` must be checked before storing `adding` more against `limit`. */
  mustCheck(key: string, adding: number, limit: number, now: number): boolean {
    if (limit <= 0) return false;
    const k = this.known.get(key);
    if (!k || now - k.at >= BacklogEstimates.REFRESH_MS || now < k.at) return true;
    return (k.n + adding) * 10 > limit * 9;
  }

  /** Records a count read at `now` (plus what the same statement stored). */
  counted(key: string, n: number, now: number): void {
    if (this.known.size > 100_000) this.prune(now);
    this.known.set(key, { n, at: now });
  }

  /** Adds what this node stored without checking. */
  added(key: string, k: number): void {
    const e = this.known.get(key);
    if (e) e.n += k;
  }

  /** Forgets the tenant's estimates (its counts changed in ways not followed here). */
  forget(tenantId: string): void {
    const prefix = `${tenantId}\u0000`;
    for (const key of this.known.keys()) if (key.startsWith(prefix)) this.known.delete(key);
  }

  private prune(now: number): void {
    for (const [key, e] of this.known) {
      if (now - e.at >= BacklogEstimates.REFRESH_MS) this.known.delete(key);
    }
  }
}

/** The estimate key of a tenant's whole backlog, and of one agent's. */
export const tenantKey = (tenantId: string) => `${tenantId}\u0000`;
export const agentKey = (tenantId: string, agentId: string) => `${tenantId}\u0000${agentId}`;

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
  items: readonly BacklogItem[],
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
