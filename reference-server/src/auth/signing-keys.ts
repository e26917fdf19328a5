import { createPrivateKey, createPublicKey } from "node:crypto";
import type { TokenServiceOptions } from "./token-service.js";

// Read by the command line (acb-hub serve and acb-hub token --signing-key) before any hub exists:
// the in-process hub the conformance suite drives makes its own keys, so nothing on the wire
// reaches this file (reference-server/test/cli.test.ts runs it).
// Stryker disable all: see above

/** The JWT algorithm that goes with each kind of private key a hub accepts. */
const algorithms: Record<string, string> = { ed25519: "EdDSA", ec: "ES256", rsa: "RS256" };

/**
 * The token-signing keys of a hub from a PEM private key (Ed25519, P-256 or RSA), as
 * `acb-hub serve --signing-key` and `acb-hub token --signing-key` read it.
 */
export function signingKeysFromPem(
  pem: string | Buffer,
  source = "the signing key",
): TokenServiceOptions["keys"] {
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${source} is not a PEM private key`, { cause: err });
  }
  const alg = algorithms[privateKey.asymmetricKeyType ?? ""];
  if (!alg) {
    throw new Error(
      `${source} is a ${privateKey.asymmetricKeyType} key; use an Ed25519, P-256 or RSA key`,
    );
  }
  if (alg === "ES256" && privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(
      `${source} is on curve ${privateKey.asymmetricKeyDetails?.namedCurve}; ES256 needs P-256`,
    );
  }
  return { privateKey, publicKey: createPublicKey(privateKey), alg };
}
