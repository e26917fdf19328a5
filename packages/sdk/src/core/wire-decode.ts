// Decoders of the two messages a connected agent reads most: a Receive stream's responses (each
// delivery) and a SendStream's answers (each send and settlement). They read what the hub writes
// with a few loops over the bytes, where the protocol library's generic reader allocates a tag
// array and looks up a field decoder per field, and builds each nested message through its
// generic constructor. The result is the object `fromBinary` makes, field for field (same keys,
// defaults, oneof cases, bigint for 64-bit integers, `data` a view of the input as it is).
//
// Anything they do not read exactly as `fromBinary` would — an unknown field (kept in `$unknown`),
// a nested message given twice (merged), a non-ASCII string (checked as UTF-8), a varint past 32
// bits, an error answer — makes them give up, and the caller parses the message with
// `fromBinary`: the fast path never answers differently, it only answers sooner.

import {
  type Delivery,
  type Message,
  type ReceiveResponse,
  ReceiveResponseSchema,
  type SendStreamResponse,
  SendStreamResponseSchema,
  type SettleResult,
} from "@acb/gen/acb/v1/messaging_pb";
import type { DescMessage } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";

/** Thrown inside a decoder when the generic reader must take over. */
const GIVE_UP = new Error("not on the fast path");

/** The reader's state: one parse at a time (decoding is synchronous). */
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;

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
  // The fifth byte: values up to 2^31 - 1 only (a negative int32 takes ten bytes).
  if (b > 0x07) throw GIVE_UP;
  return v + b * 0x10000000;
}

/** The end of a length-delimited field that starts at `pos`, checked against `end`. */
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

function bytes(end: number): Uint8Array {
  const stop = delimited(end);
  const out = buf.subarray(pos, stop);
  pos = stop;
  return out;
}

/** A varint field that must be a bool (0 or 1, as the generic reader reads any non-zero). */
function bool(): boolean {
  return varint32() !== 0;
}

/** Skips nothing: any field not read here makes the generic reader take over. */
function unknown(): never {
  throw GIVE_UP;
}

function timestamp(
  end: number,
  typeName: "google.protobuf.Timestamp" | "google.protobuf.Duration",
): Timestamp & Duration {
  const stop = delimited(end);
  let seconds = 0;
  let nanos = 0;
  while (pos < stop) {
    const tag = varint32();
    if (tag === 8) seconds = varint32();
    else if (tag === 16) nanos = varint32() | 0;
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

function message(end: number): Message {
  const stop = delimited(end);
  const m: Message = {
    $typeName: "acb.v1.Message",
    id: "",
    tenantId: "",
    senderId: "",
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
  };
  while (pos < stop) {
    switch (varint32()) {
      case 10:
        m.id = string(stop);
        break;
      case 18:
        m.tenantId = string(stop);
        break;
      case 26:
        m.senderId = string(stop);
        break;
      case 34:
        m.target = { case: "recipientId", value: string(stop) };
        break;
      case 42:
        m.target = { case: "topic", value: string(stop) };
        break;
      case 48:
        m.target = { case: "broadcast", value: bool() };
        break;
      case 56:
        m.type = varint32();
        break;
      case 66:
        m.kind = string(stop);
        break;
      case 74: {
        if (m.payload !== undefined) throw GIVE_UP;
        const payloadEnd = delimited(stop);
        let contentType = "";
        let data: Uint8Array = new Uint8Array(0);
        while (pos < payloadEnd) {
          const tag = varint32();
          if (tag === 10) contentType = string(payloadEnd);
          else if (tag === 18) data = bytes(payloadEnd);
          else unknown();
        }
        if (pos !== payloadEnd) throw GIVE_UP;
        m.payload = { $typeName: "acb.v1.Payload", contentType, data };
        break;
      }
      case 82:
        m.contextId = string(stop);
        break;
      case 90:
        m.correlationId = string(stop);
        break;
      case 98:
        m.replyTo = string(stop);
        break;
      case 106:
        m.conversationId = string(stop);
        break;
      case 114:
        m.idempotencyKey = string(stop);
        break;
      case 122:
        mapEntry(stop, m.metadata);
        break;
      case 130:
        mapEntry(stop, m.headers);
        break;
      case 138:
        if (m.createdAt !== undefined) throw GIVE_UP;
        m.createdAt = timestamp(stop, "google.protobuf.Timestamp");
        break;
      case 146:
        if (m.expiresAt !== undefined) throw GIVE_UP;
        m.expiresAt = timestamp(stop, "google.protobuf.Timestamp");
        break;
      default:
        unknown();
    }
  }
  if (pos !== stop) throw GIVE_UP;
  return m;
}

function delivery(end: number): Delivery {
  const stop = delimited(end);
  const d: Delivery = { $typeName: "acb.v1.Delivery", deliveryId: "", attempt: 0 };
  while (pos < stop) {
    switch (varint32()) {
      case 10:
        d.deliveryId = string(stop);
        break;
      case 16:
        d.attempt = varint32();
        break;
      case 26:
        if (d.message !== undefined) throw GIVE_UP;
        d.message = message(stop);
        break;
      case 34:
        if (d.ackDeadline !== undefined) throw GIVE_UP;
        d.ackDeadline = timestamp(stop, "google.protobuf.Timestamp");
        break;
      default:
        unknown();
    }
  }
  if (pos !== stop) throw GIVE_UP;
  return d;
}

function receiveResponse(): ReceiveResponse {
  const end = buf.length;
  const r: ReceiveResponse = {
    $typeName: "acb.v1.ReceiveResponse",
    kind: 0,
    streamId: "",
    maxInFlight: 0,
    deliveries: [],
  };
  while (pos < end) {
    switch (varint32()) {
      case 8:
        r.kind = varint32();
        break;
      case 18:
        if (r.delivery !== undefined) throw GIVE_UP;
        r.delivery = delivery(end);
        break;
      case 26:
        r.streamId = string(end);
        break;
      case 32:
        r.maxInFlight = varint32();
        break;
      case 42:
        if (r.ackDeadline !== undefined) throw GIVE_UP;
        r.ackDeadline = timestamp(end, "google.protobuf.Duration");
        break;
      case 50:
        r.deliveries.push(delivery(end));
        break;
      default:
        unknown();
    }
  }
  if (pos !== end) throw GIVE_UP;
  return r;
}

function settleResults(end: number): SettleResult[] {
  const stop = delimited(end);
  const results: SettleResult[] = [];
  while (pos < stop) {
    if (varint32() !== 10) unknown();
    const itemEnd = delimited(stop);
    const item: SettleResult = { $typeName: "acb.v1.SettleResult", deliveryId: "", status: 0 };
    while (pos < itemEnd) {
      const tag = varint32();
      if (tag === 10) item.deliveryId = string(itemEnd);
      else if (tag === 16) item.status = varint32();
      else unknown();
    }
    if (pos !== itemEnd) throw GIVE_UP;
    results.push(item);
  }
  if (pos !== stop) throw GIVE_UP;
  return results;
}

function sendStreamResponse(): SendStreamResponse {
  const end = buf.length;
  const r: SendStreamResponse = {
    $typeName: "acb.v1.SendStreamResponse",
    ref: 0n,
    result: { case: undefined },
  };
  // A oneof given twice merges in the generic reader when the case repeats: not read here.
  let results = 0;
  while (pos < end) {
    switch (varint32()) {
      case 8:
        r.ref = BigInt(varint32());
        break;
      case 18: {
        if (results++ > 0) throw GIVE_UP;
        const stop = delimited(end);
        let messageId = "";
        let duplicate = false;
        while (pos < stop) {
          const tag = varint32();
          if (tag === 10) messageId = string(stop);
          else if (tag === 16) duplicate = bool();
          else unknown();
        }
        if (pos !== stop) throw GIVE_UP;
        r.result = {
          case: "send",
          value: { $typeName: "acb.v1.SendResponse", messageId, duplicate },
        };
        break;
      }
      case 26:
        if (results++ > 0) throw GIVE_UP;
        r.result = {
          case: "ack",
          value: { $typeName: "acb.v1.AckResponse", results: settleResults(end) },
        };
        break;
      case 34:
        if (results++ > 0) throw GIVE_UP;
        r.result = {
          case: "nack",
          value: { $typeName: "acb.v1.NackResponse", results: settleResults(end) },
        };
        break;
      default:
        // An error answer (field 5) and anything else: the generic reader.
        unknown();
    }
  }
  if (pos !== end) throw GIVE_UP;
  return r;
}

function fast<T>(read: () => T, data: Uint8Array): T | undefined {
  buf = data;
  pos = 0;
  try {
    return read();
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    // A read past the end (a truncated message) is the generic reader's to report.
    return undefined;
  } finally {
    buf = empty;
  }
}

const empty = new Uint8Array(0);

/** `fromBinary(ReceiveResponseSchema, data)`, sooner for what the hub sends. */
export function decodeReceiveResponse(data: Uint8Array): ReceiveResponse {
  return fast(receiveResponse, data) ?? fromBinary(ReceiveResponseSchema, data);
}

/** `fromBinary(SendStreamResponseSchema, data)`, sooner for what the hub sends. */
export function decodeSendStreamResponse(data: Uint8Array): SendStreamResponse {
  return fast(sendStreamResponse, data) ?? fromBinary(SendStreamResponseSchema, data);
}

/** The fast path alone (undefined where it gives up), for tests. @internal */
export const fastPathOnly = {
  receiveResponse: (data: Uint8Array): ReceiveResponse | undefined => fast(receiveResponse, data),
  sendStreamResponse: (data: Uint8Array): SendStreamResponse | undefined =>
    fast(sendStreamResponse, data),
};

/**
 * `parse` with the fast path in front for the message types above (`parse` is then called only
 * for what the fast path does not read, so its errors are the ones a caller sees), or `parse`
 * itself for any other type.
 */
export function withFastDecoding<T>(
  schema: DescMessage,
  parse: (data: Uint8Array) => T,
): (data: Uint8Array) => T {
  let read: (() => unknown) | undefined;
  if (schema.typeName === ReceiveResponseSchema.typeName) read = receiveResponse;
  else if (schema.typeName === SendStreamResponseSchema.typeName) read = sendStreamResponse;
  if (read === undefined) return parse;
  const decode = read;
  return (data) => (fast(decode, data) as T | undefined) ?? parse(data);
}
