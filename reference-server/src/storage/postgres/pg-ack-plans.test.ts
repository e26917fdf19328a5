// What an ack statement reads on a young table (a fresh schema, no statistics yet: the plans every
// hub node makes in its first minute): each acked delivery is found by its own key, whatever else
// the tenant holds, and the acking agents' expired settlements are pruned, nobody else's.

import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { SETTLED_RETENTION_MS } from "../messaging-types.js";
import { messageRecord } from "../suite/helpers.js";
import type { Backend } from "../types.js";
import { ackStatement } from "./pg-messages.js";
import { createPostgresBackend } from "./postgres-backend.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function fresh(): Promise<{ backend: Backend; schema: string }> {
  const base = url ?? "";
  const { schema, role, drop } = await createTestSchema(base);
  closers.push(drop);
  const backend = await createPostgresBackend({ url: base, schema, role, poolSize: 4 });
  closers.push(() => backend.close());
  return { backend, schema };
}

/** Queues `n` messages to `agent` and claims them all; their delivery ids in queue order. */
async function inFlight(b: Backend, tenantId: string, agent: string, n: number, now: number) {
  await b.messages.enqueueMany(
    Array.from({ length: n }, (_, i) => ({
      message: messageRecord(tenantId, `${agent}-${i}`, {
        target: { kind: "agent", recipientId: agent },
      }),
      recipients: [agent],
    })),
  );
  const claimed = await b.messages.claim(tenantId, agent, n, now, Number.MAX_SAFE_INTEGER);
  expect(claimed).toHaveLength(n);
  return claimed.map((d) => d.deliveryId);
}

/** A node of EXPLAIN's JSON output. */
interface PlanNode {
  "Node Type": string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
}

/** A connection as the schema's owner (no row-level security), closed after the tests. */
async function asOwner(schema: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  closers.push(() => c.end());
  await c.query(`SET search_path TO ${schema}`);
  return c;
}

describe.skipIf(!url)("the ack statement on PostgreSQL", () => {
  it("reads a few index entries per acked id, however many deliveries the tenant holds", async () => {
    const { backend, schema } = await fresh();
    const now = 1_000;
    const acked = await inFlight(backend, "t1", "bob", 10, now);
    const c = await asOwner(schema);
    // As a hub node's pooled connection plans it: once, generic, while the tables are young.
    await c.query("SET plan_cache_mode = force_generic_plan");
    const [text] = ackStatement("t1", [{ agentId: "bob", deliveryIds: acked, now }]);
    await c.query(`PREPARE ack_plan(text, text[], text[], bigint[], bigint, text[]) AS ${text}`);
    const literal = (v: unknown): string =>
      Array.isArray(v)
        ? `ARRAY[${v.map(literal).join(", ")}]`
        : typeof v === "string"
          ? c.escapeLiteral(v)
          : String(v);
    const explain = async (deliveryIds: string[]) => {
      const [, params] = ackStatement("t1", [{ agentId: "bob", deliveryIds, now }]);
      const r = await c.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE ack_plan(${params.map(literal).join(", ")})`,
      );
      // Index entries the statement read: what each index scan returned or filtered out (both
      // per loop), times its loops.
      let entries = 0;
      const walk = (node: PlanNode): void => {
        if (node["Node Type"].includes("Index Scan"))
          entries +=
            (node["Actual Rows"] + (node["Rows Removed by Filter"] ?? 0)) * node["Actual Loops"];
        for (const child of node.Plans ?? []) walk(child);
      };
      walk(r.rows[0]?.["QUERY PLAN"][0]?.Plan as PlanNode);
      return entries;
    };
    // The plan is made by a first run (ids never issued: nothing changes).
    await explain(["d0.1"]);
    // Then the tenant gets busy.
    await inFlight(backend, "t1", "bob", 2_000, now);
    await inFlight(backend, "t1", "carol", 500, now);
    await c.query("BEGIN");
    const read = await explain(acked);
    await c.query("ROLLBACK");
    // Ten lookups in each of a few indexes: a few dozen entries. Reading the tenant's 2,500
    // in-flight entries, or its messages, once per id would be tens of thousands.
    expect(read).toBeGreaterThanOrEqual(acked.length);
    expect(read).toBeLessThan(200);
  });

  it("prunes the acking agents' expired settlements, and only theirs", async () => {
    const { backend, schema } = await fresh();
    const now = 1_000;
    const bob = await inFlight(backend, "t1", "bob", 3, now);
    const carol = await inFlight(backend, "t1", "carol", 1, now);
    expect(await backend.messages.ack("t1", "bob", bob.slice(0, 2), now)).toEqual(["ok", "ok"]);
    expect(await backend.messages.ack("t1", "carol", carol, now)).toEqual(["ok"]);
    // Past the retention, bob acks his last delivery: his two old settlements go, carol's stays.
    const later = now + SETTLED_RETENTION_MS + 1;
    expect(await backend.messages.ack("t1", "bob", bob.slice(2), later)).toEqual(["ok"]);
    const c = await asOwner(schema);
    const r = await c.query<{ agent_id: string; delivery_id: string }>(
      "SELECT agent_id, delivery_id FROM acb_settled ORDER BY agent_id, delivery_id",
    );
    const settled = r.rows.map((row) => `${row.agent_id} ${row.delivery_id}`);
    expect(settled).toEqual([`bob ${bob[2]}`, `carol ${carol[0]}`]);
  });
});
