// Quotas answer RESOURCE_EXHAUSTED with RetryInfo, and metered usage matches the traffic sent.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectAudited,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
  text,
} from "./security-harness.js";

let t: TestHub;

beforeAll(async () => {
  t = await startTestHub();
});

afterAll(async () => {
  await t?.close();
});

const quotas = (q: Partial<Record<string, number>>) => ({
  maxAgents: 0,
  tenantMessagesPerMinute: 0n,
  agentMessagesPerMinute: 0n,
  tenantBytesPerMinute: 0n,
  agentBytesPerMinute: 0n,
  agentConcurrentStreams: 0,
  storageBytes: 0n,
  messagesPerMonth: 0n,
  ...Object.fromEntries(
    Object.entries(q).map(([k, v]) => [
      k,
      k === "maxAgents" || k === "agentConcurrentStreams" ? v : BigInt(v ?? 0),
    ]),
  ),
});

/** RetryInfo of a RESOURCE_EXHAUSTED error: the limit's name and the delay in ms. */
function retryInfo(err: ConnectError) {
  const [info] = err.findDetails(RetryInfoSchema);
  expect(info, "RetryInfo detail").toBeDefined();
  const delay = info?.retryDelay;
  return {
    limit: info?.limit,
    ms: Number(delay?.seconds ?? 0n) * 1000 + Math.floor((delay?.nanos ?? 0) / 1e6),
  };
}

async function tenantWith(q: Partial<Record<string, number>>) {
  const tenantId = await t.newTenant({ tier: Tier.CUSTOM, quotas: quotas(q) });
  const a = await t.agentIn(tenantId, "a");
  const b = await t.agentIn(tenantId, "b");
  await a.registry.register({ agentId: "a", type: "svc" });
  await b.registry.register({ agentId: "b", type: "svc" });
  return { tenantId, a, b };
}

const send = (c: TestHub["admin"], to: string, bytes = 1) =>
  c.messaging.send({
    target: { case: "recipientId", value: to },
    kind: "k",
    payload: { contentType: "application/octet-stream", data: new Uint8Array(bytes) },
  });

describe("quotas", () => {
  it("limits messages per minute per agent, with retry info until the minute ends", async () => {
    // Align to the start of a minute so the expected retry delay is known.
    t.clock.advance(60_000 - (t.clock.now() % 60_000));
    const { a, b } = await tenantWith({ agentMessagesPerMinute: 3 });
    for (let i = 0; i < 3; i++) await send(a, "b");
    t.clock.advance(15_000);
    const cid = newCorrelationId();
    const err = await expectCode(send(t.clients(a.token, cid), "b"), Code.ResourceExhausted);
    expect(retryInfo(err)).toEqual({ limit: "agent.messages_per_minute", ms: 45_000 });
    await expectAudited(t, cid, { action: "quota.exceeded", outcome: "denied", actor: "a" });
    // Another agent of the tenant has its own allowance; a new minute restores a's.
    await send(b, "a");
    t.clock.advance(45_000);
    await send(a, "b");
  });

  it("limits messages per minute per tenant", async () => {
    const { a, b } = await tenantWith({ tenantMessagesPerMinute: 2 });
    await send(a, "b");
    await send(b, "a");
    const err = await expectCode(send(a, "b"), Code.ResourceExhausted);
    expect(retryInfo(err).limit).toBe("tenant.messages_per_minute");
  });

  it("limits messages per second per tenant; a batch past it keeps the items that fit", async () => {
    t.clock.advance(1_000 - (t.clock.now() % 1_000));
    const { a, b } = await tenantWith({ tenantMessagesPerSecond: 3 });
    await send(b, "a");
    t.clock.advance(250);
    const item = {
      target: { case: "recipientId" as const, value: "b" },
      kind: "k",
      payload: { contentType: "application/octet-stream", data: new Uint8Array(1) },
    };
    const res = await a.messaging.sendBatch({ requests: [item, item, item, item] });
    expect(res.results.map((r) => r.error?.code ?? "ok")).toEqual([
      "ok",
      "ok",
      Code.ResourceExhausted,
      Code.ResourceExhausted,
    ]);
    const info = res.results[3]?.error?.retryInfo;
    expect(info?.limit).toBe("tenant.messages_per_second");
    expect(Number(info?.retryDelay?.nanos ?? 0) / 1e6).toBe(750);
    const err = await expectCode(send(b, "a"), Code.ResourceExhausted);
    expect(retryInfo(err)).toEqual({ limit: "tenant.messages_per_second", ms: 750 });
    t.clock.advance(750);
    await send(b, "a");
  });

  it("limits bytes per minute per agent and per tenant, for messages and context writes", async () => {
    const { a, b } = await tenantWith({ agentBytesPerMinute: 1000, tenantBytesPerMinute: 1500 });
    await send(a, "b", 600);
    let err = await expectCode(send(a, "b", 500), Code.ResourceExhausted);
    expect(retryInfo(err).limit).toBe("agent.bytes_per_minute");
    await send(b, "a", 800);
    err = await expectCode(
      b.contexts.createContext({
        type: "blob",
        payload: { contentType: "application/octet-stream", data: new Uint8Array(200) },
      }),
      Code.ResourceExhausted,
    );
    expect(retryInfo(err).limit).toBe("tenant.bytes_per_minute");
  });

  it("limits messages per calendar month", async () => {
    const { a } = await tenantWith({ messagesPerMonth: 2 });
    await send(a, "b");
    await send(a, "b");
    const err = await expectCode(send(a, "b"), Code.ResourceExhausted);
    const { limit, ms } = retryInfo(err);
    expect(limit).toBe("tenant.messages_per_month");
    const now = new Date(t.clock.now());
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(ms).toBe(nextMonth - t.clock.now());
  });

  it("limits storage; deleting a context frees it", async () => {
    const { a } = await tenantWith({ storageBytes: 1000 });
    const blob = (n: number) => ({
      contentType: "application/octet-stream",
      data: new Uint8Array(n),
    });
    await a.contexts.createContext({ contextId: "one", type: "b", payload: blob(700) });
    const err = await expectCode(
      a.contexts.createContext({ contextId: "two", type: "b", payload: blob(400) }),
      Code.ResourceExhausted,
    );
    expect(retryInfo(err).limit).toBe("tenant.storage_bytes");
    // Shrinking a context is always allowed, and frees what it gave up.
    await a.contexts.updateContext({ contextId: "one", payload: blob(500) });
    await a.contexts.createContext({ contextId: "two", type: "b", payload: blob(400) });
    await a.contexts.deleteContext({ contextId: "one" });
    await a.contexts.createContext({ contextId: "three", type: "b", payload: blob(500) });
  });

  it("limits the number of agents", async () => {
    const { tenantId } = await tenantWith({ maxAgents: 2 });
    const c = await t.agentIn(tenantId, "c");
    const err = await expectCode(
      c.registry.register({ agentId: "c", type: "svc" }),
      Code.ResourceExhausted,
    );
    expect(retryInfo(err).limit).toBe("tenant.max_agents");
  });

  it("limits concurrent large-context streams per agent", async () => {
    const { a } = await tenantWith({ agentConcurrentStreams: 1 });
    await a.large.beginUpload({ contextId: "u1", type: "blob", totalSize: 10n });
    const err = await expectCode(
      a.large.beginUpload({ contextId: "u2", type: "blob", totalSize: 10n }),
      Code.ResourceExhausted,
    );
    expect(retryInfo(err).limit).toBe("agent.concurrent_streams");
  });
});

describe("metering", () => {
  it("counts messages, bytes and storage per hour as GetUsage reports them", async () => {
    t.clock.advance(3_600_000 - (t.clock.now() % 3_600_000));
    const hour0 = t.clock.now();
    const { tenantId, a, b } = await tenantWith({});
    for (let i = 0; i < 5; i++) await send(a, "b", 100);
    await a.contexts.createContext({
      contextId: "c",
      type: "note",
      payload: { contentType: "text/plain", data: text("x".repeat(250)) },
    });
    t.clock.advance(3_600_000);
    for (let i = 0; i < 2; i++) await send(b, "a", 10);
    await a.contexts.deleteContext({ contextId: "c" });

    const usage = await t.admin.admin.getUsage({ tenantId });
    expect(
      usage.hourly.map((h) => [
        Number(h.start?.seconds) * 1000 - hour0,
        h.messages,
        h.bytes,
        h.storageBytes,
      ]),
    ).toEqual([
      [0, 5n, 750n, 250n],
      [3_600_000, 2n, 20n, 0n],
    ]);
    expect(usage.total?.messages).toBe(7n);
    expect(usage.total?.bytes).toBe(770n);
    expect(usage.total?.storageBytes).toBe(0n);

    // An observer of the tenant may read its usage; another tenant's admin may not.
    const observer = await t.agentIn(tenantId, "obs", [Role.OBSERVER]);
    expect((await observer.admin.getUsage({ tenantId })).total?.messages).toBe(7n);
    const stranger = await t.agentIn(await t.newTenant(), "ops", [Role.ADMIN]);
    await expectCode(stranger.admin.getUsage({ tenantId }), Code.NotFound);
  });
});
