// The encrypted payload format (acb.v1.E2eHeader; the byte layout is specified in
// proto/acb/v1/e2e.proto): a fresh AES-256-GCM content key per payload, sealed to each recipient
// key with HPKE, and the content cut into STREAM segments so large objects encrypt and decrypt as
// they stream.
import { type E2eHeader, E2eHeaderSchema, E2eRecipientSchema } from "@acb/gen/acb/v1/e2e_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { e2eError } from "./errors.js";
import { type AgentKeyring, type AgentPublicKeyInfo, suiteFor } from "./keys.js";

/** The content type of every encrypted payload. */
export const E2E_CONTENT_TYPE = "application/vnd.acb.e2e.v1";
/** Plaintext bytes per segment the SDK writes. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;

const MAGIC = [0x41, 0x43, 0x42, 0x45, 0x01]; // "ACBE", format 1
const PREFIX = MAGIC.length + 4;
const TAG = 16;
const AEAD_AES_256_GCM = 2;
const MIN_SEGMENT = 1024;
const MAX_SEGMENT = 16 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;
const HPKE_INFO = new TextEncoder().encode("acb.e2e.v1");
const utf8 = new TextEncoder();

/** One recipient key of a write. */
export interface E2eRecipientKey {
  agentId: string;
  key: AgentPublicKeyInfo;
}

/** Everything needed to seal the segments of one payload. */
interface Sealing {
  /** Magic, header length and header: the payload's first bytes. */
  prefix: Uint8Array;
  headerBytes: Uint8Array;
  contentKey: CryptoKey;
  noncePrefix: Uint8Array;
  segmentSize: number;
}

function nonceOf(prefix: Uint8Array, counter: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(7, counter);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

async function startSealing(
  recipients: E2eRecipientKey[],
  segmentSize = DEFAULT_SEGMENT_SIZE,
): Promise<Sealing> {
  if (recipients.length === 0) throw new TypeError("encrypt: at least one recipient is required");
  if (!(segmentSize >= MIN_SEGMENT && segmentSize <= MAX_SEGMENT)) {
    throw new RangeError(`encrypt: segment size ${segmentSize} is outside 1 KiB to 16 MiB`);
  }
  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const header = create(E2eHeaderSchema, {
    aeadId: AEAD_AES_256_GCM,
    segmentSize,
    noncePrefix: crypto.getRandomValues(new Uint8Array(7)),
  });
  for (const { agentId, key } of recipients) {
    const suite = suiteFor(key.kemId);
    const recipientPublicKey = await suite.kem.deserializePublicKey(key.publicKey);
    const sealed = await suite.seal(
      { recipientPublicKey, info: HPKE_INFO },
      rawKey,
      utf8.encode(key.keyId),
    );
    header.recipients.push(
      create(E2eRecipientSchema, {
        agentId,
        keyId: key.keyId,
        kemId: key.kemId,
        enc: new Uint8Array(sealed.enc),
        wrappedKey: new Uint8Array(sealed.ct),
      }),
    );
  }
  const headerBytes = toBinary(E2eHeaderSchema, header);
  const prefix = new Uint8Array(PREFIX + headerBytes.length);
  prefix.set(MAGIC, 0);
  new DataView(prefix.buffer).setUint32(MAGIC.length, headerBytes.length);
  prefix.set(headerBytes, PREFIX);
  const contentKey = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, ["encrypt"]);
  rawKey.fill(0);
  return { prefix, headerBytes, contentKey, noncePrefix: header.noncePrefix, segmentSize };
}

/** The inner content type, framed as the plaintext's first bytes. */
function contentTypeFrame(contentType: string): Uint8Array {
  const ct = utf8.encode(contentType);
  if (ct.length > 0xffff) throw new RangeError("encrypt: content type too long");
  const frame = new Uint8Array(2 + ct.length);
  new DataView(frame.buffer).setUint16(0, ct.length);
  frame.set(ct, 2);
  return frame;
}

/** The encrypted size of `plaintextSize` payload bytes (for uploads, which announce their size). */
function sealedSize(prefixLength: number, plainLength: number, segmentSize: number): number {
  const segments = Math.max(1, Math.ceil(plainLength / segmentSize));
  return prefixLength + plainLength + segments * TAG;
}

async function* piecesOf(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
  for await (const piece of source) yield piece;
}

/** Cuts a byte stream into pieces of exactly `size` bytes (the last may be shorter, or empty). */
async function* segmentsOf(
  source: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const piece of source) {
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(size - filled, piece.length - at);
      buffer.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  yield buffer.subarray(0, filled);
}

async function* sealSegments(
  s: Sealing,
  plaintext: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield s.prefix;
  let counter = 0;
  let held: Uint8Array | undefined;
  const seal = async (segment: Uint8Array, last: boolean) =>
    new Uint8Array(
      await crypto.subtle.encrypt(
        {
          name: "AES-GCM",
          iv: nonceOf(s.noncePrefix, counter++, last) as BufferSource,
          additionalData: s.headerBytes as BufferSource,
        },
        s.contentKey,
        segment as BufferSource,
      ),
    );
  for await (const segment of segmentsOf(plaintext, s.segmentSize)) {
    // Hold each segment until the next shows whether it was the last. The final piece of
    // segmentsOf may be empty: then the held full segment is the last.
    if (held && segment.length > 0) yield await seal(held, false);
    else if (held) {
      yield await seal(held, true);
      return;
    }
    held = segment;
  }
  if (held) yield await seal(held, true);
}

/**
 * Encrypts a stream of `size` payload bytes of `contentType` to `recipients`: resolves with the
 * encrypted size and the encrypted bytes as a stream (nothing is buffered beyond one segment).
 */
export async function encryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
  contentType: string,
  recipients: E2eRecipientKey[],
  options: { segmentSize?: number } = {},
): Promise<{ size: number; stream: AsyncIterable<Uint8Array> }> {
  const s = await startSealing(recipients, options.segmentSize);
  const frame = contentTypeFrame(contentType);
  async function* plaintext() {
    yield frame;
    yield* piecesOf(source);
  }
  return {
    size: sealedSize(s.prefix.length, frame.length + size, s.segmentSize),
    stream: sealSegments(s, plaintext()),
  };
}

/** Encrypts one payload (a context's or a message's) to `recipients`. */
export async function encryptPayload(
  data: Uint8Array,
  contentType: string,
  recipients: E2eRecipientKey[],
  options: { segmentSize?: number } = {},
): Promise<Uint8Array> {
  const { size, stream } = await encryptStream(
    [data],
    data.length,
    contentType,
    recipients,
    options,
  );
  const out = new Uint8Array(size);
  let at = 0;
  for await (const piece of stream) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Reads exactly the requested byte counts from a stream of pieces. */
class ByteReader {
  private pending: Uint8Array[] = [];
  private available = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Buffers until `n` bytes are available or the source ends; returns how many are. */
  async fill(n: number): Promise<number> {
    while (this.available < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        this.pending.push(next.value);
        this.available += next.value.length;
      }
    }
    return Math.min(this.available, n);
  }

  /** Takes up to `n` buffered bytes. */
  take(n: number): Uint8Array {
    const count = Math.min(n, this.available);
    const out = new Uint8Array(count);
    let at = 0;
    while (at < count) {
      const head = this.pending[0] as Uint8Array;
      const k = Math.min(head.length, count - at);
      out.set(head.subarray(0, k), at);
      at += k;
      if (k === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(k);
    }
    this.available -= count;
    return out;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/** The parsed header of an encrypted payload. */
export interface OpenedHeader {
  header: E2eHeader;
  headerBytes: Uint8Array;
}

async function readHeader(reader: ByteReader): Promise<OpenedHeader> {
  const malformed = (why: string) => e2eError("E2E_MALFORMED", `not an encrypted payload: ${why}`);
  if ((await reader.fill(PREFIX)) < PREFIX) throw malformed("too short");
  const prefix = reader.take(PREFIX);
  if (MAGIC.some((b, i) => prefix[i] !== b)) throw malformed("unknown magic or format version");
  const length = new DataView(prefix.buffer).getUint32(MAGIC.length);
  if (length > MAX_HEADER) throw malformed(`header of ${length} bytes`);
  if ((await reader.fill(length)) < length) throw malformed("truncated header");
  const headerBytes = reader.take(length);
  let header: E2eHeader;
  try {
    header = fromBinary(E2eHeaderSchema, headerBytes);
  } catch {
    throw malformed("unreadable header");
  }
  if (header.aeadId !== AEAD_AES_256_GCM) throw malformed(`unknown AEAD ${header.aeadId}`);
  if (!(header.segmentSize >= MIN_SEGMENT && header.segmentSize <= MAX_SEGMENT))
    throw malformed(`segment size ${header.segmentSize}`);
  if (header.noncePrefix.length !== 7) throw malformed("nonce prefix is not 7 bytes");
  return { header, headerBytes };
}

async function openContentKey(opened: OpenedHeader, keyring: AgentKeyring): Promise<CryptoKey> {
  const entries = opened.header.recipients;
  const entry = entries.find((r) => keyring.get(r.keyId));
  const key = entry && keyring.get(entry.keyId);
  if (!entry || !key) {
    throw e2eError(
      "E2E_NO_KEY",
      `no private key for this payload: it is encrypted to key ids ${entries.map((r) => r.keyId).join(", ") || "(none)"}`,
      { key_ids: entries.map((r) => r.keyId).join(",") },
    );
  }
  let raw: Uint8Array;
  try {
    if (entry.kemId !== key.kemId) throw new Error("KEM mismatch");
    raw = new Uint8Array(
      await suiteFor(key.kemId).open(
        { recipientKey: key.privateKey, enc: entry.enc, info: HPKE_INFO },
        entry.wrappedKey,
        utf8.encode(entry.keyId),
      ),
    );
  } catch {
    throw e2eError(
      "E2E_WRONG_KEY",
      `key "${entry.keyId}" does not open this payload's content key (a different key under that id, or a damaged payload)`,
      { key_id: entry.keyId },
    );
  }
  return crypto.subtle.importKey("raw", raw as BufferSource, "AES-GCM", false, ["decrypt"]);
}

/** Decrypts an encrypted payload stream, yielding the plaintext (content-type frame included). */
async function* openSegments(
  reader: ByteReader,
  opened: OpenedHeader,
  contentKey: CryptoKey,
): AsyncGenerator<Uint8Array> {
  const { segmentSize, noncePrefix } = opened.header;
  const full = segmentSize + TAG;
  for (let counter = 0; ; counter++) {
    // One byte of look-ahead tells whether this segment is the last.
    const got = await reader.fill(full + 1);
    const last = got <= full;
    const sealed = reader.take(Math.min(got, full));
    if (sealed.length < TAG + (last ? 1 : 0)) {
      throw e2eError("E2E_TAMPERED", "the encrypted payload is truncated");
    }
    let plain: Uint8Array;
    try {
      plain = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: nonceOf(noncePrefix, counter, last) as BufferSource,
            additionalData: opened.headerBytes as BufferSource,
          },
          contentKey,
          sealed as BufferSource,
        ),
      );
    } catch {
      throw e2eError(
        "E2E_TAMPERED",
        `segment ${counter} of the encrypted payload fails authentication (changed, truncated or reordered)`,
        { segment: String(counter) },
      );
    }
    yield plain;
    if (last) return;
  }
}

/** A decrypted stream: the inner content type, then the inner payload. */
export interface DecryptedStream {
  contentType: string;
  /** The recipients the payload was encrypted to (agent ids, as the writer named them). */
  recipients: string[];
  stream: AsyncIterable<Uint8Array>;
}

/**
 * Decrypts an encrypted payload stream with `keyring`. Resolves once the header and the first
 * segment are read (so key errors surface here); the stream fails with E2E_TAMPERED at the first
 * segment that does not authenticate, before yielding it.
 */
export async function decryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  keyring: AgentKeyring,
): Promise<DecryptedStream> {
  const reader = new ByteReader(piecesOf(source));
  const opened = await readHeader(reader);
  const contentKey = await openContentKey(opened, keyring);
  const plain = openSegments(reader, opened, contentKey);
  const frame = new ByteReader(plain);
  if ((await frame.fill(2)) < 2) throw e2eError("E2E_MALFORMED", "no content type frame");
  const ctLength = new DataView(frame.take(2).buffer).getUint16(0);
  if ((await frame.fill(ctLength)) < ctLength)
    throw e2eError("E2E_MALFORMED", "truncated content type frame");
  const contentType = new TextDecoder().decode(frame.take(ctLength));
  async function* rest() {
    for (;;) {
      const n = await frame.fill(1);
      if (n === 0) return;
      yield frame.take(Number.MAX_SAFE_INTEGER);
    }
  }
  return {
    contentType,
    recipients: opened.header.recipients.map((r) => r.agentId),
    stream: rest(),
  };
}

/** Decrypts one payload; fails with an E2E_* AcbError. */
export async function decryptPayload(
  data: Uint8Array,
  keyring: AgentKeyring,
): Promise<{ contentType: string; data: Uint8Array; recipients: string[] }> {
  const { contentType, recipients, stream } = await decryptStream([data], keyring);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    parts.push(part);
    total += part.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return { contentType, data: out, recipients };
}
