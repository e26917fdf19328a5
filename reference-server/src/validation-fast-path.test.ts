import {
  AppendChunkRequestSchema,
  UploadChunksRequestSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import {
  AckRequestSchema,
  MessageType,
  SendBatchRequestSchema,
  type SendRequest,
  SendRequestSchema,
  SendStreamRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { HeartbeatRequestSchema } from "@acb/gen/acb/v1/registry_pb";
import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createValidator } from "@bufbuild/protovalidate";
import { describe, expect, it } from "vitest";
import { certainlyValid } from "./validation-fast-path.js";

const validator = createValidator();
const valid = (schema: DescMessage, m: Message) => validator.validate(schema, m).kind === "valid";

/** A small deterministic generator (mulberry32), so a failure can be reproduced. */
function rng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
}

const x = (n: number, c = "x") => c.repeat(n);
// Values at and around every rule's edges: lengths, patterns, non-ASCII (code points vs UTF-16).
const ids = [
  "a",
  "A-1",
  "a.b:c@d_e-f",
  x(128),
  x(129),
  "",
  "-a",
  "a b",
  "é",
  "a\n",
  "😀",
  x(64, "😀"),
];
const optionalIds = ["", ...ids];
const topics = [
  "a",
  "orders.eu.created",
  "a..b",
  ".a",
  "a.",
  "a*",
  "a.>",
  Array(16).fill("s").join("."),
  Array(17).fill("s").join("."),
  x(255),
  x(256),
  "é",
];
const kinds = ["k", "a/b:c.d_e-f", "/a", "", x(128), x(129), "a b", "é", "k\n"];
const types = [0, 1, 2, 3, 4, 5, 99, -1];
const freeText = ["", "c", x(128), x(129), x(128, "é"), x(64, "😀"), x(65, "😀")];
const maps: Record<string, string>[] = [
  {},
  { k: "v" },
  { "": "v" },
  { [x(128)]: "v" },
  { [x(129)]: "v" },
  { k: x(1024) },
  { k: x(1025) },
  { k: x(1024, "é") },
  Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v"])),
  Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])),
  { traceparent: "00-abc-def-01" },
  { Trace: "x" },
  { "a b": "" },
  { "x-é": "" },
];
const payloads = [
  undefined,
  { contentType: "application/json", data: new Uint8Array([1, 2, 3]) },
  { contentType: x(255), data: new Uint8Array(1_048_576) },
  { contentType: x(256), data: new Uint8Array() },
  { contentType: "", data: new Uint8Array(1_048_577) },
];
const targets: SendRequest["target"][] = [
  ...ids.map((value) => ({ case: "recipientId" as const, value })),
  ...topics.map((value) => ({ case: "topic" as const, value })),
  { case: "broadcast", value: true },
  { case: "broadcast", value: false },
  { case: undefined },
];
const expiries: SendRequest["expiry"][] = [
  { case: undefined },
  { case: "ttl", value: durationFromMs(1000) },
  { case: "ttl", value: durationFromMs(0) },
  { case: "expiresAt", value: timestampFromMs(Date.now() - 1000) },
];

function randomSend(pick: ReturnType<typeof rng>, plain: boolean): SendRequest {
  // `plain` draws every field from its valid values most of the time, so both answers occur.
  const p = <T>(all: readonly T[], good: readonly T[]) => pick(plain ? good : all);
  return create(SendRequestSchema, {
    target: p(targets, [
      targets[0],
      targets[1],
      targets[12],
      targets[13],
    ] as SendRequest["target"][]),
    type: p(types, [0, 1, 2, 3, 4]),
    kind: p(kinds, ["k", "a/b:c.d_e-f", x(128)]),
    payload: p(payloads, payloads.slice(0, 3)),
    contextId: p(optionalIds, ["", "ctx-1"]),
    correlationId: p(freeText, ["", "c", x(64, "😀")]),
    replyTo: p(optionalIds, ["", "a"]),
    conversationId: p(optionalIds, ["", "conv-1"]),
    idempotencyKey: p(freeText, ["", "key-1"]),
    metadata: p(maps, [{}, { k: "v" }]),
    headers: p(maps, [{}, { traceparent: "00-abc-def-01" }]),
    expiry: p(expiries, [{ case: undefined }]),
  });
}

describe("validation fast path", () => {
  it("accepts a request only when protovalidate accepts it too (generated Send requests)", () => {
    const pick = rng(20261127);
    let fast = 0;
    for (let i = 0; i < 20_000; i++) {
      const m = randomSend(pick, i % 2 === 0);
      if (!certainlyValid(m)) continue;
      fast++;
      if (!valid(SendRequestSchema, m)) {
        // Described without the payload bytes (up to 1 MiB) only when it fails.
        const { payload, ...rest } = m;
        expect.fail(
          `accepted an invalid request: ${JSON.stringify({ ...rest, payloadBytes: payload?.data.length, contentTypeLength: payload?.contentType.length }, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
        );
      }
    }
    // The fast path must carry most well-formed requests, or it saves nothing.
    expect(fast).toBeGreaterThan(2_000);
  });

  it("takes the ordinary requests an SDK sends without protovalidate", () => {
    const send = create(SendRequestSchema, {
      target: { case: "recipientId", value: "agent-b" },
      kind: "order-created",
      payload: { contentType: "application/json", data: new TextEncoder().encode("{}") },
      idempotencyKey: "k-1",
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    });
    expect(certainlyValid(send)).toBe(true);
    expect(certainlyValid(create(SendBatchRequestSchema, { requests: [send, send] }))).toBe(true);
    expect(
      certainlyValid(create(SendStreamRequestSchema, { item: { case: "send", value: send } })),
    ).toBe(true);
    expect(certainlyValid(create(AckRequestSchema, { deliveryIds: ["d1", "d2"] }))).toBe(true);
  });

  it("leaves every invalid or unusual request to protovalidate", () => {
    const ok = create(SendRequestSchema, { target: { case: "topic", value: "a.b" }, kind: "k" });
    expect(certainlyValid(ok)).toBe(true);
    const variants: SendRequest[] = [
      { ...ok, target: { case: "topic", value: "a..b" } },
      { ...ok, kind: "" },
      { ...ok, type: MessageType.RESPONSE }, // a RESPONSE needs a correlation id and a recipient
      { ...ok, type: 7 as MessageType },
      { ...ok, expiry: { case: "ttl", value: durationFromMs(1000) } },
      { ...ok, headers: { Upper: "x" } },
    ];
    for (const v of variants) expect(certainlyValid(v)).toBe(false);
    expect(certainlyValid(create(SendBatchRequestSchema, { requests: [] }))).toBe(false);
    expect(
      certainlyValid(
        create(SendBatchRequestSchema, { requests: [ok, variants[0] as SendRequest] }),
      ),
    ).toBe(false);
  });

  it("accepts an Ack only when protovalidate accepts it too", () => {
    const pick = rng(7);
    const idPool = ["d1", "d2", "d3", "", x(128), x(129), x(64, "😀"), "é"];
    let fast = 0;
    for (let i = 0; i < 5_000; i++) {
      const n = pick([0, 1, 2, 3, 5, 1000, 1001]);
      const deliveryIds =
        n >= 1000
          ? Array.from({ length: n }, (_, k) => (k === 0 ? pick(idPool) : `d${k}`))
          : Array.from({ length: n }, () => pick(idPool));
      const m = create(AckRequestSchema, { deliveryIds });
      if (!certainlyValid(m)) continue;
      fast++;
      expect(valid(AckRequestSchema, m), deliveryIds.join(",")).toBe(true);
    }
    expect(fast).toBeGreaterThan(500);
  });

  it("accepts a Heartbeat only when protovalidate accepts it too", () => {
    const pick = rng(13);
    const ids = ["a", "agent-1", "", x(128), x(129), x(64, "😀"), x(65, "😀"), x(128, "é"), "é"];
    let fast = 0;
    for (let i = 0; i < 2_000; i++) {
      const m = create(HeartbeatRequestSchema, { agentId: pick(ids), sessionId: pick(ids) });
      if (!certainlyValid(m)) continue;
      fast++;
      expect(valid(HeartbeatRequestSchema, m), `${m.agentId} ${m.sessionId}`).toBe(true);
    }
    expect(fast).toBeGreaterThan(500);
    // What the SDK sends.
    expect(
      certainlyValid(create(HeartbeatRequestSchema, { agentId: "agent-1", sessionId: "ses_01" })),
    ).toBe(true);
    expect(certainlyValid(create(HeartbeatRequestSchema, { agentId: "" }))).toBe(false);
  });

  it("accepts a chunk of an upload only when protovalidate accepts it too", () => {
    const pick = rng(11);
    const datas = [0, 1, 1_048_576, 4_194_304, 4_194_305].map((n) => new Uint8Array(n));
    const sums = [0, 31, 32, 33].map((n) => new Uint8Array(n));
    const chunks = () =>
      pick([
        undefined,
        {
          offset: pick([-1n, 0n, 1n, 1n << 40n]),
          data: pick(datas),
          sha256: pick(sums),
          crc32: pick([undefined, 0, 0xffffffff]),
        },
      ]);
    let fast = 0;
    for (let i = 0; i < 3_000; i++) {
      const upload = create(UploadChunksRequestSchema, {
        uploadId: pick(optionalIds),
        chunk: chunks(),
      });
      const append = create(AppendChunkRequestSchema, {
        uploadId: pick(optionalIds),
        chunk: chunks(),
      });
      for (const [schema, m] of [
        [UploadChunksRequestSchema, upload],
        [AppendChunkRequestSchema, append],
      ] as const) {
        if (!certainlyValid(m)) continue;
        fast++;
        expect(
          valid(schema, m),
          JSON.stringify({ id: m.uploadId, offset: String(m.chunk?.offset) }),
        ).toBe(true);
      }
    }
    expect(fast).toBeGreaterThan(150);
    // What the SDK sends: a CRC-32 chunk, with the upload id in the first message only.
    const chunk = { offset: 0n, data: new Uint8Array(1_048_576), crc32: 7 };
    expect(certainlyValid(create(UploadChunksRequestSchema, { uploadId: "upl_1", chunk }))).toBe(
      true,
    );
    expect(certainlyValid(create(UploadChunksRequestSchema, { chunk }))).toBe(true);
    expect(certainlyValid(create(AppendChunkRequestSchema, { uploadId: "upl_1", chunk }))).toBe(
      true,
    );
    expect(certainlyValid(create(AppendChunkRequestSchema, { chunk }))).toBe(false);
  });
});
