/** How a reconnecting stream waits between attempts. */
export interface BackoffOptions {
  /** First delay in milliseconds. Default 100. */
  initialDelayMs?: number;
  /** Largest delay in milliseconds. Default 10,000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
}

/**
 * Exponential backoff with full jitter: attempt n waits a random time in [0, min(max, initial·mᶰ)],
 * so many clients reconnecting after the same outage spread out instead of arriving together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(max, initial * (options.multiplier ?? 2) ** attempt);
  return Math.random() * ceiling;
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
