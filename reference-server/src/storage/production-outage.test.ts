// A hub on the production preset whose Redis goes away (a redis-server of the test's own, killed):
// its health says NOT_SERVING, a send answers UNAVAILABLE with RetryInfo and stores nothing, a
// heartbeat and an agent read (presence lives in Redis) answer UNAVAILABLE too, and once Redis is
// back the hub serves again; a presence sweep that failed meanwhile runs again by itself.

import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { MessageType, MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { AgentStatus, RegistryService } from "@acb/gen/acb/v1/registry_pb";
import {
  Health,
  HealthCheckResponse_ServingStatus as Serving,
} from "@acb/gen/grpc/health/v1/health_pb";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { decodeAgentChange } from "../domain/registry.js";
import { createHub } from "../hub.js";
import { type Logger, silentLogger } from "../logger.js";
import { createProductionBackend } from "./production-backend.js";
import { isolatedProductionOptions, testServices } from "./production-test-services.js";
import { hasRedisServer, startTestRedisServer } from "./redis/redis-test-server.js";

const services = testServices();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A production backend whose Redis is a server of its own, which the test kills and restarts. */
async function backendOnOwnRedis(s: NonNullable<typeof services>) {
  const redis = await startTestRedisServer();
  cleanups.push(redis.dispose);
  const isolated = await isolatedProductionOptions(s);
  cleanups.push(isolated.drop);
  const backend = await createProductionBackend({ ...isolated.options, redis: { url: redis.url } });
  return { redis, backend };
}

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

describe.skipIf(!services || !hasRedisServer)("a production hub that loses Redis", () => {
  it("answers UNAVAILABLE with retry info, reports NOT_SERVING, stores nothing, and recovers", async () => {
    if (!services) return;
    const { redis, backend } = await backendOnOwnRedis(services);
    const hub = await createHub({ backend, logger: silentLogger });
    cleanups.push(() => hub.close());
    const { url } = await hub.listen({ port: 0 });
    const transport = (token?: string) =>
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: token ? [bearer(token)] : [],
      });
    const health = createClient(Health, transport());
    const admin = createClient(AdminService, transport(await hub.issueAdminToken()));
    await admin.createTenant({ tenantId: "t-outage", tier: Tier.ENTERPRISE });
    const auth = createClient(AuthService, transport(await hub.issueAdminToken()));
    const tokenOf = async (agentId: string) =>
      (await auth.issueToken({ tenantId: "t-outage", agentId, roles: [Role.AGENT_FULL] })).tokens
        ?.accessToken ?? "";
    const alice = transport(await tokenOf("alice"));
    const registry = createClient(RegistryService, alice);
    const { agent } = await registry.register({ agentId: "alice", type: "svc" });
    const sessionId = agent?.sessionId ?? "";
    const heartbeat = () => registry.heartbeat({ agentId: "alice", sessionId });
    await heartbeat();
    await heartbeat();
    await createClient(RegistryService, transport(await tokenOf("bob"))).register({
      agentId: "bob",
      type: "svc",
    });
    const messaging = createClient(MessagingService, alice);
    const send = () =>
      messaging.send({
        target: { case: "recipientId", value: "bob" },
        type: MessageType.EVENT,
        kind: "k",
        payload: { contentType: "text/plain", data: new Uint8Array([1]) },
      });
    await send();
    expect((await health.check({})).status).toBe(Serving.SERVING);

    await redis.kill();
    const err = await send().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    expect((await health.check({})).status).toBe(Serving.NOT_SERVING);
    for (const call of [heartbeat, () => registry.getAgent({ agentId: "alice" })]) {
      const refused = await call().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(refused?.code).toBe(Code.Unavailable);
      expect(refused?.message).toContain("Redis cannot be reached");
      expect(refused?.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    }

    await redis.restart();
    await backend.whenRedisAvailable();
    expect((await health.check({})).status).toBe(Serving.SERVING);
    await send();
    await heartbeat();
    expect((await registry.getAgent({ agentId: "alice" })).agent?.id).toBe("alice");
    // Two sends were answered OK, and only those two are queued for Bob.
    const queued = await backend.messages.claim(
      "t-outage",
      "bob",
      10,
      Date.now(),
      Date.now() + 60_000,
    );
    expect(queued.length).toBe(2);
  });
});

describe.skipIf(!services || !hasRedisServer)(
  "presence sweeps on a production hub that loses Redis",
  () => {
    it("sweep again after one failed, and announce the agent that went offline meanwhile", async () => {
      if (!services) return;
      const { redis, backend } = await backendOnOwnRedis(services);
      let sweepFailed: () => void = () => {};
      const failed = new Promise<void>((resolve) => {
        sweepFailed = resolve;
      });
      const logger: Logger = {
        log(_level, message) {
          if (message === "presence sweep failed") sweepFailed();
        },
      };
      const clock = new ManualClock();
      const hub = await createHub({ backend, logger, clock });
      cleanups.push(() => hub.close());
      const { url } = await hub.listen({ port: 0 });
      const transport = (token: string) =>
        createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors: [bearer(token)] });
      const admin = createClient(AdminService, transport(await hub.issueAdminToken()));
      await admin.createTenant({ tenantId: "t-sweep", tier: Tier.ENTERPRISE });
      const auth = createClient(AuthService, transport(await hub.issueAdminToken()));
      const token =
        (await auth.issueToken({ tenantId: "t-sweep", agentId: "carol", roles: [Role.AGENT_FULL] }))
          .tokens?.accessToken ?? "";
      await createClient(RegistryService, transport(token)).register({
        agentId: "carol",
        type: "svc",
      });
      const { head } = await backend.events.bounds("t-sweep", "agents");

      // Carol's moment passes while Redis is away: the sweep fails.
      await redis.kill();
      clock.advance(30_001);
      await failed;
      await redis.restart();
      await backend.whenRedisAvailable();
      // No registration or heartbeat arms the timer again; the node sweeps by itself.
      clock.advance(30_000);
      await backend.events.waitFor("t-sweep", "agents", head, new AbortController().signal);
      const [announced] = await backend.events.read("t-sweep", "agents", head, 10);
      const change = decodeAgentChange(announced?.data ?? new Uint8Array());
      expect(change.agent.id).toBe("carol");
      expect(change.status).toBe(AgentStatus.OFFLINE);
    });
  },
);

if (!services || !hasRedisServer)
  it.skip("a production hub that loses Redis (services or redis-server missing)", () => {});
