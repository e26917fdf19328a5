// API keys, the audit log (what is recorded, querying, export, retention) and tenant deletion.

import { ListApiKeysResponseSchema, Role } from "@acb/gen/acb/v1/auth_pb";
import { toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import {
  auditedWith,
  drain,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
  text,
} from "./security-harness.js";

let t: TestHub;
// The suite looks into the backend to prove what is (not) stored.
const backend = createMemoryBackend();

beforeAll(async () => {
  t = await startTestHub({ backend, auditRetentionMs: 90 * 24 * 3_600_000 });
});

afterAll(async () => {
  await t?.close();
});

describe("API keys", () => {
  it("shows the secret once, lists keys without it, and a tenant admin manages its own", async () => {
    const tenantId = await t.newTenant();
    const tenantAdmin = await t.agentIn(tenantId, "ops", [Role.ADMIN]);
    const created = await tenantAdmin.auth.createApiKey({
      tenantId,
      agentId: "robot",
      roles: [Role.AGENT_PRODUCER],
      description: "nightly import",
      ttl: { seconds: 3600n },
    });
    const id = created.key?.id ?? "";
    expect(created.secret.startsWith(`acbk_${id}_`)).toBe(true);
    expect(created.key?.expiresAt).toBeDefined();

    const listed = await tenantAdmin.auth.listApiKeys({ tenantId });
    expect(listed.keys.map((k) => k.id)).toEqual([id]);
    expect(listed.keys[0]?.description).toBe("nightly import");
    expect(toJsonString(ListApiKeysResponseSchema, listed)).not.toContain(created.secret.slice(22));

    // The backend holds a hash, never the secret.
    const stored = await backend.apiKeys.get(id);
    expect(stored?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(created.secret.slice(22));

    // The key works as a bearer credential with the roles it was given.
    const robot = t.clients(created.secret);
    expect((await robot.auth.whoAmI({})).roles).toEqual([Role.AGENT_PRODUCER]);
    await robot.contexts.createContext({
      type: "note",
      payload: { contentType: "text/plain", data: text("x") },
    });
    await expectCode(drain(robot.messaging.receive({})), Code.PermissionDenied);

    await tenantAdmin.auth.revokeApiKey({ keyId: id });
    const after = await tenantAdmin.auth.listApiKeys({ tenantId });
    expect(after.keys[0]?.revokedAt).toBeDefined();
    await expectCode(robot.auth.whoAmI({}), Code.Unauthenticated);
    await expectCode(tenantAdmin.auth.revokeApiKey({ keyId: "0000000000000000" }), Code.NotFound);
    // Another tenant's admin cannot see or revoke it.
    const stranger = await t.agentIn(await t.newTenant(), "ops", [Role.ADMIN]);
    await expectCode(stranger.auth.revokeApiKey({ keyId: id }), Code.NotFound);
    await expectCode(stranger.auth.listApiKeys({ tenantId }), Code.NotFound);
  });

  it("expires a key at its ttl", async () => {
    const tenantId = await t.newTenant();
    const { secret } = await t.admin.auth.createApiKey({
      tenantId,
      agentId: "temp",
      roles: [Role.OBSERVER],
      ttl: { seconds: 60n },
    });
    await t.clients(secret).auth.whoAmI({});
    t.clock.advance(60_000);
    await expectCode(t.clients(secret).auth.whoAmI({}), Code.Unauthenticated);
  });
});

describe("audit log", () => {
  it("records authentication, registrations, context reads and writes, key and tenant changes", async () => {
    const cid = newCorrelationId();
    const tenantId = await t.newTenant();
    const a = await t.agentIn(tenantId, "writer");
    const c = t.clients(a.token, cid);
    await c.registry.register({ agentId: "writer", type: "svc" });
    await c.contexts.createContext({
      contextId: "doc",
      type: "note",
      payload: { contentType: "text/plain", data: text("v1") },
    });
    await c.contexts.getContext({ contextId: "doc" });
    await c.contexts.updateContext({
      contextId: "doc",
      payload: { contentType: "text/plain", data: text("v2") },
    });
    await c.contexts.deleteContext({ contextId: "doc" });
    await c.registry.unregister({ agentId: "writer" });
    const records = await auditedWith(t, cid);
    expect(records.map((r) => r.action)).toEqual([
      "auth.authenticate",
      "agent.register",
      "context.create",
      "context.read",
      "context.update",
      "context.delete",
      "agent.unregister",
    ]);
    for (const r of records) {
      expect(r.tenantId).toBe(tenantId);
      expect(r.actor).toBe("writer");
      expect(r.outcome).toBe("success");
      expect(r.time).toBeDefined();
    }
    expect(records.find((r) => r.action === "context.update")?.target).toBe("context/doc");

    // Tenant and key changes are recorded with the admin as actor.
    const admin = await t.admin.admin.queryAuditLog({ tenantId, actor: "admin:dev-admin" });
    expect(admin.records.map((r) => r.action)).toEqual(
      expect.arrayContaining(["tenant.create", "token.issue"]),
    );
  });

  it("echoes the correlation id and assigns one when the client sends none", async () => {
    const tenantId = await t.newTenant();
    const a = await t.agentIn(tenantId, "a");
    let header: string | null = null;
    await a.auth.whoAmI({}, { onHeader: (h) => (header = h.get("x-correlation-id")) });
    expect(header).toMatch(/^cor_/);
  });

  it("filters by action prefix, outcome and time, pages, and a tenant admin sees only its tenant", async () => {
    const tenantId = await t.newTenant();
    const ops = await t.agentIn(tenantId, "ops", [Role.ADMIN]);
    for (let i = 0; i < 5; i++) {
      await ops.contexts.createContext({
        contextId: `c${i}`,
        type: "note",
        payload: { contentType: "text/plain", data: text("x") },
      });
    }
    await expectCode(ops.contexts.getContext({ contextId: "missing" }), Code.NotFound);
    const writes = await ops.admin.queryAuditLog({ tenantId, action: "context.", pageSize: 3 });
    expect(writes.records).toHaveLength(3);
    const rest = await ops.admin.queryAuditLog({
      tenantId,
      action: "context.",
      pageSize: 3,
      pageToken: writes.nextPageToken,
    });
    expect(rest.records.map((r) => r.target)).toEqual(["context/c3", "context/c4"]);
    expect(rest.nextPageToken).toBe("");
    const denied = await ops.admin.queryAuditLog({ tenantId, outcome: "denied" });
    expect(denied.records.map((r) => r.action)).toEqual(["authz.not_found"]);
    const future = await ops.admin.queryAuditLog({
      tenantId,
      start: { seconds: BigInt(Math.floor(t.clock.now() / 1000) + 60) },
    });
    expect(future.records).toEqual([]);
    // A tenant admin cannot widen the query to every tenant.
    await expectCode(ops.admin.queryAuditLog({ tenantId: "*" }), Code.NotFound);
  });

  it("exports JSON lines", async () => {
    const tenantId = await t.newTenant();
    const a = await t.agentIn(tenantId, "a");
    await a.contexts.createContext({
      contextId: "x",
      type: "note",
      payload: { contentType: "text/plain", data: text("x") },
    });
    let jsonl = "";
    for await (const part of t.admin.admin.exportAuditLog({ tenantId })) {
      jsonl += new TextDecoder().decode(part.jsonl);
    }
    expect(jsonl.endsWith("\n")).toBe(true);
    const lines = jsonl
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.action)).toEqual(
      expect.arrayContaining(["tenant.create", "auth.authenticate", "context.create"]),
    );
    for (const l of lines) {
      expect(l.tenantId).toBe(tenantId);
      expect(typeof l.time).toBe("string");
    }
  });

  it("keeps records for the retention period and prunes them after it", async () => {
    const tenantId = await t.newTenant();
    await t.agentIn(tenantId, "a");
    const before = await t.admin.admin.queryAuditLog({ tenantId });
    expect(before.records.length).toBeGreaterThan(0);
    t.clock.advance(89 * 24 * 3_600_000);
    expect((await t.admin.admin.queryAuditLog({ tenantId })).records).toHaveLength(
      before.records.length,
    );
    t.clock.advance(2 * 24 * 3_600_000);
    expect((await t.admin.admin.queryAuditLog({ tenantId })).records).toEqual([]);
    // Pruned from the store, not only hidden: the hourly prune ran on the hub clock.
    const stored = await backend.audit.query(
      { tenantId, start: 0, end: Number.MAX_SAFE_INTEGER },
      "",
      10,
    );
    expect(stored).toEqual([]);
  });
});

describe("tenant deletion", () => {
  it("purges messages, meetings, keys and usage; the tenant id can be provisioned again", async () => {
    const tenantId = await t.newTenant();
    const a = await t.agentIn(tenantId, "a");
    const b = await t.agentIn(tenantId, "b");
    await a.registry.register({ agentId: "a", type: "svc" });
    await b.registry.register({ agentId: "b", type: "svc" });
    await a.messaging.send({ target: { case: "recipientId", value: "b" }, kind: "hello" });
    expect(await backend.messages.backlog(tenantId, "b")).toBe(1);
    await a.meetings.createMeeting({ meetingId: "m", title: "t", participantIds: ["b"] });
    await t.admin.auth.createApiKey({ tenantId, agentId: "k", roles: [Role.AGENT_FULL] });
    expect(await backend.meetings.get(tenantId, "m")).toBeDefined();
    expect((await backend.usage.read(tenantId, 0, Number.MAX_SAFE_INTEGER))?.length).toBe(1);

    await t.admin.admin.deleteTenant({ tenantId });
    expect(await backend.meetings.get(tenantId, "m")).toBeUndefined();
    expect(await backend.apiKeys.list(tenantId, "", 10)).toEqual([]);
    expect(await backend.usage.read(tenantId, 0, Number.MAX_SAFE_INTEGER)).toEqual([]);

    await t.admin.admin.createTenant({ tenantId });
    const b2 = await t.agentIn(tenantId, "b");
    await b2.registry.register({ agentId: "b", type: "svc" });
    expect(await backend.messages.backlog(tenantId, "b")).toBe(0);
    await expectCode(b2.meetings.getMeeting({ meetingId: "m" }), Code.NotFound);
  });
});
