import {
  type MessageType,
  type SendStreamRequest,
  SendStreamRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
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
      metadata: map(r),
      headers: map(r),
      expiry: r.pick([
        { case: undefined },
        { case: "expiresAt" as const, value: time(r) },
        { case: "ttl" as const, value: time(r) },
      ]),
    },
  };
}

function request(r: R): SendStreamRequest {
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
      const m = request(rng(seed));
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
