/** A cancellable timer created by a {@link Clock}. */
export interface Timer {
  cancel(): void;
}

/**
 * Time as the hub sees it. Every timeout, TTL and presence decision reads this clock, so tests can
 * drive time explicitly with {@link ManualClock} instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now. */
  setTimer(ms: number, fn: () => void): Timer;
  /**
   * Runs `fn` every `ms` milliseconds (at least 1) from now until cancelled. Optional: callers
   * without it re-arm a setTimer from its callback, which makes a timer per run (an open Receive
   * stream renews its agent's presence this way for as long as it is open).
   */
  setRepeating?(ms: number, fn: () => void): Timer;
}

/**
 * A timer of the real clock: one object over the Timeout, no closure (every open Receive stream
 * holds one or two, renewed as it waits).
 */
class SystemTimer implements Timer {
  constructor(private readonly timeout: NodeJS.Timeout) {}

  cancel(): void {
    clearTimeout(this.timeout);
  }
}

/**
 * The longest delay Node's timers hold (2^31 - 1 ms, about 24.8 days). Node fires a longer one
 * after 1 ms, so a hub timer armed for a far deadline (a context TTL of a year) would fire at once,
 * find nothing due and arm itself again, every millisecond.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The real clock. Its timers do not keep the process alive. A delay past {@link MAX_TIMER_MS}
 * fires at that bound, early: the hub's timers re-read what is due when they fire, and arm again.
 */
export const systemClock: Required<Clock> = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
    t.unref();
    return new SystemTimer(t);
  },
  setRepeating(ms, fn) {
    // One Timeout, re-armed by Node after each run.
    const t = setInterval(fn, Math.max(1, ms));
    t.unref();
    return new SystemTimer(t);
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to; timers fire, in order, during {@link advance}. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Set<PendingTimer>();

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(timer);
    return { cancel: () => this.timers.delete(timer) };
  }

  setRepeating(ms: number, fn: () => void): Timer {
    const every = Math.max(1, ms);
    let cancelled = false;
    const timer: PendingTimer = {
      at: this.current + every,
      seq: this.seq++,
      fn: () => {
        fn();
        if (cancelled) return;
        // Again `every` after this run, as a timer re-armed from its callback would be.
        timer.at = this.current + every;
        timer.seq = this.seq++;
        this.timers.add(timer);
      },
    };
    this.timers.add(timer);
    return {
      cancel: () => {
        cancelled = true;
        this.timers.delete(timer);
      },
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.timers) {
        if (
          t.at <= target &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))
        ) {
          next = t;
        }
      }
      if (next === undefined) break;
      this.timers.delete(next);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = target;
  }
}
