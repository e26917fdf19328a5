import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256, webSha256 } from "./sha256.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ours = (data: Uint8Array) => {
  const h = new Sha256();
  h.update(data);
  return hex(h.digest());
};
const reference = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("Sha256 (incremental, TypeScript)", () => {
  // FIPS 180-4 / NIST CAVS examples.
  it("matches the NIST test vectors", () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect(ours(text(""))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(ours(text("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(ours(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    expect(
      ours(
        text(
          "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        ),
      ),
    ).toBe("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    // One million "a", fed in uneven pieces.
    const h = new Sha256();
    const piece = new Uint8Array(999).fill(0x61);
    let left = 1_000_000;
    while (left > 0) {
      const n = Math.min(left, piece.length);
      h.update(piece.subarray(0, n));
      left -= n;
    }
    expect(hex(h.digest())).toBe(
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
  });

  it("agrees with node:crypto on random inputs split at random points", () => {
    for (let round = 0; round < 200; round++) {
      const data = randomBytes(Math.floor(Math.random() * 5000));
      const h = new Sha256();
      let at = 0;
      while (at < data.length) {
        const n = Math.floor(Math.random() * 300);
        h.update(data.subarray(at, at + n));
        at += n;
      }
      expect(hex(h.digest()), `length ${data.length}`).toBe(reference(data));
    }
  });

  it("handles every length around the padding boundaries", () => {
    const data = randomBytes(200);
    for (let n = 0; n <= 200; n++)
      expect(ours(data.subarray(0, n))).toBe(reference(data.subarray(0, n)));
  });

  it("refuses to be used after digest()", () => {
    const h = new Sha256();
    h.digest();
    expect(() => h.update(new Uint8Array(1))).toThrow();
    expect(() => h.digest()).toThrow();
  });

  it("hashes chunks with WebCrypto, also views on shared buffers", async () => {
    const buf = randomBytes(10_000);
    const view = new Uint8Array(buf.buffer, buf.byteOffset + 7, 5000);
    expect(hex(await webSha256.digest(view))).toBe(reference(view));
  });
});
