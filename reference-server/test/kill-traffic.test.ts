// Kill test: a hub on a durable backend is SIGKILLed repeatedly at random points of mixed traffic
// (sends and context updates, one always in flight). After each restart every acknowledged send is
// delivered (at least once) and every acknowledged context revision is readable. The kill points
// are drawn as "after the n-th acknowledgement" (n random), so the test never waits on time.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import {
  MessageType,
  MessagingService,
  ReceiveResponse_Kind as ReceiveKind,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { createTestSchema, testPostgresUrl } from "../src/storage/postgres/postgres-test-db.js";
import { type HubProcess, removeBundle, startHubProcess } from "./hub-process.js";

const KILLS = 20;
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
const running = new Set<HubProcess>();
afterAll(async () => {
  for (const hub of running) await hub.kill();
  for (const c of cleanups) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await removeBundle();
});

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

function clients(url: string, token: string) {
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    interceptors: [bearer(token)],
  });
  return {
    admin: createClient(AdminService, transport),
    auth: createClient(AuthService, transport),
    registry: createClient(RegistryService, transport),
    contexts: createClient(ContextService, transport),
    messaging: createClient(MessagingService, transport),
  };
}

const text = (s: string) => new TextEncoder().encode(s);

async function killRepeatedly(args: string[], env: Record<string, string>) {
  let hub = await startHubProcess(args, env);
  running.add(hub);
  const adminToken = hub.adminToken; // valid across restarts: the signing key is in the data dir
  const admin = clients(hub.url, adminToken);
  const tenantId = "t-kill";
  await admin.admin.createTenant({ tenantId, tier: Tier.ENTERPRISE });
  const tokenOf = async (agentId: string) =>
    (await admin.auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens
      ?.accessToken ?? "";
  const aliceToken = await tokenOf("alice");
  const bobToken = await tokenOf("bob");
  await clients(hub.url, aliceToken).registry.register({ agentId: "alice", type: "writer" });
  await clients(hub.url, bobToken).registry.register({ agentId: "bob", type: "reader" });
  await clients(hub.url, aliceToken).contexts.createContext({
    contextId: "ctx",
    type: "counter",
    payload: { contentType: "text/plain", data: text("1") },
  });

  const owed = new Set<string>(); // acknowledged sends not yet seen by bob
  let revision = 1n; // the last acknowledged context revision
  let sends = 0;

  for (let kill = 0; kill < KILLS; kill++) {
    const alice = clients(hub.url, aliceToken);
    // Traffic runs until the hub dies; the kill comes after a random number of acknowledgements.
    const killAfter = 1 + Math.floor(Math.random() * 12);
    let acked = 0;
    let reachedKillPoint: () => void = () => {};
    const killPoint = new Promise<void>((r) => {
      reachedKillPoint = r;
    });
    const ack = () => {
      if (++acked === killAfter) reachedKillPoint();
    };
    const traffic = (async () => {
      for (;;) {
        const res = await alice.messaging.send({
          target: { case: "recipientId", value: "bob" },
          type: MessageType.EVENT,
          kind: "tick",
          payload: { contentType: "text/plain", data: text(String(++sends)) },
        });
        owed.add(res.messageId);
        ack();
        const next = revision + 1n;
        const updated = await alice.contexts.updateContext({
          contextId: "ctx",
          expectedRevision: revision,
          payload: { contentType: "text/plain", data: text(String(next)) },
        });
        revision = updated.context?.revision ?? revision;
        ack();
      }
    })().catch(() => undefined); // the hub was killed: the call in flight was not acknowledged

    await killPoint;
    await hub.kill(); // SIGKILL while the next call is in flight
    running.delete(hub);
    await traffic;

    hub = await startHubProcess(args, env);
    running.add(hub);
    const bob = clients(hub.url, bobToken);
    const ctx = (await bob.contexts.getContext({ contextId: "ctx" })).context;
    // A write in flight at the kill may have committed too: at least the acknowledged revision.
    expect(ctx?.revision ?? 0n).toBeGreaterThanOrEqual(revision);
    expect(new TextDecoder().decode(ctx?.payload?.data)).toBe(String(ctx?.revision));
    revision = ctx?.revision ?? revision;

    // Every acknowledged send is delivered to bob (duplicates and unacknowledged extras allowed).
    const ac = new AbortController();
    try {
      for await (const res of bob.messaging.receive({ maxInFlight: 64 }, { signal: ac.signal })) {
        if (res.kind === ReceiveKind.READY && owed.size === 0) break;
        if (res.kind !== ReceiveKind.DELIVERY || !res.delivery) continue;
        owed.delete(res.delivery.message?.id ?? "");
        await bob.messaging.ack({ deliveryIds: [res.delivery.deliveryId] });
        if (owed.size === 0) break;
      }
    } finally {
      ac.abort();
    }
    expect(owed.size).toBe(0);
  }
  await hub.kill();
  running.delete(hub);
}

describe(`a durable hub SIGKILLed ${KILLS} times during traffic`, () => {
  it("loses no acknowledged send or context revision on PGlite", { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "acb-kill-"));
    dirs.push(dir);
    await killRepeatedly(["--data", dir], {});
  });

  const url = testPostgresUrl();
  it.skipIf(!url)(
    "loses no acknowledged send or context revision on PostgreSQL",
    { timeout: 600_000 },
    async () => {
      const base = url ?? "";
      const { schema, drop } = await createTestSchema(base);
      cleanups.push(drop);
      const dir = mkdtempSync(join(tmpdir(), "acb-kill-keys-"));
      dirs.push(dir);
      await killRepeatedly(["--database-url", base, "--data", dir], {
        ACB_DATABASE_SCHEMA: schema,
      });
    },
  );
});
