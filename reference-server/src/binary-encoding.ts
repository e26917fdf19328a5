// Responses the hub writes by hand carry their own binary encoding.
//
// A few hot responses (deliveries, SendBatch results, SendStream's ack results) are encoded field
// by field into one reused buffer (handlers/proto-sink.ts) instead of being built as generated
// messages and encoded by protobuf-es. They are still real messages: created from their schema,
// with the hand-written bytes as protobuf-es unknown fields, so any path that encodes them itself
// (the protocol library's, for a call the direct paths do not serve) writes the same bytes. The
// encoding itself rides on the message under a symbol, and the direct paths (server/direct-*.ts)
// write it as it is, without toBinary building it again field by field and copying it once more.
// Nothing between the handler and the socket changes a response message (the interceptors read
// them), so the bytes stay those of the message.

import { type DescMessage, type Message, toBinary } from "@bufbuild/protobuf";

const BINARY = Symbol("acb.binary-encoding");

type Carrier = { [BINARY]?: Uint8Array };

/** `message`, carrying `bytes` as its binary encoding (which must be exactly toBinary's). */
export function withBinary<T extends Message>(message: T, bytes: Uint8Array): T {
  (message as Carrier)[BINARY] = bytes;
  return message;
}

/** The binary encoding of `message`: the one it carries, else toBinary's. */
export function binaryOf(desc: DescMessage, message: Message): Uint8Array {
  return (message as Carrier)[BINARY] ?? toBinary(desc, message);
}
