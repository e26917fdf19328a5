import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  type AckResponseSchema,
  ItemErrorSchema,
  type NackResponseSchema,
  type SendBatchResponse,
  SendBatchResponseSchema,
  type SendStreamResponse,
  SendStreamResponseSchema,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ConnectError } from "@connectrpc/connect";
import { withBinary } from "../binary-encoding.js";
import type { SendResult } from "../domain/messaging.js";
import { ProtoSink } from "./proto-sink.js";

/** An error of one item (batch or stream) in the shape the unary call would have answered. */
export function itemError(err: unknown) {
  const e = ConnectError.from(err);
  const [retry] = e.findDetails(RetryInfoSchema);
  const [info] = e.findDetails(ErrorInfoSchema);
  return {
    code: e.code,
    message: e.rawMessage,
    ...(retry && { retryInfo: retry }),
    ...(info && { errorInfo: info }),
  };
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;
const RESULTS = 1;
const sink = new ProtoSink();

/**
 * The SendBatch response for `results`. Items refused together share one error (a tenant over
 * its rate refuses every item past what fits with the same one): its ItemError is built and
 * encoded once, not once per item — a flood of refused batches otherwise spent as much of the
 * hub on answering as on reading them. For binary clients the results are written, in order, as
 * the bytes of the `results` field, through protobuf-es's unknown fields (written verbatim after
 * the known ones, of which there are none): the bytes on the wire are those the generated encoder
 * writes for the same results (batch-encoding.test.ts compares them). JSON clients (no unknown
 * fields there) get the ordinary message, its shared errors built once as well.
 */
export function sendBatchResponse(
  results: readonly (SendResult | ConnectError)[],
  binary: boolean,
): SendBatchResponse {
  const errors = new Map<Error, ReturnType<typeof itemError>>();
  const errorOf = (e: Error) => {
    let item = errors.get(e);
    if (!item) {
      item = itemError(e);
      errors.set(e, item);
    }
    return item;
  };
  if (!binary) {
    return create(SendBatchResponseSchema, {
      results: results.map((r) => (r instanceof Error ? { error: errorOf(r) } : r)),
    });
  }
  const res = create(SendBatchResponseSchema);
  if (results.length === 0) return res;
  const encoded = new Map<Error, Uint8Array>();
  // The whole response (its one field); the unknown entry is a view of it past the first tag
  // (the encoder writes that tag itself; each further result carries its own).
  sink.reset().tag(RESULTS, LEN);
  const first = sink.length;
  for (const [i, r] of results.entries()) {
    if (i > 0) sink.tag(RESULTS, LEN);
    sink.fork();
    if (r instanceof Error) {
      let bytes = encoded.get(r);
      if (!bytes) {
        bytes = toBinary(ItemErrorSchema, create(ItemErrorSchema, errorOf(r)));
        encoded.set(r, bytes);
      }
      sink.tag(3, LEN).bytes(bytes);
    } else {
      if (r.messageId !== "") sink.tag(1, LEN).string(r.messageId);
      if (r.duplicate) sink.tag(2, VARINT).varint(1);
    }
    sink.join();
  }
  const bytes = sink.take();
  res.$unknown = [{ no: RESULTS, wireType: LEN, data: bytes.subarray(first) }];
  return withBinary(res, bytes);
}

/** SettleResult fields, and where AckResponse/NackResponse go in a SendStreamResponse. */
const SETTLE_RESULTS = 1;
const STREAM_REF = 1;
const STREAM_RESULT = { ack: 3, nack: 4 } as const;
/** Where a SendResponse goes in a SendStreamResponse. */
const STREAM_SEND = 2;

/** One SettleResult per id (in order), each as a `results` entry with its tag. */
function writeSettleResults(ids: readonly string[], statuses: readonly SettleStatus[]): void {
  for (const [i, id] of ids.entries()) {
    sink.tag(SETTLE_RESULTS, LEN).fork();
    if (id !== "") sink.tag(1, LEN).string(id);
    const status = statuses[i] ?? 0;
    if (status !== 0) sink.tag(2, VARINT).varint(status);
    sink.join();
  }
}

/** The plain results of Ack or Nack: one per id, in request order. */
const settleResultsOf = (ids: readonly string[], statuses: readonly SettleStatus[]) => ({
  results: ids.map((deliveryId, i) => ({
    deliveryId,
    status: statuses[i] ?? SettleStatus.UNSPECIFIED,
  })),
});

/**
 * The answer of Ack or Nack (`schema`): one result per id, in request order. A receiver acks
 * every message it handles, so for binary clients the results are written by hand as SendBatch's
 * are (the same bytes as the generated encoder's, batch-encoding.test.ts).
 */
export function settleResponse<S extends typeof AckResponseSchema | typeof NackResponseSchema>(
  schema: S,
  ids: readonly string[],
  statuses: readonly SettleStatus[],
  binary: boolean,
): MessageShape<S> {
  if (!binary || ids.length === 0) {
    return create(schema, settleResultsOf(ids, statuses) as MessageInitShape<S>);
  }
  const res = create(schema) as MessageShape<S>;
  // The first entry's tag is the encoder's; the unknown entry starts after it.
  sink.reset();
  writeSettleResults(ids, statuses);
  const bytes = sink.take();
  res.$unknown = [{ no: SETTLE_RESULTS, wireType: LEN, data: bytes.subarray(1) }];
  return withBinary(res, bytes);
}

/** The SendStream answer to the ack or nack item `ref` (see {@link settleResponse}). */
export function streamSettleResponse(
  ref: bigint,
  kind: "ack" | "nack",
  ids: readonly string[],
  statuses: readonly SettleStatus[],
  binary: boolean,
): SendStreamResponse {
  if (!binary || ref > BigInt(Number.MAX_SAFE_INTEGER)) {
    return create(SendStreamResponseSchema, {
      ref,
      result: { case: kind, value: settleResultsOf(ids, statuses) },
    });
  }
  // ref (a known field, written first), then the result as an unknown entry after its tag.
  const res = create(SendStreamResponseSchema, { ref });
  const no = STREAM_RESULT[kind];
  sink.reset();
  if (ref !== 0n) sink.tag(STREAM_REF, VARINT).varint(Number(ref));
  sink.tag(no, LEN);
  const body = sink.length;
  sink.fork();
  writeSettleResults(ids, statuses);
  sink.join();
  const bytes = sink.take();
  res.$unknown = [{ no, wireType: LEN, data: bytes.subarray(body) }];
  return withBinary(res, bytes);
}

/**
 * The SendStream answer to the send item `ref`. A sender's every message is answered so, so for
 * binary clients it is written by hand as the ack's is (the same bytes as the generated
 * encoder's, batch-encoding.test.ts).
 */
export function streamSendResponse(
  ref: bigint,
  sent: SendResult,
  binary: boolean,
): SendStreamResponse {
  if (!binary || ref > BigInt(Number.MAX_SAFE_INTEGER)) {
    return create(SendStreamResponseSchema, { ref, result: { case: "send", value: sent } });
  }
  const res = create(SendStreamResponseSchema, { ref });
  sink.reset();
  if (ref !== 0n) sink.tag(STREAM_REF, VARINT).varint(Number(ref));
  sink.tag(STREAM_SEND, LEN);
  const body = sink.length;
  sink.fork();
  if (sent.messageId !== "") sink.tag(1, LEN).string(sent.messageId);
  if (sent.duplicate) sink.tag(2, VARINT).varint(1);
  sink.join();
  const bytes = sink.take();
  res.$unknown = [{ no: STREAM_SEND, wireType: LEN, data: bytes.subarray(body) }];
  return withBinary(res, bytes);
}
