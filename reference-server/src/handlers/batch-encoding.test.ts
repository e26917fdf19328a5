import { SendBatchResponseSchema } from "@acb/gen/acb/v1/messaging_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { SendResult } from "../domain/messaging.js";
import { hubError } from "../errors.js";
import { itemError, sendBatchResponse } from "./batch-encoding.js";

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
      expect(toBinary(SendBatchResponseSchema, sendBatchResponse(results, true))).toEqual(expected);
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
