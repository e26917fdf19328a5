import { ErrorInfoSchema, RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  ItemErrorSchema,
  type SendBatchResponse,
  SendBatchResponseSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ConnectError } from "@connectrpc/connect";
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
  sink.reset();
  for (const [i, r] of results.entries()) {
    // The encoder writes the first entry's tag; each further result carries its own.
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
  res.$unknown = [{ no: RESULTS, wireType: LEN, data: sink.take() }];
  return res;
}
