// Turns the SDK's handler-driven streams into async iterables: `for await (const x of …)`. The
// stream's handler hands one value over and waits until the loop asks for the next one, so the
// loop body runs before the stream moves on (a subscription's cursor, a message's automatic ack),
// and breaking out of the loop (which calls the iterator's `return()`) closes the stream.

/** A running handler-driven stream: settles `done` when it ends, stops on close(). */
export interface HandlerStream {
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/**
 * The values a handler-driven stream produces, as an async iterable. `open` starts the stream
 * (once per iteration, on the first `next()`) with a handler whose promise resolves true once the
 * loop asked for the next value, or false when the loop ended without asking.
 */
export function handlerIterable<T>(
  open: (handler: (value: T) => Promise<boolean>) => HandlerStream,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let stream: HandlerStream | undefined;
      let ended = false;
      let failure: { error: unknown } | undefined;
      let ready: T[] = [];
      let consumer: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | undefined;
      let release: ((moveOn: boolean) => void) | undefined;

      const handler = (value: T) =>
        new Promise<boolean>((resolve) => {
          release = resolve;
          if (consumer) {
            const c = consumer;
            consumer = undefined;
            c.resolve({ value, done: false });
          } else ready.push(value);
        });
      const finish = (error?: { error: unknown }) => {
        ended = true;
        failure ??= error;
        const c = consumer;
        consumer = undefined;
        if (!c) return;
        if (failure) {
          c.reject(failure.error);
          failure = undefined;
        } else c.resolve({ value: undefined, done: true });
      };

      return {
        next() {
          const r = release;
          release = undefined;
          r?.(true); // The loop is done with the previous value.
          if (stream === undefined) {
            stream = open(handler);
            stream.done.then(
              () => finish(),
              (error: unknown) => finish({ error }),
            );
          }
          if (ready.length > 0) return Promise.resolve({ value: ready.shift() as T, done: false });
          if (ended) {
            if (failure) {
              const { error } = failure;
              failure = undefined;
              return Promise.reject(error);
            }
            return Promise.resolve({ value: undefined, done: true });
          }
          return new Promise((resolve, reject) => {
            consumer = { resolve, reject };
          });
        },
        async return() {
          ended = true;
          ready = [];
          const r = release;
          release = undefined;
          r?.(false);
          await stream?.close();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/**
 * Pages as the loop goes (`for await`), or, awaited, resolves with every item: `await
 * client.discover(q)` reads all pages, `for await (const a of client.discover(q))` one at a time.
 */
export interface PagedQuery<T> extends AsyncIterable<T>, Promise<T[]> {}

/** A {@link PagedQuery} over the async generator `items` makes (one per iteration). */
export function pagedQuery<T>(items: () => AsyncGenerator<T>): PagedQuery<T> {
  // Read every page only when the query is used as a promise, and then once.
  let all: Promise<T[]> | undefined;
  const collect = () => {
    all ??= (async () => {
      const out: T[] = [];
      for await (const item of items()) out.push(item);
      return out;
    })();
    return all;
  };
  return {
    [Symbol.asyncIterator]: () => items(),
    [Symbol.toStringTag]: "PagedQuery",
    // biome-ignore lint/suspicious/noThenProperty: awaiting the query reads every page, by design.
    then: (onFulfilled, onRejected) => collect().then(onFulfilled, onRejected),
    catch: (onRejected) => collect().catch(onRejected),
    finally: (onFinally) => collect().finally(onFinally),
  };
}
