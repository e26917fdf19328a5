// Large contexts in the SDK: verified, resumable uploads (streamContext) and downloads
// (receiveContextStream) through LargeContextService. See docs/large-contexts.md.

import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  ChunkCheck,
  type LargeContextService,
  UploadMode,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { AcbError, acbError } from "./acb-error.js";
import { type BackoffOptions, backoffDelay, wait } from "./backoff.js";
import { type Chunk, ChunkFeed, knownSize, type StreamSource } from "./chunk-feed.js";
import type { EncryptOption } from "./e2e/client-e2e.js";
import { isRetryable } from "./errors.js";
import {
  type ContextScopeName,
  type SharedContext,
  scopeValues,
  sharedContext,
} from "./records.js";
import type { AsyncSha256Hasher, Sha256Hasher, Sha256Provider } from "./sha256.js";

export type { StreamSource } from "./chunk-feed.js";

/** How far a transfer has come. */
export interface StreamProgress {
  /** Bytes of the object transferred so far (handed to the transport when uploading). */
  bytes: number;
  /** The object's size. */
  totalBytes: number;
  /** bytes / totalBytes, 0 to 1. */
  fraction: number;
  /** Every chunk byte sent or received, counting bytes sent again after a resume. */
  wireBytes: number;
  /** How many times the transfer resumed after a dropped connection. */
  resumes: number;
}

/** Options of {@link AcbClient.streamContext}. */
export interface StreamContextOptions {
  /** Choose the new context's id; default: the hub assigns one. */
  id?: string;
  /** Upload a new revision of this existing context instead of creating one. */
  replaces?: string;
  /** With `replaces`: apply only at this revision (compare-and-set). */
  expectedRevision?: number;
  /** Who may access it. Default "public". */
  scope?: ContextScopeName;
  /** Group names (scope "group") or agent ids (scope "shared"). */
  allowedIds?: string[];
  /** Lifetime in milliseconds, counted from the commit; default: no expiry. */
  ttlMs?: number;
  /** Labels; subscription filters match on them. */
  metadata?: Record<string, string>;
  /** The value's schema version. */
  schemaVersion?: string;
  /** The object's size in bytes; required for stream sources (bytes and Blobs know theirs). */
  size?: number;
  /** Chunk size in bytes, 64 KiB to 4 MiB. Default: the hub's (1 MiB). */
  chunkSize?: number;
  /** Called as chunks go out. */
  onProgress?: (progress: StreamProgress) => void;
  /** Cancels the upload; the hub's session is aborted too. */
  signal?: AbortSignal;
  /** Attempts after a dropped connection before giving up. Default 8. */
  retries?: number;
  /** Backoff between those attempts. */
  backoff?: BackoffOptions;
  /** Encrypt the object end to end to these recipients (`false`: in clear despite a client default). */
  encrypt?: EncryptOption;
}

/** Builds and sends an upload: `client.streamContext(type).fromReader(src).send()`. */
export interface ContextStreamBuilder {
  /** The bytes to upload; `size` is required for streams (see StreamContextOptions.size). */
  fromReader(source: StreamSource, size?: number): ContextStreamBuilder;
  withChunkSize(bytes: number): ContextStreamBuilder;
  onProgress(fn: (progress: StreamProgress) => void): ContextStreamBuilder;
  /** Uploads, verifies and commits; resolves with the new context (its value stays in the hub). */
  send(): Promise<SharedContext<undefined>>;
}

/** Options of {@link AcbClient.receiveContextStream}. */
export interface ReceiveStreamOptions {
  /** First byte to read. Default 0 (then the whole object's checksum is verified too). */
  offset?: number;
  /** Bytes to read from `offset`; default: to the end. */
  length?: number;
  /** Read only this revision (ABORTED if it is no longer current). Default: the current one. */
  revision?: number;
  /** Preferred chunk size, 64 KiB to 4 MiB. Default: the hub's. */
  chunkSize?: number;
  onProgress?: (progress: StreamProgress) => void;
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Attempts after a dropped connection before giving up. Default 8. */
  retries?: number;
  backoff?: BackoffOptions;
  /**
   * Decrypt an end-to-end encrypted object: true requires one, false never decrypts, default:
   * decrypt when the object starts with the encrypted format's magic bytes. Reads of an encrypted
   * object from an offset get the encrypted bytes.
   */
  decrypt?: boolean;
}

/** How the SDK sends upload chunks: one client stream (HTTP/2, Node) or unary calls (fetch). */
export type UploadTransportMode = "stream" | "unary";

export interface LargeContextDeps {
  client: Client<typeof LargeContextService>;
  mode: UploadTransportMode;
  sha256: Sha256Provider;
}

// An upload over a client stream keeps at most this many sent, unverified bytes for re-sending
// after a dropped connection: it bounds the uploader's memory. At half of it the uploader asks
// GetUploadStatus (beside the stream) for the verified offset and forgets what it covers, so the
// stream keeps flowing; full, it waits for that answer (backpressure from the hub's progress).
const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new ConnectError("the transfer was cancelled", Code.Canceled);
}

const reasonOf = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

/** Upload errors worth another attempt: network trouble, and a chunk damaged on the way. */
function retryableUpload(err: unknown): boolean {
  const e = ConnectError.from(err);
  if (e.code === Code.DataLoss) return reasonOf(e) === "CHUNK_CHECKSUM_MISMATCH";
  if (e.code === Code.ResourceExhausted) return false; // a limit: the caller decides
  return isRetryable(e);
}

export function streamContextBuilder(
  deps: LargeContextDeps,
  type: string,
  options: StreamContextOptions = {},
): ContextStreamBuilder {
  let source: StreamSource | undefined;
  const opts: StreamContextOptions = { ...options };
  const builder: ContextStreamBuilder = {
    fromReader(s, size) {
      source = s;
      if (size !== undefined) opts.size = size;
      return builder;
    },
    withChunkSize(bytes) {
      opts.chunkSize = bytes;
      return builder;
    },
    onProgress(fn) {
      opts.onProgress = fn;
      return builder;
    },
    send() {
      if (source === undefined)
        return Promise.reject(
          acbError(Code.FailedPrecondition, "streamContext: call fromReader(source) before send()"),
        );
      // The abort reason a caller gave is theirs to recognise; anything else is an AcbError.
      return uploadContext(deps, type, source, opts).catch((err: unknown) => {
        throw opts.signal?.aborted && err === opts.signal.reason ? err : AcbError.from(err);
      });
    },
  };
  return builder;
}

async function uploadContext(
  deps: LargeContextDeps,
  type: string,
  source: StreamSource,
  o: StreamContextOptions,
): Promise<SharedContext<undefined>> {
  const { client } = deps;
  const size = knownSize(source) ?? o.size;
  if (size === undefined)
    throw acbError(
      Code.InvalidArgument,
      "streamContext: give the size of a stream source (fromReader(source, size) or options.size)",
    );
  if (o.size !== undefined && o.size !== size)
    throw acbError(
      Code.InvalidArgument,
      `streamContext: size ${o.size} differs from the source's ${size} bytes`,
    );
  const signal = o.signal ?? new AbortController().signal;
  if (signal.aborted) throw abortError(signal);
  const access =
    o.scope !== undefined || o.allowedIds !== undefined
      ? { scope: scopeValues[o.scope ?? "public"], allowedIds: o.allowedIds ?? [] }
      : undefined;
  const begun = await client.beginUpload(
    {
      mode: o.replaces !== undefined ? UploadMode.UPDATE : UploadMode.CREATE,
      contextId: o.replaces ?? o.id ?? "",
      type: o.replaces !== undefined ? "" : type,
      totalSize: BigInt(size),
      chunkSize: o.chunkSize ?? 0,
      metadata: o.metadata ?? {},
      schemaVersion: o.schemaVersion ?? "",
      expectedRevision: BigInt(o.expectedRevision ?? 0),
      ...(access && { access }),
      ...(o.ttlMs !== undefined && { ttl: durationFromMs(o.ttlMs) }),
    },
    { signal },
  );
  const upload = begun.upload;
  if (!upload) throw acbError(Code.Internal, "hub answered BeginUpload without an upload");
  const uploadId = upload.id;
  try {
    const whole = deps.sha256.createAsync?.() ?? deps.sha256.create();
    const feed = new ChunkFeed(source, size, upload.chunkSize, deps.sha256, whole);
    const progress: StreamProgress = {
      bytes: 0,
      totalBytes: size,
      fraction: 0,
      wireBytes: 0,
      resumes: 0,
    };
    const sent = (end: number, length: number) => {
      progress.bytes = end;
      progress.fraction = size === 0 ? 1 : end / size;
      progress.wireBytes += length;
      o.onProgress?.({ ...progress });
    };
    let verified = 0;
    let attempt = 0;
    let resume = false;
    while (verified < size) {
      try {
        if (resume) {
          const status = await client.getUploadStatus({ uploadId }, { signal });
          const now = Number(status.upload?.verifiedOffset ?? 0);
          // The hub verified more before the failure: that attempt made progress, so the
          // failures counted against `retries` start again (an unsteady link, not a dead one).
          if (now > verified) attempt = 0;
          verified = now;
          progress.resumes++;
          resume = false;
        }
        const before = verified;
        verified =
          deps.mode === "stream"
            ? await sendBatch(deps, uploadId, feed, verified, signal, sent)
            : await sendUnary(deps, uploadId, feed, verified, signal, sent);
        if (verified > before) attempt = 0;
      } catch (err) {
        if (signal.aborted) throw abortError(signal);
        if (!retryableUpload(err) || attempt >= (o.retries ?? 8)) throw err;
        await wait(backoffDelay(attempt++, o.backoff), signal);
        if (signal.aborted) throw abortError(signal);
        resume = true;
      }
    }
    const digest = await whole.digest();
    for (;;) {
      try {
        const res = await client.commitUpload({ uploadId, sha256: digest }, { signal });
        if (!res.context)
          throw acbError(Code.Internal, "hub answered CommitUpload without a context");
        return sharedContext(res.context) as SharedContext<undefined>;
      } catch (err) {
        // A commit whose answer was lost may be repeated: the hub returns the same result.
        if (signal.aborted) throw abortError(signal);
        if (!isRetryable(err) || attempt >= (o.retries ?? 8)) throw err;
        await wait(backoffDelay(attempt++, o.backoff), signal);
      }
    }
  } catch (err) {
    // Free the hub's session (and our stream slot) now rather than at its idle timeout. Not with
    // `signal`: it may be the one that was aborted.
    await client.abortUpload({ uploadId }).catch(() => {});
    throw err;
  }
}

const wireChunk = (c: Chunk) => ({
  offset: BigInt(c.offset),
  data: c.data,
  sha256: c.sha256,
  ...(c.crc32 !== undefined && { crc32: c.crc32 }),
});

/**
 * Sends the rest of the object over one client stream, keeping at most STREAM_WINDOW_BYTES
 * unverified; returns the hub's verified offset after it.
 */
async function sendBatch(
  deps: LargeContextDeps,
  uploadId: string,
  feed: ChunkFeed,
  from: number,
  signal: AbortSignal,
  sent: (end: number, length: number) => void,
): Promise<number> {
  let asking: Promise<boolean> | undefined;
  /** Asks the hub for its verified offset; true when it moved. */
  const askVerified = () => {
    asking ??= (async () => {
      try {
        const before = feed.keptBytes;
        const status = await deps.client.getUploadStatus({ uploadId }, { signal });
        feed.confirm(Number(status.upload?.verifiedOffset ?? 0));
        return feed.keptBytes < before;
      } finally {
        asking = undefined;
      }
    })();
    return asking;
  };
  async function* requests() {
    let first = true;
    for await (const chunk of feed.from(from)) {
      const length = chunk.data.length;
      if (feed.keptBytes > STREAM_WINDOW_BYTES / 2 && !asking) {
        askVerified().catch(() => {}); // a failure shows in the stream or the next ask
      }
      // Full: wait until the hub has verified enough (it works through the chunks in order).
      for (let idle = 0; feed.keptBytes > STREAM_WINDOW_BYTES; ) {
        if (await askVerified()) idle = 0;
        else await wait(Math.min(2 ** idle++, 50), signal);
        if (signal.aborted) throw abortError(signal);
      }
      yield { uploadId: first ? uploadId : "", chunk: wireChunk(chunk) };
      first = false;
      sent(chunk.offset + length, length);
    }
  }
  const batch = requests();
  let res: Awaited<ReturnType<typeof deps.client.uploadChunks>>;
  try {
    res = await deps.client.uploadChunks(batch, { signal });
  } finally {
    // The transport may still be pulling from a failed stream: wait until that pull is over, so
    // the next attempt is the feed's only reader (a slow source would otherwise be read by both).
    await batch.return(undefined);
    await asking?.catch(() => {});
  }
  const verified = Number(res.upload?.verifiedOffset ?? 0);
  feed.confirm(verified);
  return verified;
}

/** Sends chunks one unary call each (fetch cannot stream a request body); returns the verified offset. */
async function sendUnary(
  deps: LargeContextDeps,
  uploadId: string,
  feed: ChunkFeed,
  from: number,
  signal: AbortSignal,
  sent: (end: number, length: number) => void,
): Promise<number> {
  let verified = from;
  for await (const chunk of feed.from(from)) {
    const res = await deps.client.appendChunk({ uploadId, chunk: wireChunk(chunk) }, { signal });
    verified = Number(res.upload?.verifiedOffset ?? 0);
    feed.confirm(verified);
    sent(chunk.offset + chunk.data.length, chunk.data.length);
  }
  return verified;
}

/**
 * Streams a context's value as a web ReadableStream. Every chunk is checked against its SHA-256;
 * read from offset 0 to the end, the whole object is checked too before the stream closes. A
 * dropped connection resumes at the next unread byte of the same revision.
 */
export function receiveContextStream(
  deps: LargeContextDeps,
  contextId: string,
  o: ReceiveStreamOptions = {},
): ReadableStream<Uint8Array> {
  const { client } = deps;
  const abort = new AbortController();
  const onAbort = () => abort.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  let position = o.offset ?? 0;
  let end: number | undefined;
  let revision = BigInt(o.revision ?? 0);
  let expected: Uint8Array | undefined;
  let whole: Sha256Hasher | AsyncSha256Hasher | undefined;
  let messages: AsyncIterator<{ item: { case: string | undefined; value?: unknown } }> | undefined;
  let attempt = 0;
  const progress: StreamProgress = {
    bytes: 0,
    totalBytes: 0,
    fraction: 0,
    wireBytes: 0,
    resumes: 0,
  };
  const done = () => o.signal?.removeEventListener("abort", onAbort);

  const crc32 = deps.sha256.crc32;
  const open = () => {
    const length = end === undefined ? BigInt(o.length ?? 0) : BigInt(end - position);
    // Reading the whole object (from 0 to the end), its SHA-256 is verified as the chunks pass,
    // so a CRC-32 per chunk is enough against damage on the way; a range gets per-chunk SHA-256.
    const wholeRead = end === undefined ? (o.offset ?? 0) === 0 && !o.length : whole !== undefined;
    const chunkCheck = crc32 && wholeRead ? ChunkCheck.CRC32 : ChunkCheck.SHA256;
    const stream = client.downloadContext(
      {
        contextId,
        offset: BigInt(position),
        length,
        revision,
        chunkSize: o.chunkSize ?? 0,
        chunkCheck,
      },
      { signal: abort.signal },
    );
    return stream[Symbol.asyncIterator]() as typeof messages;
  };

  /** Reads until one chunk is delivered or the stream ends; resumes after network trouble. */
  async function pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      try {
        messages ??= open();
        const next = await (messages as NonNullable<typeof messages>).next();
        if (next.done) {
          if (end === undefined || position < end)
            throw new ConnectError(
              `download of "${contextId}" ended early at ${position}`,
              Code.Unavailable,
            );
          if (whole && expected && !same(await whole.digest(), expected)) {
            throw new ConnectError(
              `context "${contextId}" does not match its sha256 ${hex(expected)}`,
              Code.DataLoss,
            );
          }
          done();
          controller.close();
          return;
        }
        const { item } = next.value;
        if (item.case === "header") {
          const h = item.value as {
            totalSize: bigint;
            sha256: Uint8Array;
            offset: bigint;
            length: bigint;
            context?: { revision: bigint };
          };
          if (end === undefined) {
            end = Number(h.offset + h.length);
            revision = h.context?.revision ?? revision;
            expected = h.sha256;
            progress.totalBytes = end - position;
            if (position === 0 && end === Number(h.totalSize))
              whole = deps.sha256.createAsync?.() ?? deps.sha256.create();
          }
          continue;
        }
        if (item.case === "chunk") {
          const c = item.value as {
            offset: bigint;
            data: Uint8Array;
            sha256: Uint8Array;
            crc32?: number;
          };
          if (Number(c.offset) !== position)
            throw new ConnectError(`chunk at ${c.offset}, expected ${position}`, Code.Internal);
          // A chunk's own SHA-256 when it has one; else its CRC-32, accepted only while the whole
          // object's SHA-256 is being verified too.
          const intact =
            c.sha256.length > 0
              ? same(await deps.sha256.digest(c.data), c.sha256)
              : c.crc32 !== undefined &&
                whole !== undefined &&
                crc32 !== undefined &&
                crc32(c.data) === c.crc32;
          if (!intact) {
            // Damaged on the way: drop it and resume from here.
            messages = undefined;
            throw new ConnectError(
              `chunk at ${position} does not match its checksum`,
              Code.DataLoss,
            );
          }
          whole?.update(c.data);
          position += c.data.length;
          attempt = 0;
          progress.bytes += c.data.length;
          progress.wireBytes += c.data.length;
          progress.fraction = progress.totalBytes === 0 ? 1 : progress.bytes / progress.totalBytes;
          o.onProgress?.({ ...progress });
          controller.enqueue(c.data);
          return;
        }
      } catch (err) {
        messages = undefined;
        const e = ConnectError.from(err);
        const chunkDamaged = e.code === Code.DataLoss && end !== undefined && position < end;
        if (
          abort.signal.aborted ||
          !(isRetryable(e) || chunkDamaged) ||
          e.code === Code.ResourceExhausted ||
          attempt >= (o.retries ?? 8)
        ) {
          done();
          throw abort.signal.aborted
            ? (o.signal?.reason ?? AcbError.from(err))
            : AcbError.from(err);
        }
        await wait(backoffDelay(attempt++, o.backoff), abort.signal);
        progress.resumes++;
      }
    }
  }

  return new ReadableStream<Uint8Array>(
    {
      pull,
      cancel(reason) {
        done();
        abort.abort(reason);
      },
    },
    // One chunk read ahead: enough to overlap the network with the consumer, and bounded.
    { highWaterMark: 1 },
  );
}
