/**
 * Writes that arrive while an earlier one of the same group is being committed, committed
 * together in one statement once it is done ("group commit"). The first write of a quiet group
 * starts at once, so grouping costs no latency when there is nothing to group; under load the
 * writes that queued meanwhile share one round trip. Groups commit one batch at a time, in the
 * order their writes arrived, so writes of one group keep their order.
 *
 * With `lingerMs`, the first write of a quiet group waits that long for others to join it: for
 * writes whose answer no one waits on closely (acks), fewer and larger statements are worth a
 * few milliseconds.
 */
export class GroupCommit<T, R> {
  private readonly groups = new Map<string, Pending<T, R>[]>();

  private readonly maxBatch: number;
  private readonly lingerMs: number;

  /**
   * `commit` stores a batch of one group's writes (at most `maxBatch`, 256 by default) and
   * answers each in its place; when it throws, every write of the batch fails with its error.
   * `lingerMs` (0 by default): see above.
   */
  constructor(
    private readonly commit: (key: string, items: T[]) => Promise<R[]>,
    options: { maxBatch?: number; lingerMs?: number } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 256;
    this.lingerMs = options.lingerMs ?? 0;
  }

  /** Commits `item` with the writes of group `key` that wait with it. */
  submit(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = this.groups.get(key);
      if (queued) {
        queued.push({ item, resolve, reject });
        return;
      }
      const fresh: Pending<T, R>[] = [{ item, resolve, reject }];
      this.groups.set(key, fresh);
      if (this.lingerMs > 0) setTimeout(() => void this.drain(key, fresh), this.lingerMs);
      else void this.drain(key, fresh);
    });
  }

  /** Groups with writes queued or being committed. */
  get active(): number {
    return this.groups.size;
  }

  private async drain(key: string, queued: Pending<T, R>[]): Promise<void> {
    while (queued.length > 0) {
      const batch = queued.splice(0, this.maxBatch);
      try {
        const results = await this.commit(
          key,
          batch.map((p) => p.item),
        );
        for (const [i, p] of batch.entries()) p.resolve(results[i] as R);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.groups.delete(key);
  }
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Requests of one group made in the same event-loop turn, run together as one batch at the end
 * of that turn (setImmediate): for reads and claims that need no order among themselves, such as
 * the polls of streams woken together by one read of notifications. Nothing waits for an earlier
 * batch, so a lone request costs one loop turn at most; when the process is busy, each turn
 * gathers what its I/O woke, and the batches grow with the load.
 */
export class TurnBatch<T, R> {
  private pending = new Map<string, Pending<T, R>[]>();
  private armed = false;

  /**
   * `run` handles a batch of one group's requests (at most `maxBatch`) and answers each in its
   * place; when it throws, every request of the batch fails with its error.
   */
  constructor(
    private readonly run: (key: string, items: T[]) => Promise<R[]>,
    private readonly maxBatch = 256,
  ) {}

  /** Runs `item` with the requests of group `key` made in this event-loop turn. */
  submit(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = this.pending.get(key);
      if (queued) queued.push({ item, resolve, reject });
      else this.pending.set(key, [{ item, resolve, reject }]);
      if (!this.armed) {
        this.armed = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.armed = false;
    const groups = this.pending;
    this.pending = new Map();
    for (const [key, queued] of groups) {
      for (let at = 0; at < queued.length; at += this.maxBatch) {
        const batch = queued.slice(at, at + this.maxBatch);
        this.run(
          key,
          batch.map((p) => p.item),
        ).then(
          (results) => {
            for (const [i, p] of batch.entries()) p.resolve(results[i] as R);
          },
          (err: unknown) => {
            for (const p of batch) p.reject(err);
          },
        );
      }
    }
  }
}
