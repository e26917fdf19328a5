import {
  AckResponseSchema,
  NackResponseSchema,
  SendBatchResponseSchema,
  SendStreamResponseSchema,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { binaryOf } from "../binary-encoding.js";
import type { SendResult } from "../domain/messaging.js";
import { hubError } from "../errors.js";
import {
  itemError,
  sendBatchResponse,
  settleResponse,
  streamSendResponse,
  streamSettleResponse,
} from "./batch-encoding.js";

/** The response as the generated encoder builds it, each error converted on its own. */
const generic = (results: (SendResult | ConnectError)[]) =>
  create(SendBatchResponseSchema, {
    results: results.map((r) => (r instanceof Error ? { error: itemError(r) } : r)),
  });

const rate = hubError(
  Code.ResourceExhausted,
  "tenant t is over its rate of 10,000 messages a second",
  {
    retryAfterMs: 250,
    limit: "tenant.messages_per_second",
  },
);
const closed = hubError(Code.FailedPrecondition, `conversation "c" is closed: ${"x".repeat(200)}`, {
  reason: "CONVERSATION_CLOSED",
});
const plain = new ConnectError('agent "bob" not found', Code.NotFound);
const ok = (i: number, duplicate = false): SendResult => ({
  messageId: `msg_${"é".repeat(i % 3)}${i}`.padEnd(i % 7 === 0 ? 140 : 20, "0"),
  duplicate,
});

describe("SendBatch responses", () => {
  it("write the bytes the generated encoder writes, whatever the mix of results", () => {
    const cases: (SendResult | ConnectError)[][] = [
      [],
      [ok(1)],
      [rate],
      [ok(1), ok(2, true), { messageId: "", duplicate: false }],
      [closed, plain, rate],
      Array.from({ length: 500 }, (_, i) => (i < 137 ? ok(i, i % 11 === 0) : rate)),
      Array.from({ length: 64 }, (_, i) => [ok(i), rate, closed, plain][i % 4] as SendResult),
    ];
    for (const results of cases) {
      const expected = toBinary(SendBatchResponseSchema, generic(results));
      const res = sendBatchResponse(results, true);
      expect(toBinary(SendBatchResponseSchema, res)).toEqual(expected);
      // The encoding it carries for the direct paths is the same.
      expect(binaryOf(SendBatchResponseSchema, res)).toEqual(expected);
      // JSON clients get the ordinary message.
      expect(sendBatchResponse(results, false)).toEqual(generic(results));
    }
  });

  it("builds a shared error once for all the items it refused", () => {
    let built = 0;
    const counted = Object.create(rate, {
      findDetails: {
        value: (...args: Parameters<ConnectError["findDetails"]>) => {
          built++;
          return rate.findDetails(...args);
        },
      },
    }) as ConnectError;
    const results = Array.from({ length: 300 }, () => counted);
    const res = toBinary(SendBatchResponseSchema, sendBatchResponse(results, true));
    expect(res).toEqual(toBinary(SendBatchResponseSchema, generic(results.map(() => rate))));
    // findDetails is called twice per ItemError built (RetryInfo, ErrorInfo).
    expect(built).toBe(2);
  });
});

describe("Ack and Nack responses", () => {
  const statuses = [
    SettleStatus.OK,
    SettleStatus.STALE,
    SettleStatus.NOT_FOUND,
    SettleStatus.UNSPECIFIED,
  ];
  const idsOf = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      i % 5 === 4 ? "" : `dlv_${"ü".repeat(i % 3)}${i}`.padEnd(i % 9 === 0 ? 128 : 26, "x"),
    );
  const statusesOf = (n: number) =>
    Array.from({ length: n }, (_, i) => statuses[i % 4] as SettleStatus);
  const plain = (ids: string[], st: SettleStatus[]) => ({
    results: ids.map((deliveryId, i) => ({ deliveryId, status: st[i] as SettleStatus })),
  });

  it("write the bytes the generated encoder writes, unary and on SendStream", () => {
    for (const n of [0, 1, 2, 7, 1000]) {
      const ids = idsOf(n);
      const st = statusesOf(n);
      for (const schema of [AckResponseSchema, NackResponseSchema]) {
        const expected = toBinary(schema, create(schema, plain(ids, st)));
        const res = settleResponse(schema, ids, st, true);
        expect(toBinary(schema, res)).toEqual(expected);
        expect(binaryOf(schema, res)).toEqual(expected);
        // JSON clients get the ordinary message.
        expect(settleResponse(schema, ids, st, false)).toEqual(create(schema, plain(ids, st)));
      }
      for (const ref of [0n, 1n, 127n, 128n, 300n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) {
        for (const kind of ["ack", "nack"] as const) {
          const generic = create(SendStreamResponseSchema, {
            ref,
            result: { case: kind, value: plain(ids, st) },
          });
          const expected = toBinary(SendStreamResponseSchema, generic);
          const res = streamSettleResponse(ref, kind, ids, st, true);
          expect(toBinary(SendStreamResponseSchema, res)).toEqual(expected);
          expect(binaryOf(SendStreamResponseSchema, res)).toEqual(expected);
          expect(streamSettleResponse(ref, kind, ids, st, false)).toEqual(generic);
        }
      }
    }
  });
});

describe("SendStream's send answers", () => {
  it("write the bytes the generated encoder writes", () => {
    const sents = [
      { messageId: "msg_01JD8ZK3Q7W2X9Y4V6B5N8M1C0", duplicate: false },
      { messageId: "msg_01JD8ZK3Q7W2X9Y4V6B5N8M1C0", duplicate: true },
      { messageId: "", duplicate: false },
      { messageId: "m".repeat(300), duplicate: true },
    ];
    for (const sent of sents) {
      for (const ref of [0n, 1n, 127n, 128n, 300n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) {
        const generic = create(SendStreamResponseSchema, {
          ref,
          result: { case: "send", value: sent },
        });
        const expected = toBinary(SendStreamResponseSchema, generic);
        const res = streamSendResponse(ref, sent, true);
        expect(toBinary(SendStreamResponseSchema, res)).toEqual(expected);
        expect(binaryOf(SendStreamResponseSchema, res)).toEqual(expected);
        // What the client reads back is the answer itself.
        expect(fromBinary(SendStreamResponseSchema, expected)).toEqual(generic);
        // JSON clients get the ordinary message.
        expect(streamSendResponse(ref, sent, false)).toEqual(generic);
      }
    }
  });
});
