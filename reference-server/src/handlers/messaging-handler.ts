import {
  AckResponseSchema,
  type DeadLetter,
  DeadLetterSchema,
  type MessagingService,
  NackResponseSchema,
  type ReceiveResponse,
  ReceiveResponse_Kind,
  ReceiveResponseSchema,
  type SendRequest,
  SendStreamResponseSchema,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { mayCall } from "../auth/auth-interceptor.js";
import { accessTable } from "../auth/rbac-table.js";
import type { DeliveryEngine, ReceiveItem } from "../domain/delivery.js";
import type { Messaging, SendInput } from "../domain/messaging.js";
import { Code, hubError } from "../errors.js";
import { idleKeepaliveKey } from "../idle-keepalive.js";
import type {
  ClaimedDelivery,
  DeadLetterRecord,
  MessageRecord,
  SettleOutcome,
} from "../storage/types.js";
import { flatMapStream } from "../stream-iterators.js";
import {
  itemError,
  sendBatchResponse,
  settleResponse,
  streamSendResponse,
  streamSettleResponse,
} from "./batch-encoding.js";
import { callerOf, durationMs, ts } from "./convert.js";
import { deliveryResponse } from "./delivery-encoding.js";
import { messageToProto } from "./message-proto.js";

function sendInput(req: SendRequest): SendInput {
  const t = req.target;
  const target: MessageRecord["target"] =
    t.case === "recipientId"
      ? { kind: "agent", recipientId: t.value }
      : t.case === "topic"
        ? { kind: "topic", topic: t.value }
        : { kind: "broadcast" };
  return {
    target,
    type: req.type,
    kind: req.kind,
    contentType: req.payload?.contentType ?? "",
    data: req.payload?.data ?? new Uint8Array(),
    contextId: req.contextId,
    correlationId: req.correlationId,
    replyTo: req.replyTo,
    conversationId: req.conversationId,
    idempotencyKey: req.idempotencyKey,
    metadata: req.metadata,
    headers: req.headers,
    expiresAt: req.expiry.case === "expiresAt" ? timestampMs(req.expiry.value) : undefined,
    ttlMs: req.expiry.case === "ttl" ? durationMs(req.expiry.value) : undefined,
  };
}

const settleStatus: Record<SettleOutcome, SettleStatus> = {
  ok: SettleStatus.OK,
  stale: SettleStatus.STALE,
  "not-found": SettleStatus.NOT_FOUND,
};

function deadLetterToProto(d: DeadLetterRecord, omitPayload = false): DeadLetter {
  return create(DeadLetterSchema, {
    id: d.id,
    agentId: d.agentId,
    message: messageToProto(d.message, omitPayload),
    reason: d.reason,
    attempts: d.attempts,
    lastError: d.lastError,
    deadLetteredAt: ts(d.deadLetteredAt),
  });
}

function deliveryToProto(d: ClaimedDelivery) {
  return {
    deliveryId: d.deliveryId,
    attempt: d.attempt,
    message: messageToProto(d.message),
    ackDeadline: ts(d.deadline),
  };
}

/** The status of each id of an Ack or Nack, in request order. */
const statusesOf = (ids: readonly string[], outcomes: readonly SettleOutcome[]) =>
  ids.map((_, i) => settleStatus[outcomes[i] ?? "not-found"]);

/** Whether a call's messages are binary (not application/connect+json, application/grpc+json, …). */
const isBinary = (ctx: HandlerContext) =>
  !/json/i.test(ctx.requestHeader.get("content-type") ?? "");

const KEEPALIVE = create(ReceiveResponseSchema, { kind: ReceiveResponse_Kind.KEEPALIVE });

/** The Receive responses for one item of the delivery stream. */
function receiveResponses(item: ReceiveItem, batched: boolean, binary: boolean): ReceiveResponse[] {
  if (item.kind === "ready") {
    return [
      create(ReceiveResponseSchema, {
        kind: ReceiveResponse_Kind.READY,
        streamId: item.streamId,
        maxInFlight: item.maxInFlight,
        ackDeadline: durationFromMs(item.ackDeadlineMs),
      }),
    ];
  }
  if (item.kind === "keepalive") return [KEEPALIVE];
  if (batched) {
    return [
      binary
        ? deliveryResponse(item.deliveries, true)
        : create(ReceiveResponseSchema, {
            kind: ReceiveResponse_Kind.DELIVERY,
            deliveries: item.deliveries.map(deliveryToProto),
          }),
    ];
  }
  return item.deliveries.map((d) =>
    binary
      ? deliveryResponse([d], false)
      : create(ReceiveResponseSchema, {
          kind: ReceiveResponse_Kind.DELIVERY,
          delivery: deliveryToProto(d),
        }),
  );
}

/** The RPCs whose rules a SendStream item follows, by the item's kind. */
const STREAM_SEND = "acb.v1.MessagingService/Send";
const STREAM_ACK = "acb.v1.MessagingService/Ack";
const STREAM_NACK = "acb.v1.MessagingService/Nack";

export function createMessagingHandler(
  messaging: Messaging,
  delivery: DeliveryEngine,
): ServiceImpl<typeof MessagingService> {
  return {
    async send(req, ctx) {
      return messaging.send(callerOf(ctx), sendInput(req));
    },
    async sendBatch(req, ctx) {
      const results = await messaging.sendBatch(callerOf(ctx), req.requests.map(sendInput));
      return sendBatchResponse(results, isBinary(ctx));
    },
    async *sendStream(requests, ctx) {
      const identity = callerOf(ctx);
      const binary = isBinary(ctx);
      for await (const req of requests) {
        const item = req.item;
        const procedure =
          item.case === "send" ? STREAM_SEND : item.case === "ack" ? STREAM_ACK : STREAM_NACK;
        try {
          if (!mayCall(identity, accessTable[procedure])) {
            throw hubError(
              Code.PermissionDenied,
              `${procedure} needs a role that "${identity.agentId}" does not hold`,
            );
          }
          if (item.case === "send") {
            const sent = await messaging.send(identity, sendInput(item.value));
            yield streamSendResponse(req.ref, sent, binary);
          } else if (item.case === "ack") {
            const ids = item.value.deliveryIds;
            const statuses = statusesOf(ids, await delivery.ack(identity, ids));
            yield streamSettleResponse(req.ref, "ack", ids, statuses, binary);
          } else if (item.case === "nack") {
            const n = item.value;
            const outcomes = await delivery.nack(
              identity,
              n.deliveryIds,
              durationMs(n.redeliverDelay) ?? 0,
              n.deadLetter,
              n.error,
            );
            yield streamSettleResponse(
              req.ref,
              "nack",
              n.deliveryIds,
              statusesOf(n.deliveryIds, outcomes),
              binary,
            );
          }
        } catch (err) {
          yield create(SendStreamResponseSchema, {
            ref: req.ref,
            result: { case: "error", value: itemError(err) },
          });
        }
      }
    },
    async request(req, ctx) {
      const { requestId, reply } = await messaging.request(
        callerOf(ctx),
        {
          target: { kind: "agent", recipientId: req.recipientId },
          type: req.type,
          kind: req.kind,
          contentType: req.payload?.contentType ?? "",
          data: req.payload?.data ?? new Uint8Array(),
          contextId: req.contextId,
          conversationId: req.conversationId,
          metadata: req.metadata,
          headers: req.headers,
        },
        durationMs(req.timeout) ?? 30_000,
        ctx.signal,
      );
      return { requestMessageId: requestId, reply: messageToProto(reply) };
    },
    async subscribeTopic(req, ctx) {
      const { sub, created } = await messaging.subscribeTopic(callerOf(ctx), req.pattern);
      return {
        subscription: { pattern: sub.pattern, agentId: sub.agentId, createdAt: ts(sub.createdAt) },
        created,
      };
    },
    async unsubscribeTopic(req, ctx) {
      await messaging.unsubscribeTopic(callerOf(ctx), req.pattern);
      return {};
    },
    async listTopicSubscriptions(req, ctx) {
      const page = await messaging.listTopicSubscriptions(
        callerOf(ctx),
        req.pageSize,
        req.pageToken,
      );
      return {
        subscriptions: page.subscriptions.map((s) => ({
          pattern: s.pattern,
          agentId: s.agentId,
          createdAt: ts(s.createdAt),
        })),
        nextPageToken: page.nextPageToken,
      };
    },
    receive(req, ctx) {
      // Binary streams get each message's bytes encoded once (delivery-encoding.ts); JSON
      // streams (application/connect+json, application/grpc+json, …) the generated messages.
      // The domain's stream is mapped without a generator of its own (stream-iterators.ts): an
      // open stream would hold that generator's frame for its whole life.
      // Where the transport writes keepalives itself, the domain's stream sends none.
      const keepIdle = ctx.values.get(idleKeepaliveKey);
      keepIdle?.(delivery.keepaliveMs, KEEPALIVE);
      let binary = true;
      return flatMapStream(
        () => {
          binary = isBinary(ctx);
          return delivery.receive(callerOf(ctx), req.maxInFlight, ctx.signal, {
            keepalive: keepIdle === undefined,
          });
        },
        (item) => receiveResponses(item, req.batchDeliveries, binary),
      );
    },
    async ack(req, ctx) {
      const outcomes = await delivery.ack(callerOf(ctx), req.deliveryIds);
      return settleResponse(
        AckResponseSchema,
        req.deliveryIds,
        statusesOf(req.deliveryIds, outcomes),
        isBinary(ctx),
      );
    },
    async nack(req, ctx) {
      const outcomes = await delivery.nack(
        callerOf(ctx),
        req.deliveryIds,
        durationMs(req.redeliverDelay) ?? 0,
        req.deadLetter,
        req.error,
      );
      return settleResponse(
        NackResponseSchema,
        req.deliveryIds,
        statusesOf(req.deliveryIds, outcomes),
        isBinary(ctx),
      );
    },
    async listDeadLetters(req, ctx) {
      const page = await messaging.listDeadLetters(
        callerOf(ctx),
        req.agentId,
        req.reason,
        req.pageSize,
        req.pageToken,
      );
      return {
        deadLetters: page.deadLetters.map((d) => deadLetterToProto(d, req.omitPayloads)),
        nextPageToken: page.nextPageToken,
      };
    },
    async getDeadLetter(req, ctx) {
      return {
        deadLetter: deadLetterToProto(
          await messaging.getDeadLetter(callerOf(ctx), req.deadLetterId),
        ),
      };
    },
    async replayDeadLetters(req, ctx) {
      const r = await messaging.settleDeadLetters(
        callerOf(ctx),
        "replay",
        req.deadLetterIds,
        req.all,
        req.agentId,
      );
      return { replayedCount: BigInt(r.count), notFoundIds: r.notFound };
    },
    async purgeDeadLetters(req, ctx) {
      const r = await messaging.settleDeadLetters(
        callerOf(ctx),
        "purge",
        req.deadLetterIds,
        req.all,
        req.agentId,
      );
      return { purgedCount: BigInt(r.count), notFoundIds: r.notFound };
    },
  };
}
