// Metrics, readiness and traces of a running hub, over a real port: the Prometheus endpoint after
// traffic (checked by `promtool check metrics`, Debian's prometheus package), /healthz and
// /readyz, and one trace followed from the sender through the hub to the receiver.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { MessageType, MessagingService, ReceiveResponse_Kind } from "@acb/gen/acb/v1/messaging_pb";
import { Health, HealthCheckResponse_ServingStatus } from "@acb/gen/grpc/health/v1/health_pb";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { context, SpanKind, trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackendMetrics } from "../src/observability/backend-metrics.js";
import { createHubMetrics } from "../src/observability/metrics.js";
import { formatTraceparent, parseTraceparent } from "../src/observability/tracing.js";
import { openBackend } from "../src/storage/backend-config.js";
import { createTestSchema } from "../src/storage/postgres/postgres-test-db.js";
import { createRedisStores } from "../src/storage/redis/redis-stores.js";
import { startTestHub, type TestHub } from "./security-harness.js";

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
let t: TestHub;

beforeAll(async () => {
  t = await startTestHub({ tracerProvider: provider });
});
afterAll(async () => {
  await t?.close();
  await provider.shutdown();
});

/** Sends one message from a-1 to a-2 (with `headers`) and returns the delivered message. */
async function sendAndReceive(tenant: string, headers: Record<string, string> = {}) {
  const sender = await t.agentIn(tenant, "a-1");
  const receiver = await t.agentIn(tenant, "a-2");
  await sender.registry.register({ agentId: "a-1", type: "test" });
  await receiver.registry.register({ agentId: "a-2", type: "test" });
  const sent = await sender.messaging.send({
    target: { case: "recipientId", value: "a-2" },
    type: MessageType.COMMAND,
    kind: "test.hello",
    payload: { contentType: "text/plain", data: new TextEncoder().encode("hello") },
    headers,
  });
  const abort = new AbortController();
  for await (const r of receiver.messaging.receive({}, { signal: abort.signal })) {
    if (r.kind !== ReceiveResponse_Kind.DELIVERY || !r.delivery?.message) continue;
    abort.abort();
    await receiver.messaging.ack({ deliveryIds: [r.delivery.deliveryId] });
    expect(r.delivery.message.id).toBe(sent.messageId);
    return r.delivery.message;
  }
  throw new Error("the Receive stream ended without the message");
}

async function get(path: string) {
  const res = await fetch(`${t.url}${path}`);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

describe("the metrics endpoint", () => {
  it("after traffic, serves valid Prometheus text with the seed's metric names", async () => {
    await sendAndReceive(await t.newTenant());
    // An error by code and procedure: a send to an agent that is not registered.
    const stranger = await t.agentIn(await t.newTenant(), "nobody");
    await expect(
      stranger.messaging.send({ target: { case: "recipientId", value: "x" } }),
    ).rejects.toThrow();

    const { status, type, body } = await get("/metrics");
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    // promtool reads the exposition on stdin and fails on any format or naming problem.
    execFileSync("promtool", ["check", "metrics"], {
      input: body,
      stdio: ["pipe", "pipe", "pipe"],
    });
    for (const name of [
      "acb_messages_total",
      "acb_message_latency_seconds",
      "acb_active_agents",
      "acb_context_storage_bytes",
      "acb_errors_total",
      "acb_agent_messages_sent_total",
      "acb_agent_messages_received_total",
      "acb_agent_bandwidth_bytes_total",
    ]) {
      expect(body, name).toContain(`# TYPE ${name} `);
    }
    expect(body).toMatch(/^acb_messages_total\{type="COMMAND"\} [1-9]/m);
    // The event loop has run since the hub started: its delay was sampled, and the process has memory.
    expect(body).toMatch(/^acb_event_loop_delay_seconds\{stat="max"\} [0-9.e-]+$/m);
    const maxDelay = Number(/^acb_event_loop_delay_seconds\{stat="max"\} (\S+)$/m.exec(body)?.[1]);
    expect(maxDelay).toBeGreaterThan(0);
    expect(Number(/^process_resident_memory_bytes (\S+)$/m.exec(body)?.[1])).toBeGreaterThan(1e6);
    expect(body).toMatch(/^acb_message_latency_seconds_count\{operation="send"\} [1-9]/m);
    expect(body).toMatch(/^acb_message_latency_seconds_count\{operation="deliver"\} [1-9]/m);
    expect(body).toMatch(
      /^acb_errors_total\{type="[A-Za-z]+",operation="acb\.v1\.MessagingService\/Send"\} 1/m,
    );
    // Bounded cardinality by default: no tenant, agent or message id appears as a label.
    expect(body).not.toMatch(/tenant_id=|agent_id=|msg_/);
  });

  it("labels by tenant only when configured", async () => {
    const labelled = await startTestHub({ metrics: { tenantLabel: true } });
    try {
      const tenant = await labelled.newTenant();
      const a = await labelled.agentIn(tenant, "a-1");
      await a.registry.register({ agentId: "a-1", type: "test" });
      await a.messaging.send({ target: { case: "recipientId", value: "a-1" }, kind: "test.ping" });
      const body = await labelled.hub.metrics.scrape().then((s) => s.body);
      expect(body).toContain(`acb_messages_total{type="EVENT",tenant_id="${tenant}"} 1`);
      expect(body).not.toContain("agent_id=");
    } finally {
      await labelled.close();
    }
  });
});

describe("backend operation metrics", () => {
  /** promtool's verdict on a registry's exposition (throws on any problem). */
  const promtool = (body: string) =>
    execFileSync("promtool", ["check", "metrics"], {
      input: body,
      stdio: ["pipe", "pipe", "pipe"],
    });

  it("a PGlite backend's transaction durations are on the hub's endpoint after traffic", async () => {
    // As the CLI wires it: one registry, given to the backend and to the hub.
    const metrics = createHubMetrics();
    const backend = await openBackend(
      { backend: "pglite" },
      { metrics: createBackendMetrics(metrics.registry) },
    );
    const h = await startTestHub({ backend, metrics });
    try {
      const tenant = await h.newTenant();
      const a = await h.agentIn(tenant, "a-1");
      await a.registry.register({ agentId: "a-1", type: "test" });
      await a.messaging.send({ target: { case: "recipientId", value: "a-1" }, kind: "test.ping" });
      const res = await fetch(`${h.url}/metrics`);
      const body = await res.text();
      promtool(body);
      expect(body).toMatch(
        /^acb_db_query_duration_seconds_count\{driver="pglite",outcome="ok"\} [1-9]/m,
      );
      expect(body).toMatch(/^acb_messages_total\{type="EVENT"\} 1$/m);
      for (const name of [
        "acb_db_pool_connections",
        "acb_redis_operations_total",
        "acb_kafka_produce_duration_seconds",
      ]) {
        expect(body, name).toContain(`# TYPE ${name} `);
      }
      expect(body).not.toContain(tenant);
    } finally {
      await h.close();
    }
  });

  const postgresUrl = process.env.ACB_TEST_POSTGRES_URL;
  it.skipIf(!postgresUrl)(
    "a PostgreSQL backend reports its pool (ACB_TEST_POSTGRES_URL)",
    async () => {
      const schema = await createTestSchema(postgresUrl ?? "");
      const metrics = createHubMetrics();
      const backend = await openBackend(
        {
          backend: "postgres",
          databaseUrl: postgresUrl ?? "",
          schema: schema.schema,
          role: schema.role,
        },
        { metrics: createBackendMetrics(metrics.registry) },
      );
      try {
        await backend.tenants.list("", 10);
        const body = (await metrics.scrape()).body;
        promtool(body);
        expect(body).toMatch(/^acb_db_pool_connections\{driver="postgres"\} [1-9]/m);
        expect(body).toMatch(/^acb_db_pool_idle_connections\{driver="postgres"\} \d/m);
        expect(body).toMatch(/^acb_db_pool_waiting_clients\{driver="postgres"\} 0$/m);
        expect(body).toMatch(
          /^acb_db_query_duration_seconds_count\{driver="postgres",outcome="ok"\} [1-9]/m,
        );
      } finally {
        await backend.close();
        await schema.drop();
      }
    },
  );

  const redisUrl = process.env.ACB_TEST_REDIS_URL;
  it.skipIf(!redisUrl)("Redis commands are counted by name (ACB_TEST_REDIS_URL)", async () => {
    const metrics = createHubMetrics();
    const redis = await createRedisStores({
      url: redisUrl ?? "",
      keyPrefix: `acb-metrics-test-${Date.now()}:`,
      metrics: createBackendMetrics(metrics.registry),
    });
    try {
      await redis.notifier.publish("metrics-test", "x");
      const body = (await metrics.scrape()).body;
      promtool(body);
      expect(body).toMatch(/^acb_redis_operations_total\{operation="publish"\} [1-9]/m);
    } finally {
      await redis.close();
    }
  });
});

describe("the Grafana dashboard (deploy/grafana/acb-hub.json)", () => {
  it("queries only metrics the hub exports", async () => {
    const file = resolve(import.meta.dirname, "../../deploy/grafana/acb-hub.json");
    const dashboard = JSON.parse(readFileSync(file, "utf8")) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr));
    const used = new Set(exprs.flatMap((e) => e.match(/acb_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(5);
    // The backend series are in the registry acb-hub gives its backend too.
    const withBackend = createHubMetrics();
    createBackendMetrics(withBackend.registry);
    const body = (await t.hub.metrics.scrape()).body + (await withBackend.scrape()).body;
    const exported = new Set([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      expect(exported.has(base), name).toBe(true);
    }
  });
});

describe("liveness and readiness", () => {
  it("answers /healthz and /readyz while serving; other methods are refused", async () => {
    expect(await get("/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await get("/readyz")).toMatchObject({ status: 200, body: "ready\n" });
    const post = await fetch(`${t.url}/readyz`, { method: "POST" });
    expect(post.status).toBe(405);
  });

  it("is live but not ready while it drains", async () => {
    const draining = await startTestHub();
    const ops = await draining.hub.listenOps({ host: "127.0.0.1", port: 0 });
    expect((await fetch(`${ops.url}/readyz`)).status).toBe(200);
    expect(draining.hub.notReady()).toBeUndefined();
    const closed = draining.hub.close({ deadlineMs: 0 });
    expect(draining.hub.notReady()).toBe("draining");
    await closed;
  });

  it("after the drain began, answers NOT_SERVING, /readyz 503, and refuses calls with UNAVAILABLE", async () => {
    const draining = await startTestHub();
    const tenant = await draining.newTenant();
    const agent = await draining.agentIn(tenant, "a-1");
    await draining.hub.close({ deadlineMs: 0 });
    // The hub's handler mounted on a server of the test's own, which the drain did not close.
    const server = createServer(draining.hub.handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const readyz = await fetch(`${url}/readyz`);
      expect(readyz.status).toBe(503);
      expect(await readyz.text()).toBe("not ready: draining\n");
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const h1 = (token?: string) =>
        createConnectTransport({
          baseUrl: url,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => {
              if (token) req.header.set("Authorization", `Bearer ${token}`);
              return next(req);
            },
          ],
        });
      const health = createClient(Health, h1());
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
      const send = createClient(MessagingService, h1(agent.token)).send({
        target: { case: "recipientId", value: "a-1" },
        kind: "test.late",
      });
      await expect(send).rejects.toMatchObject({
        code: Code.Unavailable,
        rawMessage: "the hub is draining (shutting down); retry, on another node if there is one",
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("traces", () => {
  it("follow one message from the sender through the hub to the receiver", async () => {
    exporter.reset();
    const tracer = provider.getTracer("test-agents");
    const send = tracer.startSpan("sender: publish", { kind: SpanKind.PRODUCER });
    const delivered = await sendAndReceive(await t.newTenant(), {
      traceparent: formatTraceparent(send.spanContext()),
    });
    send.end();
    // The receiving agent continues the trace from the delivered message's header.
    const parent = parseTraceparent(delivered.headers["traceparent"]);
    expect(parent).toBeDefined();
    const ctx = trace.setSpanContext(context.active(), parent ?? send.spanContext());
    tracer.startSpan("receiver: handle", { kind: SpanKind.CONSUMER }, ctx).end();

    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => {
      const s = spans.find((x) => x.name === name);
      expect(s, name).toBeDefined();
      return s as NonNullable<typeof s>;
    };
    const traceId = send.spanContext().traceId;
    const hubSend = byName("acb.message.send");
    const hubDeliver = byName("acb.message.deliver");
    const handle = byName("receiver: handle");
    for (const s of [hubSend, hubDeliver, handle]) expect(s.spanContext().traceId).toBe(traceId);
    expect(hubSend.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(hubDeliver.parentSpanContext?.spanId).toBe(hubSend.spanContext().spanId);
    expect(handle.parentSpanContext?.spanId).toBe(hubDeliver.spanContext().spanId);
    // And a span per RPC.
    expect(spans.map((s) => s.name)).toEqual(
      expect.arrayContaining(["acb.v1.MessagingService/Send", "acb.v1.MessagingService/Receive"]),
    );
  });

  it("leave a message without traceparent exactly as sent", async () => {
    const delivered = await sendAndReceive(await t.newTenant(), { "x-app": "1" });
    expect(delivered.headers).toEqual({ "x-app": "1" });
  });
});
