import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Identity } from "../auth/identity.js";
import type { Clock } from "../clock.js";
import { type AuditLog, correlationIdFrom, requestScope } from "./audit-log.js";

/** Set by the audit interceptor when it sees a call: later refusals are its to record. */
export const interceptedKey = createContextKey<boolean>(false, {
  description: "the audit interceptor saw this call",
});

/** The caller's network address, set by the node adapter for every request. */
export const peerKey = createContextKey<string>("", { description: "remote address" });

/** Options of {@link createEarlyRefusalAuditor}. */
export interface EarlyRefusalAuditorOptions {
  /** Records (and aggregates repeats of) the refusals. */
  auditLog: Pick<AuditLog, "aggregate">;
  clock: Clock;
  /** Verifies a bearer credential; a refusal is filed under the tenant of one that verifies. */
  authenticate(credential: string): Promise<Identity>;
  /** Reports an audit that failed (nobody waits for it). */
  onError(err: unknown): void;
}

/**
 * Some requests are refused by the protocol library before any interceptor runs: a body larger
 * than the read limit, a compressed body that inflates past it (a gzip bomb). The audit
 * interceptor never sees those, so this records them instead. Call the returned function from the
 * router's request gate (which runs first for every call): it watches the call's signal, and when
 * the call ends with RESOURCE_EXHAUSTED before the interceptors ran, it records `quota.exceeded`
 * with what is known — the peer, the declared body size and encoding, and the tenant of the
 * bearer credential when it verifies (otherwise the record has tenant "", for platform admins).
 * Gzip bombs cost an attacker little, so repeats from one peer, for one tenant and RPC within a
 * minute are counted in the first record (details.count) rather than filed one by one.
 */
export function createEarlyRefusalAuditor(
  options: EarlyRefusalAuditorOptions,
): (context: HandlerContext) => void {
  // A function listener, not an object with handleEvent: Node's EventTarget wraps an object
  // listener in a closure of its own, and with that wrapper on every call's signal the hub
  // promoted twice the bytes per young-generation collection under heartbeat load (1.99 against
  // 1.03 MB; docs/messaging.md, "The 5,000-agent tail").
  return (context) => {
    context.signal.addEventListener("abort", () => onAbort(options, context), { once: true });
  };
}

/** Records a call's early refusal when its signal aborts. */
function onAbort(options: EarlyRefusalAuditorOptions, context: HandlerContext): void {
  const reason: unknown = context.signal.reason;
  if (!(reason instanceof ConnectError) || reason.code !== Code.ResourceExhausted) return;
  if (context.values.get(interceptedKey)) return;
  record(options, context, reason).catch(options.onError);
}

async function record(
  options: EarlyRefusalAuditorOptions,
  context: HandlerContext,
  err: ConnectError,
): Promise<void> {
  const header = context.requestHeader;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header.get("authorization") ?? "")?.[1];
  const identity = bearer ? await options.authenticate(bearer).catch(() => undefined) : undefined;
  const scope = { correlationId: correlationIdFrom(header.get("x-correlation-id")) };
  const procedure = `${context.service.typeName}/${context.method.name}`;
  const peer = context.values.get(peerKey);
  const window = Math.floor(options.clock.now() / 60_000) * 60_000;
  const key = `quota.exceeded:early:${window}:${peer}:${identity?.tenantId ?? ""}:${procedure}`;
  await requestScope.run(scope, () =>
    options.auditLog.aggregate(key, {
      identity,
      action: "quota.exceeded",
      target: procedure,
      outcome: "denied",
      details: {
        code: Code[err.code],
        reason: err.rawMessage,
        limit: "request.max_bytes",
        peer,
        content_length: header.get("content-length") ?? "",
        content_encoding:
          header.get("content-encoding") ?? header.get("connect-content-encoding") ?? "",
        grpc_encoding: header.get("grpc-encoding") ?? "",
        ...(bearer && !identity && { credential: "did not verify" }),
      },
    }),
  );
}
