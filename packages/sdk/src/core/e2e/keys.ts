// Agent key pairs for end-to-end encryption: HPKE KEM keys (X25519, or P-256 where a runtime's
// WebCrypto lacks X25519), their key ids and fingerprints, and the keyring a reader decrypts with.
import {
  Aes256Gcm,
  CipherSuite,
  DhkemP256HkdfSha256,
  DhkemX25519HkdfSha256,
  HkdfSha256,
} from "@hpke/core";

/** RFC 9180 KEM ids this SDK supports: 0x0020 DHKEM(X25519), 0x0010 DHKEM(P-256). */
export const KEM_X25519 = 0x20;
export const KEM_P256 = 0x10;

/** A published public key (acb.v1.AgentPublicKey). */
export interface AgentPublicKeyInfo {
  keyId: string;
  kemId: number;
  /** RFC 9180 SerializePublicKey: 32 bytes (X25519) or 65 (P-256). */
  publicKey: Uint8Array;
}

/** An agent's key pair. Keep the private key secret: export it only to the agent's own storage. */
export interface AgentKey extends AgentPublicKeyInfo {
  privateKey: CryptoKey;
}

/** A key pair as JSON, for the agent's own secret storage (base64url fields). */
export interface ExportedAgentKey {
  keyId: string;
  kemId: number;
  publicKey: string;
  privateKey: string;
}

const suites = new Map<number, CipherSuite>();

/** The HPKE suite of a KEM: KDF HKDF-SHA256, AEAD AES-256-GCM. */
export function suiteFor(kemId: number): CipherSuite {
  let suite = suites.get(kemId);
  if (!suite) {
    const kem =
      kemId === KEM_X25519
        ? new DhkemX25519HkdfSha256()
        : kemId === KEM_P256
          ? new DhkemP256HkdfSha256()
          : undefined;
    if (!kem) throw new TypeError(`unsupported HPKE KEM ${kemId}`);
    suite = new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Aes256Gcm() });
    suites.set(kemId, suite);
  }
  return suite;
}

export const toHex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function digestOf(key: { kemId: number; publicKey: Uint8Array }): Promise<Uint8Array> {
  const input = new Uint8Array(2 + key.publicKey.length);
  input[0] = key.kemId >> 8;
  input[1] = key.kemId & 0xff;
  input.set(key.publicKey, 2);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

/**
 * The key's fingerprint: SHA-256 over the KEM id (2 bytes, big-endian) and the public key, as 16
 * groups of 4 hex digits. Compare it out of band (in person, over a trusted channel) to be sure the
 * hub handed out the agent's real key; pin it with {@link AcbClientOptions.e2e}.
 */
export async function keyFingerprint(key: {
  kemId: number;
  publicKey: Uint8Array;
}): Promise<string> {
  return (
    toHex(await digestOf(key))
      .match(/.{4}/g)
      ?.join(" ") ?? ""
  );
}

/** The default key id: the first 16 bytes of the fingerprint, hex. */
async function defaultKeyId(key: { kemId: number; publicKey: Uint8Array }): Promise<string> {
  return toHex((await digestOf(key)).subarray(0, 16));
}

let x25519Supported: boolean | undefined;

/**
 * A fresh key pair: X25519 when the runtime's WebCrypto has it, else P-256 (or the KEM asked for).
 * The key id defaults to the first 16 bytes of the key's fingerprint.
 */
export async function generateAgentKey(
  options: { kem?: "X25519" | "P-256"; keyId?: string } = {},
): Promise<AgentKey> {
  let kemId = options.kem === "P-256" ? KEM_P256 : KEM_X25519;
  let pair: CryptoKeyPair | undefined;
  if (kemId === KEM_X25519 && x25519Supported !== false) {
    try {
      pair = await suiteFor(KEM_X25519).kem.generateKeyPair();
      x25519Supported = true;
    } catch (err) {
      if (options.kem === "X25519") throw err;
      x25519Supported = false;
    }
  }
  if (!pair) {
    kemId = KEM_P256;
    pair = await suiteFor(KEM_P256).kem.generateKeyPair();
  }
  const publicKey = new Uint8Array(await suiteFor(kemId).kem.serializePublicKey(pair.publicKey));
  const keyId = options.keyId ?? (await defaultKeyId({ kemId, publicKey }));
  return { keyId, kemId, publicKey, privateKey: pair.privateKey };
}

/** The key pair as JSON for the agent's own secret storage. */
export async function exportAgentKey(key: AgentKey): Promise<ExportedAgentKey> {
  const privateKey = new Uint8Array(
    await suiteFor(key.kemId).kem.serializePrivateKey(key.privateKey),
  );
  return {
    keyId: key.keyId,
    kemId: key.kemId,
    publicKey: toBase64Url(key.publicKey),
    privateKey: toBase64Url(privateKey),
  };
}

/** A key pair from {@link exportAgentKey}'s JSON. */
export async function importAgentKey(exported: ExportedAgentKey): Promise<AgentKey> {
  const privateKey = await suiteFor(exported.kemId).kem.deserializePrivateKey(
    fromBase64Url(exported.privateKey),
  );
  return {
    keyId: exported.keyId,
    kemId: exported.kemId,
    publicKey: fromBase64Url(exported.publicKey),
    privateKey,
  };
}

/**
 * The keys an agent decrypts with, current first. Rotation: generate a new key, put it first and
 * keep the old ones here (and published) while data encrypted to them is still read.
 */
export class AgentKeyring {
  private readonly byId = new Map<string, AgentKey>();

  constructor(readonly keys: readonly AgentKey[]) {
    for (const key of keys) this.byId.set(key.keyId, key);
  }

  /** The key writers should encrypt to. */
  get current(): AgentKey | undefined {
    return this.keys[0];
  }

  get(keyId: string): AgentKey | undefined {
    return this.byId.get(keyId);
  }

  /** The public halves, current first, as RegisterRequest.public_keys wants them. */
  publicKeys(): AgentPublicKeyInfo[] {
    return this.keys.map(({ keyId, kemId, publicKey }) => ({ keyId, kemId, publicKey }));
  }
}
