import { describe, expect, it } from "vitest";
import {
  DEFAULT_SEGMENT_SIZE,
  decryptPayload,
  decryptStream,
  encryptPayload,
  encryptStream,
} from "./envelope.js";
import {
  AgentKeyring,
  exportAgentKey,
  generateAgentKey,
  importAgentKey,
  KEM_P256,
  KEM_X25519,
  keyFingerprint,
} from "./keys.js";

const text = new TextEncoder();

async function reasonOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { reason?: string }).reason;
  }
  throw new Error("expected a failure");
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("end-to-end envelope", () => {
  it("round-trips to X25519 and P-256 recipients, each opening with its own key", async () => {
    const alice = await generateAgentKey({ kem: "X25519" });
    const bob = await generateAgentKey({ kem: "P-256" });
    expect([alice.kemId, bob.kemId]).toEqual([KEM_X25519, KEM_P256]);
    const sealed = await encryptPayload(text.encode('{"secret":1}'), "application/json", [
      { agentId: "alice", key: alice },
      { agentId: "bob", key: bob },
    ]);
    expect(new TextDecoder().decode(sealed)).not.toContain("secret");
    for (const key of [alice, bob]) {
      const out = await decryptPayload(sealed, new AgentKeyring([key]));
      expect(out.contentType).toBe("application/json");
      expect(new TextDecoder().decode(out.data)).toBe('{"secret":1}');
      expect(out.recipients).toEqual(["alice", "bob"]);
    }
  });

  it("streams a payload of many segments, exact multiples and empty payloads included", async () => {
    const key = await generateAgentKey();
    const keyring = new AgentKeyring([key]);
    const frame = 2 + "application/octet-stream".length;
    for (const size of [0, 1, DEFAULT_SEGMENT_SIZE - frame, 3 * DEFAULT_SEGMENT_SIZE + 5]) {
      const data = new Uint8Array(size).map((_, i) => i % 251);
      const pieces = [data.subarray(0, size >> 1), data.subarray(size >> 1)];
      const enc = await encryptStream(pieces, size, "application/octet-stream", [
        { agentId: "a", key },
      ]);
      const sealed = await collect(enc.stream);
      expect(sealed.length).toBe(enc.size);
      const dec = await decryptStream([sealed.subarray(0, 7), sealed.subarray(7)], keyring);
      expect(await collect(dec.stream)).toEqual(data);
    }
  });

  it("fails with E2E_TAMPERED on a changed byte, truncation, reordering or an extension", async () => {
    const key = await generateAgentKey();
    const keyring = new AgentKeyring([key]);
    const data = new Uint8Array(3 * 1024 + 10).fill(7);
    const sealed = await encryptPayload(data, "application/octet-stream", [{ agentId: "a", key }], {
      segmentSize: 1024,
    });
    const flipped = sealed.slice();
    flipped[sealed.length - 20] = (flipped[sealed.length - 20] as number) ^ 1;
    expect(await reasonOf(decryptPayload(flipped, keyring))).toBe("E2E_TAMPERED");
    const segment = 1024 + 16;
    const last = 2 + "application/octet-stream".length + data.length - 3 * 1024;
    const body = sealed.length - (last + 16) - 3 * segment;
    const truncated = sealed.subarray(0, body + 2 * segment); // ends on a segment boundary
    expect(await reasonOf(decryptPayload(truncated, keyring))).toBe("E2E_TAMPERED");
    const reordered = sealed.slice();
    reordered.set(sealed.subarray(body + segment, body + 2 * segment), body);
    reordered.set(sealed.subarray(body, body + segment), body + segment);
    expect(await reasonOf(decryptPayload(reordered, keyring))).toBe("E2E_TAMPERED");
    const extended = new Uint8Array(sealed.length + 1);
    extended.set(sealed);
    expect(await reasonOf(decryptPayload(extended, keyring))).toBe("E2E_TAMPERED");
  });

  it("fails with E2E_NO_KEY without a recipient key and E2E_WRONG_KEY with a different key under its id", async () => {
    const key = await generateAgentKey();
    const other = await generateAgentKey();
    const sealed = await encryptPayload(text.encode("x"), "text/plain", [{ agentId: "a", key }]);
    expect(await reasonOf(decryptPayload(sealed, new AgentKeyring([other])))).toBe("E2E_NO_KEY");
    const impostor = { ...other, keyId: key.keyId };
    expect(await reasonOf(decryptPayload(sealed, new AgentKeyring([impostor])))).toBe(
      "E2E_WRONG_KEY",
    );
    expect(await reasonOf(decryptPayload(text.encode("plain"), new AgentKeyring([key])))).toBe(
      "E2E_MALFORMED",
    );
  });

  it("exports and imports a key pair; rotation keeps old key ids readable", async () => {
    const old = await generateAgentKey();
    const sealed = await encryptPayload(text.encode("old"), "text/plain", [
      { agentId: "a", key: old },
    ]);
    const restored = await importAgentKey(JSON.parse(JSON.stringify(await exportAgentKey(old))));
    const current = await generateAgentKey();
    const keyring = new AgentKeyring([current, restored]);
    expect(keyring.current?.keyId).toBe(current.keyId);
    expect(new TextDecoder().decode((await decryptPayload(sealed, keyring)).data)).toBe("old");
    expect(await keyFingerprint(old)).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect((await keyFingerprint(old)).replace(/ /g, "").slice(0, 32)).toBe(old.keyId);
  });
});
