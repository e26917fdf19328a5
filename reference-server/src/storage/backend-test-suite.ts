// The contract every storage backend must meet, as one exported vitest suite (in the manner of
// keyv's storageTestSuite). A backend's own test file calls backendTestSuite with a factory; the
// suite exercises every store of the Backend interface through its public methods only.
//
// Each test works in tenants (and token hashes, families) with fresh random ids, so the suite can
// run against a shared durable backend (one PostgreSQL schema, one Redis prefix) without
// collisions, and assertions about cross-tenant queries (listExpired, nextExpiry, tenants.list)
// only look at the records the test itself wrote.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobStoreCases } from "./blob-store-test-suite.js";
import { meetingStoreTests } from "./meeting-store-test-suite.js";
import { securityStoreTests } from "./security-store-test-suite.js";
import type {
  AgentRecord,
  Backend,
  ContextRecord,
  RefreshTokenRecord,
  TenantRecord,
} from "./types.js";

/** Options of {@link backendTestSuite}. */
export interface BackendTestSuiteOptions {
  /**
   * The event retention the factory's backend was configured with (events kept per tenant and
   * stream). When set, the suite also checks that older events are trimmed. Default: not checked.
   */
  retainEvents?: number;
}

/**
 * Runs a mutation of a record handed out by a store. Stores may return copies or frozen records;
 * writing to a frozen one throws a TypeError, which counts as "the store did not change".
 */
function attemptMutation(mutate: () => unknown): void {
  try {
    mutate();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

/** A fresh id for one test: lowercase letters and digits, valid as a tenant id. */
const fresh = (prefix = "t") => `${prefix}${randomUUID().replaceAll("-", "")}`;

/** Byte arrays compared by content, whatever class the backend returns (Uint8Array, Buffer). */
const bytes = (b: Uint8Array | undefined) => (b === undefined ? undefined : Array.from(b));

/** A context record with its byte fields made comparable with toEqual. */
function comparable(c: ContextRecord | undefined) {
  return c && { ...c, data: bytes(c.data), sha256: bytes(c.sha256) };
}

function tenantRecord(id: string, overrides: Partial<TenantRecord> = {}): TenantRecord {
  return {
    id,
    displayName: `Tenant ${id}`,
    tier: 1,
    quotas: {
      maxAgents: 3,
      tenantMessagesPerMinute: 0,
      agentMessagesPerMinute: 1000,
      tenantBytesPerMinute: 0,
      agentBytesPerMinute: 100 * 1024 * 1024,
      agentConcurrentStreams: 10,
      storageBytes: 1024 * 1024 * 1024,
      messagesPerMonth: 10_000,
    },
    settings: {
      ackDeadlineMs: 30_000,
      maxDeliveryAttempts: 5,
      dedupeWindowMs: 86_400_000,
      heartbeatIntervalMs: 10_000,
      presenceTimeoutMs: 30_000,
      defaultMessageTtlMs: 604_800_000,
    },
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

function agentRecord(
  tenantId: string,
  id: string,
  overrides: Partial<AgentRecord> = {},
): AgentRecord {
  return {
    tenantId,
    id,
    type: "ml",
    location: "eu/west",
    capabilities: [],
    metadata: {},
    groups: [],
    createdAt: 1_000,
    lastSeen: 1_000,
    sessionId: `ses-${id}`,
    ...overrides,
  };
}

function contextRecord(
  tenantId: string,
  id: string,
  overrides: Partial<ContextRecord> = {},
): ContextRecord {
  const data = new TextEncoder().encode(`value of ${id}`);
  return {
    tenantId,
    id,
    type: "note",
    ownerId: "owner-1",
    contentType: "text/plain",
    data,
    metadata: {},
    revision: 1,
    schemaVersion: "1",
    scope: 1,
    allowedIds: [],
    sha256: new Uint8Array(32).fill(7),
    size: data.length,
    createdAt: 1_000,
    updatedAt: 1_000,
    ...overrides,
  };
}

function refreshToken(
  tenantId: string,
  familyId: string,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    hash: fresh("h"),
    familyId,
    tenantId,
    agentId: "agent-1",
    roles: [2, 3],
    expiresAt: 2_000_000_000_000,
    ...overrides,
  };
}

/**
 * Registers the shared backend contract tests under `describe(name)`. `factory` is called once for
 * the suite; the backend it returns is closed after the last test.
 */
export function backendTestSuite(
  name: string,
  factory: () => Promise<Backend> | Backend,
  options: BackendTestSuiteOptions = {},
): void {
  describe(name, () => {
    let backend: Backend;

    beforeAll(async () => {
      backend = await factory();
    });

    afterAll(async () => {
      await backend?.close();
    });

    blobStoreCases(() => backend);

    meetingStoreTests(() => backend);

    securityStoreTests(() => backend);

    it("declares its capabilities", () => {
      expect(backend.capabilities.name).toMatch(/\S/);
      expect(typeof backend.capabilities.durable).toBe("boolean");
      expect(typeof backend.capabilities.multiNode).toBe("boolean");
    });

    describe("tenants", () => {
      it("creates a tenant once and refuses a duplicate id", async () => {
        const t = tenantRecord(fresh());
        expect(await backend.tenants.create(t)).toBe(true);
        expect(await backend.tenants.create({ ...t, displayName: "imposter" })).toBe(false);
        expect(await backend.tenants.get(t.id)).toEqual(t);
      });

      it("answers undefined for an unknown tenant", async () => {
        expect(await backend.tenants.get(fresh())).toBeUndefined();
      });

      it("returns copies or frozen records: changing a returned record does not change the stored one", async () => {
        const t = tenantRecord(fresh());
        await backend.tenants.create(t);
        const got = await backend.tenants.get(t.id);
        if (!got) throw new Error("tenant not stored");
        attemptMutation(() => {
          got.displayName = "changed";
        });
        attemptMutation(() => {
          got.settings.presenceTimeoutMs = 1;
        });
        expect(await backend.tenants.get(t.id)).toEqual(t);
      });

      it("lists tenants ordered by id, strictly after afterId, in pages", async () => {
        // Ids sharing a fresh prefix sort together and after the prefix itself, before any other id.
        const prefix = fresh("p");
        const ids = ["e", "a", "d", "b", "c"].map((s) => `${prefix}-${s}`);
        for (const id of ids) expect(await backend.tenants.create(tenantRecord(id))).toBe(true);
        const sorted = [...ids].sort();

        const first = await backend.tenants.list(prefix, 2);
        expect(first.map((t) => t.id)).toEqual(sorted.slice(0, 2));
        const second = await backend.tenants.list(first[1]?.id ?? "", 2);
        expect(second.map((t) => t.id)).toEqual(sorted.slice(2, 4));
        const third = await backend.tenants.list(second[1]?.id ?? "", 2);
        expect(third[0]?.id).toBe(sorted[4]);
        // Whatever follows belongs to other tests: never one of ours again.
        expect(third.slice(1).some((t) => ids.includes(t.id))).toBe(false);
        expect(first[0]).toEqual(tenantRecord(sorted[0] ?? ""));
      });

      it("updates only an existing tenant", async () => {
        const t = tenantRecord(fresh());
        expect(await backend.tenants.update(t)).toBe(false);
        expect(await backend.tenants.get(t.id)).toBeUndefined();
        await backend.tenants.create(t);
        const next = {
          ...t,
          displayName: "renamed",
          tier: 5,
          settings: { ...t.settings, presenceTimeoutMs: 500 },
        };
        expect(await backend.tenants.update(next)).toBe(true);
        expect(await backend.tenants.get(t.id)).toEqual(next);
      });

      it("deletes a tenant and reports whether it existed", async () => {
        const t = tenantRecord(fresh());
        const other = tenantRecord(fresh());
        await backend.tenants.create(t);
        await backend.tenants.create(other);
        expect(await backend.tenants.delete(t.id)).toBe(true);
        expect(await backend.tenants.get(t.id)).toBeUndefined();
        expect(await backend.tenants.delete(t.id)).toBe(false);
        expect(await backend.tenants.get(other.id)).toEqual(other);
        // The id is free again.
        expect(await backend.tenants.create(t)).toBe(true);
      });
    });

    describe("registry", () => {
      it("puts, gets and replaces an agent", async () => {
        const tenant = fresh();
        const a = agentRecord(tenant, "a-1", {
          capabilities: ["vision", "ocr"],
          metadata: { zone: "z1" },
          groups: ["g1"],
        });
        await backend.registry.put(a);
        expect(await backend.registry.get(tenant, "a-1")).toEqual(a);
        const replaced = { ...a, type: "rpa", sessionId: "ses-2", capabilities: ["ocr"] };
        await backend.registry.put(replaced);
        expect(await backend.registry.get(tenant, "a-1")).toEqual(replaced);
        expect(await backend.registry.count(tenant)).toBe(1);
        expect(await backend.registry.get(tenant, "a-2")).toBeUndefined();
      });

      it("returns copies or frozen records of agents", async () => {
        const tenant = fresh();
        const a = agentRecord(tenant, "a-1", { capabilities: ["x"], metadata: { k: "v" } });
        await backend.registry.put(a);
        const got = await backend.registry.get(tenant, "a-1");
        if (!got) throw new Error("agent not stored");
        attemptMutation(() => got.capabilities.push("y"));
        attemptMutation(() => {
          got.metadata["k"] = "changed";
        });
        expect(await backend.registry.get(tenant, "a-1")).toEqual(a);
        // Neither may the record the caller stored change what was stored.
        attemptMutation(() => a.capabilities.push("z"));
        expect((await backend.registry.get(tenant, "a-1"))?.capabilities).toEqual(["x"]);
      });

      it("touch sets lastSeen and returns the agent; unknown agents are undefined", async () => {
        const tenant = fresh();
        await backend.registry.put(agentRecord(tenant, "a-1", { lastSeen: 1_000 }));
        const touched = await backend.registry.touch(tenant, "a-1", 5_000);
        expect(touched?.lastSeen).toBe(5_000);
        expect(touched?.id).toBe("a-1");
        expect((await backend.registry.get(tenant, "a-1"))?.lastSeen).toBe(5_000);
        expect(await backend.registry.touch(tenant, "nobody", 6_000)).toBeUndefined();
        expect(await backend.registry.get(tenant, "nobody")).toBeUndefined();
      });

      it("delete returns the removed agent, then undefined", async () => {
        const tenant = fresh();
        const a = agentRecord(tenant, "a-1");
        await backend.registry.put(a);
        expect(await backend.registry.delete(tenant, "a-1")).toEqual(a);
        expect(await backend.registry.get(tenant, "a-1")).toBeUndefined();
        expect(await backend.registry.delete(tenant, "a-1")).toBeUndefined();
        expect(await backend.registry.count(tenant)).toBe(0);
      });

      it("lists agents ordered by id in pages", async () => {
        const tenant = fresh();
        for (const id of ["c", "a", "e", "b", "d"])
          await backend.registry.put(agentRecord(tenant, id));
        const page1 = await backend.registry.list(tenant, {}, "", 2);
        expect(page1.map((a) => a.id)).toEqual(["a", "b"]);
        const page2 = await backend.registry.list(tenant, {}, "b", 2);
        expect(page2.map((a) => a.id)).toEqual(["c", "d"]);
        const page3 = await backend.registry.list(tenant, {}, "d", 2);
        expect(page3.map((a) => a.id)).toEqual(["e"]);
        expect(await backend.registry.list(tenant, {}, "e", 2)).toEqual([]);
        expect(await backend.registry.count(tenant)).toBe(5);
      });

      describe("queries", () => {
        const tenant = fresh();
        const agents = [
          agentRecord(tenant, "a1", {
            type: "ml",
            location: "eu/west",
            capabilities: ["vision", "ocr"],
            metadata: { zone: "z1", tier: "gold" },
            lastSeen: 1_000,
          }),
          agentRecord(tenant, "a2", {
            type: "rpa",
            location: "eu/north/plant-3",
            capabilities: ["ocr"],
            metadata: { zone: "z2" },
            lastSeen: 2_000,
          }),
          agentRecord(tenant, "a3", {
            type: "ml",
            location: "eu",
            capabilities: ["vision"],
            metadata: { zone: "z1" },
            lastSeen: 3_000,
          }),
          agentRecord(tenant, "a4", {
            type: "chatbot",
            location: "europe/x",
            capabilities: [],
            metadata: {},
            lastSeen: 4_000,
          }),
          agentRecord(tenant, "a5", {
            type: "ml",
            location: "us/east",
            capabilities: ["vision", "ocr", "speech"],
            metadata: { zone: "z1", tier: "gold" },
            lastSeen: 5_000,
          }),
        ];
        const ids = async (query: Parameters<Backend["registry"]["list"]>[1]) =>
          (await backend.registry.list(tenant, query, "", 100)).map((a) => a.id);

        beforeAll(async () => {
          for (const a of agents) await backend.registry.put(a);
        });

        it("matches every agent with an empty query", async () => {
          expect(await ids({})).toEqual(["a1", "a2", "a3", "a4", "a5"]);
        });

        it("matches on type", async () => {
          expect(await ids({ type: "ml" })).toEqual(["a1", "a3", "a5"]);
          expect(await ids({ type: "nothing" })).toEqual([]);
        });

        it("matches a location exactly, or as a prefix when it ends with /", async () => {
          expect(await ids({ location: "eu" })).toEqual(["a3"]);
          expect(await ids({ location: "eu/west" })).toEqual(["a1"]);
          // "eu/" is a prefix: it matches eu/west and eu/north/..., not "eu" itself nor "europe/x".
          expect(await ids({ location: "eu/" })).toEqual(["a1", "a2"]);
          expect(await ids({ location: "eu/north/" })).toEqual(["a2"]);
          expect(await ids({ location: "eu/north" })).toEqual([]);
        });

        it("requires every listed capability", async () => {
          expect(await ids({ capabilities: ["ocr"] })).toEqual(["a1", "a2", "a5"]);
          expect(await ids({ capabilities: ["vision", "ocr"] })).toEqual(["a1", "a5"]);
          expect(await ids({ capabilities: ["vision", "speech"] })).toEqual(["a5"]);
          expect(await ids({ capabilities: ["teleport"] })).toEqual([]);
        });

        it("requires every listed metadata pair", async () => {
          expect(await ids({ metadata: { zone: "z1" } })).toEqual(["a1", "a3", "a5"]);
          expect(await ids({ metadata: { zone: "z1", tier: "gold" } })).toEqual(["a1", "a5"]);
          expect(await ids({ metadata: { zone: "z2", tier: "gold" } })).toEqual([]);
        });

        it("filters on seenSince (inclusive) and seenBefore (exclusive)", async () => {
          expect(await ids({ seenSince: 3_000 })).toEqual(["a3", "a4", "a5"]);
          expect(await ids({ seenBefore: 3_000 })).toEqual(["a1", "a2"]);
          expect(await ids({ seenSince: 2_000, seenBefore: 4_000 })).toEqual(["a2", "a3"]);
          expect(await ids({ seenSince: 6_000 })).toEqual([]);
        });

        it("combines criteria and pages through the matches", async () => {
          const q = { type: "ml", capabilities: ["vision"], metadata: { zone: "z1" } };
          expect(await ids(q)).toEqual(["a1", "a3", "a5"]);
          expect(await ids({ ...q, location: "eu/" })).toEqual(["a1"]);
          expect(await ids({ ...q, seenSince: 2_000 })).toEqual(["a3", "a5"]);
          const page1 = await backend.registry.list(tenant, q, "", 2);
          expect(page1.map((a) => a.id)).toEqual(["a1", "a3"]);
          const page2 = await backend.registry.list(tenant, q, "a3", 2);
          expect(page2.map((a) => a.id)).toEqual(["a5"]);
        });
      });

      it("deleteTenant removes that tenant's agents only", async () => {
        const a = fresh();
        const b = fresh();
        await backend.registry.put(agentRecord(a, "x"));
        await backend.registry.put(agentRecord(a, "y"));
        await backend.registry.put(agentRecord(b, "x"));
        await backend.registry.deleteTenant(a);
        expect(await backend.registry.count(a)).toBe(0);
        expect(await backend.registry.get(a, "x")).toBeUndefined();
        expect(await backend.registry.list(a, {}, "", 10)).toEqual([]);
        expect(await backend.registry.count(b)).toBe(1);
        expect(await backend.registry.get(b, "x")).toEqual(agentRecord(b, "x"));
      });
    });

    describe("contexts", () => {
      it("creates a context once; a duplicate id answers false and changes nothing", async () => {
        const tenant = fresh();
        const c = contextRecord(tenant, "c-1", { metadata: { k: "v" }, allowedIds: [] });
        expect(await backend.contexts.create(c)).toBe(true);
        expect(await backend.contexts.create({ ...c, type: "other", revision: 9 })).toBe(false);
        expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(c));
      });

      it("round-trips every field, including bytes, storageRef and expiresAt", async () => {
        const tenant = fresh();
        const inline = contextRecord(tenant, "inline", {
          data: new Uint8Array([0, 1, 2, 255]),
          size: 4,
          scope: 4,
          allowedIds: ["a-1", "a-2"],
          expiresAt: 99_000,
        });
        const large = contextRecord(tenant, "large", {
          data: new Uint8Array(),
          size: 5_000_000,
          storageRef: { backend: "fs", bucket: "b", key: "k/1", size: 5_000_000 },
        });
        await backend.contexts.create(inline);
        await backend.contexts.create(large);
        expect(comparable(await backend.contexts.get(tenant, "inline"))).toEqual(
          comparable(inline),
        );
        expect(comparable(await backend.contexts.get(tenant, "large"))).toEqual(comparable(large));
        expect(await backend.contexts.get(tenant, "missing")).toBeUndefined();
        await backend.contexts.deleteTenant(tenant);
      });

      it("returns copies of contexts", async () => {
        const tenant = fresh();
        const c = contextRecord(tenant, "c-1", { metadata: { k: "v" } });
        await backend.contexts.create(c);
        const got = await backend.contexts.get(tenant, "c-1");
        if (!got) throw new Error("context not stored");
        got.metadata["k"] = "changed";
        got.revision = 42;
        got.data[0] = 0;
        expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(c));
      });

      it("replace succeeds at the expected revision and answers the current record on a conflict", async () => {
        const tenant = fresh();
        const v1 = contextRecord(tenant, "c-1");
        await backend.contexts.create(v1);
        const v2 = { ...v1, revision: 2, data: new Uint8Array([9]), size: 1, updatedAt: 2_000 };
        expect(await backend.contexts.replace(v2, 1)).toEqual({ ok: true });
        expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(v2));

        // A writer that still believes revision 1 loses and learns revision 2.
        const stale = { ...v1, revision: 2, type: "lost-update" };
        const conflict = await backend.contexts.replace(stale, 1);
        expect(conflict.ok).toBe(false);
        if (conflict.ok) throw new Error("unreachable");
        expect(comparable(conflict.current)).toEqual(comparable(v2));
        expect(comparable(await backend.contexts.get(tenant, "c-1"))).toEqual(comparable(v2));
      });

      it("replace of a missing context is a conflict with no current record", async () => {
        const tenant = fresh();
        const result = await backend.contexts.replace(
          contextRecord(tenant, "ghost", { revision: 2 }),
          1,
        );
        expect(result).toEqual({ ok: false, current: undefined });
        expect(await backend.contexts.get(tenant, "ghost")).toBeUndefined();
      });

      it("delete is a compare-and-set too", async () => {
        const tenant = fresh();
        const c = contextRecord(tenant, "c-1", { revision: 3 });
        await backend.contexts.create(c);
        const conflict = await backend.contexts.delete(tenant, "c-1", 2);
        expect(conflict.ok).toBe(false);
        if (conflict.ok) throw new Error("unreachable");
        expect(conflict.current?.revision).toBe(3);
        expect(await backend.contexts.get(tenant, "c-1")).toBeDefined();

        expect(await backend.contexts.delete(tenant, "c-1", 3)).toEqual({ ok: true });
        expect(await backend.contexts.get(tenant, "c-1")).toBeUndefined();
        expect(await backend.contexts.delete(tenant, "c-1", 3)).toEqual({
          ok: false,
          current: undefined,
        });
        // The id is free again.
        expect(await backend.contexts.create(c)).toBe(true);
      });

      it("lists contexts by type, owner and metadata, ordered by id, in pages", async () => {
        const tenant = fresh();
        const specs: [string, string, string, Record<string, string>][] = [
          ["c5", "note", "alice", { env: "prod", team: "x" }],
          ["c1", "note", "bob", { env: "prod" }],
          ["c3", "plan", "alice", { env: "dev" }],
          ["c2", "note", "alice", { env: "prod", team: "y" }],
          ["c4", "plan", "bob", {}],
        ];
        for (const [id, type, ownerId, metadata] of specs) {
          await backend.contexts.create(contextRecord(tenant, id, { type, ownerId, metadata }));
        }
        const ids = async (
          q: Parameters<Backend["contexts"]["list"]>[1],
          after = "",
          limit = 100,
        ) => (await backend.contexts.list(tenant, q, after, limit)).map((c) => c.id);

        expect(await ids({})).toEqual(["c1", "c2", "c3", "c4", "c5"]);
        expect(await ids({ type: "note" })).toEqual(["c1", "c2", "c5"]);
        expect(await ids({ ownerId: "alice" })).toEqual(["c2", "c3", "c5"]);
        expect(await ids({ metadata: { env: "prod" } })).toEqual(["c1", "c2", "c5"]);
        expect(await ids({ metadata: { env: "prod", team: "x" } })).toEqual(["c5"]);
        expect(await ids({ type: "note", ownerId: "alice" })).toEqual(["c2", "c5"]);
        expect(await ids({ type: "plan", ownerId: "alice", metadata: { env: "prod" } })).toEqual(
          [],
        );

        expect(await ids({}, "", 2)).toEqual(["c1", "c2"]);
        expect(await ids({}, "c2", 2)).toEqual(["c3", "c4"]);
        expect(await ids({}, "c4", 2)).toEqual(["c5"]);
        expect(await ids({ type: "note" }, "c1", 1)).toEqual(["c2"]);
        expect(await ids({ type: "note" }, "c5", 1)).toEqual([]);
      });

      it("listExpired and nextExpiry see contexts whose TTL has passed", async () => {
        const tenant = fresh();
        // Expiry times unlikely to collide with other tests' data; assertions only look at ours.
        const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
        await backend.contexts.create(contextRecord(tenant, "e1", { expiresAt: base + 1 }));
        await backend.contexts.create(contextRecord(tenant, "e2", { expiresAt: base + 2 }));
        await backend.contexts.create(contextRecord(tenant, "e3", { expiresAt: base + 5 }));
        await backend.contexts.create(contextRecord(tenant, "forever"));

        const next = await backend.contexts.nextExpiry();
        expect(next).toBeDefined();
        expect(next).toBeLessThanOrEqual(base + 1);

        const ours = async (now: number) =>
          (await backend.contexts.listExpired(now, 100_000))
            .filter((c) => c.tenantId === tenant)
            .map((c) => c.id)
            .sort();
        expect(await ours(base)).toEqual([]);
        expect(await ours(base + 1)).toEqual(["e1"]);
        expect(await ours(base + 4)).toEqual(["e1", "e2"]);
        expect(await ours(base + 1_000_000_000)).toEqual(["e1", "e2", "e3"]);

        // The limit caps the answer.
        expect((await backend.contexts.listExpired(base + 5, 1)).length).toBe(1);

        // Expired contexts stay until deleted (the hub's sweeper does that).
        expect(await backend.contexts.get(tenant, "e1")).toBeDefined();
        await backend.contexts.delete(tenant, "e1", 1);
        await backend.contexts.delete(tenant, "e2", 1);
        expect(await ours(base + 4)).toEqual([]);
        await backend.contexts.delete(tenant, "e3", 1);
        expect(await ours(base + 1_000_000_000)).toEqual([]);
      });

      it("nextExpiry follows the earliest expiry as contexts come and go", async () => {
        // Expiry times of a few milliseconds after the epoch come before any other test's, so the
        // answers are exact even in a shared store (cleaned up at the end).
        const tenant = fresh();
        const before = await backend.contexts.nextExpiry();
        const isOurs = (n: number | undefined) => n !== undefined && n <= 9;
        expect(isOurs(before)).toBe(false);
        await backend.contexts.create(contextRecord(tenant, "late", { expiresAt: 9 }));
        expect(await backend.contexts.nextExpiry()).toBe(9);
        await backend.contexts.create(contextRecord(tenant, "early", { expiresAt: 3 }));
        expect(await backend.contexts.nextExpiry()).toBe(3);
        await backend.contexts.delete(tenant, "early", 1);
        expect(await backend.contexts.nextExpiry()).toBe(9);
        const late = await backend.contexts.get(tenant, "late");
        if (!late) throw new Error("context not stored");
        await backend.contexts.replace({ ...late, revision: 2, expiresAt: 4 }, 1);
        expect(await backend.contexts.nextExpiry()).toBe(4);
        // Replacing with a record without expiresAt removes the TTL.
        const { expiresAt: _dropped, ...noTtl } = late;
        await backend.contexts.replace({ ...noTtl, revision: 3 }, 2);
        expect(isOurs(await backend.contexts.nextExpiry())).toBe(false);
        expect((await backend.contexts.get(tenant, "late"))?.expiresAt).toBeUndefined();
        expect(await backend.contexts.listExpired(9, 100_000)).toEqual([]);
        await backend.contexts.delete(tenant, "late", 3);
      });

      it("deleteTenant removes that tenant's contexts only", async () => {
        const a = fresh();
        const b = fresh();
        await backend.contexts.create(contextRecord(a, "c-1", { expiresAt: 5_000 }));
        await backend.contexts.create(contextRecord(a, "c-2"));
        await backend.contexts.create(contextRecord(b, "c-1"));
        await backend.contexts.deleteTenant(a);
        expect(await backend.contexts.get(a, "c-1")).toBeUndefined();
        expect(await backend.contexts.list(a, {}, "", 10)).toEqual([]);
        const expired = await backend.contexts.listExpired(1_000_000_000_000, 100_000);
        expect(expired.some((c) => c.tenantId === a)).toBe(false);
        expect(comparable(await backend.contexts.get(b, "c-1"))).toEqual(
          comparable(contextRecord(b, "c-1")),
        );
      });
    });

    describe("events", () => {
      it("appends with strictly increasing sequence numbers from 1 and reads them back", async () => {
        const tenant = fresh();
        expect(await backend.events.bounds(tenant, "contexts")).toEqual({ head: 0, oldest: 1 });
        expect(await backend.events.read(tenant, "contexts", 0, 10)).toEqual([]);
        for (let i = 1; i <= 5; i++) {
          expect(await backend.events.append(tenant, "contexts", { n: i })).toBe(i);
        }
        expect(await backend.events.bounds(tenant, "contexts")).toEqual({ head: 5, oldest: 1 });
        expect(await backend.events.read(tenant, "contexts", 0, 10)).toEqual(
          [1, 2, 3, 4, 5].map((n) => ({ seq: n, event: { n } })),
        );
        expect(await backend.events.read(tenant, "contexts", 2, 2)).toEqual([
          { seq: 3, event: { n: 3 } },
          { seq: 4, event: { n: 4 } },
        ]);
        expect(await backend.events.read(tenant, "contexts", 5, 10)).toEqual([]);
      });

      it("keeps each tenant's streams apart", async () => {
        const a = fresh();
        const b = fresh();
        await backend.events.append(a, "contexts", { who: "a-ctx" });
        await backend.events.append(a, "agents", { who: "a-agent-1" });
        await backend.events.append(a, "agents", { who: "a-agent-2" });
        expect(await backend.events.append(b, "contexts", { who: "b-ctx" })).toBe(1);
        expect(await backend.events.read(a, "contexts", 0, 10)).toEqual([
          { seq: 1, event: { who: "a-ctx" } },
        ]);
        expect(await backend.events.read(b, "contexts", 0, 10)).toEqual([
          { seq: 1, event: { who: "b-ctx" } },
        ]);
        expect(await backend.events.read(b, "agents", 0, 10)).toEqual([]);
        expect(await backend.events.bounds(a, "agents")).toEqual({ head: 2, oldest: 1 });
      });

      it("stores a copy of the appended event", async () => {
        const tenant = fresh();
        const event = { context: { id: "c-1", metadata: { k: "v" } } };
        await backend.events.append(tenant, "contexts", event);
        event.context.metadata.k = "changed";
        const [stored] = await backend.events.read(tenant, "contexts", 0, 1);
        expect(stored?.event).toEqual({ context: { id: "c-1", metadata: { k: "v" } } });
      });

      it("waitFor resolves at once when an event after afterSeq already exists", async () => {
        const tenant = fresh();
        await backend.events.append(tenant, "agents", { n: 1 });
        await backend.events.append(tenant, "agents", { n: 2 });
        await expect(
          backend.events.waitFor(tenant, "agents", 1, new AbortController().signal),
        ).resolves.toBeUndefined();
      });

      it("waitFor resolves when a matching event is appended, not for other streams", async () => {
        const tenant = fresh();
        await backend.events.append(tenant, "contexts", { n: 1 });
        let resolved = false;
        const waiting = backend.events
          .waitFor(tenant, "contexts", 1, new AbortController().signal)
          .then(() => {
            resolved = true;
          });
        // Appends elsewhere must not wake this waiter. (Checking "not yet" can only look after the
        // other appends have completed and pending callbacks have run; it does not wait for time.)
        await backend.events.append(tenant, "agents", { n: 1 });
        await backend.events.append(fresh(), "contexts", { n: 1 });
        await new Promise<void>((r) => setImmediate(r));
        expect(resolved).toBe(false);
        await backend.events.append(tenant, "contexts", { n: 2 });
        await waiting;
        expect(resolved).toBe(true);
      });

      it("waitFor resolves when its signal aborts, or at once when already aborted", async () => {
        const tenant = fresh();
        const ac = new AbortController();
        let resolved = false;
        const waiting = backend.events.waitFor(tenant, "agents", 0, ac.signal).then(() => {
          resolved = true;
        });
        await new Promise<void>((r) => setImmediate(r));
        expect(resolved).toBe(false);
        ac.abort();
        await waiting;
        expect(resolved).toBe(true);
        await expect(
          backend.events.waitFor(tenant, "agents", 0, ac.signal),
        ).resolves.toBeUndefined();
        expect(await backend.events.bounds(tenant, "agents")).toEqual({ head: 0, oldest: 1 });
      });

      it("deleteTenant drops that tenant's events only and wakes its waiters", async () => {
        const a = fresh();
        const b = fresh();
        await backend.events.append(a, "contexts", { n: 1 });
        await backend.events.append(a, "agents", { n: 1 });
        await backend.events.append(b, "contexts", { n: 1 });
        const waiting = backend.events.waitFor(a, "contexts", 1, new AbortController().signal);
        await backend.events.deleteTenant(a);
        await waiting;
        expect(await backend.events.read(a, "contexts", 0, 10)).toEqual([]);
        expect(await backend.events.read(a, "agents", 0, 10)).toEqual([]);
        expect(await backend.events.read(b, "contexts", 0, 10)).toEqual([
          { seq: 1, event: { n: 1 } },
        ]);
      });

      const retain = options.retainEvents;
      it.runIf(retain !== undefined)(
        "trims events beyond its retention, oldest first",
        async () => {
          const keep = retain ?? 0;
          const tenant = fresh();
          const total = keep * 3 + 7;
          for (let i = 1; i <= total; i++)
            await backend.events.append(tenant, "contexts", { n: i });
          const { head, oldest } = await backend.events.bounds(tenant, "contexts");
          expect(head).toBe(total);
          // At least `keep` events remain, but not all of them: the oldest ones are gone.
          expect(oldest).toBeGreaterThan(1);
          expect(head - oldest + 1).toBeGreaterThanOrEqual(keep);
          // Reading from before the retained range starts at the oldest retained event, contiguously.
          const all = await backend.events.read<{ n: number }>(tenant, "contexts", 0, total);
          expect(all[0]?.seq).toBe(oldest);
          expect(all.map((e) => e.seq)).toEqual(
            Array.from({ length: head - oldest + 1 }, (_, i) => oldest + i),
          );
          expect(all.every((e) => e.event.n === e.seq)).toBe(true);
          // Another tenant's stream is unaffected by this one's volume.
          const other = fresh();
          await backend.events.append(other, "contexts", { n: 1 });
          expect(await backend.events.bounds(other, "contexts")).toEqual({ head: 1, oldest: 1 });
        },
      );
    });

    describe("auth", () => {
      it("puts and gets refresh tokens by hash", async () => {
        const tenant = fresh();
        const t = refreshToken(tenant, fresh("fam"));
        await backend.auth.putRefreshToken(t);
        expect(await backend.auth.getRefreshToken(t.hash)).toEqual(t);
        expect(await backend.auth.getRefreshToken(fresh("h"))).toBeUndefined();
      });

      it("keeps the latest not-before time per tenant and per subject, until the tenant is deleted", async () => {
        const tenant = fresh();
        const auth = backend.auth;
        expect(await auth.notBefore(tenant, "a")).toBe(0);
        await auth.setNotBefore(tenant, "a", 5_000);
        await auth.setNotBefore(tenant, "a", 4_000);
        expect(await auth.notBefore(tenant, "a")).toBe(5_000);
        expect(await auth.notBefore(tenant, "b")).toBe(0);
        await auth.setNotBefore(tenant, "", 7_000);
        expect(await auth.notBefore(tenant, "a")).toBe(7_000);
        expect(await auth.notBefore(tenant, "b")).toBe(7_000);
        expect(await auth.notBefore(tenant, "")).toBe(7_000);
        expect(await auth.notBefore(fresh(), "a")).toBe(0);
        await auth.deleteTenant(tenant);
        expect(await auth.notBefore(tenant, "a")).toBe(0);
      });

      it("keeps a refresh token's groups and issue time", async () => {
        const t = refreshToken(fresh(), fresh("fam"), { groups: ["g1", "g2"], issuedAt: 1_234 });
        await backend.auth.putRefreshToken(t);
        expect(await backend.auth.getRefreshToken(t.hash)).toEqual(t);
      });

      it("marks a token used exactly once", async () => {
        const tenant = fresh();
        const t = refreshToken(tenant, fresh("fam"));
        await backend.auth.putRefreshToken(t);
        expect(await backend.auth.markRefreshTokenUsed(t.hash, 5_000)).toBe(true);
        expect(await backend.auth.markRefreshTokenUsed(t.hash, 6_000)).toBe(false);
        expect((await backend.auth.getRefreshToken(t.hash))?.usedAt).toBe(5_000);
        expect(await backend.auth.markRefreshTokenUsed(fresh("h"), 5_000)).toBe(false);
      });

      it("marks a token used once even when two callers race", async () => {
        const t = refreshToken(fresh(), fresh("fam"));
        await backend.auth.putRefreshToken(t);
        const results = await Promise.all([
          backend.auth.markRefreshTokenUsed(t.hash, 1),
          backend.auth.markRefreshTokenUsed(t.hash, 2),
          backend.auth.markRefreshTokenUsed(t.hash, 3),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it("revokes a token family and no other", async () => {
        const tenant = fresh();
        const fam = fresh("fam");
        const other = fresh("fam");
        await backend.auth.putRefreshToken(refreshToken(tenant, fam));
        await backend.auth.putRefreshToken(refreshToken(tenant, other));
        expect(await backend.auth.isFamilyRevoked(fam)).toBe(false);
        await backend.auth.revokeFamily(fam);
        expect(await backend.auth.isFamilyRevoked(fam)).toBe(true);
        expect(await backend.auth.isFamilyRevoked(other)).toBe(false);
        // Revoking twice is harmless.
        await backend.auth.revokeFamily(fam);
        expect(await backend.auth.isFamilyRevoked(fam)).toBe(true);
      });

      it("deleteTenant removes that tenant's refresh tokens only", async () => {
        const a = fresh();
        const b = fresh();
        const ta = refreshToken(a, fresh("fam"));
        const tb = refreshToken(b, fresh("fam"));
        await backend.auth.putRefreshToken(ta);
        await backend.auth.putRefreshToken(tb);
        await backend.auth.deleteTenant(a);
        expect(await backend.auth.getRefreshToken(ta.hash)).toBeUndefined();
        expect(await backend.auth.getRefreshToken(tb.hash)).toEqual(tb);
      });
    });

    describe("tenant isolation", () => {
      it("finds the tenants holding an id (for probe reports), in sorted order, up to a limit", async () => {
        const [a, b, c] = [fresh(), fresh(), fresh()].sort() as [string, string, string];
        const id = fresh("probe-");
        await backend.registry.put(agentRecord(b, id));
        await backend.registry.put(agentRecord(a, id));
        await backend.contexts.create(contextRecord(c, id));
        await backend.contexts.create(contextRecord(a, id));
        expect(await backend.registry.tenantsHolding(id, 10)).toEqual([a, b]);
        expect(await backend.registry.tenantsHolding(id, 1)).toEqual([a]);
        expect(await backend.contexts.tenantsHolding(id, 10)).toEqual([a, c]);
        expect(await backend.contexts.tenantsHolding(fresh("none-"), 10)).toEqual([]);
      });

      it("never answers tenant A's data for tenant B, in any store", async () => {
        const a = fresh();
        const b = fresh();
        // The same object ids in both tenants must not collide either.
        await backend.registry.put(
          agentRecord(a, "shared-id", { capabilities: ["x"], metadata: { k: "v" } }),
        );
        await backend.contexts.create(contextRecord(a, "shared-id", { metadata: { k: "v" } }));
        await backend.events.append(a, "contexts", { from: "a" });
        await backend.events.append(a, "agents", { from: "a" });

        expect(await backend.registry.get(b, "shared-id")).toBeUndefined();
        expect(await backend.registry.touch(b, "shared-id", 9_999)).toBeUndefined();
        expect(await backend.registry.delete(b, "shared-id")).toBeUndefined();
        expect(await backend.registry.list(b, {}, "", 100)).toEqual([]);
        expect(
          await backend.registry.list(b, { capabilities: ["x"], metadata: { k: "v" } }, "", 100),
        ).toEqual([]);
        expect(await backend.registry.count(b)).toBe(0);

        expect(await backend.contexts.get(b, "shared-id")).toBeUndefined();
        expect(await backend.contexts.list(b, {}, "", 100)).toEqual([]);
        expect(await backend.contexts.list(b, { metadata: { k: "v" } }, "", 100)).toEqual([]);
        expect(
          await backend.contexts.replace(contextRecord(b, "shared-id", { revision: 2 }), 1),
        ).toEqual({
          ok: false,
          current: undefined,
        });
        expect(await backend.contexts.delete(b, "shared-id", 1)).toEqual({
          ok: false,
          current: undefined,
        });

        expect(await backend.events.read(b, "contexts", 0, 100)).toEqual([]);
        expect(await backend.events.read(b, "agents", 0, 100)).toEqual([]);
        expect(await backend.events.bounds(b, "contexts")).toEqual({ head: 0, oldest: 1 });

        // B writes objects with the same ids; A's stay as they were.
        await backend.registry.put(agentRecord(b, "shared-id", { type: "b-type" }));
        expect(
          await backend.contexts.create(contextRecord(b, "shared-id", { type: "b-type" })),
        ).toBe(true);
        expect((await backend.registry.get(a, "shared-id"))?.type).toBe("ml");
        expect((await backend.contexts.get(a, "shared-id"))?.type).toBe("note");
        expect((await backend.registry.touch(a, "shared-id", 7_000))?.type).toBe("ml");
        expect((await backend.registry.get(b, "shared-id"))?.lastSeen).toBe(1_000);

        // Deleting tenant B everywhere leaves A intact.
        await Promise.all([
          backend.registry.deleteTenant(b),
          backend.contexts.deleteTenant(b),
          backend.events.deleteTenant(b),
          backend.auth.deleteTenant(b),
        ]);
        expect(await backend.registry.count(a)).toBe(1);
        expect(await backend.contexts.get(a, "shared-id")).toBeDefined();
        expect((await backend.events.bounds(a, "contexts")).head).toBe(1);
      });
    });
  });
}
