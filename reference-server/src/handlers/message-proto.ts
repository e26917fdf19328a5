import { type Message, MessageSchema } from "@acb/gen/acb/v1/messaging_pb";
import { create } from "@bufbuild/protobuf";
import type { MessageRecord } from "../storage/types.js";
import { ts } from "./convert.js";

/** A stored message as the protocol's acb.v1.Message (optionally without its payload bytes). */
export function messageToProto(m: MessageRecord, omitPayload = false): Message {
  const target =
    m.target.kind === "agent"
      ? { case: "recipientId" as const, value: m.target.recipientId }
      : m.target.kind === "topic"
        ? { case: "topic" as const, value: m.target.topic }
        : { case: "broadcast" as const, value: true };
  return create(MessageSchema, {
    id: m.id,
    tenantId: m.tenantId,
    senderId: m.senderId,
    target,
    type: m.type,
    kind: m.kind,
    payload: { contentType: m.contentType, data: omitPayload ? new Uint8Array() : m.data },
    contextId: m.contextId,
    correlationId: m.correlationId,
    replyTo: m.replyTo,
    conversationId: m.conversationId,
    idempotencyKey: m.idempotencyKey,
    metadata: m.metadata,
    headers: m.headers,
    createdAt: ts(m.createdAt),
    expiresAt: ts(m.expiresAt),
  });
}
