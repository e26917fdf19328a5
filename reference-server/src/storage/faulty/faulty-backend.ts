// TEST-ONLY: a backend that wraps another and breaks, on purpose, the storage-side guarantees
// named by the hub's faults (src/faults.ts), so the conformance suite can prove it notices
// (conformance/test/teeth.test.ts). The rules in domain/ contain no test code: every fault that
// storage can express lives here, the others in the server's fault interceptor.

import type { Clock } from "../../clock.js";
import type { HubFault } from "../../faults.js";
import { enqueueEach, pollByParts } from "../messaging-types.js";
import type { Backend, ClaimedDelivery, ContextStore, MessageStore } from "../types.js";

/**
 * Wraps `backend` with the storage faults among `faults`:
 * - "drop-deliveries": every tenth first attempt is acknowledged at claim instead of handed out;
 * - "never-redeliver": overdue deliveries are never returned to the queue (reap does nothing);
 * - "slow-delivery": every non-empty claim answers 100 ms late (hub clock);
 * - "ignore-idempotency": idempotency keys are neither looked up nor stored;
 * - "cross-tenant-leak": one context read per tenant that misses is served from another tenant.
 */
export function createFaultyBackend(
  backend: Backend,
  faults: ReadonlySet<HubFault>,
  clock: Clock,
): Backend {
  return {
    ...backend,
    // Methods are re-bound explicitly: the spread copies own properties only, and a backend may be
    // a class instance whose methods live on its prototype.
    epoch: () => backend.epoch(),
    deleteTenant: (tenantId) => backend.deleteTenant(tenantId),
    close: () => backend.close(),
    messages: faultyMessages(backend.messages, faults, clock),
    idempotency: faults.has("ignore-idempotency")
      ? { lookup: async () => undefined }
      : backend.idempotency,
    contexts: faults.has("cross-tenant-leak")
      ? leakyContexts(backend, backend.contexts)
      : backend.contexts,
  };
}

function faultyMessages(
  store: MessageStore,
  faults: ReadonlySet<HubFault>,
  clock: Clock,
): MessageStore {
  let firstAttempts = 0;
  const wrapped: MessageStore = Object.create(store);
  wrapped.enqueue = (message, recipients, options = {}) => {
    const { idempotency: _ignored, ...rest } = options;
    return store.enqueue(message, recipients, faults.has("ignore-idempotency") ? rest : options);
  };
  wrapped.claim = async (tenantId, agentId, max, now, deadline) => {
    let batch: ClaimedDelivery[] = await store.claim(tenantId, agentId, max, now, deadline);
    if (faults.has("drop-deliveries")) {
      const dropped = batch.filter((d) => d.attempt === 1 && ++firstAttempts % 10 === 0);
      if (dropped.length > 0) {
        await store.ack(
          tenantId,
          agentId,
          dropped.map((d) => d.deliveryId),
          now,
        );
        batch = batch.filter((d) => !dropped.includes(d));
      }
    }
    if (faults.has("slow-delivery") && batch.length > 0) {
      await new Promise<void>((resolve) => clock.setTimer(100, resolve));
    }
    return batch;
  };
  // Composed of the wrapped steps, so every fault above applies to a stream's polls too.
  wrapped.enqueueMany = (items) => enqueueEach(wrapped, items);
  // enqueueEach commits no send effects: the hub does them itself.
  Object.defineProperty(wrapped, "folds", { value: undefined });
  wrapped.poll = (tenantId, agentId, options) => pollByParts(wrapped, tenantId, agentId, options);
  if (faults.has("never-redeliver")) {
    wrapped.reap = async () => ({ redelivered: 0, deadLettered: 0 });
    // Nothing in flight will ever come back, so there is nothing to wake up for.
    wrapped.nextWake = async () => undefined;
  }
  return wrapped;
}

function leakyContexts(backend: Backend, store: ContextStore): ContextStore {
  const leakedTo = new Set<string>();
  const wrapped: ContextStore = Object.create(store);
  wrapped.get = async (tenantId, id) => {
    const own = await store.get(tenantId, id);
    if (own || leakedTo.has(tenantId)) return own;
    for (const t of await backend.tenants.list("", 10_000)) {
      const found = t.id === tenantId ? undefined : await store.get(t.id, id);
      if (found) {
        leakedTo.add(tenantId);
        // Served as if it were the caller's own: exactly the leak tenant isolation forbids.
        return { ...found, tenantId };
      }
    }
    return undefined;
  };
  return wrapped;
}
