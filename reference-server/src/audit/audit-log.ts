import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { type Identity, PLATFORM_TENANT } from "../auth/identity.js";
import type { Clock, Timer } from "../clock.js";
import { randomToken } from "../ids.js";
import type { Logger } from "../logger.js";
import type { AuditOutcome, AuditRecordData, AuditStore } from "../storage/types.js";

/** What a request carries through the hub: its correlation id and, once known, its caller. */
export interface RequestScope {
  readonly correlationId: string;
}

/**
 * The scope of the request being served. The audit interceptor enters it for every RPC, so domain
 * code deep below a handler can audit with the request's correlation id without passing it down.
 * (AsyncLocalStorage follows a value through every await of one call chain.)
 */
export const requestScope = new AsyncLocalStorage<RequestScope>();

/** One audited event, as domain code reports it; time, id and correlation id are added. */
export interface AuditEvent {
  /** The caller; tenant and actor come from it. Omit for an anonymous caller. */
  identity?: Identity | undefined;
  /** The tenant concerned when there is no identity, or when it differs from the caller's. */
  tenantId?: string;
  /** The actor to record instead of the identity's (e.g. one the tenant must not learn). */
  actor?: string;
  action: string;
  target: string;
  outcome: AuditOutcome;
  details?: Record<string, string>;
}

export type AuditFn = (event: AuditEvent) => Promise<void>;

/** "admin:<subject>" for a platform admin, the agent id otherwise. */
export function actorOf(identity: Identity | undefined): string {
  if (!identity) return "anonymous";
  return identity.tenantId === PLATFORM_TENANT ? `admin:${identity.agentId}` : identity.agentId;
}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
const base32 = (n: number, width: number) => {
  let s = "";
  for (let i = 0; i < width; i++) {
    s = alphabet[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
};

/** Correlation ids a client may choose: short and printable, so they are safe in logs. */
const correlationIdPattern = /^[A-Za-z0-9._:@/-]{1,128}$/;

/** The request's x-correlation-id when it is well formed, otherwise a new one. */
export function correlationIdFrom(header: string | null): string {
  if (header !== null && correlationIdPattern.test(header)) return header;
  return `cor_${randomToken(16)}`;
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  store: AuditStore;
  clock: Clock;
  logger: Logger;
  /** How long records are kept. Default 90 days. */
  retentionMs?: number;
  /** How often expired records are pruned. Default one hour. */
  pruneEveryMs?: number;
}

export interface AuditLog {
  /** Records an event; awaits the store, so a failing store fails the call that audits. */
  audit: AuditFn;
  /**
   * Records an event, or counts it in the record of an earlier event with the same `key`
   * (AuditStore.appendAggregate): repeats of one attack cost one record, not one each.
   */
  aggregate(key: string, event: AuditEvent): Promise<void>;
  readonly retentionMs: number;
  /** Deletes records older than the retention now; returns how many. */
  prune(): Promise<number>;
  close(): void;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { store, clock, logger } = options;
  const retentionMs = options.retentionMs ?? 90 * 24 * 3_600_000;
  const pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  // Ids sort by time, then by a per-node counter, then a random tail that keeps nodes apart.
  let lastTime = 0;
  let counter = 0;
  const newAuditId = (time: number) => {
    counter = time === lastTime ? counter + 1 : 0;
    lastTime = time;
    return `aud_${base32(time, 10)}${base32(counter, 6)}${randomBytes(4).toString("hex")}`;
  };

  const prune = () => store.prune(clock.now() - retentionMs);
  let timer: Timer | undefined;
  let closed = false;
  const schedule = () => {
    if (closed) return;
    timer = clock.setTimer(pruneEveryMs, () => {
      // Re-armed first, so the next prune is due on time whatever this one takes.
      schedule();
      prune().catch((err: unknown) => logger.log("error", "audit log pruning failed", { err }));
    });
  };
  schedule();

  const recordOf = (event: AuditEvent): AuditRecordData => {
    const time = clock.now();
    return {
      id: newAuditId(time),
      time,
      tenantId: event.tenantId ?? event.identity?.tenantId ?? "",
      actor: event.actor ?? actorOf(event.identity),
      action: event.action,
      target: event.target,
      outcome: event.outcome,
      correlationId: requestScope.getStore()?.correlationId ?? "",
      details: {
        ...(event.identity?.apiKeyId !== undefined && { api_key: event.identity.apiKeyId }),
        ...event.details,
      },
    };
  };

  return {
    retentionMs,
    prune,
    audit: (event) => store.append(recordOf(event)),
    aggregate: (key, event) => store.appendAggregate(key, recordOf(event)),
    close() {
      closed = true;
      timer?.cancel();
      timer = undefined;
    },
  };
}
