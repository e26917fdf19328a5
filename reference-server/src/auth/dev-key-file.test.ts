import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, compactVerify } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { DEV_KEY_FILE, loadOrCreateDevKeys } from "./dev-key-file.js";

const root = mkdtempSync(join(tmpdir(), "acb-devkey-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("loadOrCreateDevKeys", () => {
  it("creates the key once (owner-only) and reads the same key back after a restart", async () => {
    const dir = join(root, "data", "nested");
    const first = loadOrCreateDevKeys(dir);
    expect(statSync(join(dir, DEV_KEY_FILE)).mode & 0o777).toBe(0o600);
    const jws = await new CompactSign(new TextEncoder().encode("hello"))
      .setProtectedHeader({ alg: first.alg })
      .sign(first.privateKey as Parameters<CompactSign["sign"]>[0]);
    const second = loadOrCreateDevKeys(dir);
    const { payload } = await compactVerify(
      jws,
      second.publicKey as Parameters<typeof compactVerify>[1],
    );
    expect(new TextDecoder().decode(payload)).toBe("hello");
  });

  it("refuses a key file that does not hold an Ed25519 key", () => {
    const dir = join(root, "bad");
    loadOrCreateDevKeys(dir);
    writeFileSync(join(dir, DEV_KEY_FILE), "not a key");
    expect(() => loadOrCreateDevKeys(dir)).toThrow();
  });
});
