// Reused memory for the bytes of large request messages (upload chunks, above all).
//
// A request message of 1 MiB arrives in about eighty pieces of an HTTP/2 session's socket reads,
// and the direct path (server/direct-streams.ts) copies them into one buffer so its bytes fields
// can be views of it. A fresh buffer per message is external memory to V8, which starts a full
// mark-compact whenever about 64 MiB of it has been allocated since the last: an upload of 1 GiB
// paid for a dozen of them with its envelope buffers alone, and each fresh buffer's pages are
// faulted in as they are copied to.
//
// Taking a buffer here lends it to the message decoded from it. It comes back only when the code
// that owns the message says, with releaseRequestBytes, that nothing reads any of the message's
// bytes fields any more; a buffer never released is collected as any other. So reuse is never
// implicit: a handler that keeps a message's bytes (a message store keeping a payload) simply
// does not release them.

/** Smallest message whose buffer is taken from the pool; smaller ones are cheap to allocate. */
export const POOLED_MIN_BYTES = 64 * 1024;
/** Largest message whose buffer is taken from the pool (a 4 MiB chunk and its message's fields). */
export const POOLED_MAX_BYTES = 4 * 1024 * 1024 + 64 * 1024;
/** How many free buffers the pool keeps at most (about three per upload in flight are in use). */
const MAX_FREE = 8;
/** Buffers are allocated in multiples of this, so the chunks of one upload fit the same buffer. */
const GRAIN = 64 * 1024;

/** Buffers lent out, by their memory: only these can come back. */
const lent = new WeakSet<ArrayBufferLike>();
/** Buffers free to lend, most recently released last. */
const free: Buffer[] = [];

/**
 * `n` bytes of memory for one message, reused when the pool holds a buffer that fits (no more
 * than twice the size, so a small message does not hold a large buffer), else allocated. Its
 * contents are not zeroed: the caller overwrites all of them.
 */
export function takeRequestBytes(n: number): Buffer {
  if (n < POOLED_MIN_BYTES || n > POOLED_MAX_BYTES) return Buffer.allocUnsafe(n);
  for (let i = free.length - 1; i >= 0; i--) {
    const b = free[i] as Buffer;
    if (b.length >= n && b.length <= 2 * n) {
      free.splice(i, 1);
      lent.add(b.buffer);
      return b.subarray(0, n);
    }
  }
  const b = Buffer.allocUnsafeSlow(Math.ceil(n / GRAIN) * GRAIN);
  lent.add(b.buffer);
  return b.subarray(0, n);
}

/**
 * Gives back the memory of a request message whose bytes field `bytes` is, once nothing reads
 * any bytes field of that message any more. Bytes not taken from the pool, or released already,
 * are left alone, so this is safe to call on any message's bytes whichever path decoded it.
 */
export function releaseRequestBytes(bytes: Uint8Array): void {
  const memory = bytes.buffer;
  if (!lent.delete(memory)) return;
  if (free.length >= MAX_FREE) free.shift();
  free.push(Buffer.from(memory));
}

/** How many free buffers the pool holds (for tests). */
export function freeRequestBuffers(): number {
  return free.length;
}
