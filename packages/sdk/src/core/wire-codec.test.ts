import {
  type MessageType,
  type ReceiveResponse,
  ReceiveResponseSchema,
  SendResponseSchema,
  type SendStreamRequest,
  SendStreamRequestSchema,
  type SendStreamResponse,
  SendStreamResponseSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  decodeReceiveResponse,
  decodeSendStreamResponse,
  fastPathOnly,
  withFastDecoding,
} from "./wire-decode.js";
import { fastEnvelopeWriter, fastSendStreamRequest } from "./wire-encode.js";

/** A small seeded generator, so a failure names the case that reproduces it. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const ascii = (max: number) => {
    let out = "";
    const len = int(max + 1);
    for (let i = 0; i < len; i++) out += String.fromCharCode(int(128));
    return out;
  };
  const maybe = <T>(f: () => T): T | undefined => (next() < 0.5 ? f() : undefined);
  return { next, int, pick, ascii, maybe };
}

type R = ReturnType<typeof rng>;

function timestamp(r: R) {
  return {
    seconds: BigInt(r.pick([0, 1, 59, 1_795_886_411, 2 ** 31 - 1])),
    nanos: r.pick([0, 1, 999_999_999, r.int(1e9)]),
  };
}

function map(r: R): Record<string, string> {
  const out: Record<string, string> = {};
  const n = r.int(4);
  for (let i = 0; i < n; i++) out[r.ascii(12)] = r.ascii(r.pick([20, 300]));
  return out;
}

function message(r: R) {
  const target = r.pick([
    { case: undefined },
    { case: "recipientId" as const, value: r.ascii(30) },
    { case: "topic" as const, value: r.ascii(30) },
    { case: "broadcast" as const, value: true },
    { case: "broadcast" as const, value: false },
  ]);
  return {
    id: r.ascii(40),
    tenantId: r.ascii(20),
    senderId: r.ascii(30),
    target,
    type: r.int(5),
    kind: r.ascii(30),
    payload: r.maybe(() => ({
      contentType: r.ascii(30),
      data: Uint8Array.from({ length: r.pick([0, 1, 100, 300]) }, () => r.int(256)),
    })),
    contextId: r.ascii(20),
    correlationId: r.ascii(20),
    replyTo: r.ascii(20),
    conversationId: r.ascii(20),
    idempotencyKey: r.ascii(20),
    metadata: map(r),
    headers: map(r),
    createdAt: r.maybe(() => timestamp(r)),
    expiresAt: r.maybe(() => timestamp(r)),
  };
}

function delivery(r: R) {
  return {
    deliveryId: r.ascii(40),
    attempt: r.pick([0, 1, 2, 127, 128, 16_384, 2 ** 31 - 1]),
    message: r.maybe(() => message(r)),
    ackDeadline: r.maybe(() => timestamp(r)),
  };
}

function receiveResponse(r: R): ReceiveResponse {
  const init: MessageInitShape<typeof ReceiveResponseSchema> = {
    kind: r.int(4),
    streamId: r.ascii(30),
    maxInFlight: r.pick([0, 1, 1000, 2 ** 31 - 1]),
    deliveries: Array.from({ length: r.pick([0, 0, 1, 3]) }, () => delivery(r)),
  };
  if (r.next() < 0.7) init.delivery = delivery(r);
  if (r.next() < 0.3) init.ackDeadline = timestamp(r);
  return create(ReceiveResponseSchema, init);
}

function sendStreamResponse(r: R): SendStreamResponse {
  const results = () =>
    Array.from({ length: r.int(4) }, () => ({ deliveryId: r.ascii(40), status: r.int(4) }));
  const result = r.pick([
    () => ({ case: undefined }),
    () => ({ case: "send" as const, value: { messageId: r.ascii(40), duplicate: r.next() < 0.5 } }),
    () => ({ case: "ack" as const, value: { results: results() } }),
    () => ({ case: "nack" as const, value: { results: results() } }),
  ])();
  return create(SendStreamResponseSchema, {
    ref: BigInt(r.pick([0, 1, 127, 128, 2 ** 31 - 1])),
    result,
  });
}

/** `bytes` with the fields of `extra` (written by `write`) appended. */
function withField(bytes: Uint8Array, write: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  w.raw(bytes);
  write(w);
  return w.finish();
}

describe("wire-decode: the fast path reads what fromBinary reads", () => {
  it("ReceiveResponse: 2,000 generated messages, each decoded on the fast path as fromBinary decodes it", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const bytes = toBinary(ReceiveResponseSchema, receiveResponse(rng(seed)));
      const expected = fromBinary(ReceiveResponseSchema, bytes);
      const fast = fastPathOnly.receiveResponse(bytes);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(fast, `seed ${seed}`).toStrictEqual(expected);
      expect(decodeReceiveResponse(bytes), `seed ${seed}`).toStrictEqual(expected);
    }
  });

  it("SendStreamResponse: 2,000 generated answers (send, ack, nack, none), each on the fast path", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const bytes = toBinary(SendStreamResponseSchema, sendStreamResponse(rng(seed)));
      const expected = fromBinary(SendStreamResponseSchema, bytes);
      const fast = fastPathOnly.sendStreamResponse(bytes);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(fast, `seed ${seed}`).toStrictEqual(expected);
      expect(decodeSendStreamResponse(bytes), `seed ${seed}`).toStrictEqual(expected);
    }
  });

  it("fields in any order (the hub writes its own order) read as fromBinary reads them", () => {
    // A delivery whose Message fields come last number first, then top-level fields reordered.
    const msg = new BinaryWriter();
    msg.tag(18, WireType.LengthDelimited).bytes(new Uint8Array([8, 5])); // expires_at
    msg.tag(15, WireType.LengthDelimited).bytes(new Uint8Array([10, 1, 107, 18, 1, 118])); // metadata
    msg.tag(9, WireType.LengthDelimited).bytes(new Uint8Array([18, 2, 1, 2])); // payload data
    msg.tag(8, WireType.LengthDelimited).string("lat");
    msg.tag(7, WireType.Varint).int32(2);
    msg.tag(5, WireType.LengthDelimited).string("a.b");
    msg.tag(1, WireType.LengthDelimited).string("msg_1");
    const dlv = new BinaryWriter();
    dlv.tag(3, WireType.LengthDelimited).bytes(msg.finish());
    dlv.tag(1, WireType.LengthDelimited).string("dlv_1");
    const w = new BinaryWriter();
    w.tag(4, WireType.Varint).int32(17); // max_in_flight
    w.tag(2, WireType.LengthDelimited).bytes(dlv.finish());
    w.tag(3, WireType.LengthDelimited).string("s-1"); // stream_id
    w.tag(1, WireType.Varint).int32(2); // kind
    const bytes = w.finish();
    const expected = fromBinary(ReceiveResponseSchema, bytes);
    expect(expected.delivery?.message?.target).toEqual({ case: "topic", value: "a.b" });
    expect(fastPathOnly.receiveResponse(bytes)).toStrictEqual(expected);
  });

  it("a field given twice: the last scalar wins, as in fromBinary", () => {
    const w = new BinaryWriter();
    w.tag(3, WireType.LengthDelimited).string("first");
    w.tag(1, WireType.Varint).int32(1);
    w.tag(3, WireType.LengthDelimited).string("second");
    const bytes = w.finish();
    expect(fastPathOnly.receiveResponse(bytes)).toStrictEqual(
      fromBinary(ReceiveResponseSchema, bytes),
    );
    expect(fastPathOnly.receiveResponse(bytes)?.streamId).toBe("second");
  });
});

describe("wire-decode: what the fast path leaves to fromBinary", () => {
  const base = toBinary(
    ReceiveResponseSchema,
    create(ReceiveResponseSchema, {
      kind: 2,
      delivery: {
        deliveryId: "dlv_1",
        attempt: 1,
        message: message(rng(42)),
        ackDeadline: { seconds: 5n },
      },
    }),
  );
  const answer = toBinary(
    SendStreamResponseSchema,
    create(SendStreamResponseSchema, {
      ref: 5n,
      result: { case: "send", value: { messageId: "msg_1" } },
    }),
  );

  const cases: [string, Uint8Array, "receive" | "send"][] = [
    [
      "a delivery given twice (the generic reader merges the two)",
      new Uint8Array([...base, ...base]),
      "receive",
    ],
    [
      "an unknown field (kept in $unknown)",
      withField(base, (w) => w.tag(99, WireType.Varint).int32(1)),
      "receive",
    ],
    [
      "a non-ASCII string",
      toBinary(ReceiveResponseSchema, create(ReceiveResponseSchema, { streamId: "flux-ü-€-😀" })),
      "receive",
    ],
    [
      "a non-ASCII metadata value",
      toBinary(
        ReceiveResponseSchema,
        create(ReceiveResponseSchema, {
          delivery: { message: { metadata: { k: "é" } } },
        }),
      ),
      "receive",
    ],
    [
      "a negative enum (a ten-byte varint)",
      withField(new Uint8Array(0), (w) => w.tag(1, WireType.Varint).int32(-1)),
      "receive",
    ],
    [
      "a map key __proto__",
      toBinary(
        ReceiveResponseSchema,
        create(ReceiveResponseSchema, {
          delivery: { message: { metadata: JSON.parse('{"__proto__":"x"}') } },
        }),
      ),
      "receive",
    ],
    [
      "an error answer",
      toBinary(
        SendStreamResponseSchema,
        create(SendStreamResponseSchema, {
          ref: 1n,
          result: { case: "error", value: { code: 8, message: "slow down" } },
        }),
      ),
      "send",
    ],
    [
      "a ref past 2^31",
      toBinary(SendStreamResponseSchema, create(SendStreamResponseSchema, { ref: 2n ** 40n })),
      "send",
    ],
    [
      "two results (the generic reader merges or replaces)",
      withField(answer, (w) => w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array([16, 1]))),
      "send",
    ],
  ];

  for (const [name, bytes, kind] of cases) {
    it(`${name}: decoded by fromBinary, with its result`, () => {
      if (kind === "receive") {
        expect(fastPathOnly.receiveResponse(bytes)).toBeUndefined();
        expect(decodeReceiveResponse(bytes)).toStrictEqual(
          fromBinary(ReceiveResponseSchema, bytes),
        );
      } else {
        expect(fastPathOnly.sendStreamResponse(bytes)).toBeUndefined();
        expect(decodeSendStreamResponse(bytes)).toStrictEqual(
          fromBinary(SendStreamResponseSchema, bytes),
        );
      }
    });
  }

  it("a truncated message: the fallback's error, at every cut of a delivery", () => {
    const parse = withFastDecoding(ReceiveResponseSchema, (data) => {
      throw new Error(`fallback ${data.length}`);
    });
    for (let cut = 1; cut < base.length; cut++) {
      const bytes = base.subarray(0, cut);
      let generic: unknown;
      try {
        fromBinary(ReceiveResponseSchema, bytes);
      } catch (e) {
        generic = e;
      }
      if (generic === undefined) {
        // Cut between two fields: a shorter message, read alike on either path.
        expect(decodeReceiveResponse(bytes), `cut ${cut}`).toStrictEqual(
          fromBinary(ReceiveResponseSchema, bytes),
        );
      } else {
        expect(fastPathOnly.receiveResponse(bytes), `cut ${cut}`).toBeUndefined();
        expect(() => parse(bytes), `cut ${cut}`).toThrow(`fallback ${cut}`);
      }
    }
  });

  it("another message type is parsed by the fallback alone", () => {
    const parse = (d: Uint8Array) => fromBinary(SendResponseSchema, d);
    expect(withFastDecoding(SendResponseSchema, parse)).toBe(parse);
    expect(withFastDecoding(SendStreamResponseSchema, parse)).not.toBe(parse);
  });
});

type Init = MessageInitShape<typeof SendStreamRequestSchema>;

function sendMap(r: R): Record<string, string> {
  const out: Record<string, string> = {};
  const n = r.int(4);
  for (let i = 0; i < n; i++) out[r.ascii(12)] = r.ascii(r.pick([0, 20, 300]));
  return out;
}

function sendTime(r: R) {
  return {
    seconds: BigInt(r.pick([0, 1, 127, 128, 1_795_886_411, 2 ** 40, Number.MAX_SAFE_INTEGER])),
    nanos: r.pick([0, 1, 127, 128, 999_999_999]),
  };
}

function sendItem(r: R): Init["item"] {
  return {
    case: "send",
    value: {
      target: r.pick([
        { case: undefined },
        { case: "recipientId" as const, value: r.ascii(40) },
        { case: "topic" as const, value: r.ascii(40) },
        { case: "broadcast" as const, value: true },
        { case: "broadcast" as const, value: false },
      ]),
      type: r.pick([0, 1, 4, 127, 128]) as MessageType,
      kind: r.ascii(30),
      ...(r.next() < 0.8 && {
        payload: {
          contentType: r.ascii(30),
          data: Uint8Array.from({ length: r.pick([0, 1, 100, 127, 128, 20_000]) }, () =>
            r.int(256),
          ),
        },
      }),
      contextId: r.ascii(20),
      correlationId: r.ascii(20),
      replyTo: r.ascii(20),
      conversationId: r.ascii(20),
      idempotencyKey: r.ascii(20),
      metadata: sendMap(r),
      headers: sendMap(r),
      expiry: r.pick([
        { case: undefined },
        { case: "expiresAt" as const, value: sendTime(r) },
        { case: "ttl" as const, value: sendTime(r) },
      ]),
    },
  };
}

function sendStreamRequest(r: R): SendStreamRequest {
  const item: Init["item"] = r.pick([
    () => sendItem(r),
    () => ({
      case: "ack" as const,
      value: { deliveryIds: Array.from({ length: r.pick([0, 1, 3, 200]) }, () => r.ascii(40)) },
    }),
    () => ({ case: undefined }),
  ])();
  return create(SendStreamRequestSchema, {
    ref: BigInt(r.pick([0, 1, 127, 128, 2 ** 31, Number.MAX_SAFE_INTEGER])),
    item: item as never,
  });
}

const writer = fastEnvelopeWriter(SendStreamRequestSchema);

describe("wire-encode: a SendStream item's bytes are toBinary's", () => {
  it("3,000 generated sends and acks, each written on the fast path as toBinary writes it", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const m = sendStreamRequest(rng(seed));
      const expected = toBinary(SendStreamRequestSchema, m);
      const fast = fastSendStreamRequest(m);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(Buffer.from(fast as Uint8Array).equals(expected), `seed ${seed}`).toBe(true);
      // The envelope: flags 0, the length, the bytes.
      const env = writer?.(m) as Uint8Array;
      expect(env[0], `seed ${seed}`).toBe(0);
      expect(Buffer.from(env).readUInt32BE(1), `seed ${seed}`).toBe(expected.length);
      expect(Buffer.from(env.subarray(5)).equals(expected), `seed ${seed}`).toBe(true);
    }
  });

  it("each envelope is a buffer of its own (the writer reuses its scratch space)", () => {
    const a = create(SendStreamRequestSchema, { ref: 1n, item: sendItem(rng(1)) as never });
    const b = create(SendStreamRequestSchema, { ref: 2n, item: sendItem(rng(2)) as never });
    const first = writer?.(a) as Uint8Array;
    const copy = first.slice();
    writer?.(b);
    expect(first).toEqual(copy);
  });

  it("leaves to toBinary what it does not write exactly as toBinary does", () => {
    const base = () =>
      create(SendStreamRequestSchema, { ref: 3n, item: sendItem(rng(9)) as never });
    const send = (m: SendStreamRequest) => {
      if (m.item.case !== "send") throw new Error("not a send");
      return m.item.value;
    };
    const cases: [string, (m: SendStreamRequest) => void][] = [
      [
        "a nack",
        (m) => (m.item = { case: "nack", value: create(SendStreamRequestSchema).item as never }),
      ],
      [
        "unknown fields",
        (m) => (m.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }]),
      ],
      ["a non-ASCII kind", (m) => (send(m).kind = "lat-é")],
      ["a non-ASCII metadata value", (m) => (send(m).metadata = { k: "😀" })],
      ["a metadata value that is not a string", (m) => (send(m).metadata = { k: 5 as never })],
      ["a negative type", (m) => (send(m).type = -1 as MessageType)],
      ["a ref past 2^53", (m) => (m.ref = 2n ** 60n)],
      [
        "a negative ttl",
        (m) =>
          (send(m).expiry = {
            case: "ttl",
            value: { $typeName: "google.protobuf.Duration", seconds: -1n, nanos: 0 },
          }),
      ],
      ["a message missing its item", (m) => delete (m as Partial<SendStreamRequest>).item],
    ];
    for (const [name, change] of cases) {
      const m = base();
      change(m);
      expect(fastSendStreamRequest(m), name).toBeUndefined();
      expect(writer?.(m), name).toBeUndefined();
    }
    // The unchanged message is on the fast path (so each case above is what sent it off it).
    expect(fastSendStreamRequest(base())).toBeDefined();
  });

  it("has no writer for other message types", () => {
    expect(fastEnvelopeWriter({ typeName: "acb.v1.SendRequest" } as never)).toBeUndefined();
    expect(writer).toBeDefined();
  });
});
