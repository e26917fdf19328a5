// End-to-end encryption inside the client: which keys a write is encrypted to (looked up in the
// registry, checked against pins), and transparent decryption of what the client reads. The
// client calls these hooks; the cryptography is in envelope.ts.
import type { Payload } from "@acb/gen/acb/v1/common_pb";
import type { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import type { Client } from "@connectrpc/connect";
import {
  DEFAULT_SEGMENT_SIZE,
  decryptPayload,
  decryptStream,
  E2E_CONTENT_TYPE,
  type E2eRecipientKey,
  encryptPayload,
  encryptStream,
} from "./envelope.js";
import { e2eError } from "./errors.js";
import { type AgentKey, AgentKeyring, type AgentPublicKeyInfo, keyFingerprint } from "./keys.js";

/** Whom a write is encrypted to. */
export interface EncryptTo {
  /** Agent ids; each must have published a key. */
  to?: string[];
  /** Groups: every registered agent of the tenant in one of these groups. */
  groups?: string[];
  /** Encrypt to this client's own current key too, so it can read back what it wrote. Default true. */
  includeSelf?: boolean;
}

/** Per-call encryption option: recipients, or `false` to write in clear despite a client default. */
export type EncryptOption = EncryptTo | false;

/** End-to-end encryption settings of a client (AcbClientOptions.e2e). */
export interface E2eOptions {
  /** This agent's key pairs, current first (older ones keep older data readable). */
  keys?: AgentKey[] | AgentKeyring;
  /** Encrypt every context, message and large-context write to these recipients by default. */
  encrypt?: EncryptTo;
  /**
   * Key pinning: agent id to the fingerprints (see keyFingerprint) its keys must have. A key the
   * hub hands out for a pinned agent that matches none of them fails the write with
   * E2E_NO_RECIPIENT_KEY instead of being used.
   */
  pins?: Record<string, string[]>;
}

/** What a large-context source can be (as StreamSource). */
type Source =
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Blob
  | Uint8Array
  | ArrayBuffer;

async function* piecesOf(source: Source): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let at = 0; at < source.length; at += DEFAULT_SEGMENT_SIZE)
      yield source.subarray(at, at + DEFAULT_SEGMENT_SIZE);
    return;
  }
  if (source instanceof ArrayBuffer) return yield* piecesOf(new Uint8Array(source));
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    for (let at = 0; at < source.size; at += DEFAULT_SEGMENT_SIZE)
      yield new Uint8Array(await source.slice(at, at + DEFAULT_SEGMENT_SIZE).arrayBuffer());
    return;
  }
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* source as AsyncIterable<Uint8Array>;
}

function sizeOf(source: Source): number | undefined {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return source.byteLength;
  if (typeof Blob !== "undefined" && source instanceof Blob) return source.size;
  return undefined;
}

/** The client's end-to-end encryption: recipient lookup, sealing and opening. */
export class ClientE2e {
  readonly keyring: AgentKeyring;

  constructor(
    private readonly registry: Client<typeof RegistryService>,
    private readonly whoAmI: () => Promise<string>,
    private readonly options: E2eOptions = {},
  ) {
    const keys = options.keys;
    this.keyring = keys instanceof AgentKeyring ? keys : new AgentKeyring(keys ?? []);
  }

  /** The public keys a registration publishes (current first). */
  publicKeys(): AgentPublicKeyInfo[] {
    return this.keyring.publicKeys();
  }

  /** The recipients of a write, or undefined when it is written in clear. */
  private settingOf(encrypt: EncryptOption | undefined): EncryptTo | undefined {
    if (encrypt === false) return undefined;
    return encrypt ?? this.options.encrypt;
  }

  /** Whether a write with this option is encrypted. */
  encrypts(encrypt: EncryptOption | undefined): boolean {
    return this.settingOf(encrypt) !== undefined;
  }

  private async keyOf(agentId: string): Promise<E2eRecipientKey> {
    const res = await this.registry.getAgent({ agentId }).catch((err: unknown) => {
      throw e2eError(
        "E2E_NO_RECIPIENT_KEY",
        `cannot encrypt to "${agentId}": ${err instanceof Error ? err.message : String(err)}`,
        { agent_id: agentId },
      );
    });
    const pins = this.options.pins?.[agentId];
    for (const k of res.agent?.publicKeys ?? []) {
      if (k.kemId !== 0x20 && k.kemId !== 0x10) continue;
      if (pins && !pins.includes(await keyFingerprint(k))) continue;
      return { agentId, key: { keyId: k.keyId, kemId: k.kemId, publicKey: k.publicKey } };
    }
    throw e2eError(
      "E2E_NO_RECIPIENT_KEY",
      pins
        ? `agent "${agentId}" has published no key matching its pinned fingerprints`
        : `agent "${agentId}" has published no end-to-end encryption key`,
      { agent_id: agentId },
    );
  }

  private async groupMembers(groups: string[]): Promise<string[]> {
    const members: string[] = [];
    let pageToken = "";
    do {
      const res = await this.registry.listAgents({ pageSize: 1000, pageToken });
      for (const a of res.agents) if (a.groups.some((g) => groups.includes(g))) members.push(a.id);
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    return members;
  }

  /** The recipient keys of a write: named agents, group members, and this agent's own key. */
  private async recipients(setting: EncryptTo): Promise<E2eRecipientKey[]> {
    const ids = new Set(setting.to ?? []);
    if (setting.groups?.length)
      for (const id of await this.groupMembers(setting.groups)) ids.add(id);
    const own = this.keyring.current;
    let self: string | undefined;
    if (own && setting.includeSelf !== false) {
      self = await this.whoAmI();
      ids.delete(self);
    }
    if (ids.size === 0 && !self) {
      throw new TypeError("encrypt: name at least one recipient (to or groups)");
    }
    const keys = await Promise.all([...ids].map((id) => this.keyOf(id)));
    if (own && self !== undefined) keys.push({ agentId: self, key: own });
    return keys;
  }

  /** The payload to write: `payload` itself, or encrypted when the option asks for it. */
  async seal(
    payload: { contentType: string; data: Uint8Array },
    encrypt: EncryptOption | undefined,
  ): Promise<{ contentType: string; data: Uint8Array }> {
    const setting = this.settingOf(encrypt);
    if (!setting) return payload;
    const data = await encryptPayload(
      payload.data,
      payload.contentType,
      await this.recipients(setting),
    );
    return { contentType: E2E_CONTENT_TYPE, data };
  }

  /**
   * Decrypts an encrypted payload in place (content type and bytes become the inner ones); leaves
   * any other payload alone. Fails with an E2E_* AcbError.
   */
  async open(payload: Payload | undefined): Promise<void> {
    if (!payload || payload.contentType !== E2E_CONTENT_TYPE) return;
    const inner = await decryptPayload(payload.data, this.keyring);
    payload.contentType = inner.contentType;
    payload.data = inner.data;
  }

  /** An upload source encrypted to the option's recipients, with its encrypted size. */
  async sealStream(
    source: Source,
    size: number | undefined,
    encrypt: EncryptOption | undefined,
  ): Promise<{ source: AsyncIterable<Uint8Array>; size: number } | undefined> {
    const setting = this.settingOf(encrypt);
    if (!setting) return undefined;
    const plainSize = size ?? sizeOf(source);
    if (plainSize === undefined) {
      throw new TypeError("encrypt: a stream source needs its size (fromReader(source, size))");
    }
    const sealed = await encryptStream(
      piecesOf(source),
      plainSize,
      "application/octet-stream",
      await this.recipients(setting),
    );
    return { source: sealed.stream, size: sealed.size };
  }

  /**
   * A downloaded stream decrypted when it is an encrypted payload (it starts with the format's
   * magic bytes and `decrypt` is not false); passed through unchanged otherwise.
   */
  openStream(
    stream: ReadableStream<Uint8Array>,
    decrypt: boolean | undefined,
  ): ReadableStream<Uint8Array> {
    if (decrypt === false) return stream;
    const keyring = this.keyring;
    const reader = stream.getReader();
    let inner: AsyncIterator<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>(
      {
        async start(controller) {
          // Peek at the first bytes: the format's magic decides.
          const head: Uint8Array[] = [];
          let have = 0;
          while (have < 5) {
            const { done, value } = await reader.read();
            if (done) break;
            head.push(value);
            have += value.length;
          }
          const first = new Uint8Array(have);
          let at = 0;
          for (const h of head) {
            first.set(h, at);
            at += h.length;
          }
          const magic = [0x41, 0x43, 0x42, 0x45, 0x01];
          const encrypted = have >= 5 && magic.every((b, i) => first[i] === b);
          async function* rest() {
            if (first.length > 0) yield first;
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              yield value;
            }
          }
          if (!encrypted && decrypt !== true) {
            inner = rest();
            return;
          }
          if (!encrypted) {
            controller.error(
              e2eError("E2E_MALFORMED", "the context's value is not an encrypted payload"),
            );
            return;
          }
          inner = (await decryptStream(rest(), keyring)).stream[Symbol.asyncIterator]();
        },
        async pull(controller) {
          const next = await (inner as AsyncIterator<Uint8Array>).next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        async cancel(reason) {
          await reader.cancel(reason);
        },
      },
      { highWaterMark: 1 },
    );
  }
}
