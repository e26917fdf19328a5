import {
  MessageSchema,
  MessageType,
  type ReceiveResponse,
  ReceiveResponse_Kind,
  ReceiveResponseSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { binaryOf } from "../binary-encoding.js";
import type { ClaimedDelivery, MessageRecord } from "../storage/types.js";
import { ts } from "./convert.js";
import { deliveryResponse, encodedMessage } from "./delivery-encoding.js";
import { messageToProto } from "./message-proto.js";

/**
 * A delivery response's bytes: those protobuf-es writes for the message (its unknown fields),
 * which must also be the encoding it carries for the direct paths (binary-encoding.ts).
 */
function encoded(res: ReceiveResponse): Uint8Array {
  const bytes = toBinary(ReceiveResponseSchema, res);
  // (Compared as buffers: toEqual walks large arrays element by element.)
  expect(Buffer.from(binaryOf(ReceiveResponseSchema, res)).equals(bytes)).toBe(true);
  return bytes;
}

/** Deterministic bytes: every value 0-255 appears in any payload of 256 bytes or more. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed * 131) & 0xff;
  return out;
}

function record(i: number, size: number): MessageRecord {
  const targets: MessageRecord["target"][] = [
    { kind: "agent", recipientId: `agent-${i}` },
    { kind: "topic", topic: "orders.eu" },
    { kind: "broadcast" },
  ];
  return {
    tenantId: "t-1",
    id: `msg_${i}`,
    senderId: "sender",
    target: targets[i % 3] as MessageRecord["target"],
    type: i % 2 === 0 ? MessageType.EVENT : MessageType.RESPONSE,
    kind: "k",
    contentType: i % 4 === 0 ? "" : "application/octet-stream",
    data: bytes(size, i),
    contextId: i % 5 === 0 ? "ctx" : "",
    correlationId: i % 2 === 0 ? "" : "corr-é",
    replyTo: "",
    conversationId: "",
    idempotencyKey: i % 3 === 0 ? "key" : "",
    metadata: i % 2 === 0 ? {} : { a: "1", "z-é": "😀", "10": "", "2": "x" },
    headers: { traceparent: "00-abc-def-01" },
    createdAt: 1_700_000_000_123 + i,
    // 0 and whole seconds have fields the encoder leaves out.
    expiresAt: i % 7 === 0 ? 1_800_000_000_000 : 1_800_000_000_001 + i,
  };
}

/** Records with every optional field at its default: nothing but what must be written. */
const bare = (i: number): MessageRecord => ({
  ...record(i, 0),
  target: { kind: "agent", recipientId: "" },
  id: "",
  tenantId: "",
  senderId: "",
  type: 0,
  kind: "",
  headers: {},
  metadata: {},
  createdAt: 0,
  expiresAt: 0,
});

const sizes = [0, 1, 2, 127, 128, 255, 256, 1000, 16_383, 16_384, 65_536, 1_048_576];

describe("deliveries spliced from encoded messages", () => {
  it("writes the bytes the generated encoder writes, single and batched", () => {
    for (const [i, size] of sizes.entries()) {
      const deliveries: ClaimedDelivery[] = [0, 1, 2].map((k) => ({
        deliveryId: `d${i}-${k}`,
        attempt: k + 1,
        // Deadlines with and without a millisecond part, and the epoch itself.
        // Beyond 2^32 seconds and before 1970 too (another varint path).
        deadline:
          [1_700_000_030_000, 1_700_000_030_456, 0, 5_000_000_000_123, -1_500][(i + k) % 5] ?? 0,
        message: record(i + k, size),
      }));
      const proto = (d: ClaimedDelivery) => ({
        deliveryId: d.deliveryId,
        attempt: d.attempt,
        message: messageToProto(d.message),
        ackDeadline: ts(d.deadline),
      });
      for (const d of deliveries) {
        const expected = toBinary(
          ReceiveResponseSchema,
          create(ReceiveResponseSchema, {
            kind: ReceiveResponse_Kind.DELIVERY,
            delivery: proto(d),
          }),
        );
        expect(encoded(deliveryResponse([d], false))).toEqual(expected);
      }
      const batched = toBinary(
        ReceiveResponseSchema,
        create(ReceiveResponseSchema, {
          kind: ReceiveResponse_Kind.DELIVERY,
          deliveries: deliveries.map(proto),
        }),
      );
      const spliced = encoded(deliveryResponse(deliveries, true));
      expect(spliced).toEqual(batched);
      // Read back, every payload is the sent bytes.
      const read = fromBinary(ReceiveResponseSchema, spliced);
      expect(read.deliveries.map((d) => d.message?.payload?.data)).toEqual(
        deliveries.map((d) => d.message.data),
      );
    }
  });

  it("encodes bare records as the generated encoder does", () => {
    for (const i of [0, 1, 2]) {
      const m = bare(i);
      expect(encodedMessage(m)).toEqual(toBinary(MessageSchema, messageToProto(m)));
      const d = { deliveryId: "", attempt: 0, deadline: 0, message: m };
      expect(encoded(deliveryResponse([d], true))).toEqual(
        toBinary(
          ReceiveResponseSchema,
          create(ReceiveResponseSchema, {
            kind: ReceiveResponse_Kind.DELIVERY,
            deliveries: [{ message: messageToProto(m), ackDeadline: ts(0) }],
          }),
        ),
      );
    }
  });

  it("writes long and multi-byte strings as the generated encoder does", () => {
    // Lengths whose varint takes one, two and three bytes, in ASCII and in multi-byte UTF-8
    // (including a lone surrogate, which UTF-8 writes as U+FFFD), in every string field.
    for (const n of [127, 128, 129, 16_383, 16_384, 70_000]) {
      for (const unit of ["a", "é", "😀", "\ud800"]) {
        const text = unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
        const m: MessageRecord = {
          ...record(4, n),
          id: text,
          senderId: `s-${text}`,
          kind: text,
          target: { kind: "topic", topic: text },
          contentType: text,
          correlationId: text,
          replyTo: text,
          conversationId: text,
          idempotencyKey: text,
          contextId: text,
          metadata: { [text]: text, short: "v" },
          headers: { traceparent: text },
        };
        expect(encodedMessage(m)).toEqual(toBinary(MessageSchema, messageToProto(m)));
        const d = { deliveryId: text, attempt: 3, deadline: 1_700_000_030_456, message: m };
        expect(encoded(deliveryResponse([d, d], true))).toEqual(
          toBinary(
            ReceiveResponseSchema,
            create(ReceiveResponseSchema, {
              kind: ReceiveResponse_Kind.DELIVERY,
              deliveries: [d, d].map((x) => ({
                deliveryId: x.deliveryId,
                attempt: x.attempt,
                message: messageToProto(x.message),
                ackDeadline: ts(x.deadline),
              })),
            }),
          ),
        );
      }
    }
  });

  it("encodes a record once, whatever the number of deliveries and attempts", () => {
    const m = record(1, 100);
    const first = encodedMessage(m);
    for (let attempt = 1; attempt <= 3; attempt++) {
      deliveryResponse([{ deliveryId: `d${attempt}`, attempt, deadline: 1, message: m }], false);
      expect(encodedMessage(m)).toBe(first);
    }
    // Another record (e.g. a replayed dead letter with a new expiry) has its own encoding.
    const replayed = { ...m, expiresAt: m.expiresAt + 1 };
    expect(encodedMessage(replayed)).not.toBe(first);
    expect(encodedMessage(replayed)).toEqual(toBinary(MessageSchema, messageToProto(replayed)));
  });
});
