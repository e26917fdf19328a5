import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { HashThread } from "./hash-thread.js";

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

let thread: HashThread;
afterEach(async () => {
  await thread?.close();
});

describe("HashThread", () => {
  it("answers each check present: CRC-32, SHA-256, both", async () => {
    thread = new HashThread();
    const data = randomBytes(70_000);
    const crc = crc32(data);
    const sum = sha256(data);
    const bad = new Uint8Array(sum);
    bad[0] = (bad[0] ?? 0) ^ 1;
    expect(await thread.check(data, { crc32: crc, sha256: undefined })).toBe(true);
    expect(await thread.check(data, { crc32: crc ^ 1, sha256: undefined })).toBe(false);
    expect(await thread.check(data, { crc32: undefined, sha256: sum })).toBe(true);
    expect(await thread.check(data, { crc32: undefined, sha256: bad })).toBe(false);
    expect(await thread.check(data, { crc32: crc, sha256: sum })).toBe(true);
    expect(await thread.check(data, { crc32: crc, sha256: bad })).toBe(false);
    expect(await thread.check(data, { crc32: crc ^ 1, sha256: sum })).toBe(false);
    expect(await thread.check(data, { crc32: undefined, sha256: sum.subarray(0, 31) })).toBe(false);
  });

  it("hashes the intact chunks it is fed, and only those, even when the caller reuses its buffer", async () => {
    thread = new HashThread();
    const whole = createHash("sha256");
    const hash = thread.createHash();
    // One buffer overwritten with the next chunk as soon as the check answers: the thread must
    // hash the bytes as they were, though it feeds them after answering (large chunks, copied in
    // quickly, so the overwrite would come while the thread still hashes).
    const pool = randomBytes(6 * 1024 * 1024);
    const buffer = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < 24; i++) {
      const size = i % 4 === 0 ? 1 + i : buffer.length - i * 1000;
      const chunk = buffer.subarray(0, size);
      pool.copy(chunk, 0, (i * 65_537) % (pool.length - size), size);
      const corrupt = i % 5 === 3;
      const intact = await thread.check(
        chunk,
        { crc32: corrupt ? crc32(chunk) ^ 1 : crc32(chunk), sha256: undefined },
        hash,
      );
      expect(intact).toBe(!corrupt);
      if (!corrupt) whole.update(chunk);
    }
    // Bytes fed without a check (a node hashing staged bytes again) go in, in order.
    const tail = randomBytes(5_000);
    hash.update(tail);
    whole.update(tail);
    tail.fill(0);
    expect(Buffer.from(await hash.digest()).toString("hex")).toBe(whole.digest("hex"));
  });

  it("takes shared memory as it is and keeps the hashes apart", async () => {
    thread = new HashThread();
    const a = thread.createHash();
    const b = thread.createHash();
    const shared = new Uint8Array(new SharedArrayBuffer(10_000));
    shared.set(randomBytes(10_000));
    expect(await thread.check(shared, { crc32: crc32(shared), sha256: undefined }, a)).toBe(true);
    b.update(shared.subarray(0, 100));
    expect(await a.digest()).toEqual(sha256(shared));
    expect(await b.digest()).toEqual(sha256(shared.subarray(0, 100)));
    // The digest of nothing fed is the SHA-256 of no bytes (an empty object).
    expect(await thread.createHash().digest()).toEqual(sha256(new Uint8Array()));
  });

  it("sums a download's chunk (SHA-256 or CRC-32) and feeds its bytes before answering", async () => {
    thread = new HashThread();
    const whole = createHash("sha256");
    const hash = thread.createHash();
    // One buffer overwritten with the next chunk as soon as the sum answers: by then the thread
    // must be done with the bytes, so the object's hash has them as they were.
    const pool = randomBytes(6 * 1024 * 1024);
    const buffer = Buffer.from(new SharedArrayBuffer(4 * 1024 * 1024));
    for (let i = 0; i < 24; i++) {
      const size = i % 4 === 0 ? 1 + i : buffer.length - i * 1000;
      const chunk = buffer.subarray(0, size);
      pool.copy(chunk, 0, (i * 65_537) % (pool.length - size), size);
      const kind = i % 3 === 0 ? "sha256" : "crc32";
      const want = kind === "crc32" ? { crc32: crc32(chunk) } : { sha256: sha256(chunk) };
      whole.update(chunk);
      expect(await thread.sum(chunk, kind, hash)).toEqual(want);
      // Overwritten at once, and pieces not in shared memory are summed as well (a copy).
      chunk.fill(i);
    }
    const plain = randomBytes(70_000);
    expect(await thread.sum(plain, "sha256")).toEqual({ sha256: sha256(plain) });
    expect(Buffer.from(await hash.digest()).toString("hex")).toBe(whole.digest("hex"));
    // A hash lost with its thread cannot be fed: the sum fails.
    const lost = thread.createHash();
    await thread.close();
    await expect(thread.sum(plain, "crc32", lost)).rejects.toThrow(/lost this hash/);
  });

  it("loses the hashes of a thread that went, and starts another", async () => {
    thread = new HashThread();
    const hash = thread.createHash();
    const data = randomBytes(1_000);
    expect(await thread.check(data, { crc32: crc32(data), sha256: undefined }, hash)).toBe(true);
    expect(hash.lost).toBe(false);
    await thread.close();
    expect(hash.lost).toBe(true);
    await expect(hash.digest()).rejects.toThrow(/lost this hash/);
    await expect(thread.check(data, { crc32: 0, sha256: undefined }, hash)).rejects.toThrow(
      /lost this hash/,
    );
    // A new worker serves what comes next.
    const again = thread.createHash();
    expect(await thread.check(data, { crc32: crc32(data), sha256: undefined }, again)).toBe(true);
    expect(await again.digest()).toEqual(sha256(data));
  });
});
