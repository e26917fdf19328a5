import { randomBytes, randomFillSync } from "node:crypto";

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

// Ids are minted on every send: draw their randomness from a pool refilled 4 KiB at a time rather
// than one system call per id.
const pool = Buffer.alloc(4096);
let poolPos = pool.length;
function randomByte(): number {
  if (poolPos >= pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  return pool[poolPos++] ?? 0;
}

let lastMs = Number.NaN;
let lastTime = "";
// The random part of the last id, one base-32 digit per entry, most significant first.
const tail = new Uint8Array(16);

/**
 * A 26-character id that sorts by creation time (48-bit millisecond time + 80 random bits), like a
 * ULID, so listings ordered by id are also ordered by age. Ids minted in the same millisecond by one
 * process also sort in the order they were minted: the random part of each is the last one's plus
 * a random step of 1 to 32, and a new millisecond's starts below half the range, so it cannot run
 * out within the millisecond.
 */
export function newId(prefix: string, nowMs: number): string {
  if (nowMs !== lastMs) {
    let time = "";
    let t = nowMs;
    for (let i = 0; i < 10; i++) {
      time = alphabet[t % 32] + time;
      t = Math.floor(t / 32);
    }
    lastMs = nowMs;
    lastTime = time;
    tail[0] = randomByte() % 16;
    for (let i = 1; i < 16; i++) tail[i] = randomByte() % 32;
  } else {
    let carry = 1 + (randomByte() % 32);
    for (let i = 15; i >= 0 && carry > 0; i--) {
      const digit = (tail[i] ?? 0) + carry;
      tail[i] = digit % 32;
      carry = digit >> 5;
    }
  }
  let s = "";
  for (let i = 0; i < 16; i++) s += alphabet[tail[i] ?? 0];
  return `${prefix}${lastTime}${s}`;
}

/**
 * `length` random characters of Crockford base32 (5 bits each), from the same pool as ids: for
 * identifiers minted per call, such as correlation ids, not for secrets.
 */
export function randomToken(length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += alphabet[randomByte() % 32];
  return s;
}

/** A random token with 256 bits of entropy, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}
