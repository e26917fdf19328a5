// Deterministic bytes for the large contexts of the browser end-to-end encryption test, the same
// in the page and in Node: xorshift32 from a seed, in 256 KiB pieces.

/** Yields `size` bytes derived from `seed`. */
export async function* generated(size: number, seed: number): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let at = 0; at < size; at += 256 * 1024) {
    const piece = new Uint8Array(Math.min(256 * 1024, size - at));
    for (let i = 0; i < piece.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      piece[i] = x & 0xff;
    }
    yield piece;
  }
}

/** Whether `stream` yields exactly the bytes `generated(size, seed)` does, compared as both stream. */
export async function sameAsGenerated(
  stream: AsyncIterable<Uint8Array>,
  size: number,
  seed: number,
): Promise<boolean> {
  const expected = generated(size, seed);
  let pending = new Uint8Array(0);
  let matched = 0;
  let same = true;
  for await (const piece of stream) {
    let at = 0;
    while (at < piece.length) {
      if (pending.length === 0) pending = (await expected.next()).value ?? new Uint8Array(0);
      if (pending.length === 0) return false;
      const n = Math.min(pending.length, piece.length - at);
      for (let i = 0; i < n; i++) if (piece[at + i] !== pending[i]) same = false;
      pending = pending.subarray(n);
      at += n;
      matched += n;
    }
  }
  return same && matched === size;
}
