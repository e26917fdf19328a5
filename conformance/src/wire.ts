// Small helpers for checking a hub over the wire: expected error codes, bounded waits on streams
// and polls (never fixed sleeps), checksums.

import { createHash } from "node:crypto";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code, ConnectError } from "@connectrpc/connect";
import { CaseFailure } from "./case.js";

export { Code };

/** Awaits `call` and returns its error, failing the case unless it is `code`. */
export async function expectCode(
  call: Promise<unknown>,
  code: Code,
  what: string,
): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === code) return e;
    throw new CaseFailure(`${what}: expected ${Code[code]}, got ${Code[e.code]} (${e.rawMessage})`);
  }
  throw new CaseFailure(`${what}: expected ${Code[code]}, but the call succeeded`);
}

/**
 * Awaits `call`, which must fail with `code` and ErrorInfo `reason`; returns the ErrorInfo
 * metadata.
 */
export async function expectReason(
  call: Promise<unknown>,
  code: Code,
  reason: string,
  what: string,
): Promise<Record<string, string>> {
  const err = await expectCode(call, code, what);
  const info = err.findDetails(ErrorInfoSchema)[0];
  if (info?.reason !== reason) {
    throw new CaseFailure(`${what}: ErrorInfo reason is "${info?.reason ?? ""}", not ${reason}`);
  }
  return info.metadata;
}

/** The ErrorInfo reason of an error, or "" when it carries none. */
export function reasonOf(err: ConnectError): string {
  return err.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

export function hex(data: Uint8Array): string {
  return Buffer.from(data).toString("hex");
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Deterministic pseudo-random bytes (no entropy needed, cheap to regenerate for comparison). */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Resolves once `fn` returns a value other than undefined; fails after `timeoutMs`. */
export async function poll<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  signal: AbortSignal,
  intervalMs = 20,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() >= until) throw new CaseFailure(`${what}: not observed within ${timeoutMs} ms`);
    await delay(intervalMs, signal);
  }
}

/** Waits until the local clock has passed `epochMs` (only where the protocol offers no event). */
export async function untilPast(epochMs: number, signal: AbortSignal): Promise<void> {
  const wait = epochMs - Date.now();
  if (wait > 0) await delay(wait, signal);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Reads a server stream in the background into a queue, so a case can wait for the next item (or
 * one that matches) with a bound, and close the stream when it is done.
 */
export class StreamReader<T> {
  private readonly items: T[] = [];
  private error: unknown;
  private done = false;
  private notify: (() => void) | undefined;
  readonly #abort = new AbortController();

  /** `open` gets the signal that closes the stream. */
  constructor(open: (signal: AbortSignal) => AsyncIterable<T>, parent: AbortSignal) {
    const onParentAbort = () => this.close();
    parent.addEventListener("abort", onParentAbort, { once: true });
    void (async () => {
      try {
        for await (const item of open(this.#abort.signal)) {
          this.items.push(item);
          this.notify?.();
        }
      } catch (err) {
        if (!this.#abort.signal.aborted) this.error = err;
      } finally {
        this.done = true;
        parent.removeEventListener("abort", onParentAbort);
        this.notify?.();
      }
    })();
  }

  /** The next item; fails when the stream ends or errs first, or after `timeoutMs`. */
  async next(what: string, timeoutMs: number): Promise<T> {
    return this.waitFor(() => true, what, timeoutMs);
  }

  /** Skips items until one matches `predicate`, and returns it. */
  async waitFor(predicate: (item: T) => boolean, what: string, timeoutMs: number): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      while (this.items.length > 0) {
        const item = this.items.shift() as T;
        if (predicate(item)) return item;
      }
      if (this.error !== undefined) {
        const e = ConnectError.from(this.error);
        throw new CaseFailure(`${what}: the stream failed with ${Code[e.code]} (${e.rawMessage})`);
      }
      if (this.done) throw new CaseFailure(`${what}: the stream ended first`);
      const left = until - Date.now();
      if (left <= 0) throw new CaseFailure(`${what}: not received within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.notify = undefined;
    }
  }

  /**
   * Waits until the stream ends, skipping its items: its error, or undefined when it ended OK.
   * Fails the case after `timeoutMs`.
   */
  async end(what: string, timeoutMs: number): Promise<ConnectError | undefined> {
    try {
      await this.waitFor(() => false, what, timeoutMs);
    } catch (err) {
      if (this.error !== undefined) return ConnectError.from(this.error);
      if (this.done) return undefined;
      throw err;
    }
    return undefined;
  }

  /** Items received and not yet taken, without waiting. */
  drain(): T[] {
    return this.items.splice(0);
  }

  /** Closes the stream. */
  close(): void {
    this.#abort.abort();
  }
}
