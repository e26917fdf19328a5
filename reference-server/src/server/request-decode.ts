// The decoders of the request messages a sending agent writes most: a SendStream item (a send or
// an ack), a Send and a SendBatch. They read the fields with a few loops over the bytes, where protobuf-es's generic
// reader allocates a tag array and looks up a field decoder per field, and builds each nested
// message through its generic constructor. The result is the object `fromBinary` makes, field
// for field (same keys, defaults, oneof cases, a bigint ref, `data` a view of the envelope).
//
// Anything it does not read exactly as `fromBinary` would — an unknown field (kept in
// `$unknown`), a nested message or oneof given twice (merged), a non-ASCII string (checked as
// UTF-8), a varint past 31 bits, a nack — makes it give up, and the caller parses the message
// with `fromBinary`: the fast path never answers differently, it only answers sooner.

import {
  type AckRequest,
  type SendBatchRequest,
  SendBatchRequestSchema,
  type SendRequest,
  SendRequestSchema,
  type SendStreamRequest,
  SendStreamRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";

/** Thrown inside the decoder when the generic reader must take over. */
const GIVE_UP = new Error("not on the fast path");

/** The reader's state: one message at a time (decoding is synchronous). */
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;

/** A varint of at most 31 bits (a negative int32 takes ten bytes: not read here). */
function varint32(): number {
  let b = buf[pos++] as number;
  if (b < 0x80) return b;
  let v = b & 0x7f;
  b = buf[pos++] as number;
  v |= (b & 0x7f) << 7;
  if (b < 0x80) return v;
  b = buf[pos++] as number;
  v |= (b & 0x7f) << 14;
  if (b < 0x80) return v;
  b = buf[pos++] as number;
  v |= (b & 0x7f) << 21;
  if (b < 0x80) return v;
  b = buf[pos++] as number;
  if (b > 0x07) throw GIVE_UP;
  return v + b * 0x10000000;
}

/** The end of the length-delimited field at `pos`, which must lie within `end`. */
function delimited(end: number): number {
  const len = varint32();
  const stop = pos + len;
  if (stop > end) throw GIVE_UP;
  return stop;
}

function string(end: number): string {
  const stop = delimited(end);
  const start = pos;
  const len = stop - start;
  pos = stop;
  if (len > 256) {
    for (let i = start; i < stop; i++) if ((buf[i] as number) > 0x7f) throw GIVE_UP;
    return ascii.decode(buf.subarray(start, stop));
  }
  // The codes, then one string made of them (into an array kept for it: nothing else allocated).
  codes.length = len;
  for (let i = 0; i < len; i++) {
    const c = buf[start + i] as number;
    if (c > 0x7f) throw GIVE_UP;
    codes[i] = c;
  }
  return String.fromCharCode.apply(String, codes);
}

/** Decodes long strings once they are known to be ASCII (where every decoder agrees). */
const ascii = new TextDecoder();
/** The character codes of a short string being read. */
const codes: number[] = [];

function unknown(): never {
  throw GIVE_UP;
}

function time(
  end: number,
  typeName: "google.protobuf.Timestamp" | "google.protobuf.Duration",
): Timestamp & Duration {
  const stop = delimited(end);
  let seconds = 0;
  let nanos = 0;
  while (pos < stop) {
    const tag = varint32();
    if (tag === 8) seconds = varint32();
    else if (tag === 16) nanos = varint32();
    else unknown();
  }
  if (pos !== stop) throw GIVE_UP;
  return { $typeName: typeName, seconds: BigInt(seconds), nanos } as Timestamp & Duration;
}

function mapEntry(end: number, into: Record<string, string>): void {
  const stop = delimited(end);
  let key = "";
  let value = "";
  while (pos < stop) {
    const tag = varint32();
    if (tag === 10) key = string(stop);
    else if (tag === 18) value = string(stop);
    else unknown();
  }
  if (pos !== stop || key === "__proto__") throw GIVE_UP;
  into[key] = value;
}

/** A SendRequest nested in the message being read (length-prefixed, within `end`). */
function sendRequest(end: number): SendRequest {
  return sendRequestFields(delimited(end));
}

/** The fields of a SendRequest, from `pos` to `stop`. */
function sendRequestFields(stop: number): SendRequest {
  const r: SendRequest = {
    $typeName: "acb.v1.SendRequest",
    target: { case: undefined },
    type: 0,
    kind: "",
    contextId: "",
    correlationId: "",
    replyTo: "",
    conversationId: "",
    idempotencyKey: "",
    metadata: {},
    headers: {},
    expiry: { case: undefined },
  };
  while (pos < stop) {
    switch (varint32()) {
      case 10:
        r.target = { case: "recipientId", value: string(stop) };
        break;
      case 18:
        r.target = { case: "topic", value: string(stop) };
        break;
      case 24:
        r.target = { case: "broadcast", value: varint32() !== 0 };
        break;
      case 32:
        r.type = varint32();
        break;
      case 42:
        r.kind = string(stop);
        break;
      case 50: {
        if (r.payload !== undefined) throw GIVE_UP;
        const payloadEnd = delimited(stop);
        let contentType = "";
        let data: Uint8Array = new Uint8Array(0);
        while (pos < payloadEnd) {
          const tag = varint32();
          if (tag === 10) contentType = string(payloadEnd);
          else if (tag === 18) {
            const dataEnd = delimited(payloadEnd);
            data = buf.subarray(pos, dataEnd);
            pos = dataEnd;
          } else unknown();
        }
        if (pos !== payloadEnd) throw GIVE_UP;
        r.payload = { $typeName: "acb.v1.Payload", contentType, data: data as never };
        break;
      }
      case 58:
        r.contextId = string(stop);
        break;
      case 66:
        r.correlationId = string(stop);
        break;
      case 74:
        r.replyTo = string(stop);
        break;
      case 82:
        r.conversationId = string(stop);
        break;
      case 90:
        r.idempotencyKey = string(stop);
        break;
      case 98:
        mapEntry(stop, r.metadata);
        break;
      case 106:
        mapEntry(stop, r.headers);
        break;
      case 114:
        // A oneof message given twice merges in the generic reader.
        if (r.expiry.case !== undefined) throw GIVE_UP;
        r.expiry = { case: "expiresAt", value: time(stop, "google.protobuf.Timestamp") };
        break;
      case 122:
        if (r.expiry.case !== undefined) throw GIVE_UP;
        r.expiry = { case: "ttl", value: time(stop, "google.protobuf.Duration") };
        break;
      default:
        unknown();
    }
  }
  if (pos !== stop) throw GIVE_UP;
  return r;
}

function ackRequest(end: number): AckRequest {
  const stop = delimited(end);
  const deliveryIds: string[] = [];
  while (pos < stop) {
    if (varint32() !== 10) unknown();
    deliveryIds.push(string(stop));
  }
  if (pos !== stop) throw GIVE_UP;
  return { $typeName: "acb.v1.AckRequest", deliveryIds };
}

function sendStreamRequest(): SendStreamRequest {
  const end = buf.length;
  const r: SendStreamRequest = {
    $typeName: "acb.v1.SendStreamRequest",
    ref: 0n,
    item: { case: undefined },
  };
  while (pos < end) {
    switch (varint32()) {
      case 8:
        r.ref = BigInt(varint32());
        break;
      case 18:
        if (r.item.case !== undefined) throw GIVE_UP;
        r.item = { case: "send", value: sendRequest(end) };
        break;
      case 26:
        if (r.item.case !== undefined) throw GIVE_UP;
        r.item = { case: "ack", value: ackRequest(end) };
        break;
      default:
        // A nack (field 4) and anything else: the generic reader.
        unknown();
    }
  }
  if (pos !== end) throw GIVE_UP;
  return r;
}

function sendBatchRequest(): SendBatchRequest {
  const end = buf.length;
  const requests: SendRequest[] = [];
  while (pos < end) {
    if (varint32() !== 10) unknown();
    requests.push(sendRequest(end));
  }
  if (pos !== end) throw GIVE_UP;
  return { $typeName: "acb.v1.SendBatchRequest", requests };
}

/** Runs `read` over `data`: its message, or undefined where the generic reader must take over. */
function readWith<T>(data: Uint8Array, read: () => T): T | undefined {
  buf = data;
  pos = 0;
  try {
    return read();
  } catch {
    // GIVE_UP, or a read past the end of a truncated message: the generic reader's to report.
    return undefined;
  } finally {
    buf = empty;
  }
}

const readSendStreamRequest = () => sendStreamRequest();
const readSendRequest = () => sendRequestFields(buf.length);
const readSendBatchRequest = () => sendBatchRequest();

/** The fast path of SendStreamRequest alone (undefined where it gives up), for tests. @internal */
export function fastSendStreamRequest(data: Uint8Array): SendStreamRequest | undefined {
  return readWith(data, readSendStreamRequest);
}

/** The fast path of SendRequest (a unary Send) alone, as {@link fastSendStreamRequest}. @internal */
export function fastSendRequest(data: Uint8Array): SendRequest | undefined {
  return readWith(data, readSendRequest);
}

/** The fast path of SendBatchRequest alone, as {@link fastSendStreamRequest}. @internal */
export function fastSendBatchRequest(data: Uint8Array): SendBatchRequest | undefined {
  return readWith(data, readSendBatchRequest);
}

const empty = new Uint8Array(0);

/**
 * The fast decoder of the request type `schema`, if there is one: it answers the message
 * `fromBinary(schema, data)` makes, or undefined where the caller must parse it with `fromBinary`.
 */
export function fastRequestDecoder(
  schema: DescMessage,
): ((data: Uint8Array) => Message | undefined) | undefined {
  switch (schema.typeName) {
    case SendStreamRequestSchema.typeName:
      return fastSendStreamRequest;
    case SendRequestSchema.typeName:
      return fastSendRequest;
    case SendBatchRequestSchema.typeName:
      return fastSendBatchRequest;
    default:
      return undefined;
  }
}
