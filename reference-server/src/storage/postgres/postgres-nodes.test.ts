// Two hub nodes on one PostgreSQL database: what one commits wakes the other's waiters (NOTIFY),
// their receivers never claim the same delivery (FOR UPDATE), a claim never passes over an entry
// another transaction holds, and of two turn changes to one meeting version exactly one commits
// (the row lock under the version check).

import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { Backend, MeetingRecord, MessageRecord } from "../types.js";
import { createPostgresBackend } from "./postgres-backend.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** Two backends (two nodes) on one fresh schema. */
async function twoNodes(): Promise<[Backend, Backend]> {
  const { nodes } = await nodesOnOneSchema();
  return nodes;
}

/** Two backends (two nodes) on one fresh schema, and the schema's name. */
async function nodesOnOneSchema(): Promise<{ nodes: [Backend, Backend]; schema: string }> {
  const base = url ?? "";
  const { schema, role, drop } = await createTestSchema(base);
  closers.push(drop);
  const open = async () => {
    // No re-check by polling within a test's time: a waiter can only be woken by NOTIFY.
    const b = await createPostgresBackend({
      url: base,
      schema,
      role,
      poolSize: 4,
      pollIntervalMs: 3_600_000,
    });
    closers.push(() => b.close());
    return b;
  };
  const a = await open();
  return { nodes: [a, await open()], schema };
}

const message = (tenantId: string, n: number): MessageRecord => ({
  tenantId,
  id: `m-${String(n).padStart(3, "0")}`,
  senderId: "alice",
  target: { kind: "agent", recipientId: "bob" },
  type: 1,
  kind: "k",
  contentType: "text/plain",
  data: new Uint8Array([n]),
  contextId: "",
  correlationId: "",
  replyTo: "",
  conversationId: "",
  idempotencyKey: "",
  metadata: {},
  headers: {},
  createdAt: 1,
  expiresAt: Number.MAX_SAFE_INTEGER,
});

const meeting = (tenantId: string): MeetingRecord => ({
  tenantId,
  id: "mt-1",
  title: "t",
  agenda: [],
  metadata: {},
  state: 2,
  policy: 1,
  creatorId: "alice",
  moderatorId: "",
  participants: [
    { agentId: "alice", status: 2 },
    { agentId: "bob", status: 2 },
  ],
  turnHolderId: "",
  lastHolderId: "",
  turnNumber: 0,
  queue: [],
  createdAt: 1,
  endReason: 0,
  endNote: "",
  maxDurationMs: 60_000,
  lastSeq: 0,
  speakKeys: {},
  version: 1,
});

describe.skipIf(!url)("two hub nodes on one PostgreSQL database", () => {
  it("an event appended by one node wakes a waiter on the other", async () => {
    const [a, b] = await twoNodes();
    const waiting = b.events.waitFor("t1", "contexts", 0, new AbortController().signal);
    await a.events.append("t1", "contexts", new Uint8Array([1]));
    await waiting;
    expect((await b.events.bounds("t1", "contexts")).head).toBe(1);
  });

  it("receivers on two nodes never claim the same delivery", async () => {
    const [a, b] = await twoNodes();
    for (let n = 0; n < 40; n++) await a.messages.enqueue(message("t2", n), ["bob"]);
    const claimed: string[] = [];
    for (let round = 0; round < 10; round++) {
      const [x, y] = await Promise.all([
        a.messages.claim("t2", "bob", 3, 10, 1_000),
        b.messages.claim("t2", "bob", 3, 10, 1_000),
      ]);
      claimed.push(...[...x, ...y].map((d) => d.message.id));
    }
    expect(claimed.length).toBe(new Set(claimed).size);
    // Whatever one node claimed the other sees in flight, and the rest still waits.
    expect(await b.messages.inFlight("t2", "bob")).toBe(claimed.length);
    expect(await a.messages.backlog("t2", "bob")).toBe(40 - claimed.length);
  });

  it("a poll never passes over an entry another node's transaction holds", async () => {
    // A node that dies inside a transaction which took the recipient's first entry (a reap and
    // claim) holds its row lock until PostgreSQL ends that transaction. A poll elsewhere that
    // skipped the locked entry would hand out the second message first, and the first one, rolled
    // back to waiting, as a first attempt after it: per sender->recipient order broken.
    const { nodes, schema } = await nodesOnOneSchema();
    const [a, b] = nodes;
    for (let n = 1; n <= 2; n++) await a.messages.enqueue(message("t4", n), ["bob"]);
    const dying = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await dying.connect();
    closers.push(() => dying.end());
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    closers.push(() => watcher.end());
    await dying.query("BEGIN");
    const held = await dying.query(
      `SELECT message_id FROM acb_deliveries WHERE tenant_id = 't4' AND agent_id = 'bob'
       ORDER BY seq LIMIT 1 FOR UPDATE`,
    );
    expect(held.rows.map((r) => r.message_id)).toEqual(["m-001"]);
    const { rows: pid } = await dying.query("SELECT pg_backend_pid() AS pid");
    let answered = false;
    const polled = b.messages
      .poll("t4", "bob", { limit: 10, now: 10, deadline: 1_000, maxAttempts: 5 })
      .finally(() => {
        answered = true;
      });
    // Until the poll answers or waits for the held row (each check is one round trip).
    for (;;) {
      if (answered) break;
      const { rows } = await watcher.query(
        `SELECT count(*)::int AS n FROM pg_locks w JOIN pg_locks h
           ON h.locktype = w.locktype AND h.database IS NOT DISTINCT FROM w.database
           AND h.relation IS NOT DISTINCT FROM w.relation AND h.page IS NOT DISTINCT FROM w.page
           AND h.tuple IS NOT DISTINCT FROM w.tuple
           AND h.transactionid IS NOT DISTINCT FROM w.transactionid
         WHERE NOT w.granted AND h.granted AND h.pid = $1`,
        [pid[0]?.pid],
      );
      if (rows[0]?.n > 0) break;
    }
    // The dying node's transaction ends without committing.
    await dying.query("ROLLBACK");
    const first = await polled;
    expect(first.deliveries.map((d) => [d.message.id, d.attempt])).toEqual([
      ["m-001", 1],
      ["m-002", 1],
    ]);
  });

  it("of two nodes changing one meeting version, exactly one commits", async () => {
    const [a, b] = await twoNodes();
    expect(await a.meetings.create(meeting("t3"))).toBe(true);
    const turnTo = (holder: string) => ({
      ...meeting("t3"),
      turnHolderId: holder,
      turnNumber: 1,
      lastSeq: 1,
      version: 2,
    });
    const event = (holder: string) => ({
      seq: 1,
      kind: 5,
      time: 2,
      actorId: holder,
      subjectId: holder,
      turnHolderId: holder,
      turnNumber: 1,
      state: 2,
      queuePosition: 0,
      endReason: 0,
    });
    const results = await Promise.all([
      a.meetings.update(turnTo("alice"), 1, [event("alice")]),
      b.meetings.update(turnTo("bob"), 1, [event("bob")]),
    ]);
    expect(results.filter((r) => r.ok).length).toBe(1);
    const winner = (await a.meetings.get("t3", "mt-1"))?.turnHolderId;
    const events = await b.meetings.readEvents("t3", "mt-1", 0, 10);
    expect(events.map((e) => [e.seq, e.turnHolderId])).toEqual([[1, winner]]);
  });
});

describe.skipIf(url)("two hub nodes on one PostgreSQL database", () => {
  it.skip("need ACB_TEST_POSTGRES_URL", () => {});
});
