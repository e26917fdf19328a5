// Waiting for a change that another transaction (of this process or of another hub node) commits.
// Writers NOTIFY a key in the same transaction as the change (PostgreSQL delivers it at commit);
// readers wait on the key and still re-check on a bounded interval, in case a notification was
// lost while the listening connection was away.

import type { SqlClient } from "./sql-driver.js";

/** The channel every wake-up of the hub's tables travels on. */
export const WAKE_CHANNEL = "acb_wake";

/** Keys of what can be waited for. */
export const wakeKey = {
  events: (tenantId: string, stream: string) => JSON.stringify(["events", tenantId, stream]),
  meeting: (tenantId: string, meetingId: string) =>
    JSON.stringify(["meeting", tenantId, meetingId]),
};

/**
 * Queues a NOTIFY of `key`, sent when the transaction of `c` commits: `seq` is the position the
 * change reached (waiters already past it stay asleep; a notification can arrive after a waiter
 * has read the change), undefined for a deletion, which wakes every waiter of the key.
 */
export async function notifyAtCommit(c: SqlClient, key: string, seq?: number): Promise<void> {
  await c.query("SELECT pg_notify($1, $2)", [WAKE_CHANNEL, JSON.stringify([key, seq ?? null])]);
}

/** The key and position of a NOTIFY payload; "" (a lost listening connection) wakes everyone. */
export function parseWake(payload: string): { key: string; seq: number | undefined } {
  if (payload === "") return { key: "", seq: undefined };
  const [key, seq] = JSON.parse(payload) as [string, number | null];
  return { key, seq: seq ?? undefined };
}

export class Wakeups {
  private readonly waiters = new Map<string, Set<(seq: number | undefined) => void>>();

  constructor(private readonly pollIntervalMs: number) {}

  /**
   * Wakes the waiters of `key` that wait for a position below `seq` (all of them when `seq` is
   * undefined); key "" wakes every waiter (after a lost listening connection).
   */
  wake(key: string, seq: number | undefined): void {
    const sets = key === "" ? [...this.waiters.values()] : [this.waiters.get(key)];
    for (const set of sets) for (const w of [...(set ?? [])]) w(seq);
  }

  /**
   * Resolves once `ready()` is true, on a wake-up of `key` (the caller re-reads what it waits
   * for; a deletion wakes too), or when `signal` aborts. Without a wake-up, `ready()` is checked
   * again every poll interval.
   */
  async waitUntil(
    key: string,
    afterSeq: number,
    ready: () => Promise<boolean>,
    signal: AbortSignal,
  ): Promise<void> {
    while (!signal.aborted) {
      let release = () => {};
      // Registered before checking, so a wake-up between the check and the wait is not missed.
      const woken = new Promise<boolean>((resolve) => {
        const wake = (seq?: number) => {
          if (seq === undefined || seq > afterSeq) resolve(true);
        };
        const poll = () => resolve(false);
        const timer = setTimeout(poll, this.pollIntervalMs);
        const set = this.waiters.get(key) ?? new Set();
        this.waiters.set(key, set);
        set.add(wake);
        const abort = () => resolve(true);
        signal.addEventListener("abort", abort, { once: true });
        release = () => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
          signal.removeEventListener("abort", abort);
        };
      });
      try {
        if (await ready()) return;
        if (await woken) return;
      } finally {
        release();
      }
    }
  }
}
