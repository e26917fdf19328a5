import type { Interceptor } from "@connectrpc/connect";
import { identityKey } from "../auth/identity.js";

/**
 * Turns on the hub's one thread, taken in rotation between tenants. A turn starts from a
 * macrotask of its own, after the I/O that was pending (another tenant's request) has been read;
 * while several tenants wait, each gets one turn in rotation however many calls it has waiting.
 */
export class FairTurns {
  /** Tenants with calls waiting, in rotation order (a Map keeps insertion order). */
  private readonly waiting = new Map<string, (() => void)[]>();
  private scheduled = false;

  /** Resolves when it is the tenant's turn. */
  take(tenantId: string): Promise<void> {
    return new Promise((resolve) => {
      const queue = this.waiting.get(tenantId);
      if (queue) queue.push(resolve);
      else this.waiting.set(tenantId, [resolve]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.next);
      }
    });
  }

  /** Gives one turn to the tenant at the front of the rotation, which then moves to the back. */
  private readonly next = (): void => {
    this.scheduled = false;
    const first = this.waiting.entries().next().value;
    if (!first) return;
    const [tenantId, queue] = first;
    const resolve = queue.shift();
    this.waiting.delete(tenantId);
    if (queue.length > 0) this.waiting.set(tenantId, queue);
    if (this.waiting.size > 0) {
      this.scheduled = true;
      setImmediate(this.next);
    }
    resolve?.();
  };
}

/**
 * Calls that carry many items (SendBatch) are checked and run in turns, one call per turn, tenants
 * in rotation: between two of one tenant's batches, the hub reads what else arrived and runs another
 * tenant's waiting batch. Placed before validation, so a flooding tenant's checks wait too.
 */
export function createFairTurnInterceptor(turns: FairTurns): Interceptor {
  return (next) => async (req) => {
    if (req.method.name !== "SendBatch") return next(req);
    const identity = req.contextValues.get(identityKey);
    if (identity) await turns.take(identity.tenantId);
    return next(req);
  };
}
