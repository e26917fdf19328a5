import {
  AckRequestSchema,
  type MessageType,
  SendBatchRequestSchema,
  SendRequestSchema,
  SendStreamRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  fastRequestDecoder,
  fastSendBatchRequest,
  fastSendRequest,
  fastSendStreamRequest,
} from "./request-decode.js";

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
  return { next, int, pick, ascii };
}

type R = ReturnType<typeof rng>;
type Init = MessageInitShape<typeof SendStreamRequestSchema>;

function map(r: R): Record<string, string> {
  const out: Record<string, string> = {};
  const n = r.int(4);
  for (let i = 0; i < n; i++) out[r.ascii(12)] = r.ascii(r.pick([0, 20, 300]));
  return out;
}

function time(r: R) {
  return {
    seconds: BigInt(r.pick([0, 1, 127, 128, 1_795_886_411, 2 ** 31 - 1])),
    nanos: r.pick([0, 1, 127, 128, 999_999_999]),
  };
}

function send(r: R): MessageInitShape<typeof SendRequestSchema> {
  return {
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
        data: Uint8Array.from({ length: r.pick([0, 1, 100, 128, 20_000]) }, () => r.int(256)),
      },
    }),
    contextId: r.ascii(20),
    correlationId: r.ascii(20),
    replyTo: r.ascii(20),
    conversationId: r.ascii(20),
    idempotencyKey: r.ascii(20),
    metadata: map(r),
    headers: map(r),
    expiry: r.pick([
      { case: undefined },
      { case: "expiresAt" as const, value: time(r) },
      { case: "ttl" as const, value: time(r) },
    ]),
  };
}

function request(r: R): Uint8Array {
  const item: Init["item"] = r.pick([
    () => ({ case: "send" as const, value: send(r) }),
    () => ({
      case: "ack" as const,
      value: { deliveryIds: Array.from({ length: r.pick([0, 1, 3, 200]) }, () => r.ascii(40)) },
    }),
    () => ({ case: undefined }),
  ])();
  const m = create(SendStreamRequestSchema, {
    ref: BigInt(r.pick([0, 1, 127, 128, 2 ** 31 - 1])),
    item: item as never,
  });
  return toBinary(SendStreamRequestSchema, m);
}

describe("request-decode: a SendStream item reads as fromBinary reads it", () => {
  it("3,000 generated sends and acks, each on the fast path", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const bytes = request(rng(seed));
      const fast = fastSendStreamRequest(bytes);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(fast, `seed ${seed}`).toStrictEqual(fromBinary(SendStreamRequestSchema, bytes));
    }
  });

  it("a payload's data is a view of the envelope's bytes, as fromBinary's is", () => {
    const bytes = toBinary(
      SendStreamRequestSchema,
      create(SendStreamRequestSchema, {
        ref: 1n,
        item: { case: "send", value: { kind: "k", payload: { data: new Uint8Array([1, 2, 3]) } } },
      }),
    );
    const m = fastSendStreamRequest(bytes);
    const data = m?.item.case === "send" ? m.item.value.payload?.data : undefined;
    expect(data?.buffer).toBe(bytes.buffer);
    expect([...(data ?? [])]).toEqual([1, 2, 3]);
  });

  it("fields out of order, and a scalar given twice (the last wins), as fromBinary reads them", () => {
    const inner = new BinaryWriter();
    inner.tag(13, WireType.LengthDelimited).bytes(new Uint8Array([10, 1, 104, 18, 1, 118]));
    inner.tag(5, WireType.LengthDelimited).string("first");
    inner.tag(1, WireType.LengthDelimited).string("agent-1");
    inner.tag(5, WireType.LengthDelimited).string("second");
    const w = new BinaryWriter();
    w.tag(2, WireType.LengthDelimited).bytes(inner.finish());
    w.tag(1, WireType.Varint).uint32(9);
    const bytes = w.finish();
    const expected = fromBinary(SendStreamRequestSchema, bytes);
    expect(expected.item.case === "send" && expected.item.value.kind).toBe("second");
    expect(fastSendStreamRequest(bytes)).toStrictEqual(expected);
  });
});

describe("request-decode: what the fast path leaves to fromBinary", () => {
  const base = toBinary(
    SendStreamRequestSchema,
    create(SendStreamRequestSchema, {
      ref: 3n,
      item: { case: "send", value: send(rng(5)) as never },
    }),
  );
  const withField = (bytes: Uint8Array, write: (w: BinaryWriter) => void) => {
    const w = new BinaryWriter();
    w.raw(bytes);
    write(w);
    return w.finish();
  };
  const cases: [string, Uint8Array][] = [
    ["an unknown field", withField(base, (w) => w.tag(99, WireType.Varint).int32(1))],
    ["an item given twice (merged)", new Uint8Array([...base, ...base])],
    [
      "a nack",
      toBinary(
        SendStreamRequestSchema,
        create(SendStreamRequestSchema, { item: { case: "nack", value: { deliveryIds: ["d"] } } }),
      ),
    ],
    [
      "a non-ASCII kind",
      toBinary(
        SendStreamRequestSchema,
        create(SendStreamRequestSchema, { item: { case: "send", value: { kind: "lat-é" } } }),
      ),
    ],
    [
      "a negative type",
      toBinary(
        SendStreamRequestSchema,
        create(SendStreamRequestSchema, {
          item: { case: "send", value: { type: -1 as MessageType } },
        }),
      ),
    ],
    [
      "a negative ttl",
      toBinary(
        SendStreamRequestSchema,
        create(SendStreamRequestSchema, {
          item: { case: "send", value: { expiry: { case: "ttl", value: { seconds: -1n } } } },
        }),
      ),
    ],
    [
      "a ref past 2^31",
      toBinary(SendStreamRequestSchema, create(SendStreamRequestSchema, { ref: 2n ** 40n })),
    ],
    [
      "a map key __proto__",
      toBinary(
        SendStreamRequestSchema,
        create(SendStreamRequestSchema, {
          item: { case: "send", value: { metadata: JSON.parse('{"__proto__":"x"}') } },
        }),
      ),
    ],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: not on the fast path`, () => {
      expect(fastSendStreamRequest(bytes)).toBeUndefined();
      // And the generic reader reads it (the message is valid protobuf).
      expect(fromBinary(SendStreamRequestSchema, bytes).$typeName).toBe("acb.v1.SendStreamRequest");
    });
  }

  it("a truncated message, at every cut: read alike, or left to fromBinary", () => {
    for (let cut = 1; cut < base.length; cut++) {
      const bytes = base.subarray(0, cut);
      let generic: unknown;
      try {
        generic = fromBinary(SendStreamRequestSchema, bytes);
      } catch {
        generic = undefined;
      }
      const fast = fastSendStreamRequest(bytes);
      if (generic === undefined) expect(fast, `cut ${cut}`).toBeUndefined();
      else if (fast !== undefined) expect(fast, `cut ${cut}`).toStrictEqual(generic);
    }
  });

  it("has decoders for SendStreamRequest, SendRequest and SendBatchRequest only", () => {
    expect(fastRequestDecoder(SendStreamRequestSchema)).toBe(fastSendStreamRequest);
    expect(fastRequestDecoder(SendRequestSchema)).toBe(fastSendRequest);
    expect(fastRequestDecoder(SendBatchRequestSchema)).toBe(fastSendBatchRequest);
    expect(fastRequestDecoder(AckRequestSchema)).toBeUndefined();
  });
});

/** A SendBatch request of 1–40 generated sends (`seed` picks them). */
function batch(seed: number): Uint8Array {
  const r = rng(seed);
  const n = 1 + r.int(40);
  return toBinary(
    SendBatchRequestSchema,
    create(SendBatchRequestSchema, { requests: Array.from({ length: n }, () => send(r)) }),
  );
}

describe("request-decode: a Send and a SendBatch read as fromBinary reads them", () => {
  it("3,000 generated sends, each on the fast path", () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const bytes = toBinary(SendRequestSchema, create(SendRequestSchema, send(rng(seed))));
      const fast = fastSendRequest(bytes);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(fast, `seed ${seed}`).toStrictEqual(fromBinary(SendRequestSchema, bytes));
    }
  });

  it("300 generated batches, each on the fast path, items in order", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const bytes = batch(seed);
      const fast = fastSendBatchRequest(bytes);
      expect(fast, `seed ${seed}`).toBeDefined();
      expect(fast, `seed ${seed}`).toStrictEqual(fromBinary(SendBatchRequestSchema, bytes));
    }
  });

  it("an empty Send and an empty SendBatch (every field at its default)", () => {
    const empty = new Uint8Array(0);
    expect(fastSendRequest(empty)).toStrictEqual(fromBinary(SendRequestSchema, empty));
    expect(fastSendBatchRequest(empty)).toStrictEqual(fromBinary(SendBatchRequestSchema, empty));
  });

  it("each item's payload is a view of the request's bytes, as fromBinary's is", () => {
    const bytes = toBinary(
      SendBatchRequestSchema,
      create(SendBatchRequestSchema, {
        requests: [
          { kind: "a", payload: { data: new Uint8Array([1, 2]) } },
          { kind: "b", payload: { data: new Uint8Array([3]) } },
        ],
      }),
    );
    const m = fastSendBatchRequest(bytes);
    expect(m?.requests.map((s) => s.payload?.data.buffer)).toEqual([bytes.buffer, bytes.buffer]);
    expect(m?.requests.map((s) => [...(s.payload?.data ?? [])])).toEqual([[1, 2], [3]]);
  });

  const base = toBinary(SendRequestSchema, create(SendRequestSchema, send(rng(5))));
  const baseBatch = batch(7);
  const cases: [string, () => unknown, Uint8Array, DescMessage][] = [
    [
      "a Send with an unknown field",
      () => fastSendRequest(new Uint8Array([...base, 0xc8, 0x06, 0x01])),
      new Uint8Array([...base, 0xc8, 0x06, 0x01]),
      SendRequestSchema,
    ],
    [
      "a Send with its payload given twice (merged)",
      () => fastSendRequest(twicePayload()),
      twicePayload(),
      SendRequestSchema,
    ],
    [
      "a SendBatch with an unknown field",
      () => fastSendBatchRequest(new Uint8Array([...baseBatch, 0x10, 0x01])),
      new Uint8Array([...baseBatch, 0x10, 0x01]),
      SendBatchRequestSchema,
    ],
    [
      "a SendBatch item with a non-ASCII kind",
      () => fastSendBatchRequest(nonAsciiBatch()),
      nonAsciiBatch(),
      SendBatchRequestSchema,
    ],
  ];
  for (const [name, fast, bytes, schema] of cases) {
    it(`${name}: not on the fast path`, () => {
      expect(fast()).toBeUndefined();
      // And the generic reader reads it (the message is valid protobuf).
      expect(fromBinary(schema, bytes).$typeName).toBe(schema.typeName);
    });
  }

  it("a truncated Send or SendBatch, at every cut: read alike, or left to fromBinary", () => {
    const all: [Uint8Array, (b: Uint8Array) => unknown, (b: Uint8Array) => unknown][] = [
      [base, fastSendRequest, (b) => fromBinary(SendRequestSchema, b)],
      [baseBatch, fastSendBatchRequest, (b) => fromBinary(SendBatchRequestSchema, b)],
    ];
    for (const [whole, fast, generic] of all) {
      for (let cut = 1; cut < whole.length; cut++) {
        const bytes = whole.subarray(0, cut);
        let expected: unknown;
        try {
          expected = generic(bytes);
        } catch {
          expected = undefined;
        }
        const got = fast(bytes);
        if (expected === undefined) expect(got, `cut ${cut}`).toBeUndefined();
        else if (got !== undefined) expect(got, `cut ${cut}`).toStrictEqual(expected);
      }
    }
  });
});

function twicePayload(): Uint8Array {
  const w = new BinaryWriter();
  w.tag(5, WireType.LengthDelimited).string("k");
  w.tag(6, WireType.LengthDelimited).bytes(new Uint8Array([10, 1, 97]));
  w.tag(6, WireType.LengthDelimited).bytes(new Uint8Array([18, 1, 1]));
  return w.finish();
}

function nonAsciiBatch(): Uint8Array {
  return toBinary(
    SendBatchRequestSchema,
    create(SendBatchRequestSchema, { requests: [{ kind: "ok" }, { kind: "lat-é" }] }),
  );
}
