// End-to-end encryption through a real hub: what one agent encrypts, only its recipients read;
// the hub's storage (what it hands its backend, and the tables of a SQL one, read back) holds no
// plaintext of a context, a message or a large context; a changed stored byte, a missing or a
// wrong key each fail with their E2E_* reason, and an undecryptable message is dead-lettered
// with it.
import { randomBytes } from "node:crypto";
import {
  type Backend,
  createMemoryBackend,
  createPgliteBackend,
  createPostgresBackend,
} from "@acb/hub";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createTestSchema,
  testPostgresUrl,
} from "../../../reference-server/src/storage/postgres/postgres-test-db.js";
import {
  type AcbClient,
  AcbError,
  type AgentKey,
  AgentKeyring,
  createClient,
  type E2eOptions,
  generateAgentKey,
  keyFingerprint,
  type StreamProgress,
} from "../src/node.js";
import { startTestBed, type TestBed } from "./harness.js";
import { anyContains, recordingBackend } from "./storage-recorder.js";
import { startTcpProxy } from "./tcp-proxy.js";

const MiB = 1024 * 1024;

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AcbError);
    return (err as AcbError).reason;
  }
  throw new Error("expected a failure");
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

describe("end-to-end encryption through the hub", () => {
  let bed: TestBed;
  let written: Uint8Array[];
  let keys: Record<string, AgentKey>;
  const secret = `top-secret-${randomBytes(8).toString("hex")}`;
  const secretBytes = new TextEncoder().encode(secret);

  const agent = async (id: string, e2e: E2eOptions = {}, baseUrl = bed.listener.url) => {
    const client = createClient({
      baseUrl,
      token: await bed.tokenFor(id),
      e2e: { keys: keys[id] ? [keys[id] as AgentKey] : [], ...e2e },
    });
    return client;
  };

  beforeEach(async () => {
    written = [];
    bed = await startTestBed({ backend: recordingBackend(createMemoryBackend(), written) });
    keys = {
      alice: await generateAgentKey(),
      bob: await generateAgentKey(),
      carol: await generateAgentKey({ kem: "P-256" }),
    };
  });
  afterEach(async () => {
    await bed.close();
  });

  const registered = async (...ids: string[]): Promise<AcbClient[]> =>
    Promise.all(
      ids.map(async (id) => {
        const c = await agent(id);
        await c.register({ id, type: "worker", heartbeat: false });
        return c;
      }),
    );

  it("delivers an encrypted message and dead-letters one it cannot decrypt with the reason", async () => {
    const [alice, bob] = await registered("alice", "bob");
    if (!alice || !bob) throw new Error("clients");
    const got: unknown[] = [];
    let received: () => void = () => {};
    const arrived = new Promise<void>((r) => {
      received = r;
    });
    const errors: unknown[] = [];
    bob.handle("note", (m) => {
      got.push(m.value);
      received();
    });
    const receiver = bob.receive({ onError: (e) => errors.push(e) });
    await receiver.ready;
    // Encrypted to alice only: bob holds no key for it.
    const lost = await alice.sendTo(
      "bob",
      "note",
      { text: secret },
      { encrypt: { to: ["alice"] } },
    );
    await alice.sendTo("bob", "note", { text: secret }, { encrypt: { to: ["bob"] } });
    await arrived;
    expect(got).toEqual([{ text: secret }]);
    const dead = await bob.services.messaging.listDeadLetters({});
    expect(dead.deadLetters.map((d) => d.message?.id)).toEqual([lost.messageId]);
    expect(dead.deadLetters[0]?.lastError).toMatch(/^E2E_NO_KEY: /);
    expect((errors[0] as AcbError).reason).toBe("E2E_NO_KEY");
    expect(anyContains(written, secretBytes)).toBe(false);
    await receiver.close();
  });

  it("encrypts by client default, checks pins, and keeps old key ids readable after rotation", async () => {
    const [bob] = await registered("bob");
    if (!bob) throw new Error("clients");
    const alice = await agent("alice", { encrypt: { to: ["bob"] } });
    const before = await alice.shareContext("doc", { v: 1 });
    expect(
      (await bob.services.contexts.getContext({ contextId: before.id })).context?.payload
        ?.contentType,
    ).toBe("application/vnd.acb.e2e.v1");
    // Bob rotates: the new key first, the old one kept.
    const old = keys.bob as AgentKey;
    const fresh = await generateAgentKey();
    const rotated = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("bob"),
      e2e: { keys: new AgentKeyring([fresh, old]) },
    });
    await rotated.register({ id: "bob", type: "worker", heartbeat: false, takeOver: true });
    const after = await alice.shareContext("doc", { v: 2 });
    expect((await rotated.getContext(before.id)).value).toEqual({ v: 1 });
    expect((await rotated.getContext(after.id)).value).toEqual({ v: 2 });
    // Encrypted to the new key only: a client holding just the old key cannot read it.
    expect(await reasonOf(bob.getContext(after.id))).toBe("E2E_NO_KEY");
    // Pinning: a write uses only a key whose fingerprint is pinned, and fails without one.
    const stranger = await generateAgentKey();
    const pinnedWrong = await agent("alice", {
      pins: { bob: [await keyFingerprint(stranger)] },
      encrypt: { to: ["bob"] },
    });
    expect(await reasonOf(pinnedWrong.shareContext("doc", { v: 3 }))).toBe("E2E_NO_RECIPIENT_KEY");
    const pinnedOld = await agent("alice", {
      pins: { bob: [await keyFingerprint(old)] },
      encrypt: { to: ["bob"] },
    });
    const toOld = await pinnedOld.shareContext("doc", { v: 4 });
    expect((await bob.getContext(toOld.id)).value).toEqual({ v: 4 });
    // Explicitly in clear despite the default.
    const clear = await alice.shareContext("doc", { v: 5 }, { encrypt: false });
    expect((await bob.getContext(clear.id)).contentType).toBe("application/json");
  });

  it("streams a 50 MiB encrypted large context through a dropped connection and reads it back", async () => {
    const [bob] = await registered("bob");
    if (!bob) throw new Error("clients");
    const proxy = await startTcpProxy(bed.listener.port);
    const alice = await agent("alice", {}, proxy.url);
    const data = randomBytes(50 * MiB);
    data.set(secretBytes, 1234);
    let cut = false;
    let resumes = 0;
    const ctx = await alice
      .streamContext("video", {
        encrypt: { to: ["bob"] },
        backoff: { initialDelayMs: 1, maxDelayMs: 5 },
      })
      .fromReader(data)
      .onProgress((p: StreamProgress) => {
        resumes = p.resumes;
        if (!cut && p.fraction >= 0.5) {
          cut = true;
          proxy.cut();
          proxy.restore();
        }
      })
      .send();
    await proxy.close();
    expect(resumes).toBeGreaterThanOrEqual(1);
    expect(ctx.size).toBeGreaterThan(data.length);
    const back = await readAll(bob.receiveContextStream(ctx.id));
    expect(back.equals(data)).toBe(true);
    expect(anyContains(written, secretBytes)).toBe(false);
    // Without decryption the stored bytes come back as they are: ciphertext.
    const raw = await readAll(bob.receiveContextStream(ctx.id, { decrypt: false }));
    expect(raw.length).toBe(ctx.size);
    expect(raw.includes(Buffer.from(secretBytes))).toBe(false);
  });
});

/** A SQL backend's database, as the test reads and changes it directly. */
interface SqlTables {
  /** Every row of every table, as text. */
  dump(tenantId: string): Promise<string>;
  /** Runs one statement in the tenant's scope. */
  run(tenantId: string, text: string, params: unknown[]): Promise<void>;
}

function sqlTables(db: {
  tx<T>(
    tenantId: string,
    fn: (c: {
      query(text: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
    }) => Promise<T>,
  ): Promise<T>;
}): SqlTables {
  return {
    run: (tenantId, text, params) =>
      db.tx(tenantId, async (c) => {
        await c.query(text, params);
      }),
    dump: (tenantId) =>
      db.tx(tenantId, async (c) => {
        const tables = await c.query(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        );
        let dump = "";
        for (const { table_name } of tables.rows) {
          // A row as text: bytea in hex (\x…), jsonb and text as they are.
          const rows = await c.query(`SELECT t::text AS row FROM "${String(table_name)}" t`);
          for (const r of rows.rows) dump += `${String(r.row)}\n`;
        }
        return dump;
      }),
  };
}

/** Whether `dump` holds `text`, as text or as the hex of its UTF-8 bytes (bytea). */
const dumpHolds = (dump: string, text: string): boolean =>
  dump.includes(text) || dump.includes(Buffer.from(text).toString("hex"));

// The same checks on every backend the hub has: what reaches storage is ciphertext.
const postgresUrl = testPostgresUrl();
const backends: {
  name: string;
  make: () => Promise<{ backend: Backend; sql?: SqlTables; drop(): Promise<void> }>;
}[] = [
  { name: "memory", make: async () => ({ backend: createMemoryBackend(), drop: async () => {} }) },
  {
    name: "PGlite",
    make: async () => {
      const backend = await createPgliteBackend();
      return { backend, sql: sqlTables(backend.db), drop: async () => {} };
    },
  },
  ...(postgresUrl
    ? [
        {
          name: "PostgreSQL",
          make: async () => {
            const db = await createTestSchema(postgresUrl);
            const backend = await createPostgresBackend({
              url: postgresUrl,
              schema: db.schema,
              role: db.role,
              poolSize: 2,
            });
            return { backend, sql: sqlTables(backend.db), drop: () => db.drop() };
          },
        },
      ]
    : []),
];

describe.each(backends)("end-to-end encryption on the $name backend", ({ make }) => {
  let bed: TestBed;
  let written: Uint8Array[];
  let drop: () => Promise<void>;
  let sql: SqlTables | undefined;
  let keys: Record<string, AgentKey>;
  const secret = `top-secret-${randomBytes(8).toString("hex")}`;
  const secretBytes = new TextEncoder().encode(secret);

  const agent = async (id: string, e2e: E2eOptions = {}) =>
    createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor(id),
      e2e: { keys: keys[id] ? [keys[id] as AgentKey] : [], ...e2e },
    });
  const registered = async (...ids: string[]): Promise<AcbClient[]> =>
    Promise.all(
      ids.map(async (id) => {
        const c = await agent(id);
        await c.register({ id, type: "worker", heartbeat: false });
        return c;
      }),
    );

  beforeEach(async () => {
    written = [];
    const made = await make();
    drop = made.drop;
    sql = made.sql;
    bed = await startTestBed({ backend: recordingBackend(made.backend, written) });
    keys = {
      alice: await generateAgentKey(),
      bob: await generateAgentKey(),
      carol: await generateAgentKey({ kem: "P-256" }),
    };
  });
  afterEach(async () => {
    await bed.close();
    await drop();
  });

  it("shares a context only its recipients read; the hub stores no plaintext; a changed byte is E2E_TAMPERED", async () => {
    const [alice, bob, carol] = await registered("alice", "bob", "carol");
    if (!alice || !bob || !carol) throw new Error("clients");
    const shared = await alice.shareContext("plan", { text: secret }, { encrypt: { to: ["bob"] } });
    expect(shared.value).toEqual({ text: secret });
    expect((await bob.getContext(shared.id)).value).toEqual({ text: secret });
    expect((await alice.getContext(shared.id)).value).toEqual({ text: secret }); // includeSelf
    expect(await reasonOf(carol.getContext(shared.id))).toBe("E2E_NO_KEY");
    const noKeys = await agent("dave", { keys: [] });
    expect(await reasonOf(noKeys.getContext(shared.id))).toBe("E2E_NO_KEY");
    // Updates are encrypted too; listing decrypts.
    await alice.updateContext(shared.id, { text: `${secret}-2` }, { encrypt: { to: ["bob"] } });
    const listed = [];
    for await (const c of bob.listContexts({ type: "plan" })) listed.push(c.value);
    expect(listed).toEqual([{ text: `${secret}-2` }]);

    // An encrypted message waiting for bob, and an encrypted large context (blob chunks).
    await alice.sendTo("bob", "note", { text: secret }, { encrypt: { to: ["bob"] } });
    const large = new Uint8Array(MiB);
    large.set(secretBytes, 4321);
    const blob = await alice
      .streamContext("blob", { encrypt: { to: ["bob"] } })
      .fromReader(large)
      .withChunkSize(64 * 1024)
      .send();
    expect(Buffer.from(await readAll(bob.receiveContextStream(blob.id))).equals(large)).toBe(true);
    // The control: the same kinds unencrypted, so the searches below can find what is there.
    const plain = `plain-marker-${randomBytes(8).toString("hex")}`;
    await alice.shareContext("plan", { text: plain });
    await alice.sendTo("bob", "note", { text: plain });
    const plainLarge = new Uint8Array(256 * 1024);
    plainLarge.set(new TextEncoder().encode(plain), 4321);
    await alice.streamContext("blob").fromReader(plainLarge).send();

    // What the hub handed its storage, and (SQL backends) what the tables hold.
    expect(anyContains(written, new TextEncoder().encode(plain))).toBe(true);
    expect(anyContains(written, secretBytes)).toBe(false);
    if (sql) {
      const tables = await sql.dump(bed.tenantId);
      expect(dumpHolds(tables, plain)).toBe(true);
      expect(dumpHolds(tables, secret)).toBe(false);
    }

    // Change one stored byte of the ciphertext.
    const stored = await bed.backend.contexts.get(bed.tenantId, shared.id);
    if (!stored || stored.data.length === 0) throw new Error("context not stored inline");
    expect(stored.contentType).toBe("application/vnd.acb.e2e.v1");
    const data = stored.data.slice();
    data[data.length - 5] = (data[data.length - 5] as number) ^ 0x01;
    const tampered = { ...stored, data };
    const swap = await bed.backend.contexts.replace(tampered, stored.revision, new Uint8Array());
    expect(swap.ok).toBe(true);
    expect(await reasonOf(bob.getContext(shared.id))).toBe("E2E_TAMPERED");

    // The same for a large context, in its stored chunks (SQL backends, whose tables the test
    // can change): the hub serves the changed bytes, and decryption refuses them.
    if (sql) {
      const ref = (await bed.backend.contexts.get(bed.tenantId, blob.id))?.storageRef;
      if (!ref) throw new Error("large context not stored as a blob");
      const at = 100_000;
      await sql.run(
        bed.tenantId,
        `UPDATE acb_blob_chunks SET data = set_byte(data, ($2 - "offset")::int, get_byte(data, ($2 - "offset")::int) # 1)
         WHERE key = $1 AND published AND "offset" <= $2 AND $2 < "offset" + length(data)`,
        [ref.key, at],
      );
      // Stored in 64 KiB chunks, the changed segment (the second) arrives, and fails, long before
      // the hub's own check of the whole object at rest would end the stream with DATA_LOSS.
      const read = readAll(bob.receiveContextStream(blob.id));
      expect(await reasonOf(read)).toBe("E2E_TAMPERED");
    }
  });
});
