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

/**
 * A 26-character id that sorts by creation time (48-bit millisecond time + 80 random bits), like a
 * ULID, so listings ordered by id are also ordered by age.
 */
export function newId(prefix: string, nowMs: number): string {
  // Ids minted in the same millisecond (a batch's messages) share their time part.
  if (nowMs !== lastMs) {
    let time = "";
    let t = nowMs;
    for (let i = 0; i < 10; i++) {
      time = alphabet[t % 32] + time;
      t = Math.floor(t / 32);
    }
    lastMs = nowMs;
    lastTime = time;
  }
  const time = lastTime;
  let tail = "";
  for (let i = 0; i < 16; i++) tail += alphabet[randomByte() % 32];
  return `${prefix}${time}${tail}`;
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
