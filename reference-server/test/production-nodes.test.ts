// Several `acb-hub` processes on the production preset (PostgreSQL + Redis + Kafka) act as one
// hub: an agent on node A messages an agent on node B, a context written on node B reaches a
// subscriber on node A, one meeting spans both nodes and its turn timeout is applied exactly once,
// a quota counts the sends made through either node, and every Redis key they made is the
// tenant's.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService, SubscribeContextsResponse_Kind } from "@acb/gen/acb/v1/contexts_pb";
import {
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingService,
} from "@acb/gen/acb/v1/meetings_pb";
import {
  MessageType,
  MessagingService,
  ReceiveResponse_Kind as ReceiveKind,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import {
  isolatedProductionOptions,
  testServices,
} from "../src/storage/production-test-services.js";
import { type HubProcess, removeBundle, startHubProcess } from "./hub-process.js";

const services = testServices();
const cleanups: (() => Promise<void>)[] = [];
const running: HubProcess[] = [];
afterAll(async () => {
  for (const hub of running) await hub.kill();
  for (const c of cleanups) await c();
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

const noQuotas = {
  maxAgents: 0,
  tenantMessagesPerMinute: 0n,
  agentMessagesPerMinute: 0n,
  tenantBytesPerMinute: 0n,
  agentBytesPerMinute: 0n,
  agentConcurrentStreams: 0,
  storageBytes: 0n,
  messagesPerMonth: 0n,
};

let redisPrefix = "";

/** Two nodes on one fresh schema, Redis key prefix and Kafka topic prefix. */
async function twoNodes(): Promise<[HubProcess, HubProcess]> {
  if (!services) throw new Error("no services");
  const { options, drop } = await isolatedProductionOptions(services);
  cleanups.push(drop);
  // --data only keeps the dev signing key, shared by both nodes so each accepts the other's tokens.
  const keys = mkdtempSync(join(tmpdir(), "acb-nodes-"));
  cleanups.push(async () => rmSync(keys, { recursive: true, force: true }));
  redisPrefix = options.redis.keyPrefix ?? "";
  const env = {
    ACB_DATABASE_URL: options.postgres.url,
    ACB_DATABASE_SCHEMA: options.postgres.schema ?? "",
    ACB_DATABASE_ROLE: options.postgres.role ?? "",
    ACB_REDIS_URL: options.redis.url,
    ACB_REDIS_KEY_PREFIX: options.redis.keyPrefix ?? "",
    ACB_KAFKA_BROKERS: options.kafka.brokers.join(","),
    ACB_KAFKA_TOPIC_PREFIX: options.kafka.topicPrefix ?? "",
    ACB_PRESET: "production",
  };
  const a = await startHubProcess(["--data", keys], env);
  running.push(a);
  const b = await startHubProcess(["--data", keys], env);
  running.push(b);
  return [a, b];
}

describe.skipIf(!services)("hub nodes on the production preset", () => {
  it("act as one hub: messages, context changes, a meeting and quotas across nodes", {
    timeout: 120_000,
  }, async () => {
    const [nodeA, nodeB] = await twoNodes();
    expect(nodeB.epoch).toBe(nodeA.epoch);
    const adminA = clients(nodeA.url, nodeA.adminToken);
    const info = await adminA.info.getServerInfo({});
    expect(info.durable).toBe(true);

    const tenantId = "t-nodes";
    await adminA.admin.createTenant({
      tenantId,
      tier: Tier.CUSTOM,
      quotas: { ...noQuotas, messagesPerMonth: 3n },
    });
    const tokenOf = async (agentId: string) =>
      (await adminA.auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens
        ?.accessToken ?? "";
    const aliceA = clients(nodeA.url, await tokenOf("alice"));
    const bobToken = await tokenOf("bob");
    const bobB = clients(nodeB.url, bobToken);
    const aliceB = clients(nodeB.url, await tokenOf("alice"));
    await aliceA.registry.register({ agentId: "alice", type: "writer" });
    await bobB.registry.register({ agentId: "bob", type: "reader" });

    // A message sent through node A reaches Bob's stream on node B.
    const ac = new AbortController();
    const inbox = bobB.messaging.receive({ maxInFlight: 10 }, { signal: ac.signal });
    const iterator = inbox[Symbol.asyncIterator]();
    const first = await iterator.next(); // the stream is open once it says so
    expect(first.value?.kind).toBe(ReceiveKind.READY);
    const sent = await aliceA.messaging.send({
      target: { case: "recipientId", value: "bob" },
      type: MessageType.EVENT,
      kind: "greeting",
      payload: { contentType: "text/plain", data: text("hello from A") },
    });
    let delivered = await iterator.next();
    while (delivered.value?.kind !== ReceiveKind.DELIVERY) delivered = await iterator.next();
    expect(delivered.value.delivery?.message?.id).toBe(sent.messageId);
    await bobB.messaging.ack({ deliveryIds: [delivered.value.delivery?.deliveryId ?? ""] });
    ac.abort();

    // A context written through node B reaches a subscriber on node A.
    const sub = new AbortController();
    const changes = aliceA.contexts.subscribeContexts({}, { signal: sub.signal });
    const changeIt = changes[Symbol.asyncIterator]();
    expect((await changeIt.next()).value?.kind).toBe(SubscribeContextsResponse_Kind.READY);
    await bobB.contexts.createContext({
      contextId: "ctx-b",
      type: "note",
      payload: { contentType: "text/plain", data: text("written on B") },
    });
    const change = await changeIt.next();
    expect(change.value?.kind).toBe(SubscribeContextsResponse_Kind.CREATED);
    expect(change.value?.context?.id).toBe("ctx-b");
    sub.abort();

    // The quota (3 messages a month) counts sends through both nodes: one above, two here.
    const send = (via: typeof aliceA) =>
      via.messaging.send({
        target: { case: "recipientId", value: "bob" },
        type: MessageType.EVENT,
        kind: "count",
        payload: { contentType: "text/plain", data: text("n") },
      });
    await send(aliceB);
    await send(aliceA);
    const refused = await send(aliceB).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.code).toBe(Code.ResourceExhausted);

    // One meeting across nodes; its 1 s turn timeout is applied by exactly one node.
    const created = await aliceA.meetings.createMeeting({
      title: "across",
      participantIds: ["alice", "bob"],
      turnTimeout: durationFromMs(1_000),
    });
    const meetingId = created.meeting?.id ?? "";
    await aliceA.meetings.joinMeeting({ meetingId });
    await bobB.meetings.joinMeeting({ meetingId });
    const started = await aliceA.meetings.startMeeting({ meetingId });
    expect(started.meeting?.turnHolderId).toBe("alice");
    const watch = new AbortController();
    const events = bobB.meetings.watchMeeting(
      { meetingId, fromBeginning: true },
      { signal: watch.signal },
    );
    const seen: { kind: number; turn: bigint }[] = [];
    for await (const e of events) {
      seen.push({ kind: e.kind, turn: e.turnNumber });
      // Bob got the turn after Alice's timed out: end the meeting there.
      if (e.kind === MeetingKind.TURN_GRANTED && e.turnHolderId === "bob") break;
    }
    watch.abort();
    await aliceA.meetings.endMeeting({ meetingId });
    const history = bobB.meetings.watchMeeting({ meetingId, fromBeginning: true });
    const all: { kind: number; turn: bigint }[] = [];
    for await (const e of history) {
      if (e.kind !== MeetingKind.READY) all.push({ kind: e.kind, turn: e.turnNumber });
    }
    const timeouts = all.filter((e) => e.kind === MeetingKind.TURN_TIMED_OUT);
    const firstTurn = timeouts.filter((e) => e.turn === 1n);
    expect(firstTurn.length).toBe(1);
    // No turn timed out twice.
    expect(new Set(timeouts.map((e) => e.turn)).size).toBe(timeouts.length);
    expect(all.at(-1)?.kind).toBe(MeetingKind.ENDED);

    // After that traffic, every Redis key the nodes made lies under tenant:{t-nodes}:.
    const redis = new Redis(services?.redisUrl ?? "");
    try {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, found] = await redis.scan(cursor, "MATCH", `${redisPrefix}*`, "COUNT", 500);
        cursor = next;
        keys.push(...found);
      } while (cursor !== "0");
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys)
        expect(key.startsWith(`${redisPrefix}tenant:{${tenantId}}:`)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});

if (!services) {
  it.skip("hub nodes on the production preset (services not configured)", () => {});
}
