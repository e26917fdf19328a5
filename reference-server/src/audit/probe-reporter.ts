import { type Identity, PLATFORM_TENANT } from "../auth/identity.js";
import type { Clock } from "../clock.js";
import type { Backend } from "../storage/types.js";
import type { AuditLog } from "./audit-log.js";

/** What the victim's record names as the actor: never the other tenant or its agent. */
export const FOREIGN_ACTOR = "another-tenant";

/** At most this many other tenants are told about one refused attempt. */
const MAX_VICTIMS = 10;

/** Repeated probes of one object through one RPC within this window share one record. */
const WINDOW_MS = 60_000;

type Kind = "context" | "meeting" | "agent";

/** The object ids a request names, by the field names the acb.v1 requests use. */
function namedIds(message: unknown): { kind: Kind; id: string }[] {
  if (typeof message !== "object" || message === null) return [];
  const m = message as Record<string, unknown>;
  const found: { kind: Kind; id: string }[] = [];
  const add = (kind: Kind, v: unknown) => {
    if (typeof v === "string" && v !== "") found.push({ kind, id: v });
  };
  add("context", m["contextId"]);
  add("meeting", m["meetingId"]);
  add("agent", m["agentId"]);
  add("agent", m["recipientId"]);
  const target = m["target"] as { case?: unknown; value?: unknown } | undefined;
  if (target?.case === "recipientId") add("agent", target.value);
  return found;
}

/**
 * Tells the victim of a cross-tenant probe. When a call is refused NOT_FOUND, every object id the
 * request named is looked up in the other tenants; each tenant holding one gets an `authz.probe`
 * record (outcome "denied") naming its object, the RPC and the correlation id — with actor
 * "another-tenant", so the victim learns that its object was named, not by whom. The caller's own
 * tenant keeps its `authz.not_found` record, and a platform admin, who reads every tenant, can
 * match the two by correlation id. Repeats (same object, same RPC, same minute) are counted in
 * the first record (details.count), so a prober cannot flood the victim's audit log.
 */
export function createProbeReporter(
  backend: Backend,
  auditLog: Pick<AuditLog, "aggregate">,
  clock: Clock,
) {
  const holders = (kind: Kind, id: string) => {
    if (kind === "context") return backend.contexts.tenantsHolding(id, MAX_VICTIMS + 1);
    if (kind === "meeting") return backend.meetings.tenantsHolding(id, MAX_VICTIMS + 1);
    return backend.registry.tenantsHolding(id, MAX_VICTIMS + 1);
  };
  return async (identity: Identity | undefined, procedure: string, message: unknown) => {
    if (!identity || identity.tenantId === PLATFORM_TENANT) return;
    for (const { kind, id } of namedIds(message)) {
      const victims = (await holders(kind, id)).filter((t) => t !== identity.tenantId);
      const window = Math.floor(clock.now() / WINDOW_MS) * WINDOW_MS;
      for (const tenantId of victims.slice(0, MAX_VICTIMS)) {
        await auditLog.aggregate(`authz.probe:${window}:${tenantId}:${kind}/${id}:${procedure}`, {
          tenantId,
          actor: FOREIGN_ACTOR,
          action: "authz.probe",
          target: `${kind}/${id}`,
          outcome: "denied",
          details: { rpc: procedure },
        });
      }
    }
  };
}

export type ProbeReporter = ReturnType<typeof createProbeReporter>;
