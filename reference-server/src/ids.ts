import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

/**
 * A 26-character id that sorts by creation time (48-bit millisecond time + 80 random bits), like a
 * ULID, so listings ordered by id are also ordered by age.
 */
export function newId(prefix: string, nowMs: number): string {
  let time = "";
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rand = randomBytes(16);
  let tail = "";
  for (let i = 0; i < 16; i++) tail += alphabet[(rand[i] ?? 0) % 32];
  return `${prefix}${time}${tail}`;
}

/** A random token with 256 bits of entropy, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}
