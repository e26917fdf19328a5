import type { EventLog, EventStreamName, StoredEvent } from "../types.js";
import type { TenantScoped } from "./tenant-map.js";

interface Stream {
  events: StoredEvent[];
  head: number;
  waiters: Set<() => void>;
}

/** Options of the in-memory event log. */
export interface MemoryEventLogOptions {
  /** Events kept per tenant and stream; older ones are dropped (cursors before them are OUT_OF_RANGE). Default 10,000. */
  retainEvents?: number;
}

/** The in-memory event log, with the synchronous append the other memory stores call inside their own steps. */
export interface MemoryEventLog extends EventLog, TenantScoped {
  appendNow(tenantId: string, stream: EventStreamName, data: Uint8Array): number;
}

export function createMemoryEventLog(options: MemoryEventLogOptions = {}): MemoryEventLog {
  const retain = options.retainEvents ?? 10_000;
  const streams = new Map<string, Stream>();
  const key = (tenantId: string, stream: EventStreamName) => `${tenantId}\u0000${stream}`;
  const get = (tenantId: string, stream: EventStreamName): Stream => {
    const k = key(tenantId, stream);
    let s = streams.get(k);
    if (!s) {
      s = { events: [], head: 0, waiters: new Set() };
      streams.set(k, s);
    }
    return s;
  };
  const appendNow = (tenantId: string, stream: EventStreamName, data: Uint8Array) => {
    const s = get(tenantId, stream);
    s.head += 1;
    // Stryker disable next-line MethodExpression: a copy of bytes the writers encode for this event alone and never touch again
    s.events.push({ seq: s.head, data: data.slice() });
    // Drop in batches so trimming stays amortised O(1) per append.
    if (s.events.length > retain * 1.25) s.events.splice(0, s.events.length - retain);
    const waiters = [...s.waiters];
    s.waiters.clear();
    for (const w of waiters) w();
    return s.head;
  };
  return {
    appendNow,
    async append(tenantId, stream, data) {
      return appendNow(tenantId, stream, data);
    },
    async read(tenantId, stream, afterSeq, limit) {
      const s = get(tenantId, stream);
      const first = s.events[0]?.seq ?? s.head + 1;
      const start = Math.max(0, afterSeq + 1 - first);
      // Copies: decoded events may keep views into these bytes, and a reader may change them.
      return s.events
        .slice(start, start + limit)
        .map((e) => ({ seq: e.seq, data: e.data.slice() }));
    },
    async bounds(tenantId, stream) {
      const s = get(tenantId, stream);
      return { head: s.head, oldest: s.events[0]?.seq ?? s.head + 1 };
    },
    waitFor(tenantId, stream, afterSeq, signal) {
      const s = get(tenantId, stream);
      if (s.head > afterSeq || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          s.waiters.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        s.waiters.add(done);
        signal.addEventListener("abort", done, { once: true });
      });
    },
    deleteTenant(tenantId) {
      for (const stream of ["contexts", "agents"] as const) {
        const s = streams.get(key(tenantId, stream));
        if (!s) continue;
        for (const w of [...s.waiters]) w();
        streams.delete(key(tenantId, stream));
      }
    },
  };
}
