import {
  type Message,
  MessageType,
  type MessagingService,
  type SendRequest,
} from "@acb/gen/acb/v1/messaging_pb";
import type { DescMessage } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import { acbError } from "./acb-error.js";
import type { EncryptOption } from "./e2e/client-e2e.js";
import { autoCodec, codecOf, type PayloadCodec } from "./payload-codec.js";

/** What a message is for. */
export type MessageTypeName = "event" | "command" | "query" | "response";

export const messageTypes: Record<MessageTypeName, MessageType> = {
  event: MessageType.EVENT,
  command: MessageType.COMMAND,
  query: MessageType.QUERY,
  response: MessageType.RESPONSE,
};

const typeNames: Record<MessageType, MessageTypeName> = {
  [MessageType.UNSPECIFIED]: "event",
  [MessageType.EVENT]: "event",
  [MessageType.COMMAND]: "command",
  [MessageType.QUERY]: "query",
  [MessageType.RESPONSE]: "response",
};

/** Options of every send. */
export interface SendOptions<T = unknown> {
  /** Encrypt the payload end to end to these recipients (`false`: in clear despite a client default). */
  encrypt?: EncryptOption;
  /** Default "event" ("query" for request()). */
  type?: MessageTypeName;
  /** A retry with the same key inside the tenant's dedupe window is delivered once. */
  idempotencyKey?: string;
  /** The message this one answers (responses). */
  correlationId?: string;
  /** Where replies should go. */
  replyTo?: string;
  /** The conversation this message belongs to. */
  conversationId?: string;
  /** A context this message refers to. */
  contextId?: string;
  metadata?: Record<string, string>;
  /** Transport headers, e.g. W3C `traceparent`; lowercase keys. */
  headers?: Record<string, string>;
  /** Lifetime; default the tenant's message TTL. */
  ttlMs?: number;
  /** Absolute expiry (instead of ttlMs). */
  expiresAt?: Date;
  /** Encodes the value; default JSON. */
  codec?: PayloadCodec<T>;
  /** Shorthand for `codec: protobufCodec(schema)`. */
  schema?: DescMessage;
}

/** The hub's answer to a send. */
export interface SendResult {
  messageId: string;
  /** True when an earlier send with the same idempotency key was found (nothing new was sent). */
  duplicate: boolean;
}

/** A message as received, with its value decoded. */
export interface InboundMessage<T = unknown> {
  id: string;
  kind: string;
  type: MessageTypeName;
  senderId: string;
  /** How it was addressed. */
  target: { recipientId: string } | { topic: string } | { broadcast: true };
  value: T;
  contentType: string;
  correlationId: string;
  replyTo: string;
  conversationId: string;
  contextId: string;
  metadata: Record<string, string>;
  headers: Record<string, string>;
  createdAt: Date | undefined;
  expiresAt: Date | undefined;
}

export type Target = { recipientId: string } | { topic: string } | { broadcast: true };

/** Builds a SendRequest (as a message init) from the SDK's arguments. */
export function sendRequest<T>(
  target: Target,
  kind: string,
  value: T,
  options: SendOptions<T> = {},
) {
  const codec = codecOf(options);
  const t: SendRequest["target"] =
    "recipientId" in target
      ? { case: "recipientId", value: target.recipientId }
      : "topic" in target
        ? { case: "topic", value: target.topic }
        : { case: "broadcast", value: true };
  const expiry: SendRequest["expiry"] =
    options.expiresAt !== undefined
      ? { case: "expiresAt", value: timestampFromDate(options.expiresAt) }
      : options.ttlMs !== undefined
        ? { case: "ttl", value: durationFromMs(options.ttlMs) }
        : { case: undefined };
  return {
    target: t,
    type: messageTypes[options.type ?? "event"],
    kind,
    payload: { contentType: codec.contentType, data: codec.encode(value) },
    contextId: options.contextId ?? "",
    correlationId: options.correlationId ?? "",
    replyTo: options.replyTo ?? "",
    conversationId: options.conversationId ?? "",
    idempotencyKey: options.idempotencyKey ?? "",
    metadata: options.metadata ?? {},
    headers: options.headers ?? {},
    expiry,
  };
}

export function inboundMessage<T>(
  m: Message,
  codec: PayloadCodec<T> = autoCodec as PayloadCodec<T>,
): InboundMessage<T> {
  const t = m.target;
  const target: Target =
    t.case === "recipientId"
      ? { recipientId: t.value }
      : t.case === "topic"
        ? { topic: t.value }
        : { broadcast: true };
  const contentType = m.payload?.contentType ?? "";
  return {
    id: m.id,
    kind: m.kind,
    type: typeNames[m.type],
    senderId: m.senderId,
    target,
    value: codec.decode(m.payload?.data ?? new Uint8Array(), contentType),
    contentType,
    correlationId: m.correlationId,
    replyTo: m.replyTo,
    conversationId: m.conversationId,
    contextId: m.contextId,
    metadata: m.metadata,
    headers: m.headers,
    createdAt: m.createdAt && timestampDate(m.createdAt),
    expiresAt: m.expiresAt && timestampDate(m.expiresAt),
  };
}

/** Options of request(). */
export interface RequestOptions<T = unknown>
  extends Omit<
    SendOptions<T>,
    "correlationId" | "replyTo" | "idempotencyKey" | "ttlMs" | "expiresAt"
  > {
  /** How long the hub waits for the reply. Default 30,000 ms, at most 300,000. */
  timeoutMs?: number;
  /** Decodes the reply; default by media type. */
  replyCodec?: PayloadCodec<unknown>;
  signal?: AbortSignal;
  /** Request headers of this call only. Default: none. */
  callHeaders?: HeadersInit;
}

/**
 * A request on its way: created by request(), it is already sent. It is a promise of the reply,
 * so `await client.request(...)` is the reply (or fails with Code.DeadlineExceeded after the
 * timeout); keep it unawaited for an asynchronous exchange and await it later.
 */
export interface RequestFuture<R = unknown> extends Promise<InboundMessage<R>> {
  /** The reply: the same promise (for code written against earlier versions). */
  wait(): Promise<InboundMessage<R>>;
}

export function startRequest<T, R>(
  messaging: Client<typeof MessagingService>,
  recipientId: string,
  kind: string,
  value: T,
  options: RequestOptions<T> = {},
): RequestFuture<R> {
  const codec = codecOf(options);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const call = messaging
    .request(
      {
        recipientId,
        type: messageTypes[options.type ?? "query"],
        kind,
        payload: { contentType: codec.contentType, data: codec.encode(value) },
        contextId: options.contextId ?? "",
        conversationId: options.conversationId ?? "",
        metadata: options.metadata ?? {},
        headers: options.headers ?? {},
        timeout: durationFromMs(timeoutMs),
      },
      // The hub enforces the timeout; the client allows a little more for the answer to travel.
      {
        timeoutMs: timeoutMs + 5_000,
        ...(options.signal && { signal: options.signal }),
        ...(options.callHeaders && { headers: options.callHeaders }),
      },
    )
    .then((res) => {
      if (!res.reply) throw acbError(Code.Internal, "hub answered Request without a reply");
      return inboundMessage(res.reply, options.replyCodec) as InboundMessage<R>;
    });
  // Callers may wait later (asynchronous conversations); keep an early failure from being unhandled.
  call.catch(() => {});
  return Object.assign(call, { wait: () => call });
}
