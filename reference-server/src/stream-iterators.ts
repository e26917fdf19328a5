// Iterators that wrap a stream of messages the way an async generator around it would, without a
// generator's frame. A live stream holds each layer between the handler and the socket for its
// whole life: an async generator that only forwards keeps its registers, its request queue, its
// promise and the closures of every pending await (about 1 KB for each idle Receive stream, of
// which the hub holds thousands). These hold one small object each.

/** A stream that is its own iterator, and can be returned from. */
export type StreamIterator<T> = AsyncIterable<T> &
  AsyncIterator<T> & { return(value?: unknown): Promise<IteratorResult<T>> };

/** How {@link observeStream} reports a stream's life. */
export interface StreamObserver {
  /** Called once, at the first next(), before the source is asked. */
  started(): void;
  /**
   * Called once, when the source is done, fails (`failure` set), or is returned from after it
   * started (the consumer left early).
   */
  ended(failure: unknown): void;
}

/**
 * `source`'s items as they are, with {@link StreamObserver.started} at the first next() and
 * {@link StreamObserver.ended} when the stream ends, fails or is returned from: what
 * `async function* () { started(); try { yield* source } catch (e) { failure = e; throw e }
 * finally { ended(failure) } }` reports. As there, a return() or throw() before the first next()
 * ends the stream without starting it (nothing is reported, the source is not touched).
 */
export function observeStream<T>(
  source: AsyncIterable<T>,
  observer: StreamObserver,
): StreamIterator<T> {
  return new ObservedStream(source, observer);
}

const DONE = Object.freeze({ done: true as const, value: undefined });

class ObservedStream<T> implements AsyncIterableIterator<T> {
  private it: AsyncIterator<T> | undefined;
  /** 0 not started, 1 running, 2 ended. */
  private state = 0;

  constructor(
    private readonly source: AsyncIterable<T>,
    private readonly observer: StreamObserver,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.state === 2) return Promise.resolve(DONE);
    let it = this.it;
    if (it === undefined) {
      this.state = 1;
      try {
        this.observer.started();
        it = this.source[Symbol.asyncIterator]();
        this.it = it;
      } catch (err) {
        this.end(err);
        return Promise.reject(err);
      }
    }
    return this.settle(it.next());
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    const it = this.it;
    if (this.state !== 1 || it === undefined) {
      this.state = 2;
      return Promise.resolve({ done: true, value } as IteratorResult<T>);
    }
    if (!it.return) {
      this.end(undefined);
      return Promise.resolve({ done: true, value } as IteratorResult<T>);
    }
    return this.settle(it.return(value), true);
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    const it = this.it;
    if (this.state !== 1 || it === undefined) {
      this.state = 2;
      return Promise.reject(error);
    }
    if (!it.throw) {
      this.end(error);
      return Promise.reject(error);
    }
    return this.settle(it.throw(error));
  }

  private settle(p: Promise<IteratorResult<T>>, ends = false): Promise<IteratorResult<T>> {
    return p.then(ends ? this.returned : this.stepped, this.failed);
  }

  // Made once per stream, not per step: a waiting stream holds its step's callbacks.
  private readonly stepped = (r: IteratorResult<T>): IteratorResult<T> => {
    if (r.done === true) this.end(undefined);
    return r;
  };

  private readonly returned = (r: IteratorResult<T>): IteratorResult<T> => {
    this.end(undefined);
    return r;
  };

  private readonly failed = (err: unknown): never => {
    this.end(err);
    throw err;
  };

  private end(failure: unknown): void {
    if (this.state === 2) return;
    this.state = 2;
    this.it = undefined;
    this.observer.ended(failure);
  }
}

/**
 * The items `step` makes of each item of the stream `open()` returns, in order: what
 * `async function* () { try { for await (const x of open()) yield* step(x) } catch (e) { throw
 * failed(e) } }` yields, without its frame. As there, the source is opened at the first next(); a
 * step that throws returns from the source before the error is passed on; return() returns from
 * the source (a return() before the first next() opens nothing).
 */
export function flatMapStream<In, Out>(
  open: () => AsyncIterable<In>,
  step: (item: In) => readonly Out[],
  failed: (error: unknown) => unknown = passOn,
): StreamIterator<Out> {
  return new FlatMappedStream(open, step, failed);
}

const passOn = (error: unknown) => error;

class FlatMappedStream<In, Out> implements AsyncIterableIterator<Out> {
  private it: AsyncIterator<In> | undefined;
  private ended = false;
  /** Items made from one source item and not yet taken (when a step makes several). */
  private ready: Out[] | undefined;

  constructor(
    private open: (() => AsyncIterable<In>) | undefined,
    private readonly step: (item: In) => readonly Out[],
    private readonly failed: (error: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Out>> {
    const ready = this.ready;
    if (ready !== undefined && ready.length > 0) {
      const value = ready.shift() as Out;
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve(DONE);
    let it = this.it;
    if (it === undefined) {
      const open = this.open as () => AsyncIterable<In>;
      this.open = undefined;
      try {
        it = open()[Symbol.asyncIterator]();
      } catch (err) {
        this.ended = true;
        return Promise.reject(this.failed(err));
      }
      this.it = it;
    }
    return it.next().then(this.made, this.sourceFailed);
  }

  // Made once per stream, not per step: a waiting stream holds its step's callbacks.
  private readonly sourceFailed = (err: unknown): never => {
    this.ended = true;
    throw this.failed(err);
  };

  private readonly made = (
    r: IteratorResult<In>,
  ): IteratorResult<Out> | Promise<IteratorResult<Out>> => {
    if (r.done === true) {
      this.ended = true;
      return DONE;
    }
    let out: readonly Out[];
    try {
      out = this.step(r.value);
    } catch (err) {
      this.ended = true;
      const it = this.it;
      const fail = () => {
        throw this.failed(err);
      };
      return it?.return ? it.return().then(fail, fail) : fail();
    }
    if (out.length === 0) return this.next();
    if (out.length > 1) this.ready = out.slice(1);
    return { done: false, value: out[0] as Out };
  };

  return(value?: unknown): Promise<IteratorResult<Out>> {
    const it = this.it;
    const wasEnded = this.ended;
    this.ended = true;
    this.ready = undefined;
    this.open = undefined;
    if (wasEnded || it === undefined || !it.return) {
      return Promise.resolve({ done: true, value } as IteratorResult<Out>);
    }
    return it.return().then(() => ({ done: true, value }) as IteratorResult<Out>);
  }
}
