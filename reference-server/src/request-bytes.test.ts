import { describe, expect, it } from "vitest";
import {
  freeRequestBuffers,
  POOLED_MAX_BYTES,
  POOLED_MIN_BYTES,
  releaseRequestBytes,
  takeRequestBytes,
} from "./request-bytes.js";

const MiB = 1024 * 1024;

describe("request bytes pool", () => {
  it("lends memory for large messages and reuses it only once it is given back", () => {
    const first = takeRequestBytes(MiB + 40);
    expect(first.length).toBe(MiB + 40);
    const second = takeRequestBytes(MiB + 40);
    expect(second.buffer).not.toBe(first.buffer); // the first is still lent
    const freeBefore = freeRequestBuffers();
    // Given back through a view of the message's bytes field, as a handler holds it.
    releaseRequestBytes(first.subarray(12));
    expect(freeRequestBuffers()).toBe(freeBefore + 1);
    const third = takeRequestBytes(MiB + 30);
    expect(third.buffer).toBe(first.buffer);
    expect(freeRequestBuffers()).toBe(freeBefore);
  });

  it("ignores a second release, and bytes it never lent", () => {
    const lent = takeRequestBytes(2 * MiB);
    releaseRequestBytes(lent);
    const free = freeRequestBuffers();
    releaseRequestBytes(lent);
    releaseRequestBytes(Buffer.alloc(2 * MiB));
    releaseRequestBytes(new Uint8Array(POOLED_MIN_BYTES));
    expect(freeRequestBuffers()).toBe(free);
    // What was given back is lent once, not twice.
    const a = takeRequestBytes(2 * MiB);
    const b = takeRequestBytes(2 * MiB);
    expect(a.buffer).toBe(lent.buffer);
    expect(b.buffer).not.toBe(lent.buffer);
  });

  it("allocates small and oversized messages as before, never from the pool", () => {
    const small = takeRequestBytes(POOLED_MIN_BYTES - 1);
    const huge = takeRequestBytes(POOLED_MAX_BYTES + 1);
    const free = freeRequestBuffers();
    releaseRequestBytes(small);
    releaseRequestBytes(huge);
    expect(freeRequestBuffers()).toBe(free);
  });

  it("does not lend a buffer more than twice the size asked for", () => {
    const big = takeRequestBytes(4 * MiB);
    releaseRequestBytes(big);
    const small = takeRequestBytes(POOLED_MIN_BYTES);
    expect(small.buffer).not.toBe(big.buffer);
    const fits = takeRequestBytes(3 * MiB);
    expect(fits.buffer).toBe(big.buffer);
  });

  it("keeps at most eight free buffers", () => {
    const lent = Array.from({ length: 12 }, () => takeRequestBytes(POOLED_MIN_BYTES));
    for (const b of lent) releaseRequestBytes(b);
    expect(freeRequestBuffers()).toBe(8);
  });
});
