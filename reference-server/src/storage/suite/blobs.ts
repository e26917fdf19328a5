// The blob store part of the shared backend suite (backendTestSuite calls it): staging in order,
// all-or-nothing appends, publish, ranged reads in pieces, discard and delete. Every test uses
// keys under a fresh random prefix, so a shared store (one bucket for many runs) never collides.

import { createHash, randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Backend } from "../types.js";

const freshKey = () => `t${randomUUID().replaceAll("-", "")}/upl_${randomUUID().slice(0, 8)}`;

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const p of pieces) out.push(p);
  return out;
}

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Registers the blob store cases; `backend()` returns the suite's backend (created in beforeAll). */
export function blobStoreCases(backend: () => Backend): void {
  describe("blobs", () => {
    it("names its backend", () => {
      expect(backend().blobs.name).toMatch(/^[a-z0-9-]+$/);
    });

    it("stages appends in order, reads them back and publishes the object", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      const parts = [randomBytes(1000), randomBytes(4096), randomBytes(17)];
      expect(await blobs.stagedSize(key)).toBe(0);
      let offset = 0;
      for (const p of parts) {
        await blobs.append(key, offset, p);
        offset += p.length;
        expect(await blobs.stagedSize(key)).toBe(offset);
      }
      expect(Buffer.from(await blobs.readStaged(key, 1000, 4096)).equals(parts[1] as Buffer)).toBe(
        true,
      );

      const ref = await blobs.publish(key);
      expect(ref).toMatchObject({ backend: blobs.name, key, size: offset });
      expect(ref.bucket).not.toBe("");
      expect(await blobs.exists(ref)).toBe(true);
      expect(await blobs.stagedSize(key)).toBe(0);
      const whole = concat(parts);
      expect(sha(concat(await collect(blobs.read(ref, 0, offset, 1024))))).toBe(sha(whole));
      await blobs.delete(ref);
      expect(await blobs.exists(ref)).toBe(false);
      await blobs.delete(ref); // deleting twice is harmless
    });

    it("publishing a published key again answers the same ref; with nothing under it, fails", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      const data = randomBytes(3000);
      await blobs.append(key, 0, data);
      const ref = await blobs.publish(key);
      expect(await blobs.publish(key)).toEqual(ref);
      expect(await blobs.stagedSize(key)).toBe(0);
      expect(concat(await collect(blobs.read(ref, 0, data.length, 1024))).equals(data)).toBe(true);
      await blobs.delete(ref);
      await expect(blobs.publish(key)).rejects.toThrow();
      await expect(blobs.publish(freshKey())).rejects.toThrow();
      expect(await blobs.exists(ref)).toBe(false);
    });

    it("keeps no reference to an append's bytes once it settles: reusing them changes nothing stored", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      // One buffer reused for every append, as the hub reuses an upload's chunk memory.
      const buffer = Buffer.alloc(64 * 1024);
      const sent: Buffer[] = [];
      for (let i = 0; i < 4; i++) {
        randomBytes(buffer.length).copy(buffer);
        sent.push(Buffer.from(buffer));
        await blobs.append(key, i * buffer.length, buffer);
      }
      buffer.fill(0);
      const whole = concat(sent);
      expect(sha(await blobs.readStaged(key, 0, whole.length))).toBe(sha(whole));
      const ref = await blobs.publish(key);
      expect(sha(concat(await collect(blobs.read(ref, 0, whole.length, 8192))))).toBe(sha(whole));
      await blobs.delete(ref);
    });

    it("refuses an append that does not continue the staged bytes, keeping them", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      await blobs.append(key, 0, randomBytes(10));
      await expect(blobs.append(key, 5, randomBytes(10))).rejects.toThrow();
      await expect(blobs.append(key, 11, randomBytes(10))).rejects.toThrow();
      expect(await blobs.stagedSize(key)).toBe(10);
      await expect(blobs.append(freshKey(), 3, randomBytes(1))).rejects.toThrow();
      await blobs.discard(key);
    });

    it("reads a range in pieces of the asked size, the last one shorter", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      const data = randomBytes(10_000);
      await blobs.append(key, 0, data);
      const ref = await blobs.publish(key);
      const pieces = await collect(blobs.read(ref, 1234, 5000, 2048));
      expect(pieces.map((p) => p.length)).toEqual([2048, 2048, 904]);
      expect(concat(pieces).equals(data.subarray(1234, 6234))).toBe(true);
      expect(await collect(blobs.read(ref, 10_000, 0, 2048))).toEqual([]);

      // Stopping a read early leaves the object readable (and releases the file).
      for await (const _ of blobs.read(ref, 0, 10_000, 1000)) break;
      expect((await collect(blobs.read(ref, 0, 10_000, 4096))).length).toBe(3);
      await blobs.delete(ref);
    });

    it("reads a range through reused buffers, each piece right until the next is asked for", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      const data = randomBytes(50_000);
      await blobs.append(key, 0, data);
      const ref = await blobs.publish(key);
      const copies: Buffer[] = [];
      for await (const piece of blobs.read(ref, 777, 40_000, 4096, { reuse: true })) {
        copies.push(Buffer.from(piece)); // a copy: the store may hand out the same buffer again
      }
      expect(copies.map((p) => p.length).reduce((a, b) => a + b, 0)).toBe(40_000);
      expect(concat(copies).equals(data.subarray(777, 40_777))).toBe(true);
      // Stopping early with a read ahead in flight releases the file; the object stays readable.
      for await (const _ of blobs.read(ref, 0, 50_000, 1000, { reuse: true })) break;
      expect(concat(await collect(blobs.read(ref, 0, 50_000, 8192))).equals(data)).toBe(true);
      await blobs.delete(ref);
    });

    it("reads a range through reused buffers that the consumer holds `hold` at a time", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      const data = randomBytes(60_000);
      await blobs.append(key, 0, data);
      const ref = await blobs.publish(key);
      // Holding the last two pieces (the one sent, the one hashed meanwhile): each is still the
      // bytes it was when the next was asked for, whatever the store reads ahead.
      let held: { piece: Uint8Array; at: number }[] = [];
      let at = 333;
      const options = { reuse: true, hold: 2, shared: true };
      for await (const piece of blobs.read(ref, at, 50_000, 4096, options)) {
        held = [...held.slice(-1), { piece, at }];
        for (const h of held) {
          const want = data.subarray(h.at, h.at + h.piece.length);
          if (!Buffer.from(h.piece).equals(want)) expect.fail(`the piece at ${h.at} changed`);
        }
        at += piece.length;
      }
      expect(at).toBe(50_333);
      await blobs.delete(ref);
    });

    it("discards a staged object without publishing it", async () => {
      const blobs = backend().blobs;
      const key = freshKey();
      await blobs.append(key, 0, randomBytes(100));
      await blobs.discard(key);
      expect(await blobs.stagedSize(key)).toBe(0);
      await blobs.discard(key); // twice is harmless
      // The key can be staged afresh.
      await blobs.append(key, 0, randomBytes(3));
      expect(await blobs.stagedSize(key)).toBe(3);
      await blobs.discard(key);
    });

    it("refuses keys that could escape the store", async () => {
      const blobs = backend().blobs;
      for (const key of ["../x", "a/../../b", "/abs", "a//b", ""]) {
        await expect(blobs.append(key, 0, randomBytes(1)), key).rejects.toThrow(/invalid blob key/);
      }
    });
  });
}
