import {
  type ContextService,
  SubscribeContextsResponse_Kind,
  SubscribeContextsResponseSchema,
} from "@acb/gen/acb/v1/contexts_pb";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Contexts } from "../domain/contexts.js";
import { encodeCursor } from "../domain/cursor.js";
import type { HubContext } from "../hub-context.js";
import { callerOf, contextToProto, durationMs, ts } from "./convert.js";

const hasKeys = (m: Record<string, string>) => Object.keys(m).length > 0;

export function createContextsHandler(
  hub: HubContext,
  contexts: Contexts,
): ServiceImpl<typeof ContextService> {
  return {
    async createContext(req, ctx) {
      const created = await contexts.create(callerOf(ctx), {
        contextId: req.contextId,
        type: req.type,
        contentType: req.payload?.contentType ?? "",
        data: req.payload?.data ?? new Uint8Array(),
        metadata: req.metadata,
        schemaVersion: req.schemaVersion,
        access: req.access && { scope: req.access.scope, allowedIds: req.access.allowedIds },
        ttlMs: durationMs(req.ttl),
        sha256: req.sha256,
      });
      return { context: contextToProto(created) };
    },
    async getContext(req, ctx) {
      return { context: contextToProto(await contexts.readable(callerOf(ctx), req.contextId)) };
    },
    async updateContext(req, ctx) {
      const updated = await contexts.update(callerOf(ctx), {
        contextId: req.contextId,
        expectedRevision: Number(req.expectedRevision),
        value: req.payload && { contentType: req.payload.contentType, data: req.payload.data },
        metadata: req.replaceMetadata || hasKeys(req.metadata) ? req.metadata : undefined,
        schemaVersion: req.schemaVersion,
        ttlMs: durationMs(req.ttl),
        access: req.access && { scope: req.access.scope, allowedIds: req.access.allowedIds },
        sha256: req.sha256,
      });
      return { context: contextToProto(updated) };
    },
    async deleteContext(req, ctx) {
      await contexts.delete(callerOf(ctx), req.contextId, Number(req.expectedRevision));
      return {};
    },
    async listContexts(req, ctx) {
      const page = await contexts.list(
        callerOf(ctx),
        {
          ...(req.type !== "" && { type: req.type }),
          ...(req.ownerId !== "" && { ownerId: req.ownerId }),
          ...(hasKeys(req.metadata) && { metadata: req.metadata }),
        },
        req.pageSize,
        req.pageToken,
      );
      return {
        contexts: page.contexts.map((c) => contextToProto(c, req.omitPayloads)),
        nextPageToken: page.nextPageToken,
      };
    },
    async *subscribeContexts(req, ctx) {
      const events = contexts.subscribe(
        callerOf(ctx),
        { types: req.types, metadata: req.metadata, cursor: req.cursor },
        ctx.signal,
      );
      for await (const item of events) {
        const cursor = encodeCursor(hub.epoch, item.seq);
        if (item.kind === "ready") {
          yield create(SubscribeContextsResponseSchema, {
            kind: SubscribeContextsResponse_Kind.READY,
            cursor,
          });
          continue;
        }
        yield create(SubscribeContextsResponseSchema, {
          kind: item.event.kind,
          context: contextToProto(item.event.context, req.omitPayloads),
          cursor,
          time: ts(item.event.time),
        });
      }
    },
  };
}
