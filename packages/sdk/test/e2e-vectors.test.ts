// Test vectors of the end-to-end encrypted payload format (proto/acb/v1/e2e.proto), for other
// SDKs: each names a recipient key pair and an encrypted payload, and what it decrypts to. This
// test decrypts them all, and checks a changed byte fails. ACB_UPDATE_VECTORS=1 writes new ones.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AgentKeyring,
  decryptPayload,
  type ExportedAgentKey,
  encryptPayload,
  exportAgentKey,
  generateAgentKey,
  importAgentKey,
} from "../src/node.js";

interface Vector {
  description: string;
  /** The recipient's key pair: kem_id, key_id, RFC 9180 serialised keys (base64url). */
  recipient: ExportedAgentKey;
  segmentSize: number;
  /** The inner content type and payload (hex) the encrypted payload holds. */
  contentType: string;
  plaintext: string;
  /** The encrypted payload (hex), content type application/vnd.acb.e2e.v1. */
  payload: string;
}

const file = resolve(import.meta.dirname, "vectors/e2e-v1.json");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

async function make(): Promise<Vector[]> {
  const cases = [
    { kem: "X25519" as const, size: 1024, text: "one segment", n: 40 },
    { kem: "X25519" as const, size: 1024, text: "three segments, the last one short", n: 2500 },
    {
      kem: "P-256" as const,
      size: 1024,
      text: "P-256 recipient, exactly two full segments",
      n: 2048 - 26,
    },
  ];
  const out: Vector[] = [];
  for (const c of cases) {
    const key = await generateAgentKey({ kem: c.kem });
    const plaintext = new Uint8Array(c.n).map((_, i) => (i * 7 + 3) % 256);
    const contentType = "application/octet-stream";
    const payload = await encryptPayload(plaintext, contentType, [{ agentId: "r", key }], {
      segmentSize: c.size,
    });
    out.push({
      description: c.text,
      recipient: await exportAgentKey(key),
      segmentSize: c.size,
      contentType,
      plaintext: hex(plaintext),
      payload: hex(payload),
    });
  }
  return out;
}

describe("end-to-end payload test vectors", () => {
  it("decrypt to their plaintext, and fail with E2E_TAMPERED after a changed byte", async () => {
    if (process.env.ACB_UPDATE_VECTORS === "1") {
      writeFileSync(file, `${JSON.stringify(await make(), null, 2)}\n`);
    }
    const vectors = JSON.parse(readFileSync(file, "utf8")) as Vector[];
    expect(vectors.length).toBe(3);
    for (const v of vectors) {
      const keyring = new AgentKeyring([await importAgentKey(v.recipient)]);
      const payload = unhex(v.payload);
      const out = await decryptPayload(payload, keyring);
      expect(out.contentType).toBe(v.contentType);
      expect(hex(out.data)).toBe(v.plaintext);
      const changed = payload.slice();
      changed[changed.length - 1] = (changed[changed.length - 1] as number) ^ 0x80;
      await expect(decryptPayload(changed, keyring)).rejects.toMatchObject({
        reason: "E2E_TAMPERED",
      });
    }
  });
});
