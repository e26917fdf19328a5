import {
  type ReceiveResponse,
  ReceiveResponse_Kind,
  ReceiveResponseSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { withBinary } from "../binary-encoding.js";
import type { ClaimedDelivery, MessageRecord } from "../storage/types.js";
import { ProtoSink } from "./proto-sink.js";

/**
 * Deliveries written from a message's bytes, encoded once.
 *
 * A message goes to many deliveries: one per recipient of a topic or broadcast, and one more per
 * redelivery. Building and encoding an acb.v1.Message for each cost more than everything else a
 * delivery did, so the protobuf encoding of each stored record is kept beside it (a WeakMap, so
 * it lives exactly as long as the record: the memory backend hands the same record object to
 * every recipient and every attempt) and spliced into each Delivery. The encoding is written
 * straight from the record, field by field in field-number order as protobuf-es writes them
 * (no intermediate message objects); the payload bytes are copied only into that encoding.
 *
 * The seam is protobuf-es's unknown fields: a message's `$unknown` entries are written verbatim
 * (tag, then the bytes) after its known fields. The ReceiveResponse is created with only `kind`
 * (field 1) set, and one unknown entry of field 2 (`delivery`) or 6 (`deliveries`) whose bytes are
 * the first Delivery (length, then delivery_id, attempt, the cached message, ack_deadline)
 * followed by the tag and bytes of each further one. Field 1 comes first either way, so the bytes
 * on the wire are those the generated encoder writes for the same response
 * (delivery-encoding.test.ts compares them). JSON clients get the ordinary messages: JSON has no
 * unknown fields.
 */
const encodedMessages = new WeakMap<MessageRecord, Uint8Array>();

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

const sink = new ProtoSink();

/** The acb.v1.Message encoding of a stored record, encoded at its first delivery only. */
export function encodedMessage(m: MessageRecord): Uint8Array {
  let bytes = encodedMessages.get(m);
  if (bytes === undefined) {
    writeMessage(sink.reset(), m);
    bytes = sink.take();
    encodedMessages.set(m, bytes);
  }
  return bytes;
}

/** acb.v1.Message fields, as messageToProto fills them (message-proto.ts). */
function writeMessage(w: ProtoSink, m: MessageRecord): void {
  if (m.id !== "") w.tag(1, LEN).string(m.id);
  if (m.tenantId !== "") w.tag(2, LEN).string(m.tenantId);
  if (m.senderId !== "") w.tag(3, LEN).string(m.senderId);
  // A set oneof member is written even when it holds its type's default.
  const t = m.target;
  if (t.kind === "agent") w.tag(4, LEN).string(t.recipientId);
  else if (t.kind === "topic") w.tag(5, LEN).string(t.topic);
  else w.tag(6, VARINT).varint(1);
  if (m.type !== 0) w.tag(7, VARINT).signed(m.type);
  if (m.kind !== "") w.tag(8, LEN).string(m.kind);
  // payload (acb.v1.Payload), always set
  w.tag(9, LEN).fork();
  if (m.contentType !== "") w.tag(1, LEN).string(m.contentType);
  if (m.data.length > 0) w.tag(2, LEN).bytes(m.data);
  w.join();
  if (m.contextId !== "") w.tag(10, LEN).string(m.contextId);
  if (m.correlationId !== "") w.tag(11, LEN).string(m.correlationId);
  if (m.replyTo !== "") w.tag(12, LEN).string(m.replyTo);
  if (m.conversationId !== "") w.tag(13, LEN).string(m.conversationId);
  if (m.idempotencyKey !== "") w.tag(14, LEN).string(m.idempotencyKey);
  writeStringMap(w, 15, m.metadata);
  writeStringMap(w, 16, m.headers);
  writeTimestamp(w, 17, m.createdAt);
  writeTimestamp(w, 18, m.expiresAt);
}

/** A map<string, string> field: one entry message (key = 1, value = 2) per key, in key order. */
function writeStringMap(w: ProtoSink, no: number, map: Record<string, string>): void {
  for (const key of Object.keys(map)) {
    w.tag(no, LEN)
      .fork()
      .tag(1, LEN)
      .string(key)
      .tag(2, LEN)
      .string(map[key] ?? "")
      .join();
  }
}

/** A google.protobuf.Timestamp field of `ms`, as timestampFromMs (convert.ts's ts) builds it. */
function writeTimestamp(w: ProtoSink, no: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  w.tag(no, LEN).fork();
  if (seconds !== 0) w.tag(1, VARINT).signed(seconds);
  if (nanos !== 0) w.tag(2, VARINT).signed(nanos);
  w.join();
}

/** Delivery field numbers (acb.v1.Delivery) and ReceiveResponse's delivery fields. */
const RESPONSE_DELIVERY = 2;
const RESPONSE_DELIVERIES = 6;

/** One acb.v1.Delivery as a length-delimited field body (its length, then its fields). */
function writeDelivery(w: ProtoSink, d: ClaimedDelivery): void {
  w.fork();
  if (d.deliveryId !== "") w.tag(1, LEN).string(d.deliveryId);
  if (d.attempt !== 0) w.tag(2, VARINT).signed(d.attempt);
  w.tag(3, LEN).bytes(encodedMessage(d.message));
  writeTimestamp(w, 4, d.deadline);
  w.join();
}

/** A DELIVERY response carrying `deliveries` (in `deliveries` when batched, else one in `delivery`). */
export function deliveryResponse(
  deliveries: readonly ClaimedDelivery[],
  batched: boolean,
): ReceiveResponse {
  const res = create(ReceiveResponseSchema, { kind: ReceiveResponse_Kind.DELIVERY });
  if (deliveries.length === 0) return res;
  const no = batched ? RESPONSE_DELIVERIES : RESPONSE_DELIVERY;
  // Messages first: encodedMessage uses the same sink.
  for (const d of deliveries) encodedMessage(d.message);
  // The whole response: kind, then the deliveries field. The unknown entry is a view of it from
  // the first delivery's length on (the encoder writes the entry's first tag itself; each further
  // delivery carries its own).
  sink.reset().tag(1, VARINT).varint(ReceiveResponse_Kind.DELIVERY).tag(no, LEN);
  const first = sink.length;
  for (const [i, d] of deliveries.entries()) {
    if (i > 0) sink.tag(no, LEN);
    writeDelivery(sink, d);
  }
  const bytes = sink.take();
  res.$unknown = [{ no, wireType: LEN, data: bytes.subarray(first) }];
  return withBinary(res, bytes);
}
