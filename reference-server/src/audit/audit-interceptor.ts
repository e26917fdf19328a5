import { AsyncResource } from "node:async_hooks";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { refusalAuditedKey } from "../auth/auth-failure-limiter.js";
import { identityKey } from "../auth/identity.js";
import type { AuditOutcome } from "../storage/types.js";
import { type AuditFn, correlationIdFrom, type RequestScope, requestScope } from "./audit-log.js";
import { interceptedKey } from "./early-refusals.js";
import type { ProbeReporter } from "./probe-reporter.js";

/** The header that carries a request's correlation id, in and out. */
export const correlationHeader = "x-correlation-id";

/** How each refusal is audited: the action and outcome recorded for an error code. */
const refusals: ReadonlyMap<Code, { action: string; outcome: AuditOutcome }> = new Map([
  [Code.Unauthenticated, { action: "auth.authenticate", outcome: "failure" }],
  [Code.PermissionDenied, { action: "authz.deny", outcome: "denied" }],
  // Another tenant's object, an object the caller may not see, or one that does not exist: the
  // caller cannot tell them apart, the audit log records the attempt.
  [Code.NotFound, { action: "authz.not_found", outcome: "denied" }],
  [Code.ResourceExhausted, { action: "quota.exceeded", outcome: "denied" }],
]);

/**
 * The outermost hub interceptor: gives every RPC a correlation id (the client's x-correlation-id,
 * or a new one, echoed in the response), runs the call inside {@link requestScope} so domain code
 * audits with it, and records every refusal — bad credentials, role denials from the auth
 * interceptor, NOT_FOUND and PERMISSION_DENIED from handlers, quota refusals — in the audit log.
 */
export function createAuditInterceptor(
  audit: AuditFn,
  /** Tells other tenants when a NOT_FOUND named their objects (probe-reporter.ts). */
  reportProbe?: ProbeReporter,
): Interceptor {
  return (next) => async (req) => {
    const scope: RequestScope = {
      correlationId: correlationIdFrom(req.header.get(correlationHeader)),
    };
    const procedure = `${req.service.typeName}/${req.method.name}`;
    req.contextValues.set(interceptedKey, true);
    const refused = async (err: unknown) => {
      const e = ConnectError.from(err);
      const how = refusals.get(e.code);
      // A refusal already recorded in aggregate (repeated failed authentication) is not repeated.
      if (how && !req.contextValues.get(refusalAuditedKey)) {
        await audit({
          identity: req.contextValues.get(identityKey),
          action: how.action,
          target: procedure,
          outcome: how.outcome,
          details: { code: Code[e.code], reason: e.rawMessage },
        });
        if (e.code === Code.NotFound && !req.stream) {
          await reportProbe?.(req.contextValues.get(identityKey), procedure, req.message);
        }
      }
      e.metadata.set(correlationHeader, scope.correlationId);
      return e;
    };
    return requestScope.run(scope, async () => {
      let res: Awaited<ReturnType<typeof next>>;
      try {
        res = await next(req);
      } catch (err) {
        throw await refused(err);
      }
      res.header.set(correlationHeader, scope.correlationId);
      if (!res.stream) return res;
      // A server stream's handler runs as the response is read, outside this call: run each step
      // inside the request scope and audit a refusal raised mid-stream (e.g. NOT_FOUND on download).
      // Each step enters the scope this call runs in (one AsyncResource for the stream's life):
      // a requestScope.run per step would make a context frame each, and an idle stream holds its
      // pending step's frame, and those of the timers its handler set, for as long as it is open.
      const inScope = new AsyncResource("acb.request-scope");
      const inner = res.message[Symbol.asyncIterator]();
      const onFailure = async (err: unknown): Promise<never> => {
        throw await refused(err);
      };
      const step = () => {
        try {
          return inner.next().then(undefined, onFailure);
        } catch (err) {
          return onFailure(err);
        }
      };
      const message: AsyncIterable<typeof res.message extends AsyncIterable<infer T> ? T : never> =
        {
          [Symbol.asyncIterator]: () => ({
            next: () => inScope.runInAsyncScope(step),
            return: (value?: unknown) =>
              inScope.runInAsyncScope(
                async () => (await inner.return?.(value)) ?? { done: true as const, value },
              ),
          }),
        };
      return { ...res, message };
    });
  };
}
