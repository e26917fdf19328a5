import { hostname } from "node:os";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { ConversationService } from "@acb/gen/acb/v1/conversations_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { Health } from "@acb/gen/grpc/health/v1/health_pb";
import { ServerReflection as ReflectionV1 } from "@acb/gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ReflectionV1alpha } from "@acb/gen/grpc/reflection/v1alpha/reflection_pb";
import type { DescService } from "@bufbuild/protobuf";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { type TracerProvider, trace } from "@opentelemetry/api";
import { createAuditInterceptor } from "./audit/audit-interceptor.js";
import { createAuditLog } from "./audit/audit-log.js";
import { createEarlyRefusalAuditor } from "./audit/early-refusals.js";
import { createProbeReporter } from "./audit/probe-reporter.js";
import { ApiKeys } from "./auth/api-keys.js";
import { createAuthFailureLimiter } from "./auth/auth-failure-limiter.js";
import { createAuthInterceptor } from "./auth/auth-interceptor.js";
import { createCredentialVerifier } from "./auth/credential-verifier.js";
import { PLATFORM_TENANT } from "./auth/identity.js";
import { accessTable } from "./auth/rbac-table.js";
import {
  createTokenService,
  generateDevKeys,
  type TokenServiceOptions,
} from "./auth/token-service.js";
import { type Clock, systemClock } from "./clock.js";
import { Contexts } from "./domain/contexts.js";
import { Conversations } from "./domain/conversations.js";
import { DeliveryEngine } from "./domain/delivery.js";
import { KnownAgents } from "./domain/known-agents.js";
import { LargeContexts } from "./domain/large-contexts.js";
import { Meetings } from "./domain/meetings.js";
import { Messaging } from "./domain/messaging.js";
import { Quotas } from "./domain/quotas.js";
import { reservingRateLimiter } from "./domain/rate-reservations.js";
import { Registry } from "./domain/registry.js";
import { TenantCache } from "./domain/tenant-cache.js";
import { hubError } from "./errors.js";
import type { HubFault } from "./faults.js";
import { createAdminHandler } from "./handlers/admin-handler.js";
import { createAuthHandler } from "./handlers/auth-handler.js";
import { createContextsHandler } from "./handlers/contexts-handler.js";
import { createConversationsHandler } from "./handlers/conversations-handler.js";
import { createHealthHandler } from "./handlers/health-handler.js";
import { createLargeContextsHandler } from "./handlers/large-contexts-handler.js";
import { createMeetingsHandler } from "./handlers/meetings-handler.js";
import { createMessagingHandler } from "./handlers/messaging-handler.js";
import { createReflectionHandlers } from "./handlers/reflection-handler.js";
import { createRegistryHandler } from "./handlers/registry-handler.js";
import { createServerInfoHandler } from "./handlers/server-info-handler.js";
import type { HubContext, HubLimits } from "./hub-context.js";
import { createJsonLogger, type Logger } from "./logger.js";
import {
  createHubMetrics,
  type HubMetrics,
  type HubMetricsOptions,
} from "./observability/metrics.js";
import { type OpsState, serveOps } from "./observability/ops-endpoints.js";
import { createRpcInterceptor } from "./observability/rpc-interceptor.js";
import { MessageTracing } from "./observability/tracing.js";
import { createFairTurnInterceptor, FairTurns } from "./server/fair-turns.js";
import { createFaultInterceptor } from "./server/fault-interceptor.js";
import {
  type Listener,
  type ListenOptions,
  listen,
  type NodeHandlerFn,
} from "./server/listener.js";
import { isLoopback } from "./server/loopback.js";
import { createNodeAdapter } from "./server/node-adapter.js";
import { ShutdownSignal } from "./server/shutdown-signal.js";
import { createFaultyBackend } from "./storage/faulty/faulty-backend.js";
import { createMemoryBackend } from "./storage/memory/memory-backend.js";
import type { Backend } from "./storage/types.js";
import { createValidation } from "./validation-interceptor.js";

/** Options of {@link createHub}. */
export interface HubOptions {
  /** Storage. Default: the embedded in-memory backend. */
  backend?: Backend;
  /** Time source for every timeout, TTL and presence decision. Default: the system clock. */
  clock?: Clock;
  /**
   * "dev" generates signing keys for this run and can mint admin tokens; "production" refuses to
   * start without configured keys. Default "dev".
   */
  mode?: "dev" | "production";
  /** Token signing keys. Required in production mode; generated per run in dev mode. */
  keys?: TokenServiceOptions["keys"];
  /** Overrides of the hub's limits. */
  limits?: Partial<HubLimits>;
  /** Structured logger. Default: JSON lines on standard error at level "info". */
  logger?: Logger;
  /** This node's id in a multi-node hub. Default: host name and process id. */
  nodeId?: string;
  /** How long audit records are kept; older ones are pruned hourly (hub clock). Default 90 days. */
  auditRetentionMs?: number;
  /**
   * Prometheus metrics: options (tenant and agent labels; both off by default), or a metrics
   * object to share. Default: a new one with the defaults.
   */
  metrics?: HubMetricsOptions | HubMetrics;
  /**
   * Where spans go (one per RPC; a message's send and deliver hops). Default: the global
   * OpenTelemetry tracer provider, which records nothing unless the application registered one.
   */
  tracerProvider?: TracerProvider;
  /**
   * TEST-ONLY: guarantees to break on purpose (faults.ts), so a test can prove the conformance
   * suite notices. Refused in production mode. Default: none.
   */
  faults?: readonly HubFault[];
}

/** A running hub: a request handler plus the listeners serving it. */
export interface Hub {
  /**
   * Stored by the backend: the same on every node sharing it and across restarts of a durable
   * one; new with every in-memory backend (its state is lost with it).
   */
  readonly epoch: string;
  readonly nodeId: string;
  readonly clock: Clock;
  /** The Node request handler serving Connect, gRPC and gRPC-Web (mount it on your own server if you like). */
  readonly handler: NodeHandlerFn;
  /**
   * Starts serving on an address; a hub may serve several listeners. Plaintext is refused on a
   * non-loopback address unless `insecure` is set (then a warning is logged): use `tls`.
   */
  listen(options?: ListenOptions & { insecure?: boolean }): Promise<Listener>;
  /** This node's Prometheus metrics (`hub.metrics.scrape()`; /metrics serves them). */
  readonly metrics: HubMetrics;
  /** Why the hub is not ready ("draining", "backend unavailable"); undefined when it is. */
  notReady(): string | undefined;
  /**
   * Starts serving only the operator endpoints (/metrics, /healthz, /readyz) on an address of
   * their own, off the RPC port. Closed by {@link Hub.close}.
   */
  listenOps(options?: Pick<ListenOptions, "host" | "port" | "timeouts">): Promise<Listener>;
  /** Mints a platform-admin access token (dev mode only). */
  issueAdminToken(ttlMs?: number): Promise<string>;
  /** Counters for observation: e.g. replies dropped because their Request call had ended. */
  stats(): { lateRepliesDropped: number };
  /**
   * Drains, then stops: reports NOT_SERVING (gRPC health, /readyz), refuses new calls with
   * UNAVAILABLE, ends live streams with UNAVAILABLE (clients reconnect, elsewhere if there are
   * several nodes), sends HTTP/2 GOAWAY, lets in-flight calls finish for up to `deadlineMs`
   * (default 2000), then closes what is left, the timers and the backend. Nothing acknowledged is
   * lost: an acknowledged send is already durable, and a delivery not yet acked is delivered again.
   */
  close(options?: { deadlineMs?: number }): Promise<void>;
}

export const defaultLimits: HubLimits = {
  maxInlinePayloadBytes: 1024 * 1024,
  maxRequestBytes: 8 * 1024 * 1024,
  defaultChunkSizeBytes: 1024 * 1024,
  maxObjectBytes: 10 * 1024 * 1024 * 1024,
  maxConcurrentStreamsPerAgent: 10,
  uploadIdleTimeoutMs: 15 * 60_000,
  releasedBlobGraceMs: 10 * 60_000,
  notificationPollMs: 2_000,
  receiveKeepaliveMs: 15_000,
  maxAccessTokenTtlMs: 4 * 3_600_000,
  maxStagedBytesPerTenant: 10 * 1024 * 1024 * 1024,
  maxStagedBytesPerHub: 50 * 1024 * 1024 * 1024,
  authFailuresPerPeerPerMinute: 100,
  authFailuresPerTenantPerMinute: 100,
};

/** The optional capabilities this hub delivers (GetServerInfo). */
const capabilities = [
  "registry",
  "contexts",
  "auth",
  "admin",
  "large-contexts",
  "meetings",
  "messaging",
  "request-reply",
  "conversations",
] as const;

export async function createHub(options: HubOptions = {}): Promise<Hub> {
  const mode = options.mode ?? "dev";
  if (mode === "production" && options.faults?.length) {
    throw new Error("fault injection is for tests only; refusing it in production mode");
  }
  if (mode === "production" && !options.keys) {
    throw new Error(
      "production mode needs configured token signing keys; refusing to start with generated ones",
    );
  }
  const clock = options.clock ?? systemClock;
  const faults = new Set(options.faults ?? []);
  const chosen = options.backend ?? createMemoryBackend();
  // TEST-ONLY faults wrap the backend and the handlers; the domain never sees them.
  const backend = faults.size > 0 ? createFaultyBackend(chosen, faults, clock) : chosen;
  const logger = options.logger ?? createJsonLogger();
  const keys = options.keys ?? (await generateDevKeys());
  const tokens = createTokenService({
    keys,
    clock,
    store: backend.auth,
    incarnationOf: async (tenantId) => (await backend.tenants.get(tenantId))?.incarnation,
  });
  const auditLog = createAuditLog({
    store: backend.audit,
    clock,
    logger,
    ...(options.auditRetentionMs !== undefined && { retentionMs: options.auditRetentionMs }),
  });
  // Tenant records are read by nearly every call: each node keeps them for a moment, and drops
  // its copy when any node announces a change (TenantCache).
  const tenantCache = new TenantCache(backend.tenants, backend.notifier);
  await tenantCache.start();
  const tenantOf = async (tenantId: string) => {
    const t = await tenantCache.get(tenantId);
    if (!t) throw hubError(Code.NotFound, `tenant "${tenantId}" not found`);
    return t;
  };
  const shutdown = new ShutdownSignal();
  const listeners = new Set<Listener>();
  const metrics =
    options.metrics instanceof Object && "scrape" in options.metrics
      ? (options.metrics as HubMetrics)
      : createHubMetrics(options.metrics as HubMetricsOptions | undefined);
  metrics.attach(backend);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer("acb-hub");
  const ops: OpsState = {
    metrics,
    notReady() {
      if (shutdown.aborted) return "draining";
      if (!(backend.isAvailable?.() ?? true)) return "backend unavailable";
      return undefined;
    },
  };

  const hub: HubContext = {
    backend,
    clock,
    tokens,
    epoch: await backend.epoch(),
    nodeId: options.nodeId ?? `${hostname()}-${process.pid}`,
    limits: { ...defaultLimits, ...options.limits },
    apiKeys: new ApiKeys(backend.apiKeys, clock),
    audit: auditLog.audit,
    // Counters in a shared store cost a round trip (and in SQL a row lock) per charge: a node
    // takes their units a share at a time (rate-reservations.ts). In memory a charge is free.
    quotas: new Quotas(
      backend,
      clock,
      tenantOf,
      backend.capabilities.name === "memory"
        ? backend.rateLimits
        : reservingRateLimiter(backend.rateLimits),
    ),
    auditRetentionMs: auditLog.retentionMs,
    logger,
    metrics,
    messageTracing: new MessageTracing(tracer),
    tenant: tenantOf,
    findTenant: (tenantId) => tenantCache.get(tenantId),
    tenantChanged: (tenantId) => tenantCache.changed(tenantId),
  };

  const registry = new Registry(hub);
  const contexts = new Contexts(hub);
  const largeContexts = new LargeContexts(hub, contexts, logger);
  const delivery = new DeliveryEngine(hub, registry);
  const conversations = new Conversations(hub);
  // The recipient check of each send, without a registry read per message (KnownAgents).
  const knownAgents = new KnownAgents(backend.registry, backend.notifier);
  await knownAgents.start();
  registry.onUnregistered((tenantId, agentId) => knownAgents.gone(tenantId, agentId));
  const messaging = new Messaging(hub, delivery, conversations, knownAgents);
  const meetings = new Meetings(hub, {
    onError: (err) => logger.log("error", "meeting deadline check failed", { err }),
  });
  // Deadlines stored by a previous run (or another node) are armed, and applied when overdue.
  await registry.resume();
  await meetings.resume();
  await contexts.resume();
  await conversations.resume();
  await largeContexts.resume();
  const served: DescService[] = [
    ServerInfoService,
    RegistryService,
    ContextService,
    LargeContextService,
    AuthService,
    AdminService,
    MeetingService,
    MessagingService,
    ConversationService,
    // Server reflection describes every served service (itself included) to grpcurl, buf curl
    // and Postman; it reveals only the public schema, so it needs no credential (rbac-table.ts).
    ReflectionV1,
    ReflectionV1alpha,
  ];
  const reflection = createReflectionHandlers([Health, ...served]);

  const routes = (router: ConnectRouter) => {
    router.service(
      Health,
      createHealthHandler(
        served.map((s) => s.typeName),
        () => ops.notReady() === undefined,
      ),
    );
    router.service(ReflectionV1, reflection.v1);
    router.service(ReflectionV1alpha, reflection.v1alpha);
    router.service(ServerInfoService, createServerInfoHandler(hub, capabilities));
    router.service(RegistryService, createRegistryHandler(hub, registry));
    router.service(ContextService, createContextsHandler(hub, contexts));
    // Chunks are random-looking bytes: gzip would cost ~15x the transfer and save nothing, so this
    // service never compresses (Connect otherwise gzips messages of 1 KiB or more).
    router.service(LargeContextService, createLargeContextsHandler(largeContexts), {
      acceptCompression: [],
    });
    router.service(AuthService, createAuthHandler(hub));
    router.service(AdminService, createAdminHandler(hub));
    router.service(MeetingService, createMeetingsHandler(hub, meetings));
    // Messages are small and many: gzip of batch results would cost more CPU than it saves on the
    // loopback and LAN paths a bus runs on.
    router.service(MessagingService, createMessagingHandler(messaging, delivery), {
      acceptCompression: [],
    });
    router.service(ConversationService, createConversationsHandler(conversations));
  };

  const authenticate = createCredentialVerifier({
    tokens,
    apiKeys: hub.apiKeys,
    tenants: tenantCache,
    clock,
    audit: hub.audit,
  });
  const authInterceptor = createAuthInterceptor({
    accessTable,
    authenticate,
    failures: createAuthFailureLimiter({
      limiter: backend.rateLimits,
      clock,
      aggregate: auditLog.aggregate,
      perPeerPerMinute: hub.limits.authFailuresPerPeerPerMinute,
      perTenantPerMinute: hub.limits.authFailuresPerTenantPerMinute,
    }),
  });

  const validation = createValidation();
  /** Compiling the validation rules of every request type, started by the first listen(). */
  let preparing: { cancel(): void } | undefined;
  const prepareValidation = () => {
    if (preparing) return;
    // The hot services first: their calls come first and most often.
    const order = [MessagingService, RegistryService, ...served];
    preparing = validation.prepare(order.flatMap((service) => service.methods.map((m) => m.input)));
  };

  const rpcHandler = createNodeAdapter({
    routes,
    onHandlerError: (procedure, reason) =>
      logger.log("error", "handler failed after its response started", { procedure, err: reason }),
    interceptors: [
      createRpcInterceptor({
        logger,
        metrics,
        tracer,
        draining: () => shutdown.aborted,
      }),
      ...(faults.size > 0 ? [createFaultInterceptor(faults)] : []),
      createAuditInterceptor(hub.audit, createProbeReporter(backend, auditLog, clock)),
      authInterceptor,
      createFairTurnInterceptor(new FairTurns()),
      validation.interceptor,
    ],
    readMaxBytes: hub.limits.maxRequestBytes,
    shutdownSignal: shutdown.asAbortSignal(),
    // The hot calls (messaging, heartbeats) and the large-context transfers skip the protocol
    // library's per-call and per-message machinery in the common case (server/direct-streams.ts,
    // server/direct-unary.ts; a download's chunks are written without copying, chunk-envelopes.ts).
    direct: [
      "acb.v1.MessagingService/*",
      "acb.v1.RegistryService/*",
      "acb.v1.LargeContextService/UploadChunks",
      "acb.v1.LargeContextService/DownloadContext",
    ],
    // Refusals the protocol library makes before the interceptors (oversized bodies, gzip bombs).
    onCall: createEarlyRefusalAuditor({
      auditLog,
      clock,
      authenticate,
      onError: (err) => logger.log("error", "auditing an early refusal failed", { err }),
    }),
  });

  // The operator endpoints answer on the RPC port too (GET /metrics, /healthz, /readyz); no RPC
  // route uses those paths.
  const handler: NodeHandlerFn = (req, res) => {
    if (!serveOps(ops, req, res)) rpcHandler(req, res);
  };

  return {
    epoch: hub.epoch,
    metrics,
    notReady: ops.notReady,
    nodeId: hub.nodeId,
    clock,
    handler,
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? "127.0.0.1";
      if (!listenOptions.tls && !isLoopback(host)) {
        if (!listenOptions.insecure) {
          throw new Error(
            `refusing plaintext on non-loopback address "${host}": configure tls, or set insecure`,
          );
        }
        logger.log("warn", "serving plaintext on a non-loopback address (insecure)", { host });
      }
      const l = await listen(handler, listenOptions);
      listeners.add(l);
      prepareValidation();
      return {
        ...l,
        close: async (graceMs?: number) => {
          listeners.delete(l);
          await l.close(graceMs);
        },
      };
    },
    async listenOps(opsOptions = {}) {
      const l = await listen((req, res) => {
        if (serveOps(ops, req, res)) return;
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("not found: this port serves /metrics, /healthz and /readyz\n");
      }, opsOptions);
      listeners.add(l);
      return l;
    },
    stats: () => ({ ...messaging.stats }),
    async issueAdminToken(ttlMs = 24 * 3_600_000) {
      if (mode !== "dev") throw new Error("admin tokens are minted only in dev mode");
      return (await tokens.signAccessToken(PLATFORM_TENANT, "dev-admin", [Role.ADMIN], ttlMs))
        .token;
    },
    async close(closeOptions = {}) {
      logger.log("info", "draining", { deadline_ms: closeOptions.deadlineMs ?? 2000 });
      preparing?.cancel();
      // Handlers see their signal abort with this reason: live streams end with UNAVAILABLE.
      shutdown.abort(
        hubError(Code.Unavailable, "the hub is draining (shutting down); reconnect", {
          reason: "DRAINING",
          retryAfterMs: 1_000,
        }),
      );
      delivery.close();
      conversations.stopTimers();
      registry.close();
      contexts.close();
      await largeContexts.close();
      meetings.close();
      auditLog.close();
      await Promise.all([...listeners].map((l) => l.close(closeOptions.deadlineMs)));
      listeners.clear();
      tenantCache.stop();
      knownAgents.stop();
      await backend.close();
      metrics.close();
    },
  };
}
