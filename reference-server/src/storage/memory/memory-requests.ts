import { MessageType } from "@acb/gen/acb/v1/messaging_pb";
import type { PendingRequestRecord, RequestStore } from "../messaging-types.js";
import { TenantMap, type TenantScoped } from "./tenant-map.js";

/** Pending Request calls in process memory; each method is one synchronous step. */
export function createMemoryRequestStore(): RequestStore & TenantScoped {
  const requests = new TenantMap<PendingRequestRecord>();
  let lastPrune = 0;
  const prune = (now: number) => {
    // Forget ended records now and then, so the map stays bounded by the reply window.
    if (now - lastPrune < 60_000) return;
    lastPrune = now;
    const gone: PendingRequestRecord[] = [];
    for (const r of requests.allValues()) if (r.forgetAt <= now) gone.push(r);
    for (const r of gone) requests.delete(r.tenantId, r.id);
  };
  return {
    async open(request) {
      requests.set(request.tenantId, request.id, { ...structuredClone(request), ended: false });
    },
    async get(tenantId, id) {
      const r = requests.get(tenantId, id);
      return r && structuredClone(r);
    },
    async answer(reply, now) {
      prune(now);
      const r = requests.get(reply.tenantId, reply.correlationId);
      if (!r || r.forgetAt <= now || reply.type !== MessageType.RESPONSE) return "none";
      if (reply.target.kind !== "agent" || reply.target.recipientId !== r.requesterId)
        return "none";
      if (r.ended || r.reply) return "late";
      r.reply = structuredClone(reply);
      return "accepted";
    },
    async end(tenantId, id, forgetAt) {
      const r = requests.get(tenantId, id);
      if (!r) return undefined;
      const before = structuredClone(r);
      r.ended = true;
      r.forgetAt = forgetAt;
      return before;
    },
    deleteTenant(tenantId) {
      requests.deleteTenant(tenantId);
    },
  };
}
