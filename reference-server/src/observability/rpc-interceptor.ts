import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { correlationHeader } from "../audit/audit-interceptor.js";
import { identityKey } from "../auth/identity.js";
import { hubError } from "../errors.js";
import type { Logger } from "../logger.js";
import { procedureOf } from "../procedure.js";
import { observeStream } from "../stream-iterators.js";
import type { HubMetrics } from "./metrics.js";
import { startSpanFrom, traceparentHeader } from "./tracing.js";

/** Options of {@link createRpcInterceptor}. */
export interface RpcInterceptorOptions {
  logger: Logger;
  metrics: HubMetrics;
  tracer: Tracer;
  /** True once the hub drains: new calls (but health checks) are refused with UNAVAILABLE. */
  draining: () => boolean;
}

const healthService = "grpc.health.v1.Health";

/**
 * The outermost hub interceptor: one span per RPC (parent: the caller's `traceparent` header),
 * duration and error metrics, and one log line per call — at debug level, or error for INTERNAL
 * and UNKNOWN — with procedure, code, tenant, agent, correlation and trace ids, never credentials
 * or payloads. While the hub drains, a new call is refused with UNAVAILABLE so the client retries
 * on another node (or after the restart).
 */
export function createRpcInterceptor(options: RpcInterceptorOptions): Interceptor {
  const { logger, metrics, tracer } = options;
  return (next) => async (req) => {
    const procedure = procedureOf(req.method);
    if (options.draining() && req.service.typeName !== healthService) {
      metrics.rpcEnded(procedure, Code[Code.Unavailable], 0, req.stream);
      throw hubError(
        Code.Unavailable,
        "the hub is draining (shutting down); retry, on another node if there is one",
        { reason: "DRAINING", retryAfterMs: 1_000 },
      );
    }
    const started = performance.now();
    const span = startSpanFrom(
      tracer,
      procedure,
      req.header.get(traceparentHeader),
      SpanKind.SERVER,
      {
        "rpc.system": "connect_rpc",
        "rpc.service": req.service.typeName,
        "rpc.method": req.method.name,
      },
    );
    const ended = (err: unknown, correlationId: string | null) => {
      const e = err === undefined ? undefined : ConnectError.from(err);
      const code = e ? Code[e.code] : "ok";
      const identity = req.contextValues.get(identityKey);
      metrics.rpcEnded(procedure, code, (performance.now() - started) / 1000, req.stream);
      span.setAttribute("rpc.connect_rpc.error_code", code);
      if (identity) {
        span.setAttribute("acb.tenant_id", identity.tenantId);
        span.setAttribute("acb.agent_id", identity.agentId);
      }
      if (e) span.setStatus({ code: SpanStatusCode.ERROR, message: e.rawMessage });
      span.end();
      const severe = e?.code === Code.Internal || e?.code === Code.Unknown;
      logger.log(severe ? "error" : "debug", e ? "rpc failed" : "rpc", {
        procedure,
        code,
        duration_ms: Math.round(performance.now() - started),
        ...(identity && { tenant_id: identity.tenantId, agent_id: identity.agentId }),
        ...(correlationId && { correlation_id: correlationId }),
        ...(span.isRecording() && { trace_id: span.spanContext().traceId }),
        ...(e && { err: e }),
      });
      return e;
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      const e = ended(err, ConnectError.from(err).metadata.get(correlationHeader));
      throw e;
    }
    const correlationId = res.header.get(correlationHeader);
    if (!res.stream) {
      ended(undefined, correlationId);
      return res;
    }
    // A stream's span and log line end when the stream does, also when the client leaves early
    // (the consumer returns). observeStream holds no generator frame for the stream's life.
    const tenantAgent = req.contextValues.get(identityKey);
    const isReceive = procedure === "acb.v1.MessagingService/Receive";
    let closeReceiver: (() => void) | undefined;
    const message = observeStream(res.message, {
      started() {
        closeReceiver =
          isReceive && tenantAgent
            ? metrics.receiverOpened(tenantAgent.tenantId, tenantAgent.agentId)
            : undefined;
      },
      ended(failure) {
        closeReceiver?.();
        ended(failure, correlationId);
      },
    });
    return { ...res, message } as typeof res;
  };
}
