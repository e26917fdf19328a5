import type { Clock, Timer } from "../clock.js";

/**
 * One waiting loop's sleep: until woken (a Notifier listener calls `wake`), until an instant on
 * the hub clock, or until `signal` aborts, whichever comes first. A wake that arrives while the
 * loop is busy is kept, so the next wait returns at once: call `reset` just before re-reading the
 * store, so that nothing written after that read can be missed.
 */
export class Waiter {
  private woken = false;
  private resolve: (() => void) | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", this.wake, { once: true });
  }

  /** Wakes the wait (safe to call at any time, from any listener). */
  readonly wake = (): void => {
    this.woken = true;
    this.resolve?.();
  };

  reset(): void {
    this.woken = false;
  }

  /** Resolves when woken, at `until` (hub clock, ms) or on abort. */
  async wait(until: number): Promise<void> {
    if (this.woken || this.signal.aborted) return;
    this.timer = this.clock.setTimer(Math.max(0, until - this.clock.now()), this.wake);
    await new Promise<void>((resolve) => {
      this.resolve = resolve;
      if (this.woken || this.signal.aborted) resolve();
    });
    this.resolve = undefined;
    this.timer.cancel();
    this.timer = undefined;
  }

  dispose(): void {
    this.timer?.cancel();
    this.signal.removeEventListener("abort", this.wake);
  }
}
