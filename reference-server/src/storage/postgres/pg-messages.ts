import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { newId } from "../../ids.js";
import { GroupCommit, TurnBatch } from "../group-commit.js";
import type {
  BacklogFull,
  ClaimedDelivery,
  ClaimedFor,
  ClaimOffer,
  DeadLetterRecord,
  EnqueueItem,
  EnqueueResult,
  MessageRecord,
  MessageStore,
  SendEffects,
  SettleOutcome,
} from "../messaging-types.js";
import { SETTLED_RETENTION_MS } from "../messaging-types.js";
import { decodeDoc, encodeDoc, num } from "./doc-codec.js";
import {
  admit,
  agentKey,
  BacklogEstimates,
  type BacklogItem,
  type DiscardFn,
  type FitsRow,
  fitsCtes,
  type LeaseRow,
  sharedLimits,
  tenantKey,
} from "./pg-backlog.js";
import { meterCte } from "./pg-security.js";
import type { SqlDatabase } from "./sql-database.js";
import type { SqlClient } from "./sql-driver.js";

/** Thrown inside a transaction to roll it back and answer `result`. */
class Refused {
  constructor(readonly result: EnqueueResult) {}
}

const WAITING = 0;
const IN_FLIGHT = 1;

/** The stored message with the expiry of this recipient's copy (a replay gives a new one). */
async function messagesOf(
  c: SqlClient,
  tenantId: string,
  ids: string[],
): Promise<Map<string, MessageRecord>> {
  const r = await c.query<{ id: string; doc: unknown }>(
    "SELECT id, doc FROM acb_messages WHERE tenant_id = $1 AND id = ANY($2::text[])",
    [tenantId, [...new Set(ids)]],
  );
  return new Map(r.rows.map((row) => [row.id, decodeDoc<MessageRecord>(row.doc)]));
}

/**
 * Deletes messages no delivery refers to any more. Whether one does is one row of the (tenant,
 * message) index, looked up per message by a scalar subquery (see ackStatement for why not
 * NOT EXISTS).
 */
export async function dropUnreferenced(
  c: SqlClient,
  tenantId: string,
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await c.query(
    `DELETE FROM acb_messages m WHERE m.tenant_id = $1 AND m.id = ANY($2::text[])
     AND (SELECT 1 FROM acb_deliveries d WHERE d.tenant_id = $1 AND d.message_id = m.id LIMIT 1)
       IS NULL`,
    [tenantId, [...new Set(ids)]],
  );
}

/**
 * Per-recipient queues as leases in PostgreSQL: a claim takes waiting rows with FOR UPDATE, so two
 * receivers (on one node or several) never claim the same row, and marks them in flight with a
 * deadline; an in-flight row past its deadline is returned to the queue by reap (attempt + 1 on the
 * next claim) or moved to the dead letters.
 *
 * A claim waits for a row another transaction holds rather than skipping it (no SKIP LOCKED, as a
 * work queue with many consumers would use): a recipient's queue is ordered, and one that skipped
 * its first entry would hand out the next one first. That happens when a node dies inside a
 * transaction that took the first entry (a reap and claim): PostgreSQL rolls it back when the
 * connection drops, the entry is waiting again, and skipping it would deliver it as a first attempt
 * after its successor. Waiting costs nothing in the usual case (one stream per agent claims), and
 * shared polls lock their agents in one order (by agent id), so two of them never deadlock.
 */
/** How a delivery left the in-flight set (acb_settled.how). */
const ACKED = 1;
const NACKED = 2;
const REAPED = 3;

/**
 * How long the first ack of a quiet tenant waits for others to share its statement. An ack's
 * answer is not on any message's way to its recipient; at 1,000 messages a second, acks settled
 * one or two per statement were the largest share of the server's statements.
 */
const ACK_LINGER_MS = 4;

type Settlement = typeof ACKED | typeof NACKED | typeof REAPED;

/** Remembers settled delivery ids for SETTLED_RETENTION_MS, and forgets the agent's expired ones. */
async function remember(
  c: SqlClient,
  tenantId: string,
  agentId: string,
  rows: readonly LeaseRow[],
  how: Settlement,
  now: number,
): Promise<void> {
  await c.query("DELETE FROM acb_settled WHERE tenant_id = $1 AND agent_id = $2 AND until <= $3", [
    tenantId,
    agentId,
    now,
  ]);
  await c.query(
    `INSERT INTO acb_settled (tenant_id, agent_id, delivery_id, how, until)
     SELECT $1, $2, id, $4, $5 FROM unnest($3::text[]) AS id
     ON CONFLICT (tenant_id, agent_id, delivery_id) DO UPDATE SET how = EXCLUDED.how, until = EXCLUDED.until`,
    [tenantId, agentId, rows.map((row) => row.delivery_id ?? ""), how, now + SETTLED_RETENTION_MS],
  );
}

/**
 * Takes the sender's idempotency key for `message` when it is free or expired; otherwise answers
 * the message id of the live entry that holds it.
 */
async function takeKey(
  c: SqlClient,
  message: MessageRecord,
  idem: { expiresAt: number; now: number },
): Promise<string | undefined> {
  const { tenantId, senderId, idempotencyKey } = message;
  const taken = await c.query(
    `INSERT INTO acb_idempotency (tenant_id, sender_id, key, message_id, expires_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, sender_id, key) DO UPDATE
       SET message_id = EXCLUDED.message_id, expires_at = EXCLUDED.expires_at
       WHERE acb_idempotency.expires_at <= $6`,
    [tenantId, senderId, idempotencyKey, message.id, idem.expiresAt, idem.now],
  );
  if (taken.rowCount !== 1) {
    const r = await c.query<{ message_id: string }>(
      "SELECT message_id FROM acb_idempotency WHERE tenant_id = $1 AND sender_id = $2 AND key = $3",
      [tenantId, senderId, idempotencyKey],
    );
    return r.rows[0]?.message_id ?? "";
  }
  // Expired keys of the tenant are pruned now and then (about one send in a hundred), so the
  // table stays bounded by the dedupe window.
  if (Math.random() < 0.01) {
    await c.query("DELETE FROM acb_idempotency WHERE tenant_id = $1 AND expires_at <= $2", [
      tenantId,
      idem.now,
    ]);
  }
  return undefined;
}

/** How the store wakes receivers in the write that stores their messages (see SendEffects). */
export interface PgWakeOptions {
  /** The PostgreSQL channel the backend's Notifier listens on. */
  channel: string;
  /** The NOTIFY payload that the Notifier hands to the subscribers of a channel (empty payload). */
  payload(channel: string): string;
}

/** The effects a store statement commits with its messages (see SendEffects). */
interface StatementEffects {
  meter?: { hourStart: number; messages: number; bytes: number };
  /** NOTIFY payloads on `channel`. */
  notify?: { channel: string; payloads: string[] };
  /**
   * Offers of live streams (SendEffects.claim), each with the NOTIFY payload (on notify's
   * channel, or `wake.channel` when notify is absent) that wakes its agent when nothing is
   * claimed for it; null when the store does not notify.
   */
  claim?: readonly (ClaimOffer & { payload: string | null })[];
  /** The channel the payloads of `claim` go on. */
  claimChannel?: string;
}

/**
 * CTEs (each after a comma) that commit `effects` under the SQL condition `when`, their
 * parameters appended to `params`; and a result column that reads the NOTIFY CTE (a CTE that is
 * not read does not run).
 */
function effectCtes(
  effects: StatementEffects | undefined,
  params: unknown[],
  when: string,
): { ctes: string; column: string } {
  let ctes = "";
  let column = "";
  const next = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const meter = effects?.meter;
  if (meter && meter.messages > 0) {
    ctes += `, ${meterCte("u", next(meter.hourStart), next(meter.messages), next(meter.bytes), when)}`;
  }
  const unclaimed = effects?.claimChannel !== undefined && effects.claim?.some((o) => o.payload);
  if ((effects?.notify && effects.notify.payloads.length > 0) || unclaimed) {
    const channel = next(effects?.notify?.channel ?? effects?.claimChannel);
    const payloads = next(effects?.notify?.payloads ?? []);
    // The offers whose agents got nothing claimed (CTE `k` of claimCtes) are woken too.
    const offered = unclaimed
      ? ` UNION ALL SELECT pg_notify(${channel}, o.p) FROM o
        WHERE o.p IS NOT NULL AND o.a NOT IN (SELECT a FROM k) AND ${when}`
      : "";
    ctes += `, wk AS (SELECT pg_notify(${channel}, p) FROM unnest(${payloads}::text[]) AS p
      WHERE ${when}${offered})`;
    column = ", (SELECT count(*) FROM wk) AS woken";
  }
  return { ctes, column };
}

/**
 * CTEs (each after a comma) over the rows `r` (a, m, e, n) a store statement queues, for the
 * offers of `claim`: `o` the offers, `k` the offered agents whose rows are claimed as they are
 * inserted (its rows here within the offer's room, and nothing of the agent waiting, looked up
 * as one row of the queue index: as NOT EXISTS, the planner read every waiting row of the agents;
 * without the ORDER BY, which only that index serves, plans made on a young table took the
 * (tenant, agent, delivery id) index and read every entry of the agent, the dead ones too).
 * Empty without offers.
 */
function claimCtes(claim: StatementEffects["claim"], params: unknown[]): string {
  if (!claim || claim.length === 0) return "";
  params.push(
    claim.map((o) => o.agentId),
    claim.map((o) => o.room),
    claim.map((o) => o.deadline),
    claim.map((o) => o.payload),
  );
  const at = params.length - 3;
  return `, o AS (
       SELECT * FROM unnest($${at}::text[], $${at + 1}::int[], $${at + 2}::bigint[], $${at + 3}::text[])
         AS o(a, room, dl, p)),
     k AS MATERIALIZED (
       SELECT o.a, o.dl FROM o
       WHERE (SELECT count(*) FROM r WHERE r.a = o.a) <= o.room
       AND (SELECT 1 FROM acb_deliveries
         WHERE tenant_id = $1 AND agent_id = o.a AND state = ${WAITING} ORDER BY seq LIMIT 1)
         IS NULL)`;
}

/**
 * The INSERT of the rows `r` into acb_deliveries (under the SQL condition `when`), in `r.n`
 * order (a queue's order is its rows' seq); with offers (claimCtes), the rows of the agents of
 * `k` go in flight at once, as a claim would make them: attempt 1, its deadline, delivery id
 * 'd<seq>.1'. Returns (as `d`) the claimed rows.
 */
function deliveriesInsert(claiming: boolean, when: string): string {
  if (!claiming) {
    return `d AS (
       INSERT INTO acb_deliveries (tenant_id, agent_id, message_id, expires_at)
       SELECT $1, r.a, r.m, r.e FROM r WHERE ${when} ORDER BY r.n)`;
  }
  // nextval runs after the sort, so seq follows r.n.
  return `d AS (
       INSERT INTO acb_deliveries
         (seq, tenant_id, agent_id, message_id, expires_at, state, attempts, deadline, delivery_id)
       SELECT s.seq, $1, s.a, s.m, s.e,
         CASE WHEN s.dl IS NULL THEN ${WAITING} ELSE ${IN_FLIGHT} END,
         CASE WHEN s.dl IS NULL THEN 0 ELSE 1 END, coalesce(s.dl, 0),
         CASE WHEN s.dl IS NULL THEN NULL ELSE 'd' || s.seq || '.1' END
       FROM (SELECT nextval('acb_deliveries_seq_seq') AS seq, r.a, r.m, r.e, k.dl
         FROM r LEFT JOIN k ON k.a = r.a WHERE ${when} ORDER BY r.n) s
       RETURNING seq, agent_id, message_id, delivery_id, state)`;
}

/** The result column of a claiming statement: its claimed rows as [agent, message, delivery id, seq]. */
const CLAIMED_COLUMN = `, (SELECT coalesce(json_agg(json_build_array(d.agent_id, d.message_id,
  d.delivery_id, d.seq) ORDER BY d.seq), '[]') FROM d WHERE d.state = ${IN_FLIGHT}) AS claimed`;

/**
 * The statement and parameters that store messages and queue each for its recipients, with
 * `effects` in the same statement. With `limits`, it stores them (and commits the effects) only if
 * every recipient and the tenant stay within them (fitsCtes; a limit of 0 is not checked), and
 * answers one FitsRow: whether it did, with the counts it checked.
 */
function storeStatement(
  tenantId: string,
  items: readonly { message: MessageRecord; recipients: readonly string[] }[],
  limits?: { agent: number; tenant: number },
  effects?: StatementEffects,
): [string, unknown[]] {
  const agents: string[] = [];
  const ids: string[] = [];
  const expiries: number[] = [];
  for (const { message, recipients } of items) {
    for (const a of recipients) {
      agents.push(a);
      ids.push(message.id);
      expiries.push(message.expiresAt);
    }
  }
  const params: unknown[] = [
    tenantId,
    items.map((i) => i.message.id),
    items.map((i) => encodeDoc(i.message)),
    agents,
    ids,
    expiries,
  ];
  const rows = `r AS (
       SELECT * FROM unnest($4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS x(a, m, e, n))`;
  if (limits) {
    params.push(limits.agent, limits.tenant);
    const claims = claimCtes(effects?.claim, params);
    const when = "(SELECT ok FROM fits)";
    const fx = effectCtes(effects, params, when);
    return [
      `WITH ${rows},
       ${fitsCtes("$7", "$8")}${claims},
       m AS (
         INSERT INTO acb_messages (tenant_id, id, doc)
         SELECT $1, m.id, m.doc::jsonb FROM unnest($2::text[], $3::text[]) AS m(id, doc)
         WHERE ${when}
         ON CONFLICT (tenant_id, id) DO UPDATE SET doc = EXCLUDED.doc),
       ${deliveriesInsert(claims !== "", when)}${fx.ctes}
       SELECT ok, held.tenant AS tenant_held, held.agents AS agents_held${fx.column}${claims !== "" ? CLAIMED_COLUMN : ""}
       FROM fits, held`,
      params,
    ];
  }
  const claims = claimCtes(effects?.claim, params);
  const fx = effectCtes(effects, params, "TRUE");
  // One statement however many messages; a queue's order is its rows' seq, given in item order.
  return [
    `WITH ${rows}${claims},
     m AS (
       INSERT INTO acb_messages (tenant_id, id, doc)
       SELECT $1, m.id, m.doc::jsonb FROM unnest($2::text[], $3::text[]) AS m(id, doc)
       ON CONFLICT (tenant_id, id) DO UPDATE SET doc = EXCLUDED.doc),
     ${deliveriesInsert(claims !== "", "TRUE")}${fx.ctes}
     SELECT TRUE AS ok${fx.column}${claims !== "" ? CLAIMED_COLUMN : ""}`,
    params,
  ];
}

/**
 * The result of each item stored by a store statement: ok, with the deliveries a claiming
 * statement answered for its message (its `claimed` column), each for the agent it was claimed
 * for with the deadline of that agent's offer.
 */
function storedResults(
  row: Record<string, unknown> | undefined,
  items: readonly { message: MessageRecord }[],
  offers: readonly ClaimOffer[] | undefined,
): EnqueueResult[] {
  const out = new Map<string, ClaimedFor[]>();
  const raw = row?.claimed;
  if (!offers || raw === undefined || raw === null) return items.map(() => ({ ok: true }));
  const list = (typeof raw === "string" ? JSON.parse(raw) : raw) as [
    string,
    string,
    string,
    number,
  ][];
  const messages = new Map(items.map((i) => [i.message.id, i.message]));
  const deadlines = new Map(offers.map((o) => [o.agentId, o.deadline]));
  for (const [agentId, messageId, deliveryId, seq] of list) {
    const message = messages.get(messageId);
    const deadline = deadlines.get(agentId);
    if (!message || deadline === undefined) continue;
    const claimed: ClaimedFor = {
      agentId,
      delivery: { deliveryId, attempt: 1, deadline, message, order: num(seq) },
    };
    const forMessage = out.get(messageId);
    if (forMessage) forMessage.push(claimed);
    else out.set(messageId, [claimed]);
  }
  return items.map((i): EnqueueResult => {
    const mine = out.get(i.message.id);
    return mine ? { ok: true, claimed: mine } : { ok: true };
  });
}

/** A send's effects on their own (its messages stored by other statements of the transaction). */
function effectsStatement(
  tenantId: string,
  effects: StatementEffects,
): [string, unknown[]] | undefined {
  const params: unknown[] = [tenantId];
  const fx = effectCtes(effects, params, "TRUE");
  if (fx.ctes === "") return undefined;
  return [`WITH ${fx.ctes.slice(2)} SELECT TRUE AS ok${fx.column}`, params]; // ctes start with ", "
}

/** Stores messages and queues each for its recipients, inside the transaction of `c`. */
async function store(
  c: SqlClient,
  tenantId: string,
  items: readonly { message: MessageRecord; recipients: readonly string[] }[],
): Promise<void> {
  if (items.length === 0) return;
  const [text, params] = storeStatement(tenantId, items);
  await c.query(text, params);
}

/**
 * Claims waiting entries of the agent (due retries first, earliest first, then new messages in
 * queue order), at most `max`, or with `window` at most `max` minus the entries in flight; drops
 * expired waiting entries first (never delivered). Reads each message in the same statement; the rows
 * become deliveries, in delivery order, with {@link claimed}.
 */
async function claimWaiting(
  c: SqlClient,
  tenantId: string,
  agentId: string,
  max: number,
  window: boolean,
  now: number,
  deadline: number,
): Promise<readonly Record<string, unknown>[]> {
  const expired = await c.query<{ message_id: string }>(
    `DELETE FROM acb_deliveries WHERE seq IN (
       SELECT seq FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 AND state = ${WAITING}
       AND expires_at <= $3 FOR UPDATE SKIP LOCKED) RETURNING message_id`,
    [tenantId, agentId, now],
  );
  await dropUnreferenced(
    c,
    tenantId,
    expired.rows.map((r) => r.message_id),
  );
  const r = await c.query(...claimStatement(tenantId, agentId, max, window, now, deadline));
  return r.rows;
}

/**
 * The statement that claims waiting, unexpired entries (see {@link claimWaiting}, which drops
 * the expired ones first), returning each with its message.
 */
function claimStatement(
  tenantId: string,
  agentId: string,
  max: number,
  window: boolean,
  now: number,
  deadline: number,
): [string, unknown[]] {
  return [
    `WITH picked AS (
       SELECT seq FROM acb_deliveries
       WHERE tenant_id = $1 AND agent_id = $2 AND state = ${WAITING} AND available_at <= $3
       AND expires_at > $3
       ORDER BY (attempts = 0), available_at, seq
       LIMIT greatest(0, $4::int - CASE WHEN $6::boolean THEN (
         SELECT count(*) FROM acb_deliveries
         WHERE tenant_id = $1 AND agent_id = $2 AND state = ${IN_FLIGHT})::int ELSE 0 END)
       FOR UPDATE)
     UPDATE acb_deliveries d SET state = ${IN_FLIGHT}, attempts = d.attempts + 1, deadline = $5,
       delivery_id = 'd' || d.seq || '.' || (d.attempts + 1)
     FROM picked, acb_messages m
     WHERE d.seq = picked.seq AND m.tenant_id = d.tenant_id AND m.id = d.message_id
     RETURNING d.seq, d.message_id, d.attempts, d.expires_at, d.last_error, d.delivery_id,
       d.deadline, d.available_at, m.doc`,
    [tenantId, agentId, now, max, deadline, window],
  ];
}

/** One stream's look at its queue, as {@link pollStatement} takes it. */
interface PollCall {
  agentId: string;
  limit: number;
  now: number;
  deadline: number;
}

/**
 * The usual polls of streams of one tenant (each of its own agent) as one statement: for each
 * call, claims up to its `limit` minus the agent's entries in flight (as claimStatement, leaving
 * expired entries alone), and answers, on every row of the agent (`a`; one row with no claimed
 * columns when nothing was claimed), whether anything of the agent is overdue or expired (then
 * the caller reaps and claims again), the entries in flight before the claim (`n_before`), and
 * the earliest deadline or retry time of the entries it did not claim (`t_rest`). Its reads see
 * the agents' entries as they were before the claim, so the stats after it are those plus what
 * it claimed. Every call names a different agent. The stats are materialized: inlined, they
 * would be computed again for every claimed row.
 */
function pollStatement(tenantId: string, calls: readonly PollCall[]): [string, unknown[]] {
  return [
    `WITH req AS (
       SELECT r.a, r.lim, r.t, r.dl, (SELECT count(*)::int FROM acb_deliveries
         WHERE tenant_id = $1 AND agent_id = r.a AND state = ${IN_FLIGHT}) AS n
       FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS r(a, lim, t, dl)),
     picked AS (
       SELECT p.seq, req.dl FROM req CROSS JOIN LATERAL (
         SELECT seq FROM acb_deliveries
         WHERE tenant_id = $1 AND agent_id = req.a AND state = ${WAITING} AND available_at <= req.t
         AND expires_at > req.t
         ORDER BY (attempts = 0), available_at, seq
         LIMIT greatest(0, req.lim - req.n)
         FOR UPDATE) p),
     claimed AS (
       UPDATE acb_deliveries d SET state = ${IN_FLIGHT}, attempts = d.attempts + 1,
         deadline = picked.dl, delivery_id = 'd' || d.seq || '.' || (d.attempts + 1)
       FROM picked, acb_messages m
       WHERE d.seq = picked.seq AND m.tenant_id = d.tenant_id AND m.id = d.message_id
       RETURNING d.agent_id AS claimed_by, d.seq, d.message_id, d.attempts, d.expires_at,
         d.last_error, d.delivery_id, d.deadline, d.available_at, m.doc),
     stats AS MATERIALIZED (
       SELECT req.a, s.overdue, s.expired, req.n AS n_before, s.t_rest FROM req CROSS JOIN LATERAL (
         SELECT coalesce(bool_or(state = ${IN_FLIGHT} AND deadline <= req.t), false) AS overdue,
           coalesce(bool_or(state = ${WAITING} AND expires_at <= req.t), false) AS expired,
           min(CASE WHEN state = ${IN_FLIGHT} THEN deadline ELSE available_at END)
             FILTER (WHERE (state = ${IN_FLIGHT} OR attempts > 0)
               AND seq NOT IN (SELECT seq FROM claimed)) AS t_rest
         FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = req.a) s)
     SELECT stats.*, claimed.* FROM stats LEFT JOIN claimed ON claimed.claimed_by = stats.a`,
    [
      tenantId,
      calls.map((c) => c.agentId),
      calls.map((c) => c.limit),
      calls.map((c) => c.now),
      calls.map((c) => c.deadline),
    ],
  ];
}

/**
 * Settles as acked the deliveries `calls` name (each call: one agent's delivery ids at its own
 * `now`), as ack() does for each call on its own: one row per id, in order, with its outcome.
 * Each id is answered from the rows as they were before the statement ran; the first of
 * repeated ids of one call settles it, the others are "not-found", as with settle(). Calls of one
 * statement must not name the same delivery. The rows are found and locked one (agent, id) at a
 * time through the (tenant, agent, delivery id) index, by a LATERAL join; whether a message has
 * other deliveries is one row of the (tenant, message) index, by a scalar subquery. Written as
 * lists of agents and ids, and as NOT EXISTS, the plans made on a young table read the tenant's
 * whole in-flight range of the queue index, and every entry of the tenant in the message index
 * once per message: ranges that grow with every delivery acked since the table was last
 * vacuumed (each leaves a dead entry), so the acks slowed through a run (pg-ack-plans.test.ts).
 * The agents' expired settlements are still pruned through the (tenant, agent, until) index's
 * range of the whole tenant, the agent a filter of its entries: written per agent, the delete's
 * plan on a young table read the whole table. A remembered settlement is looked up only for an
 * id that was not in flight (a repeated ack): by a subquery in the last branch of the answer's
 * CASE, which runs only when reached. Joined for every id, the planner took the (tenant, agent,
 * until) index and read every settlement of the agent kept for five minutes, for each id; as a
 * LATERAL join, it joined the CTEs by nested loops. (On a young table the subquery's own plan
 * still takes that index, the delivery id a filter: a repeated ack reads the agent's
 * settlements.)
 */
export function ackStatement(
  tenantId: string,
  calls: readonly { agentId: string; deliveryIds: readonly string[]; now: number }[],
): [string, unknown[]] {
  const agents: string[] = [];
  const ids: string[] = [];
  const nows: number[] = [];
  for (const call of calls) {
    for (const id of call.deliveryIds) {
      agents.push(call.agentId);
      ids.push(id);
      nows.push(call.now);
    }
  }
  const latest = Math.max(...nows);
  return [
    `WITH req AS (
       SELECT a, id, n, ord FROM unnest($2::text[], $3::text[], $4::bigint[])
         WITH ORDINALITY AS r(a, id, n, ord)),
     first AS (SELECT DISTINCT ON (a, id) a, id, n, ord FROM req ORDER BY a, id, ord),
     live AS (
       SELECT d.seq, d.agent_id, d.message_id, d.delivery_id, d.deadline FROM first f
       CROSS JOIN LATERAL (
         SELECT seq, agent_id, message_id, delivery_id, deadline FROM acb_deliveries
         WHERE tenant_id = $1 AND agent_id = f.a AND delivery_id = f.id AND state = ${IN_FLIGHT}
         FOR UPDATE) d),
     ok AS (
       DELETE FROM acb_deliveries d USING live, first f
       WHERE d.seq = live.seq AND f.a = live.agent_id AND f.id = live.delivery_id
       AND live.deadline > f.n
       RETURNING d.seq, d.agent_id, d.message_id, d.delivery_id, f.n),
     dropped AS (
       DELETE FROM acb_messages m WHERE m.tenant_id = $1 AND m.id IN (SELECT message_id FROM ok)
       AND (SELECT 1 FROM acb_deliveries x WHERE x.tenant_id = $1
         AND x.message_id = m.id AND x.seq NOT IN (SELECT seq FROM ok) LIMIT 1) IS NULL),
     pruned AS (
       DELETE FROM acb_settled WHERE tenant_id = $1 AND agent_id = ANY($6::text[])
       AND until <= $5),
     kept AS (
       INSERT INTO acb_settled (tenant_id, agent_id, delivery_id, how, until)
       SELECT $1, agent_id, delivery_id, ${ACKED}, n + ${SETTLED_RETENTION_MS} FROM ok
       ON CONFLICT (tenant_id, agent_id, delivery_id) DO UPDATE
         SET how = EXCLUDED.how, until = EXCLUDED.until)
     SELECT CASE
       WHEN o.delivery_id IS NOT NULL AND req.ord <> f.ord THEN 'not-found'
       WHEN o.delivery_id IS NOT NULL THEN 'ok'
       WHEN l.delivery_id IS NOT NULL THEN 'stale'
       ELSE coalesce((
         SELECT CASE WHEN s.until <= req.n THEN 'not-found'
           WHEN s.how = ${ACKED} THEN 'ok' ELSE 'stale' END
         FROM acb_settled s
         WHERE s.tenant_id = $1 AND s.agent_id = req.a AND s.delivery_id = req.id), 'not-found')
     END AS outcome
     FROM req
     JOIN first f ON f.a = req.a AND f.id = req.id
     LEFT JOIN ok o ON o.agent_id = req.a AND o.delivery_id = req.id
     LEFT JOIN live l ON l.agent_id = req.a AND l.delivery_id = req.id
     ORDER BY req.ord`,
    [tenantId, agents, ids, nows, latest, [...new Set(agents)]],
  ];
}

/** The earlier of two instants, either of which may be unknown. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** Claimed rows as deliveries: due retries first (earliest first), then in queue order. */
function claimed(rows: readonly Record<string, unknown>[], deadline: number): ClaimedDelivery[] {
  const leases = rows as unknown as (LeaseRow & { available_at: unknown; doc: unknown })[];
  const sorted = [...leases].sort((a, b) => {
    const ra = a.attempts > 1 ? 0 : 1;
    const rb = b.attempts > 1 ? 0 : 1;
    if (ra !== rb) return ra - rb;
    if (ra === 0 && num(a.available_at) !== num(b.available_at))
      return num(a.available_at) - num(b.available_at);
    return num(a.seq) - num(b.seq);
  });
  return sorted.map((row) => ({
    deliveryId: row.delivery_id ?? "",
    attempt: row.attempts,
    deadline,
    message: { ...decodeDoc<MessageRecord>(row.doc), expiresAt: num(row.expires_at) },
    order: num(row.seq),
  }));
}

/** The statement that reads how many entries are in flight and the queue's next wake. */
function statsStatement(tenantId: string, agentId: string): [string, unknown[]] {
  return [
    `SELECT count(*) FILTER (WHERE state = ${IN_FLIGHT}) AS n,
       min(CASE WHEN state = ${IN_FLIGHT} THEN deadline ELSE available_at END)
         FILTER (WHERE state = ${IN_FLIGHT} OR attempts > 0) AS t
     FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2`,
    [tenantId, agentId],
  ];
}

function stats(rows: readonly Record<string, unknown>[]): {
  inFlight: number;
  nextWake: number | undefined;
} {
  const row = rows[0];
  const t = row?.t;
  return {
    inFlight: num(row?.n ?? 0),
    nextWake: t === null || t === undefined ? undefined : num(t),
  };
}

export function createPgMessageStore(
  db: SqlDatabase,
  options: { wake?: PgWakeOptions } = {},
): MessageStore {
  const { wake } = options;
  /**
   * What a statement commits of a send's effects for the messages `accepted` (stored, or taken
   * with no recipient): their usage, and the NOTIFYs when any of them was queued for someone.
   */
  const effectsFor = (
    effects: SendEffects | undefined,
    accepted: readonly { message: MessageRecord; recipients: readonly string[] }[],
    claiming = false,
  ): StatementEffects | undefined => {
    if (!effects || accepted.length === 0) return undefined;
    const out: StatementEffects = {};
    if (effects.meter) {
      out.meter = {
        hourStart: effects.meter.hourStart,
        messages: accepted.length,
        bytes: accepted.reduce((n, i) => n + i.message.data.length, 0),
      };
    }
    const queued = accepted.some((i) => i.recipients.length > 0);
    const offers = queued ? (effects.claim ?? []) : [];
    if (claiming && offers.length > 0) {
      out.claim = offers.map((o) => ({ ...o, payload: wake ? wake.payload(o.channel) : null }));
      if (wake) out.claimChannel = wake.channel;
    }
    if (wake && queued) {
      // Without a claim, the offered streams are woken as any other recipient.
      const channels = claiming
        ? (effects.wake ?? [])
        : [...(effects.wake ?? []), ...offers.map((o) => o.channel)];
      if (channels.length > 0)
        out.notify = { channel: wake.channel, payloads: channels.map((c) => wake.payload(c)) };
    }
    return out;
  };
  /** Commits the effects for `accepted` on their own, in one statement (of `c` when given). */
  const commitEffects = async (
    c: SqlClient | undefined,
    tenantId: string,
    effects: SendEffects | undefined,
    accepted: readonly { message: MessageRecord; recipients: readonly string[] }[],
  ) => {
    const fx = effectsFor(effects, accepted);
    const statement = fx && effectsStatement(tenantId, fx);
    if (!statement) return;
    if (c) await c.query(...statement);
    else await db.one(tenantId, ...statement, false);
  };
  const deadLetter = async (
    c: SqlClient,
    tenantId: string,
    agentId: string,
    rows: { row: LeaseRow; reason: DeadLetterReason; lastError: string }[],
    now: number,
  ) => {
    if (rows.length === 0) return;
    const messages = await messagesOf(
      c,
      tenantId,
      rows.map((r) => r.row.message_id),
    );
    const letters: DeadLetterRecord[] = [];
    for (const { row, reason, lastError } of rows) {
      const message = messages.get(row.message_id);
      if (!message) continue;
      letters.push({
        id: newId("dlq_", now),
        tenantId,
        agentId,
        message: { ...message, expiresAt: num(row.expires_at) },
        reason,
        attempts: row.attempts,
        lastError,
        deadLetteredAt: now,
      });
    }
    await c.query(
      `INSERT INTO acb_dead_letters (tenant_id, id, agent_id, doc)
       SELECT $1, e.id, $2, e.doc FROM jsonb_to_recordset($3::jsonb) AS e(id text, doc jsonb)`,
      [tenantId, agentId, encodeDoc(letters.map((l) => ({ id: l.id, doc: l })))],
    );
    await c.query("DELETE FROM acb_deliveries WHERE seq = ANY($1::bigint[])", [
      rows.map((r) => r.row.seq),
    ]);
    await dropUnreferenced(
      c,
      tenantId,
      rows.map((r) => r.row.message_id),
    );
  };

  const estimates = new BacklogEstimates();

  /**
   * Stores `stored` with one statement if they fit `limits`, checking only the counts the
   * estimates cannot vouch for; answers the statement's row if it stored them (undefined if not).
   */
  const storeIfFits = async (
    run: (text: string, params: unknown[]) => Promise<FitsRow | undefined>,
    tenantId: string,
    stored: readonly { message: MessageRecord; recipients: readonly string[] }[],
    limits: { agent: number; tenant: number },
    now: number,
    effects?: StatementEffects,
  ): Promise<FitsRow | undefined> => {
    const perAgent = new Map<string, number>();
    for (const i of stored) {
      for (const a of i.recipients) perAgent.set(a, (perAgent.get(a) ?? 0) + 1);
    }
    let total = 0;
    for (const k of perAgent.values()) total += k;
    const checkTenant = estimates.mustCheck(tenantKey(tenantId), total, limits.tenant, now);
    const checkAgents = [...perAgent].some(([a, k]) =>
      estimates.mustCheck(agentKey(tenantId, a), k, limits.agent, now),
    );
    const row = await run(
      ...storeStatement(
        tenantId,
        stored,
        {
          agent: checkAgents ? limits.agent : 0,
          tenant: checkTenant ? limits.tenant : 0,
        },
        effects,
      ),
    );
    const ok = row?.ok === true;
    const adding = ok ? 1 : 0;
    if (checkTenant && row)
      estimates.counted(tenantKey(tenantId), num(row.tenant_held) + adding * total, now);
    else if (ok) estimates.added(tenantKey(tenantId), total);
    const agents =
      typeof row?.agents_held === "string"
        ? (JSON.parse(row.agents_held) as Record<string, unknown>)
        : row?.agents_held;
    for (const [a, k] of perAgent) {
      if (checkAgents && agents)
        estimates.counted(agentKey(tenantId, a), num(agents[a] ?? 0) + adding * k, now);
      else if (ok) estimates.added(agentKey(tenantId, a), k);
    }
    return ok ? row : undefined;
  };

  const discard: DiscardFn = async (c, tenantId, rows) => {
    await c.query("DELETE FROM acb_deliveries WHERE seq = ANY($1::bigint[])", [
      rows.map((row) => row.seq),
    ]);
    await dropUnreferenced(
      c,
      tenantId,
      rows.map((row) => row.message_id),
    );
  };

  /**
   * Stores `items` inside the transaction of `c` within their backlog limits: one statement when
   * everything fits (unless `checked` says that statement already found it does not), else
   * item by item as admit() plans it. Answers each item's refusal (undefined: stored).
   */
  const storeWithin = async (
    c: SqlClient,
    tenantId: string,
    items: readonly BacklogItem[],
    checked = false,
  ): Promise<(BacklogFull | undefined)[]> => {
    const limits = sharedLimits(items);
    const stored = items.filter((i) => i.recipients.length > 0);
    if (limits === undefined) {
      await store(c, tenantId, stored);
      return items.map(() => undefined);
    }
    if (limits !== "mixed" && !checked && stored.length > 0) {
      const now = items.find((i) => i.backlog)?.backlog?.now ?? 0;
      const run = async (text: string, params: unknown[]) =>
        (await c.query<FitsRow>(text, params)).rows[0];
      if (await storeIfFits(run, tenantId, stored, limits, now)) return items.map(() => undefined);
    }
    // Evictions change counts in ways the estimates do not follow: this tenant's are read again.
    estimates.forget(tenantId);
    return admit(
      c,
      tenantId,
      items,
      (accepted) =>
        store(
          c,
          tenantId,
          accepted.flatMap((i) => {
            const item = items[i];
            return item && item.recipients.length > 0 ? [item] : [];
          }),
        ),
      deadLetter,
      discard,
    );
  };

  /**
   * Settles in-flight deliveries with `apply`, and remembers how each left (SETTLED_RETENTION_MS),
   * so a retried Ack or Nack answers "ok" when settled the same way and "stale" otherwise.
   */
  const settle = (
    tenantId: string,
    agentId: string,
    deliveryIds: readonly string[],
    now: number,
    how: Settlement,
    apply: (c: SqlClient, ok: LeaseRow[]) => Promise<void>,
  ) =>
    db.tx(tenantId, async (c) => {
      const r = await c.query<LeaseRow>(
        `SELECT seq, message_id, attempts, expires_at, last_error, delivery_id, deadline
         FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 AND state = ${IN_FLIGHT}
         AND delivery_id = ANY($3::text[]) FOR UPDATE`,
        [tenantId, agentId, [...deliveryIds]],
      );
      const byId = new Map(r.rows.map((row) => [row.delivery_id, row]));
      const unknown = deliveryIds.filter((id) => !byId.has(id));
      const earlier = new Map<string, number>();
      if (unknown.length > 0) {
        const s = await c.query<{ delivery_id: string; how: number }>(
          `SELECT delivery_id, how FROM acb_settled WHERE tenant_id = $1 AND agent_id = $2
           AND delivery_id = ANY($3::text[]) AND until > $4`,
          [tenantId, agentId, unknown, now],
        );
        for (const row of s.rows) earlier.set(row.delivery_id, Number(row.how));
      }
      const ok: LeaseRow[] = [];
      const outcomes = deliveryIds.map((id): SettleOutcome => {
        const row = byId.get(id);
        if (!row) {
          const was = earlier.get(id);
          if (was === undefined) return "not-found";
          return was === how ? "ok" : "stale";
        }
        if (num(row.deadline) <= now) return "stale";
        byId.delete(id); // a repeated id in one call is settled once
        ok.push(row);
        return "ok";
      });
      if (ok.length > 0) {
        await apply(c, ok);
        await remember(c, tenantId, agentId, ok, how, now);
      }
      return outcomes;
    });

  /** Returns the agent's in-flight entries past their deadline to the queue, or dead-letters them. */
  const reapOverdue = async (
    c: SqlClient,
    tenantId: string,
    agentId: string,
    now: number,
    maxAttempts: number,
  ) => {
    const r = await c.query<LeaseRow>(
      `SELECT seq, message_id, attempts, expires_at, last_error, delivery_id, deadline
       FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 AND state = ${IN_FLIGHT}
       AND deadline <= $3 FOR UPDATE SKIP LOCKED`,
      [tenantId, agentId, now],
    );
    const expired: LeaseRow[] = [];
    const dead: { row: LeaseRow; reason: DeadLetterReason; lastError: string }[] = [];
    const retry: LeaseRow[] = [];
    for (const row of r.rows) {
      const lastError = row.last_error || "ack deadline exceeded";
      if (num(row.expires_at) <= now) expired.push(row);
      else if (row.attempts >= maxAttempts)
        dead.push({ row, reason: DeadLetterReason.MAX_DELIVERY_ATTEMPTS, lastError });
      else retry.push(row);
    }
    if (expired.length > 0) {
      await c.query("DELETE FROM acb_deliveries WHERE seq = ANY($1::bigint[])", [
        expired.map((row) => row.seq),
      ]);
      await dropUnreferenced(
        c,
        tenantId,
        expired.map((row) => row.message_id),
      );
    }
    if (retry.length > 0) {
      await c.query(
        `UPDATE acb_deliveries SET state = ${WAITING}, available_at = $2,
           last_error = CASE WHEN last_error = '' THEN 'ack deadline exceeded' ELSE last_error END,
           delivery_id = NULL, deadline = 0
         WHERE seq = ANY($1::bigint[])`,
        [retry.map((row) => row.seq), now],
      );
    }
    await deadLetter(c, tenantId, agentId, dead, now);
    if (r.rows.length > 0) await remember(c, tenantId, agentId, r.rows, REAPED, now);
    return { redelivered: retry.length, deadLettered: dead.length };
  };

  /**
   * Plain sends (no idempotency key, no conversation) of one tenant that arrive while an earlier
   * one is being written are stored together, with their usage and wake-ups, in one statement.
   * When a backlog limit is reached, admit() decides for each in order, in one transaction.
   */
  const plainSends = new GroupCommit<
    { item: BacklogItem; effects: SendEffects | undefined },
    EnqueueResult
  >(async (_key, sends) => {
    const items = sends.map((s) => s.item);
    const tenantId = items[0]?.message.tenantId ?? "";
    const wakes = new Set<string>();
    // An agent's offers in the group add up: each reserved the room of its own send.
    const offers = new Map<string, ClaimOffer>();
    for (const s of sends) {
      for (const c of s.effects?.wake ?? []) wakes.add(c);
      for (const o of s.effects?.claim ?? []) {
        const had = offers.get(o.agentId);
        offers.set(o.agentId, had ? { ...had, room: had.room + o.room } : o);
      }
    }
    const first = sends[0]?.effects;
    // The group's key says every send has the same limits, meter hour and kind of wake-up.
    const effects: SendEffects | undefined = first && {
      ...(first.meter && { meter: first.meter }),
      ...(first.wake && { wake: [...wakes] }),
      ...(offers.size > 0 && { claim: [...offers.values()] }),
    };
    /** Each send's result, with what the statement claimed for its message. */
    const stored = (row: Record<string, unknown> | undefined) =>
      storedResults(row, items, effects?.claim);
    const limits = sharedLimits(items);
    const fx = effectsFor(effects, items, true);
    if (limits === undefined || limits === "mixed") {
      const r = await db.one(tenantId, ...storeStatement(tenantId, items, undefined, fx), false);
      return stored(r.rows[0]);
    }
    const run = async (text: string, params: unknown[]) =>
      (await db.one<FitsRow>(tenantId, text, params, false)).rows[0];
    const now = Math.max(...items.map((i) => i.backlog?.now ?? 0));
    const row = await storeIfFits(run, tenantId, items, limits, now, fx);
    if (row) return stored(row as unknown as Record<string, unknown>);
    return db.tx(tenantId, async (c) => {
      const refused = await storeWithin(c, tenantId, items, true);
      await commitEffects(
        c,
        tenantId,
        effects,
        items.filter((_, k) => !refused[k]),
      );
      return refused.map((backlogFull) =>
        backlogFull ? { ok: false, backlogFull } : { ok: true },
      );
    });
  });
  /**
   * Acks of one tenant's agents that arrive while an earlier one is being written are settled
   * together in one statement (ackStatement), each answered as if made on its own. Calls that
   * name the same delivery as another of the batch are run one after the other instead, so a
   * repeated ack answers as it would after the first.
   */
  const acks = new GroupCommit<
    { agentId: string; deliveryIds: readonly string[]; now: number },
    SettleOutcome[]
  >(
    async (tenantId, calls) => {
      const seen = new Set<string>();
      const overlap = calls.some((call) => {
        const mine = new Set(call.deliveryIds.map((id) => `${call.agentId}\u0000${id}`));
        for (const k of mine) if (seen.has(k)) return true;
        for (const k of mine) seen.add(k);
        return false;
      });
      const run = async (batch: typeof calls) => {
        const r = await db.one<{ outcome: SettleOutcome }>(
          tenantId,
          ...ackStatement(tenantId, batch),
          false,
        );
        const out: SettleOutcome[][] = [];
        let at = 0;
        for (const call of batch) {
          out.push(r.rows.slice(at, at + call.deliveryIds.length).map((row) => row.outcome));
          at += call.deliveryIds.length;
        }
        return out;
      };
      if (!overlap) return run(calls);
      const out: SettleOutcome[][] = [];
      for (const call of calls) out.push(...(await run([call])));
      return out;
    },
    { lingerMs: ACK_LINGER_MS },
  );

  /**
   * Polls of one tenant's streams made in the same event-loop turn (streams woken together) run
   * together in one statement (pollStatement), each answered with its agent's rows as if run on
   * its own. Polls of an agent already in the batch (an older stream and its replacement) go in a
   * following statement, so no two polls of one statement claim for the same agent.
   */
  const polls = new TurnBatch<PollCall, Record<string, unknown>[]>(async (tenantId, calls) => {
    const out: Record<string, unknown>[][] = calls.map(() => []);
    let rest = calls.map((call, i) => ({ call, i }));
    while (rest.length > 0) {
      const agents = new Set<string>();
      const round: typeof rest = [];
      const later: typeof rest = [];
      for (const p of rest) {
        if (agents.has(p.call.agentId)) later.push(p);
        else {
          agents.add(p.call.agentId);
          round.push(p);
        }
      }
      // By agent id: every shared poll locks its agents' entries in the same order.
      round.sort((x, y) =>
        x.call.agentId < y.call.agentId ? -1 : x.call.agentId > y.call.agentId ? 1 : 0,
      );
      const r = await db.one(
        tenantId,
        ...pollStatement(
          tenantId,
          round.map((p) => p.call),
        ),
        false,
      );
      const byAgent = new Map<string, Record<string, unknown>[]>();
      for (const row of r.rows) {
        const a = String(row.a);
        const list = byAgent.get(a);
        if (list) list.push(row);
        else byAgent.set(a, [row]);
      }
      for (const p of round) out[p.i] = byAgent.get(p.call.agentId) ?? [];
      rest = later;
    }
    return out;
  });

  /** Sends in one group share their limits, meter hour and kind of wake-up. */
  const plainKey = (tenantId: string, item: BacklogItem, effects: SendEffects | undefined) =>
    [
      tenantId,
      item.backlog?.agent ?? 0,
      item.backlog?.tenant ?? 0,
      effects?.meter?.hourStart ?? "",
      effects?.wake ? "w" : "",
    ].join("\u0000");

  return {
    enqueue: async (message, recipients, options = {}) => {
      const { tenantId, idempotencyKey } = message;
      const idem = idempotencyKey === "" ? undefined : options.idempotency;
      const item = { message, recipients, ...(options.backlog && { backlog: options.backlog }) };
      const limits = sharedLimits([item]);
      if (!idem && !options.conversation && limits !== "mixed") {
        if (recipients.length === 0) {
          await commitEffects(undefined, tenantId, options.effects, [item]);
          return { ok: true };
        }
        // Nothing else to check: one statement, one round trip (unless a limit is reached),
        // shared with the plain sends of the tenant that arrive meanwhile.
        const { effects } = options;
        return plainSends.submit(plainKey(tenantId, item, effects), { item, effects });
      }
      try {
        return await db.tx(tenantId, async (c): Promise<EnqueueResult> => {
          if (idem) {
            const duplicateOf = await takeKey(c, message, idem);
            if (duplicateOf !== undefined) return { ok: false, duplicateOf };
          }
          const conv = options.conversation;
          if (conv) {
            // The version check takes the conversation's row lock, which also orders its history.
            const r = await c.query(
              `UPDATE acb_conversations SET doc = $3, version = $4, state = $5, timeout_at = $6
               WHERE tenant_id = $1 AND id = $2 AND version = $7`,
              [
                tenantId,
                conv.next.id,
                encodeDoc(conv.next),
                conv.next.version,
                conv.next.state,
                conv.next.timeoutAt ?? null,
                conv.expectedVersion,
              ],
            );
            // Undo the idempotency key taken above: nothing of this send may stay.
            if (r.rowCount !== 1) throw new Refused({ ok: false, conversationConflict: true });
            await c.query(
              `INSERT INTO acb_conversation_messages (tenant_id, conversation_id, idx, message_id, doc)
               SELECT $1, $2, coalesce(max(idx), -1) + 1, $3, $4 FROM acb_conversation_messages
               WHERE tenant_id = $1 AND conversation_id = $2`,
              [tenantId, conv.next.id, message.id, encodeDoc(message)],
            );
          }
          const [backlogFull] = await storeWithin(c, tenantId, [item]);
          if (backlogFull) throw new Refused({ ok: false, backlogFull });
          await commitEffects(c, tenantId, options.effects, [item]);
          return { ok: true };
        });
      } catch (err) {
        if (err instanceof Refused) return err.result;
        throw err;
      }
    },
    claim: (tenantId, agentId, max, now, deadline) =>
      db.tx(tenantId, async (c) =>
        claimed(await claimWaiting(c, tenantId, agentId, max, false, now, deadline), deadline),
      ),
    enqueueMany: async (items, effects) => {
      const tenantId = items[0]?.message.tenantId;
      if (tenantId === undefined) return [];
      if (items.some((i) => i.message.tenantId !== tenantId)) {
        throw new Error("enqueueMany: every message must belong to one tenant");
      }
      const limits = sharedLimits(items);
      let checked = false;
      if (
        limits !== "mixed" &&
        items.every((i) => i.message.idempotencyKey === "" || !i.idempotency)
      ) {
        // Nothing else to check: one statement, one round trip (unless a limit is reached).
        const stored = items.filter((i) => i.recipients.length > 0);
        if (stored.length === 0) {
          await commitEffects(undefined, tenantId, effects, items);
          return items.map((): EnqueueResult => ({ ok: true }));
        }
        /** Each item's result, with what the statement claimed for its message. */
        const all = (row: Record<string, unknown> | undefined) =>
          storedResults(row, items, effects?.claim);
        const fx = effectsFor(effects, items, true);
        if (!limits) {
          const r = await db.one(
            tenantId,
            ...storeStatement(tenantId, stored, undefined, fx),
            false,
          );
          return all(r.rows[0]);
        }
        const run = async (text: string, params: unknown[]) =>
          (await db.one<FitsRow>(tenantId, text, params, false)).rows[0];
        const now = items.find((i) => i.backlog)?.backlog?.now ?? 0;
        const row = await storeIfFits(run, tenantId, stored, limits, now, fx);
        if (row) return all(row as unknown as Record<string, unknown>);
        checked = true;
      }
      return db.tx(tenantId, async (c) => {
        const out: EnqueueResult[] = [];
        const fresh: { at: number; item: EnqueueItem }[] = [];
        for (const item of items) {
          const { message, idempotency } = item;
          if (message.idempotencyKey !== "" && idempotency) {
            const duplicateOf = await takeKey(c, message, idempotency);
            if (duplicateOf !== undefined) {
              out.push({ ok: false, duplicateOf });
              continue;
            }
          }
          fresh.push({ at: out.length, item });
          out.push({ ok: true });
        }
        const refused = await storeWithin(
          c,
          tenantId,
          fresh.map((f) => f.item),
          checked,
        );
        for (const [k, backlogFull] of refused.entries()) {
          const f = fresh[k];
          if (!backlogFull || !f) continue;
          out[f.at] = { ok: false, backlogFull };
          // Nothing of a refused item stays: not its idempotency key either.
          const { tenantId: t, senderId, idempotencyKey, id } = f.item.message;
          if (idempotencyKey !== "" && f.item.idempotency) {
            await c.query(
              `DELETE FROM acb_idempotency WHERE tenant_id = $1 AND sender_id = $2 AND key = $3
               AND message_id = $4`,
              [t, senderId, idempotencyKey, id],
            );
          }
        }
        await commitEffects(
          c,
          tenantId,
          effects,
          fresh.filter((_, k) => !refused[k]).map((f) => f.item),
        );
        return out;
      });
    },
    folds: { meter: true, wake: wake !== undefined, claim: true },
    poll: async (tenantId, agentId, o) => {
      // Usually one statement (one round trip), shared with the polls of the tenant's other
      // streams that arrive meanwhile: the claim, with whether anything is overdue or expired
      // and the stats after the claim (see pollStatement).
      const rows = await polls.submit(tenantId, {
        agentId,
        limit: o.limit,
        now: o.now,
        deadline: o.deadline,
      });
      const flags = rows[0] ?? {};
      const first = rows.filter((row) => row.seq !== null && row.seq !== undefined);
      const after = {
        inFlight: num(flags.n_before ?? 0) + first.length,
        nextWake: earliest(
          flags.t_rest === null || flags.t_rest === undefined ? undefined : num(flags.t_rest),
          first.length > 0 ? o.deadline : undefined,
        ),
      };
      if (!flags.overdue && !flags.expired)
        return { deliveries: claimed(first, o.deadline), ...after };
      // Deadlines passed or messages expired: reap and drop them, then claim what the window
      // still allows. The second claim may hold new messages queued after those of the first
      // (slots freed by dead letters or expiries, or messages stored in between): both are
      // ordered together, due retries first, then queue order, so first attempts keep the order
      // of the queue.
      return db.tx(tenantId, async (c) => {
        await reapOverdue(c, tenantId, agentId, o.now, o.maxAttempts);
        const more = await claimWaiting(c, tenantId, agentId, o.limit, true, o.now, o.deadline);
        const r = await c.query(...statsStatement(tenantId, agentId));
        return { deliveries: claimed([...more, ...first], o.deadline), ...stats(r.rows) };
      });
    },
    ack: (tenantId, agentId, deliveryIds, now) =>
      deliveryIds.length === 0
        ? Promise.resolve([])
        : acks.submit(tenantId, { agentId, deliveryIds, now }),
    nack: (tenantId, agentId, deliveryIds, now, options) =>
      settle(tenantId, agentId, deliveryIds, now, NACKED, async (c, ok) => {
        const dead: { row: LeaseRow; reason: DeadLetterReason; lastError: string }[] = [];
        const retry: LeaseRow[] = [];
        for (const row of ok) {
          if (options.deadLetter)
            dead.push({ row, reason: DeadLetterReason.REJECTED, lastError: options.error });
          else if (row.attempts >= options.maxAttempts)
            dead.push({
              row,
              reason: DeadLetterReason.MAX_DELIVERY_ATTEMPTS,
              lastError: options.error,
            });
          else retry.push(row);
        }
        if (retry.length > 0) {
          await c.query(
            `UPDATE acb_deliveries SET state = ${WAITING}, available_at = $2, last_error = $3,
               delivery_id = NULL, deadline = 0
             WHERE seq = ANY($1::bigint[])`,
            [retry.map((row) => row.seq), options.availableAt, options.error],
          );
        }
        await deadLetter(c, tenantId, agentId, dead, now);
      }),
    reap: (tenantId, agentId, now, maxAttempts) =>
      db.tx(tenantId, (c) => reapOverdue(c, tenantId, agentId, now, maxAttempts)),
    nextWake: (tenantId, agentId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ t: unknown }>(
          `SELECT min(CASE WHEN state = ${IN_FLIGHT} THEN deadline ELSE available_at END) AS t
           FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2
           AND (state = ${IN_FLIGHT} OR attempts > 0)`,
          [tenantId, agentId],
        );
        const t = r.rows[0]?.t;
        return t === null || t === undefined ? undefined : num(t);
      }),
    backlog: (tenantId, agentId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ n: unknown }>(
          `SELECT count(*) AS n FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 AND state = ${WAITING}`,
          [tenantId, agentId],
        );
        return num(r.rows[0]?.n ?? 0);
      }),
    inFlight: (tenantId, agentId) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ n: unknown }>(
          `SELECT count(*) AS n FROM acb_deliveries WHERE tenant_id = $1 AND agent_id = $2 AND state = ${IN_FLIGHT}`,
          [tenantId, agentId],
        );
        return num(r.rows[0]?.n ?? 0);
      }),
    listDeadLetters: (tenantId, agentId, afterId, limit) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          `SELECT doc FROM acb_dead_letters WHERE tenant_id = $1 AND id > $2
           AND ($3::text IS NULL OR agent_id = $3) ORDER BY id LIMIT $4`,
          [tenantId, afterId, agentId ?? null, limit],
        );
        return r.rows.map((row) => decodeDoc<DeadLetterRecord>(row.doc));
      }),
    getDeadLetter: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "SELECT doc FROM acb_dead_letters WHERE tenant_id = $1 AND id = $2",
          [tenantId, id],
        );
        const row = r.rows[0];
        return row && decodeDoc<DeadLetterRecord>(row.doc);
      }),
    replayDeadLetter: (tenantId, id, expiresAt) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query<{ doc: unknown }>(
          "DELETE FROM acb_dead_letters WHERE tenant_id = $1 AND id = $2 RETURNING doc",
          [tenantId, id],
        );
        const row = r.rows[0];
        if (!row) return false;
        const d = decodeDoc<DeadLetterRecord>(row.doc);
        await c.query(
          `INSERT INTO acb_messages (tenant_id, id, doc) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, id) DO NOTHING`,
          [tenantId, d.message.id, encodeDoc(d.message)],
        );
        await c.query(
          `INSERT INTO acb_deliveries (tenant_id, agent_id, message_id, expires_at) VALUES ($1, $2, $3, $4)`,
          [tenantId, d.agentId, d.message.id, expiresAt],
        );
        return true;
      }),
    purgeDeadLetter: (tenantId, id) =>
      db.tx(tenantId, async (c) => {
        const r = await c.query("DELETE FROM acb_dead_letters WHERE tenant_id = $1 AND id = $2", [
          tenantId,
          id,
        ]);
        return r.rowCount === 1;
      }),
  };
}
