/**
 * Writes that arrive while an earlier one of the same group is being committed, committed
 * together in one statement once it is done ("group commit"). The first write of a quiet group
 * starts at once, so grouping costs no latency when there is nothing to group; under load the
 * writes that queued meanwhile share one round trip. Groups commit one batch at a time, in the
 * order their writes arrived, so writes of one group keep their order.
 */
export class GroupCommit<T, R> {
  private readonly groups = new Map<string, Pending<T, R>[]>();

  /**
   * `commit` stores a batch of one group's writes (at most `maxBatch`) and answers each in its
   * place; when it throws, every write of the batch fails with its error.
   */
  constructor(
    private readonly commit: (key: string, items: T[]) => Promise<R[]>,
    private readonly maxBatch = 256,
  ) {}

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
      void this.drain(key, fresh);
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
