import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TokenServiceOptions } from "./token-service.js";

// Read by `acb-hub dev` before its hub exists: the in-process hub the conformance suite drives
// makes its own keys, so nothing on the wire reaches this file (dev-key-file.test.ts tests it).
// Stryker disable all: see above

/** The file, in a dev hub's data directory, that holds its token-signing key. */
export const DEV_KEY_FILE = "dev-signing-key.pem";

/**
 * The dev hub's signing key, kept in its data directory: created (Ed25519, readable by the owner
 * only) on first start and read back afterwards, so tokens it issued stay valid across restarts.
 */
export function loadOrCreateDevKeys(dataDir: string): TokenServiceOptions["keys"] {
  const path = join(dataDir, DEV_KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ed25519");
    pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    // "wx": never overwrite a key another process wrote in the meantime.
    try {
      writeFileSync(path, pem, { mode: 0o600, flag: "wx" });
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== "EEXIST") throw writeErr;
      pem = readFileSync(path, "utf8");
    }
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw new Error(`${path} must hold an Ed25519 private key`);
  return { privateKey, publicKey: createPublicKey(privateKey), alg: "EdDSA" };
}
