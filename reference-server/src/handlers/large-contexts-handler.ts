import {
  type ContextChunk,
  DownloadContextResponseSchema,
  type LargeContextService,
  type Upload,
  UploadSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ChunkInput, LargeContexts, UploadView } from "../domain/large-contexts.js";
import { Code, hubError } from "../errors.js";
import { releaseRequestBytes } from "../request-bytes.js";
import { callerOf, contextToProto, durationMs, ts } from "./convert.js";

function uploadToProto(u: UploadView): Upload {
  return create(UploadSchema, {
    id: u.id,
    uploaderId: u.uploaderId,
    tenantId: u.tenantId,
    mode: u.mode,
    contextId: u.contextId,
    type: u.type,
    totalSize: BigInt(u.totalSize),
    sha256: u.sha256,
    chunkSize: u.chunkSize,
    verifiedOffset: BigInt(u.verifiedOffset),
    bytesReceived: BigInt(u.bytesReceived),
    state: u.state,
    createdAt: ts(u.createdAt),
    expiresAt: ts(u.expiresAt),
    idleTimeout: durationFromMs(u.idleTimeoutMs),
    committedRevision: BigInt(u.committedRevision),
  });
}

/** A chunk as the domain takes it; validation guaranteed the chunk is present. */
function chunkOf(chunk: ContextChunk | undefined): ChunkInput {
  if (!chunk) throw hubError(Code.InvalidArgument, "chunk is required");
  return {
    offset: Number(chunk.offset),
    data: chunk.data,
    sha256: chunk.sha256,
    crc32: chunk.crc32,
  };
}

export function createLargeContextsHandler(
  large: LargeContexts,
): ServiceImpl<typeof LargeContextService> {
  return {
    async beginUpload(req, ctx) {
      const upload = await large.begin(callerOf(ctx), {
        mode: req.mode,
        contextId: req.contextId,
        type: req.type,
        totalSize: Number(req.totalSize),
        sha256: req.sha256,
        chunkSize: req.chunkSize,
        metadata: req.metadata,
        replaceMetadata: req.replaceMetadata,
        schemaVersion: req.schemaVersion,
        access: req.access && { scope: req.access.scope, allowedIds: req.access.allowedIds },
        ttlMs: durationMs(req.ttl),
        expectedRevision: Number(req.expectedRevision),
      });
      return { upload: uploadToProto(upload) };
    },

    async uploadChunks(requests, ctx) {
      const identity = callerOf(ctx);
      let uploadId = "";
      let last: UploadView | undefined;
      // Chunks are applied one at a time as they arrive; the transport keeps receiving the next
      // ones meanwhile (up to its flow-control window), so the link stays busy, and the next
      // message is read (joined from its frames, decoded, validated) while the current chunk is
      // stored: one message ahead, no more.
      const messages = requests[Symbol.asyncIterator]();
      let ahead = messages.next();
      let finished = false;
      try {
        for (;;) {
          const read = await ahead;
          if (read.done) {
            finished = true;
            break;
          }
          ahead = messages.next();
          ahead.catch(() => {}); // surfaces at the next await; not unhandled when this one fails
          const req = read.value;
          if (uploadId === "") {
            if (req.uploadId === "") {
              throw hubError(
                Code.InvalidArgument,
                "the first message of UploadChunks must name the upload_id",
              );
            }
            uploadId = req.uploadId;
          } else if (req.uploadId !== "" && req.uploadId !== uploadId) {
            throw hubError(
              Code.InvalidArgument,
              `upload_id "${req.uploadId}" differs from "${uploadId}" named earlier in this stream`,
              { reason: "UPLOAD_ID_MISMATCH" },
            );
          }
          try {
            last = await large.appendChunk(identity, uploadId, chunkOf(req.chunk));
          } finally {
            // Nothing reads the chunk's bytes once it is stored or refused: the blob store and
            // the hash thread keep none (BlobStore.append), so its memory may be reused.
            if (req.chunk) releaseRequestBytes(req.chunk.data);
          }
        }
      } finally {
        // Stopped early (a refused chunk): release the request stream, as a for-await would.
        if (!finished) messages.return?.(undefined).catch(() => {});
      }
      if (!last) throw hubError(Code.InvalidArgument, "UploadChunks received no chunk");
      return { upload: uploadToProto(last) };
    },

    async appendChunk(req, ctx) {
      const upload = await large.appendChunk(callerOf(ctx), req.uploadId, chunkOf(req.chunk));
      return { upload: uploadToProto(upload) };
    },

    async getUploadStatus(req, ctx) {
      return { upload: uploadToProto(await large.status(callerOf(ctx), req.uploadId)) };
    },

    async commitUpload(req, ctx) {
      const { context, upload } = await large.commit(callerOf(ctx), req.uploadId, req.sha256);
      return { context: contextToProto(context), upload: uploadToProto(upload) };
    },

    async abortUpload(req, ctx) {
      return { upload: uploadToProto(await large.abort(callerOf(ctx), req.uploadId)) };
    },

    async *downloadContext(req, ctx) {
      const items = large.download(callerOf(ctx), {
        contextId: req.contextId,
        offset: Number(req.offset),
        length: Number(req.length),
        revision: Number(req.revision),
        chunkSize: req.chunkSize,
        chunkCheck: req.chunkCheck,
      });
      for await (const item of items) {
        if (item.kind === "header") {
          const context = contextToProto(item.context, true);
          yield create(DownloadContextResponseSchema, {
            item: {
              case: "header",
              value: {
                context,
                totalSize: BigInt(item.context.size),
                sha256: item.context.sha256,
                offset: BigInt(item.offset),
                length: BigInt(item.length),
                chunkSize: item.chunkSize,
              },
            },
          });
          continue;
        }
        yield create(DownloadContextResponseSchema, {
          item: {
            case: "chunk",
            value: { offset: BigInt(item.offset), data: item.data, ...item.check },
          },
        });
      }
    },
  };
}
