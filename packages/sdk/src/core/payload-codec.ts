import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { acbError } from "./acb-error.js";

/** How a value is turned into payload bytes and back. */
export type PayloadCodec<T> = {
  /** The media type written with the bytes. */
  contentType: string;
  encode(value: T): Uint8Array;
  decode(data: Uint8Array, contentType: string): T;
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** JSON, the default: any JSON-serialisable value as UTF-8 "application/json". */
export const jsonCodec: PayloadCodec<unknown> = {
  contentType: "application/json",
  encode: (value) => textEncoder.encode(JSON.stringify(value)),
  decode: (data) => (data.length === 0 ? undefined : JSON.parse(textDecoder.decode(data))),
};

/** Raw bytes, passed through untouched as "application/octet-stream". */
export const bytesCodec: PayloadCodec<Uint8Array> = {
  contentType: "application/octet-stream",
  encode: (value) => value,
  decode: (data) => data,
};

/** A protobuf message of `schema`, in the binary wire format. */
export function protobufCodec<Desc extends DescMessage>(
  schema: Desc,
): PayloadCodec<MessageShape<Desc>> {
  const contentType = `application/x-protobuf; messageType=${schema.typeName}`;
  return {
    contentType,
    encode: (value) => toBinary(schema, value),
    decode(data, actual) {
      if (actual !== contentType) {
        throw acbError(
          Code.InvalidArgument,
          `payload is "${actual}", not a ${schema.typeName} message`,
        );
      }
      return fromBinary(schema, data);
    },
  };
}

/**
 * Decodes by the payload's own media type: JSON for application/json (and +json), bytes otherwise.
 * Used when the reader names no codec.
 */
export const autoCodec: PayloadCodec<unknown> = {
  contentType: "application/json",
  encode: jsonCodec.encode,
  decode(data, contentType) {
    const base = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
    if (base === "application/json" || base.endsWith("+json"))
      return jsonCodec.decode(data, contentType);
    return data;
  },
};

/** The codec an options object asks for: `codec`, else `schema` (protobuf), else JSON. */
export function codecOf<T>(
  options: { codec?: PayloadCodec<T>; schema?: DescMessage } | undefined,
): PayloadCodec<T> {
  if (options?.codec) return options.codec;
  if (options?.schema) return protobufCodec(options.schema) as unknown as PayloadCodec<T>;
  return jsonCodec as PayloadCodec<T>;
}
