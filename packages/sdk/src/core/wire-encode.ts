// The encoder of the message a sending agent writes most: a SendStream item (a send or an ack),
// written with its envelope into one buffer. The protocol library's generic writer walks the
// message's descriptor field by field, builds the bytes in chunks and joins them, and the stream
// then copies them into an envelope; here the fields are written in one pass.
//
// The bytes are exactly `toBinary`'s (the same fields in the same order, defaults left out, map
// entries with both key and value): wire-encode.test.ts compares them on generated messages. What
// this writer does not write exactly as `toBinary` would — a nack item, unknown fields, a
// non-ASCII string, a value of the wrong type, a number past what it writes — makes it give up,
// and the caller encodes the message with `toBinary`, which also raises the errors.

import type { SendRequest, SendStreamRequest } from "@acb/gen/acb/v1/messaging_pb";
import { SendStreamRequestSchema } from "@acb/gen/acb/v1/messaging_pb";
import type { DescMessage } from "@bufbuild/protobuf";

/** Thrown inside the writer when the generic encoder must take over. */
const GIVE_UP = new Error("not on the fast path");

/** The writer's buffer, reused: one message at a time (encoding is synchronous). */
let buf = new Uint8Array(4096);
let pos = 0;

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const grown = new Uint8Array(Math.max(buf.length * 2, pos + n));
  grown.set(buf.subarray(0, pos));
  buf = grown;
}

/** A non-negative integer up to 2^53 - 1 as a varint. */
function varint(n: number): void {
  room(10);
  while (n > 0x7f) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
}

function int32(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw GIVE_UP;
  return v;
}

function ascii(v: unknown): string {
  if (typeof v !== "string") throw GIVE_UP;
  return v;
}

/** A string field, if not empty (`always`: even then, as map entries are written). */
function string(tag: number, v: unknown, always = false): void {
  const s = ascii(v);
  if (s.length === 0 && !always) return;
  room(6 + s.length);
  buf[pos++] = tag;
  varint(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw GIVE_UP;
    buf[pos++] = c;
  }
}

/**
 * Starts a length-delimited field: its tag, and one byte kept for its length (moved along by
 * `join` when the length takes more).
 */
function fork(tag: number): number {
  room(2);
  buf[pos++] = tag;
  return pos++;
}

function join(at: number): void {
  const len = pos - at - 1;
  if (len < 0x80) {
    buf[at] = len;
    return;
  }
  let extra = 0;
  for (let n = len; n > 0x7f; n = Math.floor(n / 0x80)) extra++;
  room(extra);
  buf.copyWithin(at + 1 + extra, at + 1, pos);
  pos += extra;
  const end = pos;
  pos = at;
  varint(len);
  pos = end;
}

function map(tag: number, record: unknown): void {
  if (typeof record !== "object" || record === null) throw GIVE_UP;
  const r = record as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    const at = fork(tag);
    string(10, key, true);
    string(18, r[key], true);
    join(at);
  }
}

/** A Timestamp or Duration with non-negative seconds and nanos. */
function time(tag: number, t: unknown): void {
  const v = t as { seconds?: unknown; nanos?: unknown; $unknown?: unknown } | undefined;
  if (typeof v !== "object" || v === null || v.$unknown !== undefined) throw GIVE_UP;
  const { seconds, nanos } = v;
  if (typeof seconds !== "bigint" || seconds < 0n || seconds > BigInt(Number.MAX_SAFE_INTEGER))
    throw GIVE_UP;
  const at = fork(tag);
  if (seconds !== 0n) {
    room(1);
    buf[pos++] = 8;
    varint(Number(seconds));
  }
  const n = int32(nanos);
  if (n !== 0) {
    room(1);
    buf[pos++] = 16;
    varint(n);
  }
  join(at);
}

function sendRequest(r: SendRequest): void {
  if (r.$unknown !== undefined) throw GIVE_UP;
  switch (r.target.case) {
    case "recipientId":
      string(10, r.target.value, true);
      break;
    case "topic":
      string(18, r.target.value, true);
      break;
    case "broadcast":
      if (typeof r.target.value !== "boolean") throw GIVE_UP;
      room(2);
      buf[pos++] = 24;
      buf[pos++] = r.target.value ? 1 : 0;
      break;
    case undefined:
      break;
    default:
      throw GIVE_UP;
  }
  const type = int32(r.type);
  if (type !== 0) {
    room(1);
    buf[pos++] = 32;
    varint(type);
  }
  string(42, r.kind);
  const p = r.payload;
  if (p !== undefined) {
    if (p.$unknown !== undefined || !(p.data instanceof Uint8Array)) throw GIVE_UP;
    const at = fork(50);
    string(10, p.contentType);
    if (p.data.length > 0) {
      room(6 + p.data.length);
      buf[pos++] = 18;
      varint(p.data.length);
      buf.set(p.data, pos);
      pos += p.data.length;
    }
    join(at);
  }
  string(58, r.contextId);
  string(66, r.correlationId);
  string(74, r.replyTo);
  string(82, r.conversationId);
  string(90, r.idempotencyKey);
  map(98, r.metadata);
  map(106, r.headers);
  switch (r.expiry.case) {
    case "expiresAt":
      time(114, r.expiry.value);
      break;
    case "ttl":
      time(122, r.expiry.value);
      break;
    case undefined:
      break;
    default:
      throw GIVE_UP;
  }
}

function sendStreamRequest(m: SendStreamRequest): void {
  if (m.$unknown !== undefined) throw GIVE_UP;
  if (typeof m.ref !== "bigint" || m.ref < 0n || m.ref > BigInt(Number.MAX_SAFE_INTEGER))
    throw GIVE_UP;
  if (m.ref !== 0n) {
    room(1);
    buf[pos++] = 8;
    varint(Number(m.ref));
  }
  const item = m.item;
  if (item.case === "send") {
    const at = fork(18);
    sendRequest(item.value);
    join(at);
  } else if (item.case === "ack") {
    const ack = item.value;
    if (ack.$unknown !== undefined || !Array.isArray(ack.deliveryIds)) throw GIVE_UP;
    const at = fork(26);
    for (const id of ack.deliveryIds) string(10, id, true);
    join(at);
  } else if (item.case !== undefined) {
    throw GIVE_UP;
  }
}

/** The envelope of `message` (flags 0, its length, its bytes), or undefined where it gives up. */
function envelope(write: (m: never) => void, message: unknown): Uint8Array | undefined {
  pos = 5;
  try {
    write(message as never);
  } catch {
    // GIVE_UP, or a message not shaped as a created one (a missing field): toBinary's to judge.
    return undefined;
  }
  const out = buf.slice(0, pos);
  const len = pos - 5;
  out[0] = 0;
  out[1] = len >>> 24;
  out[2] = (len >>> 16) & 0xff;
  out[3] = (len >>> 8) & 0xff;
  out[4] = len & 0xff;
  return out;
}

/** The fast path alone (undefined where it gives up; else the bytes without envelope), for tests. @internal */
export function fastSendStreamRequest(message: SendStreamRequest): Uint8Array | undefined {
  return envelope(sendStreamRequest, message)?.subarray(5);
}

/**
 * The envelope writer of the message types above, or undefined for any other type: it answers a
 * message's whole envelope, or undefined where the caller must encode it itself.
 */
export function fastEnvelopeWriter(
  schema: DescMessage,
): ((message: unknown) => Uint8Array | undefined) | undefined {
  if (schema.typeName !== SendStreamRequestSchema.typeName) return undefined;
  return (message) => envelope(sendStreamRequest, message);
}
