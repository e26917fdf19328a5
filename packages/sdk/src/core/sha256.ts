// SHA-256 for the universal core, on web primitives only.
//
// WebCrypto (crypto.subtle.digest) hashes one buffer at a time and has no incremental API, but a
// streamed object must be hashed as its chunks pass, without holding it whole. So the core carries
// a small incremental SHA-256 (FIPS 180-4) for the whole-object hash, and runtime entry points may
// inject a faster native one (the Node entry point injects node:crypto's createHash).

/** An incremental SHA-256: feed bytes in any pieces, then take the 32-byte digest once. */
export interface Sha256Hasher {
  update(data: Uint8Array): void;
  /** The digest of everything fed so far; the hasher must not be used afterwards. */
  digest(): Uint8Array;
}

/** An incremental SHA-256 whose digest is awaited (one that hashes on another thread). */
export interface AsyncSha256Hasher {
  update(data: Uint8Array): void;
  /** The digest of everything fed so far; the hasher must not be used afterwards. */
  digest(): Promise<Uint8Array>;
}

/**
 * How the SDK hashes: incremental hashers for whole objects, and a one-shot digest for chunks.
 * With `crc32`, a transfer that verifies the whole object's SHA-256 checks each chunk with a CRC-32
 * instead of its own SHA-256, so every byte is hashed once (see docs/large-contexts.md).
 */
export interface Sha256Provider {
  create(): Sha256Hasher;
  /**
   * When present, whole objects are hashed with these instead of `create()`'s (the Node entry
   * point's hash on a worker thread, beside the event loop that moves the bytes).
   */
  createAsync?(): AsyncSha256Hasher;
  /** SHA-256 of one buffer. */
  digest(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** CRC-32 (zlib's) of one buffer, when the runtime has a fast one. */
  crc32?(data: Uint8Array): number;
}

// First 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The incremental SHA-256 in plain TypeScript (about 150-250 MB/s; native ones are faster). */
export class Sha256 implements Sha256Hasher {
  // Initial hash value: fractional parts of the square roots of the first 8 primes.
  private readonly h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  private readonly w = new Uint32Array(64);
  /** Bytes waiting for a full 64-byte block. */
  private readonly block = new Uint8Array(64);
  private blockLength = 0;
  /** Total bytes fed; a double holds exact integers up to 2^53, far past any object we stream. */
  private length = 0;
  private finished = false;

  update(data: Uint8Array): void {
    if (this.finished) throw new Error("Sha256: update() after digest()");
    this.length += data.length;
    let i = 0;
    if (this.blockLength > 0) {
      const take = Math.min(64 - this.blockLength, data.length);
      this.block.set(data.subarray(0, take), this.blockLength);
      this.blockLength += take;
      i = take;
      if (this.blockLength < 64) return;
      this.compress(this.block, 0);
      this.blockLength = 0;
    }
    // Whole blocks straight from the input, without copying.
    for (; i + 64 <= data.length; i += 64) this.compress(data, i);
    if (i < data.length) {
      this.block.set(data.subarray(i), 0);
      this.blockLength = data.length - i;
    }
  }

  digest(): Uint8Array {
    if (this.finished) throw new Error("Sha256: digest() called twice");
    const bitsHigh = Math.floor(this.length / 0x20000000); // length * 8 / 2^32
    const bitsLow = (this.length * 8) >>> 0;
    // Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian number.
    const padLength = this.blockLength < 56 ? 56 - this.blockLength : 120 - this.blockLength;
    const pad = new Uint8Array(padLength + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(padLength, bitsHigh);
    view.setUint32(padLength + 4, bitsLow);
    this.update(pad);
    this.finished = true;
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) outView.setUint32(j * 4, this.h[j] as number);
    return out;
  }

  private compress(data: Uint8Array, at: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const p = at + t * 4;
      w[t] =
        ((data[p] as number) << 24) |
        ((data[p + 1] as number) << 16) |
        ((data[p + 2] as number) << 8) |
        (data[p + 3] as number);
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] as number;
      const y = w[t - 2] as number;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
    }
    const h = this.h;
    let a = h[0] as number;
    let b = h[1] as number;
    let c = h[2] as number;
    let d = h[3] as number;
    let e = h[4] as number;
    let f = h[5] as number;
    let g = h[6] as number;
    let hh = h[7] as number;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + (K[t] as number) + (w[t] as number)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = ((h[0] as number) + a) | 0;
    h[1] = ((h[1] as number) + b) | 0;
    h[2] = ((h[2] as number) + c) | 0;
    h[3] = ((h[3] as number) + d) | 0;
    h[4] = ((h[4] as number) + e) | 0;
    h[5] = ((h[5] as number) + f) | 0;
    h[6] = ((h[6] as number) + g) | 0;
    h[7] = ((h[7] as number) + hh) | 0;
  }
}

/**
 * The default provider of the universal core: the TypeScript hasher for whole objects and
 * WebCrypto (native, available in browsers, Deno, Bun and Node) for one-shot chunk digests.
 */
export const webSha256: Sha256Provider = {
  create: () => new Sha256(),
  async digest(data) {
    // subtle.digest wants a buffer it may read; a view on a shared buffer is copied first.
    const input = data.buffer instanceof ArrayBuffer ? data : data.slice();
    return new Uint8Array(await crypto.subtle.digest("SHA-256", input as Uint8Array<ArrayBuffer>));
  },
};
