// Large contexts: upload sessions that receive a value in verified chunks into the blob store and
// commit it as a context revision, and downloads that stream a value from any offset.
//
// The rules are the ones written in proto/acb/v1/large_contexts.proto. Sessions live in the
// backend (UploadSessionStore), so a client may continue an upload through another node or after
// a restart of a durable hub; their expiry is a stored deadline applied by a sweeper. Every chunk
// is checked on arrival and fed into an incremental whole-object hash kept by this process (both
// on a thread of their own, hash-thread.ts); a node that continues a session it did not hash
// hashes the staged bytes once, then goes on incrementally, so a commit never re-reads the object.
// A download's chunk checks, and the whole object's SHA-256 when it reads the whole object, are
// computed on the same thread, a chunk ahead of the one being sent (download-sums.ts).
import { timingSafeEqual } from "node:crypto";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { type ChunkCheck, UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import { type Identity, isAdmin } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, ConnectError, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { Logger } from "../logger.js";
import type { ContextRecord, StorageRefRecord, UploadSessionRecord } from "../storage/types.js";
import { type AccessInput, type Contexts, normaliseAccess } from "./contexts.js";
import { PIECES_HELD, summedPieces } from "./download-sums.js";
import { HashThread, type ObjectHash } from "./hash-thread.js";
import { StagingBudget } from "./staging-budget.js";
import { StreamSlots } from "./stream-slots.js";

/** How long a closed session is remembered (its state answers GetUploadStatus). */
export const CLOSED_UPLOAD_RETENTION_MS = 3_600_000;

export interface BeginInput {
  mode: UploadMode;
  contextId: string;
  type: string;
  totalSize: number;
  /** The whole object's SHA-256, or empty when it will be given at commit. */
  sha256: Uint8Array;
  /** 0: the hub default. */
  chunkSize: number;
  metadata: Record<string, string>;
  replaceMetadata: boolean;
  schemaVersion: string;
  access: AccessInput | undefined;
  ttlMs: number | undefined;
  expectedRevision: number;
}

/** A chunk as received: it carries a sha256 (32 bytes), a crc32, or both. */
export interface ChunkInput {
  offset: number;
  data: Uint8Array;
  /** Empty when the chunk carries only a crc32. */
  sha256: Uint8Array;
  crc32: number | undefined;
}

/** An upload session as the handlers report it (acb.v1.Upload). */
export interface UploadView {
  readonly id: string;
  readonly uploaderId: string;
  readonly tenantId: string;
  readonly mode: UploadMode;
  readonly contextId: string;
  readonly type: string;
  readonly totalSize: number;
  readonly sha256: Uint8Array;
  readonly chunkSize: number;
  readonly verifiedOffset: number;
  readonly bytesReceived: number;
  readonly state: UploadState;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleTimeoutMs: number;
  readonly committedRevision: number;
}

/** What {@link LargeContexts.download} yields: the header once, then the chunks in order. */
export type DownloadItem =
  | {
      kind: "header";
      context: ContextRecord;
      offset: number;
      length: number;
      chunkSize: number;
    }
  | {
      kind: "chunk";
      offset: number;
      /** Valid until the next item is asked for (the hub reuses its read buffers). */
      data: Uint8Array;
      /** The chunk's check, as the request asked: its SHA-256 or its CRC-32. */
      check: { sha256: Uint8Array } | { crc32: number };
    };

export interface DownloadInput {
  contextId: string;
  offset: number;
  /** 0: to the end. */
  length: number;
  /** 0: the current revision. */
  revision: number;
  /** 0: the hub default. */
  chunkSize: number;
  /** The check each chunk carries (UNSPECIFIED: SHA256). */
  chunkCheck: ChunkCheck;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const stateName = (s: UploadState) => `UPLOAD_STATE_${UploadState[s]}`;
const refKey = (ref: StorageRefRecord) => `${ref.backend}:${ref.bucket}/${ref.key}`;

/** How long a download's stream slot is leased before it must be renewed (it renews at half). */
const DOWNLOAD_LEASE_MS = 60_000;
/** The wait a commit that failed for a transient reason suggests before it is retried. */
const COMMIT_RETRY_MS = 1_000;
/** When a sweep that failed (the storage out of reach) runs again. */
const SWEEP_RETRY_MS = 60_000;
/** How many due sessions one sweep reads at a time. */
const SWEEP_BATCH = 500;

/** An upload session as the handlers see it. */
function viewOf(s: UploadSessionRecord): UploadView {
  return {
    id: s.id,
    uploaderId: s.uploaderId,
    tenantId: s.tenantId,
    mode: s.mode,
    contextId: s.contextId,
    type: s.type,
    totalSize: s.totalSize,
    sha256: s.sha256,
    chunkSize: s.chunkSize,
    verifiedOffset: s.verifiedOffset,
    bytesReceived: s.bytesReceived,
    state: s.state,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    idleTimeoutMs: s.idleTimeoutMs,
    committedRevision: s.committedRevision,
  };
}

export class LargeContexts {
  private readonly slots: StreamSlots;
  /** Whole-object hashes of the sessions this process hashed, with the offset they reached. */
  private readonly hashes = new Map<string, { hash: ObjectHash; offset: number }>();
  /** Where chunks are checked and whole objects hashed, off the event loop. */
  private readonly hashThread = new HashThread();
  /** Operations on one session in this process run one after another (chunks, commit, abort). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Staged bytes being discarded, so a status read after a close sees them gone. */
  private readonly reclaims = new Map<string, Promise<void>>();
  /**
   * Downloads in this process reading each blob: a released blob that is due while one still
   * reads it here gets another grace period (those of other nodes are covered by the grace).
   */
  private readonly readers = new Map<string, number>();
  private sweepTimer: { timer: Timer; at: number } | undefined;
  /** Set by close(): a sweep still running then arms no timer. */
  private closed = false;
  /** Staged bytes against the storage quota and the staging bounds. */
  private readonly staging: StagingBudget;

  constructor(
    private readonly hub: HubContext,
    private readonly contexts: Contexts,
    private readonly logger: Logger,
  ) {
    this.slots = new StreamSlots(hub);
    this.staging = new StagingBudget(hub);
    contexts.onBlobReleased = (tenantId, ref) => this.releaseBlob(tenantId, ref);
  }

  /**
   * Applies expiries that passed while no node watched, deletes released blobs that are due, and
   * arms the timer for the next deadline.
   */
  async resume(): Promise<void> {
    await this.sweep();
  }

  async begin(identity: Identity, input: BeginInput): Promise<UploadView> {
    const limits = this.hub.limits;
    if (input.totalSize > limits.maxObjectBytes) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `total_size ${input.totalSize} exceeds this hub's maximum object size of ${limits.maxObjectBytes} bytes`,
        {
          reason: "OBJECT_TOO_LARGE",
          metadata: { max_object_bytes: String(limits.maxObjectBytes) },
        },
      );
    }
    const mode = input.mode === UploadMode.UPDATE ? UploadMode.UPDATE : UploadMode.CREATE;
    const now = this.hub.clock.now();
    let contextId = input.contextId;
    let type = input.type;
    if (mode === UploadMode.CREATE) {
      normaliseAccess(input.access); // refuse bad access now, not after the bytes arrived
      if (contextId === "") contextId = newId("ctx_", now);
      else await this.checkIdFree(identity, contextId);
    } else {
      const current = await this.readable(identity, contextId);
      if (type !== "" && type !== current.type) {
        throw hubError(
          Code.InvalidArgument,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `type "${type}" differs from the type "${current.type}" of context "${contextId}"`,
        );
      }
      type = current.type;
      if (
        (input.access || input.ttlMs !== undefined) &&
        current.ownerId !== identity.agentId &&
        !isAdmin(identity)
      ) {
        throw hubError(
          Code.PermissionDenied,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `only the owner of context "${contextId}" may change its access or ttl`,
        );
      }
      if (input.access) normaliseAccess(input.access);
      if (input.expectedRevision !== 0 && input.expectedRevision !== current.revision) {
        throw revisionMismatch(current, input.expectedRevision);
      }
    }
    await this.staging.admit(identity, input.totalSize);
    const id = newId("upl_", now);
    const idleTimeoutMs = limits.uploadIdleTimeoutMs;
    const expiresAt = now + idleTimeoutMs;
    // The session's slot is leased until it expires, and moves with it.
    const slot = await this.slots.acquire(identity, expiresAt, id);
    const session: UploadSessionRecord = {
      tenantId: identity.tenantId,
      id,
      uploaderId: identity.agentId,
      mode,
      contextId,
      type,
      totalSize: input.totalSize,
      sha256: input.sha256,
      chunkSize: input.chunkSize || limits.defaultChunkSizeBytes,
      verifiedOffset: 0,
      bytesReceived: 0,
      state: UploadState.OPEN,
      createdAt: now,
      expiresAt,
      idleTimeoutMs,
      committedRevision: 0,
      target: {
        metadata: input.metadata,
        replaceMetadata: input.replaceMetadata,
        schemaVersion: input.schemaVersion,
        ...(input.access && {
          access: { scope: input.access.scope, allowedIds: input.access.allowedIds },
        }),
        ...(input.ttlMs !== undefined && { ttlMs: input.ttlMs }),
        expectedRevision: input.expectedRevision,
      },
      blobKey: `${identity.tenantId}/${id}`,
      wakeAt: expiresAt,
      version: 1,
    };
    // A CREATE session reserves its context id in the same step (another one holding it: refused).
    if (!(await this.hub.backend.uploads.create(session))) {
      await slot.release();
      throw alreadyExists(contextId, identity.tenantId);
    }
    this.hashes.set(this.sessionKey(session), { hash: this.hashThread.createHash(), offset: 0 });
    this.scheduleSweep(session.wakeAt);
    return viewOf(session);
  }

  /** Applies one chunk under the rules of large_contexts.proto (in their order). */
  appendChunk(identity: Identity, uploadId: string, chunk: ChunkInput): Promise<UploadView> {
    return this.exclusive(identity, uploadId, async () => {
      let s = await this.find(identity, uploadId);
      s = await this.requireOpen(s);
      const length = chunk.data.length;
      const refuse = async (err: ConnectError) => {
        // A refused chunk still counts as received.
        await this.save({ ...s, bytesReceived: s.bytesReceived + length }, s.version);
        return err;
      };
      if (length > s.chunkSize) {
        throw await refuse(
          chunkError(
            s,
            Code.InvalidArgument,
            "CHUNK_TOO_LARGE",
            `chunk of ${length} bytes exceeds the upload's chunk size of ${s.chunkSize}`,
            { chunk_size: String(s.chunkSize) },
          ),
        );
      }
      if (chunk.sha256.length === 0 && chunk.crc32 === undefined) {
        throw await refuse(
          chunkError(
            s,
            Code.InvalidArgument,
            "CHUNK_CHECK_MISSING",
            "a chunk needs a sha256 or a crc32",
          ),
        );
      }
      const end = chunk.offset + length;
      // A chunk that continues the upload goes, once found intact, into the whole-object hash in
      // the same pass over its bytes, on the hash thread, while it is stored here. One check per
      // byte: a chunk with only a crc32 is hashed only into the whole-object SHA-256, which the
      // commit verifies.
      const continues = chunk.offset === s.verifiedOffset && end <= s.totalSize;
      const hash = continues ? await this.hashAt(s) : undefined;
      let intact: boolean;
      try {
        intact = await this.hashThread.check(
          chunk.data,
          {
            crc32: chunk.crc32,
            sha256: chunk.sha256.length > 0 ? chunk.sha256 : undefined,
          },
          hash,
        );
      } catch (err) {
        this.forgetHash(s);
        throw hubError(
          Code.Unavailable,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `the chunk at offset ${chunk.offset} could not be checked; it was not kept: retry`,
          { cause: err, metadata: { verified_offset: String(s.verifiedOffset) } },
        );
      }
      if (!intact) {
        throw await refuse(
          chunkError(
            s,
            Code.DataLoss,
            "CHUNK_CHECKSUM_MISMATCH",
            `chunk at offset ${chunk.offset} does not match its checksum: it was corrupted on the way and was not kept; send it again`,
          ),
        );
      }
      if (end <= s.verifiedOffset) {
        // A retry whose answer was lost: acknowledge it when it repeats the stored bytes exactly.
        const stored = await this.hub.backend.blobs.readStaged(s.blobKey, chunk.offset, length);
        if (same(stored, chunk.data)) {
          return viewOf(
            await this.save({ ...s, bytesReceived: s.bytesReceived + length }, s.version),
          );
        }
      }
      if (chunk.offset !== s.verifiedOffset) {
        throw await refuse(
          chunkError(
            s,
            Code.FailedPrecondition,
            "OFFSET_MISMATCH",
            `chunk starts at offset ${chunk.offset}, but the upload continues at ${s.verifiedOffset}`,
          ),
        );
      }
      if (end > s.totalSize) {
        throw await refuse(
          chunkError(
            s,
            Code.OutOfRange,
            "PAST_TOTAL_SIZE",
            `chunk ends at ${end}, past the declared total size of ${s.totalSize}`,
            { total_size: String(s.totalSize) },
          ),
        );
      }
      if (!hash) throw new Error("unreachable: a chunk at the verified offset has a hash to feed");
      // Counted as staged from here until the session records the chunk (or it is not stored).
      try {
        await this.staging.reserve(s.tenantId, length);
      } catch (err) {
        this.forgetHash(s); // it holds the chunk already
        throw err;
      }
      try {
        return await this.storeChunk(s, chunk, hash);
      } finally {
        this.staging.settle(s.tenantId, length);
      }
    });
  }

  /**
   * Stages a checked chunk and records it in its session. `hash` holds the chunk already (the
   * hash thread hashes it while the blob store writes it); a failure here drops the hash, so the
   * next chunk rehashes the staged bytes once.
   */
  private async storeChunk(
    s: UploadSessionRecord,
    chunk: ChunkInput,
    hash: ObjectHash,
  ): Promise<UploadView> {
    const length = chunk.data.length;
    const end = chunk.offset + length;
    const key = this.sessionKey(s);
    try {
      await this.hub.backend.blobs.append(s.blobKey, chunk.offset, chunk.data);
    } catch (err) {
      this.forgetHash(s);
      throw hubError(
        Code.Unavailable,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `the blob store could not store the chunk at offset ${chunk.offset}; it was not kept: retry`,
        { cause: err, metadata: { verified_offset: String(s.verifiedOffset) } },
      );
    }
    const expiresAt = this.hub.clock.now() + s.idleTimeoutMs;
    const next: UploadSessionRecord = {
      ...s,
      bytesReceived: s.bytesReceived + length,
      verifiedOffset: end,
      expiresAt,
      wakeAt: expiresAt,
      version: s.version + 1,
    };
    if (end === s.totalSize) {
      this.hashes.delete(key);
      // Without a digest (the hash thread was restarted), the commit rehashes the staged bytes.
      const digest = await hash.digest().catch(() => undefined);
      if (digest) next.digest = digest;
    } else {
      this.hashes.set(key, { hash, offset: end });
    }
    if (!(await this.hub.backend.uploads.replace(next, s.version))) {
      this.forgetHash(s);
      throw hubError(
        Code.Aborted,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `upload "${s.id}" was changed by another call while this chunk was stored: check GetUploadStatus and resume from its verified offset`,
        { reason: "UPLOAD_CHANGED" },
      );
    }
    await this.hub.backend.streamSlots.renew(s.tenantId, s.uploaderId, s.id, expiresAt);
    this.scheduleSweep(expiresAt);
    return viewOf(next);
  }

  /** The session's state; a closed one once its bytes are reclaimed. */
  status(identity: Identity, uploadId: string): Promise<UploadView> {
    return this.exclusive(identity, uploadId, async () => {
      const s = await this.expireIfDue(await this.find(identity, uploadId));
      await this.reclaims.get(this.sessionKey(s));
      return viewOf(s);
    });
  }

  /**
   * Checks the whole object and makes it visible; see CommitUpload in the proto for the errors. A
   * transient failure (the storage unreachable) answers UNAVAILABLE with RetryInfo and keeps the
   * session as it was, so the commit can be retried without sending the bytes again.
   */
  commit(
    identity: Identity,
    uploadId: string,
    sha256: Uint8Array,
  ): Promise<{ context: ContextRecord; upload: UploadView }> {
    return this.exclusive(identity, uploadId, async () => {
      try {
        return await this.commitChecked(identity, uploadId, sha256);
      } catch (err) {
        throw retryLater(err);
      }
    });
  }

  private async commitChecked(
    identity: Identity,
    uploadId: string,
    sha256: Uint8Array,
  ): Promise<{ context: ContextRecord; upload: UploadView }> {
    let s = await this.expireIfDue(await this.find(identity, uploadId));
    if (s.state === UploadState.COMMITTED && s.committed) {
      return { context: s.committed, upload: viewOf(s) };
    }
    s = await this.requireOpen(s);
    if (sha256.length > 0 && s.sha256.length > 0 && !same(sha256, s.sha256)) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `sha256 ${hex(sha256)} differs from the ${hex(s.sha256)} declared at BeginUpload`,
        { reason: "CHECKSUM_CONFLICT" },
      );
    }
    if (s.verifiedOffset < s.totalSize) {
      throw hubError(
        Code.FailedPrecondition,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `upload "${s.id}" has ${s.verifiedOffset} of ${s.totalSize} bytes: send the rest first`,
        {
          reason: "UPLOAD_INCOMPLETE",
          metadata: {
            verified_offset: String(s.verifiedOffset),
            total_size: String(s.totalSize),
          },
        },
      );
    }
    const declared = sha256.length > 0 ? sha256 : s.sha256;
    if (declared.length === 0) {
      throw hubError(
        Code.InvalidArgument,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `upload "${s.id}" has no declared sha256: give it to CommitUpload`,
        { reason: "CHECKSUM_MISSING" },
      );
    }
    s = { ...s, sha256: declared };
    const digest = s.digest ?? (await this.digestAt(s));
    if (!same(digest, declared)) {
      await this.closeSession(s, UploadState.ABORTED);
      throw hubError(
        Code.DataLoss,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `the uploaded bytes hash to ${hex(digest)}, not the declared ${hex(declared)}; the upload is aborted: begin again`,
        { reason: "OBJECT_CHECKSUM_MISMATCH" },
      );
    }
    return this.publishAndCommit(identity, s);
  }

  /**
   * Publishes a checked object and makes it visible. The session is marked `committing` before
   * the object is published; a transient failure from then on leaves it OPEN (and marked), and
   * the retried commit publishes again (answering the same object, see BlobStore.publish), then
   * either finds the context holding it (the lost attempt went through) or makes it visible.
   */
  private async publishAndCommit(
    identity: Identity,
    checked: UploadSessionRecord,
  ): Promise<{ context: ContextRecord; upload: UploadView }> {
    let s = checked;
    const retried = s.committing === true;
    if (!retried) {
      // Marking also restarts the idle timeout, so the session does not expire under a commit.
      const expiresAt = this.hub.clock.now() + s.idleTimeoutMs;
      const next = { ...s, committing: true, expiresAt, wakeAt: expiresAt, version: s.version + 1 };
      if (!(await this.hub.backend.uploads.replace(next, s.version))) {
        throw hubError(
          Code.Aborted,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `upload "${s.id}" was changed by another call during the commit: check GetUploadStatus`,
          { reason: "UPLOAD_CHANGED" },
        );
      }
      s = next;
      await this.hub.backend.streamSlots.renew(s.tenantId, s.uploaderId, s.id, expiresAt);
    }
    let ref: StorageRefRecord;
    try {
      ref = await this.hub.backend.blobs.publish(s.blobKey);
    } catch (err) {
      throw hubError(
        Code.Unavailable,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        "the blob store could not publish the object: retry the commit",
        { cause: err, retryAfterMs: COMMIT_RETRY_MS },
      );
    }
    const landed = retried ? await this.holding(s, ref) : undefined;
    if (landed) {
      const closed = await this.closeSession(s, UploadState.COMMITTED, {
        published: true,
        committed: landed,
      });
      return { context: landed, upload: viewOf(closed) };
    }
    let context: ContextRecord;
    try {
      context = await this.makeVisible(identity, s, { storageRef: ref, sha256: s.sha256 });
    } catch (err) {
      // Storage out of reach: the session stays OPEN with its object, for the retried commit.
      if (isTransient(err)) throw err;
      // Refused: the bytes were published for nothing, so the session is over; reclaim them.
      const closed = await this.closeSession(s, UploadState.ABORTED, { published: true });
      this.reclaims.set(
        this.sessionKey(closed),
        this.hub.backend.blobs.delete(ref).catch((e: unknown) => this.logReclaim(s, e)),
      );
      throw err;
    }
    const closed = await this.closeSession(s, UploadState.COMMITTED, {
      published: true,
      committed: context,
    });
    return { context, upload: viewOf(closed) };
  }

  /** The session's context when it holds `ref` as its value: the session's commit went through. */
  private async holding(
    s: UploadSessionRecord,
    ref: StorageRefRecord,
  ): Promise<ContextRecord | undefined> {
    const ctx = await this.hub.backend.contexts.get(s.tenantId, s.contextId);
    const held = ctx?.storageRef;
    return held && held.backend === ref.backend && held.key === ref.key ? ctx : undefined;
  }

  /** Abandons an OPEN session (reclaiming its bytes); a no-op for ABORTED and EXPIRED ones. */
  abort(identity: Identity, uploadId: string): Promise<UploadView> {
    return this.exclusive(identity, uploadId, async () => {
      let s = await this.expireIfDue(await this.find(identity, uploadId));
      if (s.state === UploadState.COMMITTED) throw notOpen(s);
      if (s.state === UploadState.OPEN) s = await this.closeSession(s, UploadState.ABORTED);
      // A session whose lost commit went through closes as COMMITTED instead.
      if (s.state === UploadState.COMMITTED) throw notOpen(s);
      await this.reclaims.get(this.sessionKey(s));
      return viewOf(s);
    });
  }

  /**
   * Streams a context's value: a header, then the chunks of the range, each with its SHA-256 or
   * CRC-32. The revision read at the start is served throughout (its blob outlives a concurrent
   * update). DATA_LOSS when the whole object is read and its bytes at rest no longer match its
   * sha256 (before its last chunk); UNAVAILABLE when the hash thread stops during the download.
   */
  async *download(identity: Identity, input: DownloadInput): AsyncGenerator<DownloadItem> {
    const ctx = await this.readable(identity, input.contextId);
    if (input.revision !== 0 && input.revision !== ctx.revision) {
      throw revisionMismatch(ctx, input.revision);
    }
    if (input.offset > ctx.size) {
      throw hubError(
        Code.OutOfRange,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `offset ${input.offset} is past the end of context "${ctx.id}" (${ctx.size} bytes)`,
      );
    }
    const available = ctx.size - input.offset;
    const length = input.length === 0 ? available : Math.min(input.length, available);
    const ref = ctx.storageRef;
    const clock = this.hub.clock;
    let leasedUntil = clock.now() + DOWNLOAD_LEASE_MS;
    const slot = await this.slots.acquire(identity, leasedUntil);
    // A long download renews its slot's lease as it goes (at half the lease).
    const keepSlot = async () => {
      if (clock.now() < leasedUntil - DOWNLOAD_LEASE_MS / 2) return;
      leasedUntil = clock.now() + DOWNLOAD_LEASE_MS;
      await slot.renew(leasedUntil);
    };
    if (ref) this.readers.set(refKey(ref), (this.readers.get(refKey(ref)) ?? 0) + 1);
    try {
      const chunkSize = ref ? input.chunkSize || this.hub.limits.defaultChunkSizeBytes : ctx.size;
      yield { kind: "header", context: ctx, offset: input.offset, length, chunkSize };
      if (length === 0) return;
      const name = `context "${ctx.id}"`;
      // An inline value is one chunk from the record. A blob is read through reused buffers in
      // shared memory, as many as the summing holds: each chunk's check, and the whole object's
      // SHA-256 when the whole object is read (verified before the last chunk leaves, so bytes
      // damaged at rest end the stream with DATA_LOSS instead of a complete-looking value), are
      // computed on the hash thread a chunk ahead of the one being sent (download-sums.ts).
      const pieces = ref
        ? this.hub.backend.blobs.read(ref, input.offset, length, chunkSize, {
            reuse: true,
            hold: PIECES_HELD,
            shared: true,
          })
        : [ctx.data.subarray(input.offset, input.offset + length)];
      const summed = summedPieces(toAsync(pieces), this.hashThread, {
        check: input.chunkCheck,
        length,
        sha256: ref && length === ctx.size ? ctx.sha256 : undefined,
        name,
      });
      let position = input.offset;
      try {
        for await (const { data, check } of summed) {
          yield { kind: "chunk", offset: position, data, check };
          position += data.length;
          await keepSlot();
        }
      } catch (err) {
        if (err instanceof ConnectError) throw err;
        throw hubError(
          Code.DataLoss,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `the stored bytes of ${name} could not be read at offset ${position}`,
          { cause: err },
        );
      }
    } finally {
      await slot.release();
      if (ref) this.readerDone(ref);
    }
  }

  /**
   * Stops the sweeper and waits for reclaims under way. Open sessions stay: they are stored, and
   * continue through another node or after a restart of a durable hub.
   */
  // Stryker disable all: hub shutdown; nothing is served after it
  async close(): Promise<void> {
    this.closed = true;
    this.sweepTimer?.timer.cancel();
    this.sweepTimer = undefined;
    await Promise.all(this.reclaims.values());
    await this.hashThread.close();
  }
  // Stryker restore all

  private sessionKey(s: { tenantId: string; id: string }): string {
    return `${s.tenantId}/${s.id}`;
  }

  private async find(identity: Identity, uploadId: string): Promise<UploadSessionRecord> {
    const s = await this.hub.backend.uploads.get(identity.tenantId, uploadId);
    if (!s || s.uploaderId !== identity.agentId) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.NotFound, `upload "${uploadId}" not found`, {
        reason: "UPLOAD_NOT_FOUND",
      });
    }
    return s;
  }

  private exclusive<T>(identity: Identity, uploadId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${identity.tenantId}/${uploadId}`;
    const run = (this.queues.get(key) ?? Promise.resolve()).then(fn, fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }

  /** Stores `next` (compare-and-set on `expectedVersion`); returns what is stored now. */
  private async save(
    next: UploadSessionRecord,
    expectedVersion: number,
  ): Promise<UploadSessionRecord> {
    const stored = { ...next, version: expectedVersion + 1 };
    if (await this.hub.backend.uploads.replace(stored, expectedVersion)) return stored;
    return (await this.hub.backend.uploads.get(next.tenantId, next.id)) ?? next;
  }

  private async requireOpen(s: UploadSessionRecord): Promise<UploadSessionRecord> {
    const current = await this.expireIfDue(s);
    if (current.state !== UploadState.OPEN) throw notOpen(current);
    return current;
  }

  private async expireIfDue(s: UploadSessionRecord): Promise<UploadSessionRecord> {
    if (s.state === UploadState.OPEN && this.hub.clock.now() >= s.expiresAt) {
      return this.closeSession(s, UploadState.EXPIRED);
    }
    return s;
  }

  /**
   * The whole-object hash of the verified bytes. This process keeps it between chunks; when it
   * has none at the session's offset (another node or a previous run hashed them, or the hash
   * thread that held it stopped), it hashes the staged bytes again, once.
   */
  private async hashAt(s: UploadSessionRecord): Promise<ObjectHash> {
    const kept = this.hashes.get(this.sessionKey(s));
    if (kept && kept.offset === s.verifiedOffset && !kept.hash.lost) return kept.hash;
    kept?.hash.drop();
    const hash = this.hashThread.createHash();
    const piece = this.hub.limits.defaultChunkSizeBytes;
    for (let at = 0; at < s.verifiedOffset; at += piece) {
      const length = Math.min(piece, s.verifiedOffset - at);
      hash.update(await this.hub.backend.blobs.readStaged(s.blobKey, at, length));
    }
    this.hashes.set(this.sessionKey(s), { hash, offset: s.verifiedOffset });
    return hash;
  }

  /** The whole-object hash of the verified bytes, digested (and forgotten: it is used up). */
  private async digestAt(s: UploadSessionRecord): Promise<Uint8Array> {
    const hash = await this.hashAt(s);
    this.hashes.delete(this.sessionKey(s));
    return hash.digest();
  }

  /** Drops the session's whole-object hash, if this process keeps one. */
  private forgetHash(s: { tenantId: string; id: string }): void {
    const key = this.sessionKey(s);
    this.hashes.get(key)?.hash.drop();
    this.hashes.delete(key);
  }

  /**
   * Closes an OPEN session: stores its final state (to be forgotten after
   * CLOSED_UPLOAD_RETENTION_MS), frees its stream slot, and reclaims its staged bytes unless they
   * were published. Returns the session as stored; one that another call closed first stays as
   * that call left it.
   */
  private async closeSession(
    s: UploadSessionRecord,
    state: UploadState.COMMITTED | UploadState.ABORTED | UploadState.EXPIRED,
    extra: { published?: boolean; committed?: ContextRecord } = {},
  ): Promise<UploadSessionRecord> {
    // A session whose commit began may have its object published (see publishAndCommit): if the
    // context holds it, that commit went through; otherwise the published object is reclaimed.
    let published: StorageRefRecord | undefined;
    if (s.committing && !extra.published) {
      published = await this.hub.backend.blobs.publish(s.blobKey).catch(() => undefined);
      const landed = published && (await this.holding(s, published));
      if (landed) {
        return this.closeSession(s, UploadState.COMMITTED, { published: true, committed: landed });
      }
    }
    const now = this.hub.clock.now();
    const { digest: _digest, committing: _committing, ...rest } = s;
    const next: UploadSessionRecord = {
      ...rest,
      state,
      expiresAt: now,
      wakeAt: now + CLOSED_UPLOAD_RETENTION_MS,
      version: s.version + 1,
      ...(extra.committed && {
        committed: extra.committed,
        committedRevision: extra.committed.revision,
      }),
    };
    if (!(await this.hub.backend.uploads.replace(next, s.version))) {
      const current = await this.hub.backend.uploads.get(s.tenantId, s.id);
      if (current && current.state === UploadState.OPEN)
        return this.closeSession(current, state, extra);
      return current ?? next;
    }
    this.forgetHash(s);
    await this.hub.backend.streamSlots.release(s.tenantId, s.uploaderId, s.id);
    if (!extra.published) {
      const blobs = this.hub.backend.blobs;
      this.reclaims.set(
        this.sessionKey(s),
        (published ? blobs.delete(published) : blobs.discard(s.blobKey)).catch((e: unknown) =>
          this.logReclaim(s, e),
        ),
      );
    }
    this.scheduleSweep(next.wakeAt);
    return next;
  }

  /**
   * Expires overdue OPEN sessions, forgets closed ones past their retention, and deletes released
   * blobs past their grace period (any node's: whichever node sweeps first). Then arms the timer
   * for the next stored deadline, and at the latest one grace period on, so blobs released by a
   * node that went away are still found.
   */
  private async sweep(): Promise<void> {
    const store = this.hub.backend.uploads;
    for (;;) {
      const now = this.hub.clock.now();
      const due = await store.listDue(now, SWEEP_BATCH);
      for (const s of due) {
        if (s.state === UploadState.OPEN) await this.expireIfDue(s);
        else {
          await store.delete(s.tenantId, s.id);
          this.reclaims.delete(this.sessionKey(s));
        }
      }
      if (due.length < SWEEP_BATCH) break;
    }
    await this.deleteDueBlobs();
    const [next] = await store.listDue(Number.MAX_SAFE_INTEGER, 1);
    const [nextBlob] = await this.hub.backend.releasedBlobs.listDue(Number.MAX_SAFE_INTEGER, 1);
    this.scheduleSweep(
      Math.min(
        next?.wakeAt ?? Number.MAX_SAFE_INTEGER,
        nextBlob?.deleteAt ?? Number.MAX_SAFE_INTEGER,
        this.hub.clock.now() + this.hub.limits.releasedBlobGraceMs,
      ),
    );
  }

  /** Deletes the released blobs whose grace period is over (postponing those read here). */
  private async deleteDueBlobs(): Promise<void> {
    const released = this.hub.backend.releasedBlobs;
    const grace = this.hub.limits.releasedBlobGraceMs;
    for (;;) {
      const now = this.hub.clock.now();
      const due = await released.listDue(now, SWEEP_BATCH);
      let failed = false;
      for (const r of due) {
        if ((this.readers.get(refKey(r.ref)) ?? 0) > 0) {
          await released.add({ ...r, deleteAt: now + grace });
          continue;
        }
        try {
          await this.hub.backend.blobs.delete(r.ref);
        } catch (err) {
          failed = true; // kept for the next sweep; the others are still tried
          // Stryker disable next-line all: a log line
          this.logger.log("error", "could not delete the blob of a replaced context value", {
            key: r.ref.key,
            err,
          });
          continue;
        }
        await released.delete(r.tenantId, r.ref);
      }
      // A failed one would come back in the next batch: the next sweep tries again.
      if (failed || due.length < SWEEP_BATCH) break;
    }
  }

  /** Keeps one timer armed for the earliest stored deadline this node knows of. */
  private scheduleSweep(at: number | undefined): void {
    if (at === undefined || this.closed) return;
    if (this.sweepTimer && this.sweepTimer.at <= at) return;
    this.sweepTimer?.timer.cancel();
    const timer = this.hub.clock.setTimer(at - this.hub.clock.now(), () => {
      this.sweepTimer = undefined;
      this.sweep().catch((err: unknown) => {
        // Stryker disable next-line all: a log line
        this.logger.log("error", "upload session sweep failed", { err });
        this.scheduleSweep(this.hub.clock.now() + SWEEP_RETRY_MS); // the storage may be back
      });
    });
    this.sweepTimer = { timer, at };
  }

  private logReclaim(s: UploadSessionRecord, err: unknown): void {
    // Stryker disable next-line all: a log line
    this.logger.log("error", "could not reclaim the bytes of a closed upload", {
      upload_id: s.id,
      tenant_id: s.tenantId,
      err,
    });
  }

  private async makeVisible(
    identity: Identity,
    s: UploadSessionRecord,
    value: { storageRef: StorageRefRecord; sha256: Uint8Array },
  ): Promise<ContextRecord> {
    const target = s.target;
    try {
      if (s.mode === UploadMode.CREATE) {
        return await this.contexts.createStored(
          identity,
          {
            contextId: s.contextId,
            type: s.type,
            contentType: "",
            metadata: target.metadata,
            schemaVersion: target.schemaVersion,
            access: target.access,
            ttlMs: target.ttlMs,
          },
          value,
        );
      }
      return await this.contexts.update(identity, {
        contextId: s.contextId,
        expectedRevision: target.expectedRevision,
        value,
        metadata:
          target.replaceMetadata || Object.keys(target.metadata).length > 0
            ? target.metadata
            : undefined,
        schemaVersion: target.schemaVersion,
        ttlMs: target.ttlMs,
        access: target.access,
        sha256: new Uint8Array(),
      });
    } catch (err) {
      throw withContextReason(err);
    }
  }

  private async checkIdFree(identity: Identity, contextId: string): Promise<void> {
    const existing = await this.hub.backend.contexts.get(identity.tenantId, contextId);
    const live =
      existing && (existing.expiresAt === undefined || existing.expiresAt > this.hub.clock.now());
    if (live || (await this.hub.backend.uploads.reservedBy(identity.tenantId, contextId))) {
      throw alreadyExists(contextId, identity.tenantId);
    }
  }

  private async readable(identity: Identity, contextId: string): Promise<ContextRecord> {
    try {
      return await this.contexts.readable(identity, contextId);
    } catch (err) {
      throw withContextReason(err);
    }
  }

  /**
   * Records a blob that stopped being current, to be deleted by a sweep once its grace period is
   * over; a download that read the revision before it changed, on any node, has that long to end.
   */
  private async releaseBlob(tenantId: string, ref: StorageRefRecord): Promise<void> {
    const deleteAt = this.hub.clock.now() + this.hub.limits.releasedBlobGraceMs;
    try {
      await this.hub.backend.releasedBlobs.add({ tenantId, ref, deleteAt });
    } catch (err) {
      // Stryker disable next-line all: a log line
      this.logger.log("error", "could not record the blob of a replaced context value", {
        key: ref.key,
        err,
      });
      return;
    }
    this.scheduleSweep(deleteAt);
  }

  private readerDone(ref: StorageRefRecord): void {
    const key = refKey(ref);
    const left = (this.readers.get(key) ?? 1) - 1;
    if (left > 0) this.readers.set(key, left);
    else this.readers.delete(key);
  }
}

/** The check a downloaded chunk carries: CRC-32 when asked for, else SHA-256. */
/** The pieces of an inline value (an array) or of a blob (the store's reader), as one iterable. */
async function* toAsync(pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
  yield* pieces;
}

/** A failure to reach the storage (UNAVAILABLE): retrying the same call may succeed. */
function isTransient(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unavailable;
}

/** A transient failure of CommitUpload as UNAVAILABLE with RetryInfo; other errors as they are. */
function retryLater(err: unknown): unknown {
  if (!isTransient(err)) return err;
  const e = err as ConnectError;
  if (e.findDetails(RetryInfoSchema).length > 0) return e;
  return hubError(
    Code.Unavailable,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `the commit could not finish (${e.rawMessage}); the upload is kept: retry the commit`,
    { cause: e, retryAfterMs: COMMIT_RETRY_MS },
  );
}

function chunkError(
  s: UploadSessionRecord,
  code: Code,
  reason: string,
  message: string,
  metadata: Record<string, string> = {},
): ConnectError {
  return hubError(code, message, {
    reason,
    metadata: { ...metadata, verified_offset: String(s.verifiedOffset) },
  });
}

function notOpen(s: UploadSessionRecord): ConnectError {
  return hubError(
    Code.FailedPrecondition,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `upload "${s.id}" is ${UploadState[s.state]}, not OPEN: begin a new upload`,
    { reason: "UPLOAD_NOT_OPEN", metadata: { state: stateName(s.state) } },
  );
}

function alreadyExists(contextId: string, tenantId: string): ConnectError {
  return hubError(
    Code.AlreadyExists,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `context "${contextId}" already exists in tenant "${tenantId}"`,
  );
}

function revisionMismatch(current: ContextRecord, expected: number): ConnectError {
  return hubError(
    Code.Aborted,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `context "${current.id}" is at revision ${current.revision}, not ${expected}: re-read it and retry`,
    { reason: "REVISION_MISMATCH", metadata: { current_revision: String(current.revision) } },
  );
}

/** ContextService's NOT_FOUND carries no reason; this service names it (CONTEXT_NOT_FOUND). */
function withContextReason(err: unknown): unknown {
  if (err instanceof ConnectError && err.code === Code.NotFound && err.details.length === 0) {
    return hubError(Code.NotFound, err.rawMessage, { reason: "CONTEXT_NOT_FOUND", cause: err });
  }
  return err;
}
