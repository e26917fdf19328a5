import { createHash, randomBytes } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { createThreadedSha256, HashThread } from "./node-hash-thread.js";

let thread: HashThread | undefined;
afterEach(async () => {
  await thread?.close();
});

it("hashes what it was fed when it was fed, though the caller reuses its buffer at once", async () => {
  // Large pieces copied in quickly, two at a time: a slab reused while the thread still hashed
  // from it would show in the digest.
  const pool = randomBytes(6 * 1024 * 1024);
  const buffer = Buffer.alloc(4 * 1024 * 1024);
  const expected = createHash("sha256");
  const h = createThreadedSha256();
  const other = createThreadedSha256();
  let third = Buffer.alloc(0);
  for (let i = 0; i < 24; i++) {
    const size = i % 4 === 0 ? 1 + i : buffer.length - i * 1000;
    const piece = buffer.subarray(0, size);
    pool.copy(piece, 0, (i * 65_537) % (pool.length - size), size);
    h.update(piece);
    expected.update(piece);
    // Answers are taken between pieces, as between the chunks of a transfer: slabs are reused.
    if (i % 2 === 1) await new Promise((resolve) => setImmediate(resolve));
    if (i === 3) {
      other.update(piece);
      third = Buffer.from(piece);
    }
  }
  h.update(new Uint8Array(0));
  expect(Buffer.from(await h.digest()).toString("hex")).toBe(expected.digest("hex"));
  expect(() => h.update(new Uint8Array(1))).toThrow(/digested already/);
  expect(Buffer.from(await other.digest())).toEqual(createHash("sha256").update(third).digest());
  // Nothing fed: the SHA-256 of no bytes.
  expect(Buffer.from(await createThreadedSha256().digest())).toEqual(createHash("sha256").digest());
});

it("fails the digests of a thread that stopped; the next hash starts another", async () => {
  thread = new HashThread();
  const h = thread.create();
  h.update(randomBytes(1000));
  await thread.close();
  await expect(h.digest()).rejects.toThrow(/stopped|exited/);
  const again = thread.create();
  const data = randomBytes(1000);
  again.update(data);
  expect(Buffer.from(await again.digest())).toEqual(createHash("sha256").update(data).digest());
});
