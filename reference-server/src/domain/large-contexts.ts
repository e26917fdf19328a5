// Large contexts: upload sessions that receive a value in verified chunks into the blob store and
// commit it as a context revision, and downloads that stream a value from any offset.
//
// The rules are the ones written in proto/acb/v1/large_contexts.proto. Every chunk is hashed on
// arrival and fed into an incremental whole-object hash, so a commit never re-reads the object.
// Upload sessions (with that hash state) live in this process: a session does not survive a hub
// restart, and its staged bytes are reclaimed when it closes without a commit.

import { createHash, type Hash, hash, timingSafeEqual } from "node:crypto";
import { UploadMode, UploadState } from "@acb/gen/acb/v1/large_contexts_pb";
import { type Identity, isAdmin } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, ConnectError, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { Logger } from "../logger.js";
import type { ContextRecord, StorageRefRecord } from "../storage/types.js";
import { type AccessInput, type Contexts, normaliseAccess } from "./contexts.js";
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

export interface ChunkInput {
  offset: number;
  data: Uint8Array;
  sha256: Uint8Array;
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

interface Session extends UploadView {
  sha256: Uint8Array;
  verifiedOffset: number;
  bytesReceived: number;
  state: UploadState;
  expiresAt: number;
  committedRevision: number;
  readonly input: BeginInput;
  /** Where the staged bytes live in the blob store. */
  readonly blobKey: string;
  /** Whole-object hash of the verified bytes; undefined once the session closed. */
  hash: Hash | undefined;
  /** The whole-object digest, taken when the last byte arrived. */
  digest: Uint8Array | undefined;
  committed: ContextRecord | undefined;
  /** Operations on one session run one after another (chunks, commit, abort, expiry). */
  queue: Promise<unknown>;
  timer: Timer | undefined;
  releaseSlot: () => void;
  /** Settles when a closed session's staged bytes are gone. */
  reclaimed: Promise<void>;
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
  | { kind: "chunk"; offset: number; data: Uint8Array; sha256: Uint8Array };

export interface DownloadInput {
  contextId: string;
  offset: number;
  /** 0: to the end. */
  length: number;
  /** 0: the current revision. */
  revision: number;
  /** 0: the hub default. */
  chunkSize: number;
}

const sha256Of = (data: Uint8Array): Uint8Array => hash("sha256", data, "buffer");
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const stateName = (s: UploadState) => `UPLOAD_STATE_${UploadState[s]}`;
const refKey = (ref: StorageRefRecord) => `${ref.backend}:${ref.bucket}/${ref.key}`;

export class LargeContexts {
  private readonly sessions = new Map<string, Session>();
  /** Context ids reserved by OPEN create-uploads: tenant + id → upload id. */
  private readonly reserved = new Map<string, string>();
  private readonly slots: StreamSlots;
  /** Downloads reading each blob, so a released blob is deleted only after its last reader. */
  private readonly readers = new Map<string, number>();
  private readonly released = new Map<string, StorageRefRecord>();
  private readonly timers = new Set<Timer>();
  /** Staged bytes against the storage quota and the staging bounds. */
  private readonly staging: StagingBudget;

  constructor(
    private readonly hub: HubContext,
    private readonly contexts: Contexts,
    private readonly logger: Logger,
  ) {
    this.slots = new StreamSlots(hub);
    this.staging = new StagingBudget(hub);
    contexts.onBlobReleased = (ref) => this.releaseBlob(ref);
  }

  async begin(identity: Identity, input: BeginInput): Promise<UploadView> {
    const limits = this.hub.limits;
    if (input.totalSize > limits.maxObjectBytes) {
      throw hubError(
        Code.InvalidArgument,
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
          `only the owner of context "${contextId}" may change its access or ttl`,
        );
      }
      if (input.access) normaliseAccess(input.access);
      if (input.expectedRevision !== 0 && input.expectedRevision !== current.revision) {
        throw revisionMismatch(current, input.expectedRevision);
      }
    }
    await this.staging.admit(identity, input.totalSize);
    const releaseSlot = await this.slots.acquire(identity);
    const reservation = `${identity.tenantId}/${contextId}`;
    if (mode === UploadMode.CREATE && this.reserved.has(reservation)) {
      releaseSlot();
      throw alreadyExists(contextId, identity.tenantId);
    }
    const id = newId("upl_", now);
    if (mode === UploadMode.CREATE) this.reserved.set(reservation, id);
    const idleTimeoutMs = limits.uploadIdleTimeoutMs;
    const session: Session = {
      id,
      uploaderId: identity.agentId,
      tenantId: identity.tenantId,
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
      expiresAt: now + idleTimeoutMs,
      idleTimeoutMs,
      committedRevision: 0,
      input,
      blobKey: `${identity.tenantId}/${id}`,
      hash: createHash("sha256"),
      digest: undefined,
      committed: undefined,
      queue: Promise.resolve(),
      timer: undefined,
      releaseSlot,
      reclaimed: Promise.resolve(),
    };
    this.sessions.set(this.sessionKey(identity.tenantId, id), session);
    this.armExpiry(session);
    return { ...session };
  }

  /** Applies one chunk under the rules of large_contexts.proto (in their order). */
  appendChunk(identity: Identity, uploadId: string, chunk: ChunkInput): Promise<UploadView> {
    const s = this.find(identity, uploadId);
    return this.exclusive(s, async () => {
      this.requireOpen(s);
      const length = chunk.data.length;
      s.bytesReceived += length;
      if (length > s.chunkSize) {
        throw chunkError(
          s,
          Code.InvalidArgument,
          "CHUNK_TOO_LARGE",
          `chunk of ${length} bytes exceeds the upload's chunk size of ${s.chunkSize}`,
          { chunk_size: String(s.chunkSize) },
        );
      }
      // TEST-ONLY fault "accept-corrupt-chunk" (faults.ts) skips the chunk's checksum.
      if (
        !same(sha256Of(chunk.data), chunk.sha256) &&
        !this.hub.faults?.has("accept-corrupt-chunk")
      ) {
        throw chunkError(
          s,
          Code.DataLoss,
          "CHUNK_CHECKSUM_MISMATCH",
          `chunk at offset ${chunk.offset} does not match its sha256: it was corrupted on the way and was not kept; send it again`,
        );
      }
      const end = chunk.offset + length;
      if (end <= s.verifiedOffset) {
        // A retry whose answer was lost: acknowledge it when it repeats the stored bytes exactly.
        const stored = await this.hub.backend.blobs.readStaged(s.blobKey, chunk.offset, length);
        if (same(stored, chunk.data)) return { ...s };
      }
      if (chunk.offset !== s.verifiedOffset) {
        throw chunkError(
          s,
          Code.FailedPrecondition,
          "OFFSET_MISMATCH",
          `chunk starts at offset ${chunk.offset}, but the upload continues at ${s.verifiedOffset}`,
        );
      }
      if (end > s.totalSize) {
        throw chunkError(
          s,
          Code.OutOfRange,
          "PAST_TOTAL_SIZE",
          `chunk ends at ${end}, past the declared total size of ${s.totalSize}`,
          { total_size: String(s.totalSize) },
        );
      }
      await this.staging.reserve(s.tenantId, length);
      try {
        await this.hub.backend.blobs.append(s.blobKey, chunk.offset, chunk.data);
      } catch (err) {
        this.staging.release(s.tenantId, length);
        throw hubError(
          Code.Unavailable,
          `the blob store could not store the chunk at offset ${chunk.offset}; it was not kept: retry`,
          { cause: err, metadata: { verified_offset: String(s.verifiedOffset) } },
        );
      }
      s.hash?.update(chunk.data);
      s.verifiedOffset = end;
      s.expiresAt = this.hub.clock.now() + s.idleTimeoutMs;
      if (end === s.totalSize) s.digest = s.hash?.digest();
      return { ...s };
    });
  }

  /** The session's state; a closed one once its bytes are reclaimed. */
  status(identity: Identity, uploadId: string): Promise<UploadView> {
    const s = this.find(identity, uploadId);
    return this.exclusive(s, async () => {
      this.expireIfDue(s);
      await s.reclaimed;
      return { ...s };
    });
  }

  /** Checks the whole object and makes it visible; see CommitUpload in the proto for the errors. */
  commit(
    identity: Identity,
    uploadId: string,
    sha256: Uint8Array,
  ): Promise<{ context: ContextRecord; upload: UploadView }> {
    const s = this.find(identity, uploadId);
    return this.exclusive(s, async () => {
      this.expireIfDue(s);
      if (s.state === UploadState.COMMITTED && s.committed) {
        return { context: s.committed, upload: { ...s } };
      }
      this.requireOpen(s);
      if (sha256.length > 0 && s.sha256.length > 0 && !same(sha256, s.sha256)) {
        throw hubError(
          Code.InvalidArgument,
          `sha256 ${hex(sha256)} differs from the ${hex(s.sha256)} declared at BeginUpload`,
          { reason: "CHECKSUM_CONFLICT" },
        );
      }
      if (s.verifiedOffset < s.totalSize) {
        throw hubError(
          Code.FailedPrecondition,
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
          `upload "${s.id}" has no declared sha256: give it to CommitUpload`,
          { reason: "CHECKSUM_MISSING" },
        );
      }
      s.sha256 = declared;
      const digest = s.digest ?? new Uint8Array();
      if (!same(digest, declared)) {
        this.closeSession(s, UploadState.ABORTED);
        throw hubError(
          Code.DataLoss,
          `the uploaded bytes hash to ${hex(digest)}, not the declared ${hex(declared)}; the upload is aborted: begin again`,
          { reason: "OBJECT_CHECKSUM_MISMATCH" },
        );
      }
      let ref: StorageRefRecord;
      try {
        ref = await this.hub.backend.blobs.publish(s.blobKey);
      } catch (err) {
        throw hubError(
          Code.Unavailable,
          "the blob store could not publish the object: retry the commit",
          { cause: err },
        );
      }
      let context: ContextRecord;
      try {
        context = await this.makeVisible(identity, s, { storageRef: ref, sha256: digest });
      } catch (err) {
        // The bytes were published for nothing: the session is over, reclaim them.
        this.closeSession(s, UploadState.ABORTED);
        s.reclaimed = this.hub.backend.blobs
          .delete(ref)
          .catch((e: unknown) => this.logReclaim(s, e));
        throw err;
      }
      s.committed = context;
      s.committedRevision = context.revision;
      this.closeSession(s, UploadState.COMMITTED);
      return { context, upload: { ...s } };
    });
  }

  /** Abandons an OPEN session (reclaiming its bytes); a no-op for ABORTED and EXPIRED ones. */
  abort(identity: Identity, uploadId: string): Promise<UploadView> {
    const s = this.find(identity, uploadId);
    return this.exclusive(s, async () => {
      this.expireIfDue(s);
      if (s.state === UploadState.COMMITTED) throw notOpen(s);
      if (s.state === UploadState.OPEN) this.closeSession(s, UploadState.ABORTED);
      await s.reclaimed;
      return { ...s };
    });
  }

  /**
   * Streams a context's value: a header, then the chunks of the range, each with its SHA-256. The
   * revision read at the start is served throughout (its blob outlives a concurrent update).
   */
  async *download(identity: Identity, input: DownloadInput): AsyncGenerator<DownloadItem> {
    const ctx = await this.readable(identity, input.contextId);
    if (input.revision !== 0 && input.revision !== ctx.revision) {
      throw revisionMismatch(ctx, input.revision);
    }
    if (input.offset > ctx.size) {
      throw hubError(
        Code.OutOfRange,
        `offset ${input.offset} is past the end of context "${ctx.id}" (${ctx.size} bytes)`,
      );
    }
    const available = ctx.size - input.offset;
    const length = input.length === 0 ? available : Math.min(input.length, available);
    const ref = ctx.storageRef;
    const releaseSlot = await this.slots.acquire(identity);
    if (ref) this.readers.set(refKey(ref), (this.readers.get(refKey(ref)) ?? 0) + 1);
    try {
      if (!ref) {
        yield { kind: "header", context: ctx, offset: input.offset, length, chunkSize: ctx.size };
        if (length === 0) return;
        const data = ctx.data.subarray(input.offset, input.offset + length);
        yield { kind: "chunk", offset: input.offset, data, sha256: sha256Of(data) };
        return;
      }
      const chunkSize = input.chunkSize || this.hub.limits.defaultChunkSizeBytes;
      yield { kind: "header", context: ctx, offset: input.offset, length, chunkSize };
      // Reading the whole object: check it against its checksum before the last chunk leaves, so
      // bytes damaged at rest end the stream with DATA_LOSS instead of a complete-looking value.
      const whole = length === ctx.size ? createHash("sha256") : undefined;
      let position = input.offset;
      try {
        for await (const data of this.hub.backend.blobs.read(
          ref,
          input.offset,
          length,
          chunkSize,
        )) {
          whole?.update(data);
          if (whole && position + data.length === ctx.size && !same(whole.digest(), ctx.sha256)) {
            throw hubError(
              Code.DataLoss,
              `the stored bytes of context "${ctx.id}" no longer match its sha256`,
            );
          }
          yield { kind: "chunk", offset: position, data, sha256: sha256Of(data) };
          position += data.length;
        }
      } catch (err) {
        if (err instanceof ConnectError) throw err;
        throw hubError(
          Code.DataLoss,
          `the stored bytes of context "${ctx.id}" could not be read at offset ${position}`,
          { cause: err },
        );
      }
    } finally {
      releaseSlot();
      if (ref) this.readerDone(ref);
    }
  }

  /** Stops timers and reclaims the staged bytes of every OPEN session (they cannot outlive us). */
  async close(): Promise<void> {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    for (const s of this.sessions.values())
      if (s.state === UploadState.OPEN) this.closeSession(s, UploadState.ABORTED);
    await Promise.all([...this.sessions.values()].map((s) => s.reclaimed));
    this.sessions.clear();
  }

  private sessionKey(tenantId: string, uploadId: string): string {
    return `${tenantId}/${uploadId}`;
  }

  private find(identity: Identity, uploadId: string): Session {
    const s = this.sessions.get(this.sessionKey(identity.tenantId, uploadId));
    if (!s || s.uploaderId !== identity.agentId) {
      throw hubError(Code.NotFound, `upload "${uploadId}" not found`, {
        reason: "UPLOAD_NOT_FOUND",
      });
    }
    return s;
  }

  private exclusive<T>(s: Session, fn: () => Promise<T>): Promise<T> {
    const run = s.queue.then(fn, fn);
    s.queue = run.catch(() => {});
    return run;
  }

  private requireOpen(s: Session): void {
    this.expireIfDue(s);
    if (s.state !== UploadState.OPEN) throw notOpen(s);
  }

  private expireIfDue(s: Session): void {
    if (s.state === UploadState.OPEN && this.hub.clock.now() >= s.expiresAt) {
      this.closeSession(s, UploadState.EXPIRED);
    }
  }

  /**
   * One timer per session, at its expiry. Accepted chunks only move expiresAt; when the timer
   * fires early it re-arms for the new time, which is cheaper than a new timer per chunk.
   */
  private armExpiry(s: Session): void {
    const timer = this.hub.clock.setTimer(s.expiresAt - this.hub.clock.now(), () => {
      this.timers.delete(timer);
      s.timer = undefined;
      if (s.state !== UploadState.OPEN) return;
      if (this.hub.clock.now() < s.expiresAt) {
        this.armExpiry(s);
        return;
      }
      // Through the queue, so a chunk being stored right now finishes (and may extend) first.
      void this.exclusive(s, async () => {
        this.expireIfDue(s);
        if (s.state === UploadState.OPEN && !s.timer) this.armExpiry(s);
      });
    });
    s.timer = timer;
    this.timers.add(timer);
  }

  private closeSession(
    s: Session,
    state: UploadState.COMMITTED | UploadState.ABORTED | UploadState.EXPIRED,
  ): void {
    if (s.state === UploadState.OPEN) this.staging.release(s.tenantId, s.verifiedOffset);
    s.state = state;
    s.expiresAt = this.hub.clock.now();
    s.hash = undefined;
    if (s.timer) {
      s.timer.cancel();
      this.timers.delete(s.timer);
      s.timer = undefined;
    }
    s.releaseSlot();
    if (s.mode === UploadMode.CREATE) {
      const reservation = `${s.tenantId}/${s.contextId}`;
      if (this.reserved.get(reservation) === s.id) this.reserved.delete(reservation);
    }
    if (state !== UploadState.COMMITTED) {
      s.reclaimed = this.hub.backend.blobs
        .discard(s.blobKey)
        .catch((e: unknown) => this.logReclaim(s, e));
    }
    const forget = this.hub.clock.setTimer(CLOSED_UPLOAD_RETENTION_MS, () => {
      this.timers.delete(forget);
      this.sessions.delete(this.sessionKey(s.tenantId, s.id));
    });
    this.timers.add(forget);
  }

  private logReclaim(s: Session, err: unknown): void {
    this.logger.log("error", "could not reclaim the bytes of a closed upload", {
      upload_id: s.id,
      tenant_id: s.tenantId,
      err,
    });
  }

  private async makeVisible(
    identity: Identity,
    s: Session,
    value: { storageRef: StorageRefRecord; sha256: Uint8Array },
  ): Promise<ContextRecord> {
    const input = s.input;
    try {
      if (s.mode === UploadMode.CREATE) {
        return await this.contexts.createStored(
          identity,
          {
            contextId: s.contextId,
            type: s.type,
            contentType: "",
            metadata: input.metadata,
            schemaVersion: input.schemaVersion,
            access: input.access,
            ttlMs: input.ttlMs,
          },
          value,
        );
      }
      return await this.contexts.update(identity, {
        contextId: s.contextId,
        expectedRevision: input.expectedRevision,
        value,
        metadata:
          input.replaceMetadata || Object.keys(input.metadata).length > 0
            ? input.metadata
            : undefined,
        schemaVersion: input.schemaVersion,
        ttlMs: input.ttlMs,
        access: input.access,
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
    if (live || this.reserved.has(`${identity.tenantId}/${contextId}`)) {
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

  private releaseBlob(ref: StorageRefRecord): void {
    if ((this.readers.get(refKey(ref)) ?? 0) > 0) this.released.set(refKey(ref), ref);
    else this.deleteBlob(ref);
  }

  private readerDone(ref: StorageRefRecord): void {
    const key = refKey(ref);
    const left = (this.readers.get(key) ?? 1) - 1;
    if (left > 0) {
      this.readers.set(key, left);
      return;
    }
    this.readers.delete(key);
    const doomed = this.released.get(key);
    if (doomed) {
      this.released.delete(key);
      this.deleteBlob(doomed);
    }
  }

  private deleteBlob(ref: StorageRefRecord): void {
    this.hub.backend.blobs.delete(ref).catch((err: unknown) =>
      this.logger.log("error", "could not delete the blob of a replaced context value", {
        key: ref.key,
        err,
      }),
    );
  }
}

function chunkError(
  s: Session,
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

function notOpen(s: Session): ConnectError {
  return hubError(
    Code.FailedPrecondition,
    `upload "${s.id}" is ${UploadState[s.state]}, not OPEN: begin a new upload`,
    { reason: "UPLOAD_NOT_OPEN", metadata: { state: stateName(s.state) } },
  );
}

function alreadyExists(contextId: string, tenantId: string): ConnectError {
  return hubError(
    Code.AlreadyExists,
    `context "${contextId}" already exists in tenant "${tenantId}"`,
  );
}

function revisionMismatch(current: ContextRecord, expected: number): ConnectError {
  return hubError(
    Code.Aborted,
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
