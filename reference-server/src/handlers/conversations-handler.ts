import {
  type Conversation,
  ConversationSchema,
  type ConversationService,
  ConversationState,
} from "@acb/gen/acb/v1/conversations_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Conversations } from "../domain/conversations.js";
import type { ConversationRecord } from "../storage/types.js";
import { callerOf, durationMs, ts, tsOpt } from "./convert.js";
import { messageToProto } from "./message-proto.js";

function conversationToProto(c: ConversationRecord): Conversation {
  return create(ConversationSchema, {
    id: c.id,
    tenantId: c.tenantId,
    mode: c.mode,
    initiatorId: c.initiatorId,
    participants: c.participants,
    state: c.state,
    subject: c.subject,
    metadata: c.metadata,
    ...(c.timeoutMs !== undefined && { timeout: durationFromMs(c.timeoutMs) }),
    // The record keeps its last deadline after the conversation ends; the wire shows none then.
    timeoutAt: c.state === ConversationState.OPEN ? tsOpt(c.timeoutAt) : undefined,
    createdAt: ts(c.createdAt),
    updatedAt: ts(c.updatedAt),
    endedAt: tsOpt(c.endedAt),
    closedBy: c.closedBy,
    closeReason: c.closeReason,
    messageCount: BigInt(c.messageCount),
  });
}

export function createConversationsHandler(
  conversations: Conversations,
): ServiceImpl<typeof ConversationService> {
  return {
    async startConversation(req, ctx) {
      const c = await conversations.start(callerOf(ctx), {
        conversationId: req.conversationId,
        mode: req.mode,
        participants: req.participants,
        subject: req.subject,
        metadata: req.metadata,
        timeoutMs: durationMs(req.timeout),
      });
      return { conversation: conversationToProto(c) };
    },
    async getConversation(req, ctx) {
      return {
        conversation: conversationToProto(
          await conversations.get(callerOf(ctx), req.conversationId),
        ),
      };
    },
    async listConversations(req, ctx) {
      const page = await conversations.list(
        callerOf(ctx),
        { participant: req.participant, state: req.state, mode: req.mode },
        req.pageSize,
        req.pageToken,
      );
      return {
        conversations: page.conversations.map(conversationToProto),
        nextPageToken: page.nextPageToken,
      };
    },
    async closeConversation(req, ctx) {
      return {
        conversation: conversationToProto(
          await conversations.close(callerOf(ctx), req.conversationId, req.reason),
        ),
      };
    },
    async getConversationHistory(req, ctx) {
      const page = await conversations.history(
        callerOf(ctx),
        req.conversationId,
        req.afterMessageId,
        req.pageSize,
        req.pageToken,
      );
      return {
        messages: page.messages.map((m) => messageToProto(m, req.omitPayloads)),
        nextPageToken: page.nextPageToken,
      };
    },
  };
}
