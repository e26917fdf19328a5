import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";

/** Writes a file of `size` pseudo-random bytes, in pieces, and returns its SHA-256 (hex). */
export async function writeBigFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const handle = await open(path, "w");
  let seed = 0x9e3779b9;
  const piece = Buffer.alloc(4 * 1024 * 1024);
  for (let written = 0; written < size; written += piece.length) {
    for (let i = 0; i < piece.length; i += 4) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      piece.writeUInt32LE(seed, i);
    }
    const part = piece.subarray(0, Math.min(piece.length, size - written));
    hash.update(part);
    await handle.write(part);
  }
  await handle.close();
  return hash.digest("hex");
}

/** The SHA-256 (hex) of a file, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
