import { AsyncResource } from "node:async_hooks";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { refusalAuditedKey } from "../auth/auth-failure-limiter.js";
import { identityKey } from "../auth/identity.js";
import { procedureOf } from "../procedure.js";
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
  /** Audits a refusal (once) and gives it the call's correlation id. */
  const refused = async (
    req: Parameters<Parameters<Interceptor>[0]>[0],
    scope: RequestScope,
    err: unknown,
  ) => {
    const e = ConnectError.from(err);
    const how = refusals.get(e.code);
    // A refusal already recorded in aggregate (repeated failed authentication) is not repeated.
    if (how && !req.contextValues.get(refusalAuditedKey)) {
      const procedure = procedureOf(req.method);
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
  return (next) => (req) => {
    const scope: RequestScope = {
      correlationId: correlationIdFrom(req.header.get(correlationHeader)),
    };
    req.contextValues.set(interceptedKey, true);
    return requestScope.run(scope, async () => {
      let res: Awaited<ReturnType<typeof next>>;
      try {
        res = await next(req);
      } catch (err) {
        throw await refused(req, scope, err);
      }
      res.header.set(correlationHeader, scope.correlationId);
      if (!res.stream) return res;
      // A server stream's handler runs as the response is read, outside this call: run each step
      // inside the request scope and audit a refusal raised mid-stream (e.g. NOT_FOUND on download).
      const message = new ScopedStream(res.message[Symbol.asyncIterator](), (err) =>
        refused(req, scope, err),
      );
      return { ...res, message };
    });
  };
}

/**
 * A response stream whose steps run in the request scope of the call that made it, with a refusal
 * raised mid-stream audited (`refused`). Each step enters the scope the call runs in (one
 * AsyncResource for the stream's life): a requestScope.run per step would make a context frame
 * each, and an idle stream holds its pending step's frame, and those of the timers its handler
 * set, for as long as it is open. One object per stream, no closures.
 */
class ScopedStream<T> extends AsyncResource implements AsyncIterableIterator<T> {
  constructor(
    private readonly inner: AsyncIterator<T>,
    private readonly refused: (err: unknown) => Promise<unknown>,
  ) {
    super("acb.request-scope");
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    return this.runInAsyncScope(this.step, this);
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    return this.runInAsyncScope(this.finish, this, value);
  }

  private step(): Promise<IteratorResult<T>> {
    try {
      return this.inner.next().then(undefined, this.failed);
    } catch (err) {
      return this.failed(err);
    }
  }

  private async finish(value: unknown): Promise<IteratorResult<T>> {
    return (await this.inner.return?.(value)) ?? { done: true, value: value as T };
  }

  private readonly failed = async (err: unknown): Promise<never> => {
    throw await this.refused(err);
  };
}
