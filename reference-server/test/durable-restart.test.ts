// A durable hub loses nothing it acknowledged when its process is killed: writes go through one
// `acb-hub dev` process (PGlite in --data DIR; PostgreSQL), which is then SIGKILLed (no drain, no
// shutdown hook), and a new process on the same storage reads every acknowledged context
// revision, queued message, meeting and agent registration back, with the tokens and the epoch
// of the first.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import {
  MessageType,
  MessagingService,
  ReceiveResponse_Kind as ReceiveKind,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { createTestSchema, testPostgresUrl } from "../src/storage/postgres/postgres-test-db.js";
import { type HubProcess, removeBundle, startHubProcess } from "./hub-process.js";

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
    meetings: createClient(MeetingService, transport),
    info: createClient(ServerInfoService, transport),
  };
}

const text = (s: string) => new TextEncoder().encode(s);

async function start(args: string[], env: Record<string, string>) {
  const hub = await startHubProcess(args, env);
  running.add(hub);
  return hub;
}

async function killAndRestart(
  args: string[],
  env: Record<string, string>,
  backend: "pglite" | "postgres",
) {
  const first = await start(args, env);
  const admin = clients(first.url, first.adminToken);
  expect((await admin.info.getServerInfo({})).durable).toBe(true);
  const tenantId = `t-restart-${backend}`;
  await admin.admin.createTenant({ tenantId, tier: Tier.ENTERPRISE });
  const tokenOf = async (agentId: string) =>
    (await admin.auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens
      ?.accessToken ?? "";
  const alice = clients(first.url, await tokenOf("alice"));
  const bobToken = await tokenOf("bob");
  const bob = clients(first.url, bobToken);
  await alice.registry.register({ agentId: "alice", type: "writer" });
  await bob.registry.register({ agentId: "bob", type: "reader" });
  await alice.contexts.createContext({
    contextId: "ctx-1",
    type: "note",
    payload: { contentType: "text/plain", data: text("v1") },
  });
  const updated = await alice.contexts.updateContext({
    contextId: "ctx-1",
    expectedRevision: 1n,
    payload: { contentType: "text/plain", data: text("v2") },
  });
  expect(updated.context?.revision).toBe(2n);
  const sent = await alice.messaging.send({
    target: { case: "recipientId", value: "bob" },
    type: MessageType.EVENT,
    kind: "greeting",
    payload: { contentType: "text/plain", data: text("hello") },
  });
  const meeting = (
    await alice.meetings.createMeeting({ title: "standup", participantIds: ["alice", "bob"] })
  ).meeting;
  expect(meeting?.id).toBeTruthy();

  await first.kill();
  running.delete(first);

  const second = await start(args, env);
  // The same hub, to its clients: the epoch is stored, so cursors stay valid.
  expect(second.epoch).toBe(first.epoch);
  // The first process's tokens still verify: the signing key is kept in the data directory.
  const after = clients(second.url, bobToken);
  const ctx = (await after.contexts.getContext({ contextId: "ctx-1" })).context;
  expect(ctx?.revision).toBe(2n);
  expect(new TextDecoder().decode(ctx?.payload?.data)).toBe("v2");
  expect((await after.registry.getAgent({ agentId: "alice" })).agent?.type).toBe("writer");
  expect((await after.registry.getAgent({ agentId: "bob" })).agent?.type).toBe("reader");
  expect((await after.meetings.getMeeting({ meetingId: meeting?.id ?? "" })).meeting?.title).toBe(
    "standup",
  );

  // The queued message is delivered to bob by the new process.
  const ac = new AbortController();
  const stream = after.messaging.receive({ maxInFlight: 10 }, { signal: ac.signal });
  let deliveredId = "";
  try {
    for await (const res of stream) {
      if (res.kind === ReceiveKind.DELIVERY) {
        deliveredId = res.delivery?.message?.id ?? "";
        await after.messaging.ack({ deliveryIds: [res.delivery?.deliveryId ?? ""] });
        break;
      }
    }
  } finally {
    ac.abort();
  }
  expect(deliveredId).toBe(sent.messageId);
  await second.kill();
  running.delete(second);
}

describe("a durable hub killed with SIGKILL", () => {
  it("keeps everything it acknowledged on PGlite (--data DIR)", { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "acb-restart-"));
    dirs.push(dir);
    await killAndRestart(["--data", dir], {}, "pglite");
  });

  const url = testPostgresUrl();
  it.skipIf(!url)(
    "keeps everything it acknowledged on PostgreSQL",
    { timeout: 120_000 },
    async () => {
      const base = url ?? "";
      const { schema, drop } = await createTestSchema(base);
      cleanups.push(drop);
      const dir = mkdtempSync(join(tmpdir(), "acb-restart-keys-"));
      dirs.push(dir);
      // --data here only keeps the dev signing key; the state is in PostgreSQL.
      await killAndRestart(
        ["--database-url", base, "--data", dir],
        { ACB_DATABASE_SCHEMA: schema },
        "postgres",
      );
    },
  );
});
