// The hub's shutdown signal, handed to the protocol library, which links every call's signal to
// it: each call adds an "abort" listener when it starts and removes it when it ends. A DOM
// `AbortSignal` keeps its listeners in a list that `addEventListener` and `removeEventListener`
// walk (to find duplicates and the one to remove), so with 10,000 open streams every call paid for
// all of them (≈ 78 µs per add+remove, against ≈ 2 µs with none). This signal keeps its listeners
// in a Set: adding and removing cost the same whatever the number of open streams.
//
// It implements what a linked signal needs (aborted, reason, add/removeEventListener for "abort",
// onabort, throwIfAborted); it is not an `AbortSignal` instance, so it must not be passed to APIs
// that check the brand (`AbortSignal.any`, fetch).

type AbortListener =
  | ((this: ShutdownSignal, event: Event) => void)
  | { handleEvent(event: Event): void };

export class ShutdownSignal {
  #aborted = false;
  #reason: unknown = undefined;
  readonly #listeners = new Set<AbortListener>();
  onabort: ((this: ShutdownSignal, event: Event) => void) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** How many listeners are linked now (the number of calls in progress, for tests and metrics). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  addEventListener(type: string, listener: AbortListener | null): void {
    if (type === "abort" && listener) this.#listeners.add(listener);
  }

  removeEventListener(type: string, listener: AbortListener | null): void {
    if (type === "abort" && listener) this.#listeners.delete(listener);
  }

  /** Aborts once: every listener is called (in the order added) with `this` set to the signal. */
  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const event = new Event("abort");
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.onabort?.call(this, event);
    for (const listener of listeners) {
      if (typeof listener === "function") listener.call(this, event);
      else listener.handleEvent(event);
    }
  }

  /** For APIs typed with `AbortSignal` that only use the members above (the protocol library). */
  asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}
