import { createHash, timingSafeEqual } from "node:crypto";
import {
  SubscribeContextsResponse_Kind as ContextEventKind,
  ContextScope,
} from "@acb/gen/acb/v1/contexts_pb";
import { type Identity, inAnyGroup, isAdmin } from "../auth/identity.js";
import type { Timer } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { newId } from "../ids.js";
import type { ContextQuery, ContextRecord, StorageRefRecord } from "../storage/types.js";
import { type ContextChange, decodeContextChange, encodeContextChange } from "./change-events.js";
import { decodePageToken, encodePageToken, pageSize } from "./cursor.js";
import { type Followed, followEvents, tenantStillCurrent } from "./event-stream.js";

export type { ContextChange } from "./change-events.js";

export interface AccessInput {
  scope: ContextScope;
  allowedIds: string[];
}

export interface CreateInput {
  contextId: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  metadata: Record<string, string>;
  schemaVersion: string;
  access: AccessInput | undefined;
  ttlMs: number | undefined;
  sha256: Uint8Array;
}

/** A value kept in the blob store (uploaded through LargeContextService), checked on upload. */
export interface StoredValue {
  storageRef: StorageRefRecord;
  sha256: Uint8Array;
}

export interface UpdateInput {
  contextId: string;
  expectedRevision: number;
  /** An inline value (checked against `sha256` when given) or an uploaded one. */
  value: { contentType: string; data: Uint8Array } | StoredValue | undefined;
  metadata: Record<string, string> | undefined;
  schemaVersion: string;
  ttlMs: number | undefined;
  access: AccessInput | undefined;
  sha256: Uint8Array;
}

export interface SubscribeInput {
  types: string[];
  metadata: Record<string, string>;
  cursor: string;
}

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

function checkChecksum(data: Uint8Array, supplied: Uint8Array): Uint8Array {
  const computed = sha256(data);
  if (supplied.length > 0 && !timingSafeEqual(computed, supplied)) {
    throw hubError(
      Code.DataLoss,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      "payload does not match the supplied sha256: it was corrupted on the way; nothing was stored",
      {
        reason: "CHECKSUM_MISMATCH",
        metadata: { computed_sha256: Buffer.from(computed).toString("hex") },
      },
    );
  }
  return computed;
}

export function normaliseAccess(access: AccessInput | undefined): AccessInput {
  const scope =
    access === undefined || access.scope === ContextScope.UNSPECIFIED
      ? ContextScope.PUBLIC
      : access.scope;
  const allowedIds = access?.allowedIds ?? [];
  if ((scope === ContextScope.PUBLIC || scope === ContextScope.PRIVATE) && allowedIds.length > 0) {
    throw hubError(
      Code.InvalidArgument,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      "access.allowed_ids must be empty for PUBLIC and PRIVATE scopes",
    );
  }
  if ((scope === ContextScope.GROUP || scope === ContextScope.SHARED) && allowedIds.length === 0) {
    throw hubError(
      Code.InvalidArgument,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      "access.allowed_ids must name at least one group or agent for GROUP and SHARED scopes",
    );
  }
  return { scope, allowedIds };
}

/**
 * Shared, versioned contexts: compare-and-set revisions, scopes, TTL and change subscriptions.
 * Every read path goes through {@link canRead}, so a context the caller may not see is NOT_FOUND.
 */
export class Contexts {
  private sweepTimer: { timer: Timer; at: number } | undefined;
  /**
   * Called with the blob of a revision that stopped being current (replaced, deleted, expired),
   * right after the change is stored, so the large-context service can reclaim it after a grace
   * period for downloads still reading it. Never rejects.
   */
  onBlobReleased: ((tenantId: string, ref: StorageRefRecord) => Promise<void>) | undefined;

  constructor(private readonly hub: HubContext) {}

  /** Whether `identity` may read `ctx` (owner, admin, or as its scope allows). */
  async canRead(identity: Identity, ctx: ContextRecord): Promise<boolean> {
    if (ctx.tenantId !== identity.tenantId) return false;
    if (ctx.ownerId === identity.agentId || isAdmin(identity)) return true;
    switch (ctx.scope) {
      case ContextScope.PUBLIC:
        return true;
      case ContextScope.SHARED:
        return ctx.allowedIds.includes(identity.agentId);
      case ContextScope.GROUP:
        return inAnyGroup(identity, ctx.allowedIds);
      default:
        return false;
    }
  }

  private isLive(ctx: ContextRecord): boolean {
    return ctx.expiresAt === undefined || ctx.expiresAt > this.hub.clock.now();
  }

  /**
   * The context if it exists, is live and readable; otherwise NOT_FOUND. A read for the caller
   * (not on the way to a write) is audited.
   */
  async readable(
    identity: Identity,
    contextId: string,
    purpose: "read" | "write" = "read",
  ): Promise<ContextRecord> {
    const ctx = await this.hub.backend.contexts.get(identity.tenantId, contextId);
    if (!ctx || !this.isLive(ctx) || !(await this.canRead(identity, ctx)))
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw notFound("context", contextId);
    if (purpose === "read") await this.audited(identity, "context.read", ctx);
    return ctx;
  }

  private audited(identity: Identity, action: string, ctx: ContextRecord): Promise<void> {
    return this.hub.audit({
      identity,
      action,
      target: `context/${ctx.id}`,
      outcome: "success",
      details: { revision: String(ctx.revision) },
    });
  }

  async create(identity: Identity, input: CreateInput): Promise<ContextRecord> {
    const digest = checkChecksum(input.data, input.sha256);
    return this.insert(identity, input, { sha256: digest, size: input.data.length });
  }

  /** Creates a context (revision 1) whose value an upload put in the blob store. */
  async createStored(
    identity: Identity,
    input: Omit<CreateInput, "data" | "sha256">,
    value: StoredValue,
  ): Promise<ContextRecord> {
    return this.insert(
      identity,
      { ...input, data: new Uint8Array() },
      { sha256: value.sha256, size: value.storageRef.size, storageRef: value.storageRef },
    );
  }

  private async insert(
    identity: Identity,
    input: Omit<CreateInput, "sha256">,
    value: { sha256: Uint8Array; size: number; storageRef?: StorageRefRecord },
  ): Promise<ContextRecord> {
    const access = normaliseAccess(input.access);
    const now = this.hub.clock.now();
    const ctx: ContextRecord = {
      tenantId: identity.tenantId,
      id: input.contextId || newId("ctx_", now),
      type: input.type,
      ownerId: identity.agentId,
      contentType: input.contentType,
      data: input.data,
      ...value,
      metadata: input.metadata,
      revision: 1,
      schemaVersion: input.schemaVersion,
      scope: access.scope,
      allowedIds: access.allowedIds,
      createdAt: now,
      updatedAt: now,
      ...(input.ttlMs !== undefined && { expiresAt: now + input.ttlMs }),
    };
    const rateBytes = value.storageRef ? 0 : value.size;
    await this.hub.quotas.chargeContextWrite(identity, rateBytes, value.size);
    if (!(await this.hub.backend.contexts.create(ctx, this.event(ContextEventKind.CREATED, ctx)))) {
      // An expired context still waiting for the sweeper does not hold its id.
      const existing = await this.hub.backend.contexts.get(identity.tenantId, ctx.id);
      if (existing && !this.isLive(existing)) {
        await this.expire(existing);
        return this.insert(identity, input, value);
      }
      throw hubError(
        Code.AlreadyExists,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `context "${ctx.id}" already exists in tenant "${identity.tenantId}"`,
      );
    }
    this.scheduleSweep(ctx.expiresAt);
    await this.hub.quotas.contextWritten(ctx.tenantId, value.size, value.size);
    await this.audited(identity, "context.create", ctx);
    return ctx;
  }

  async update(identity: Identity, input: UpdateInput): Promise<ContextRecord> {
    const value = input.value;
    const digest =
      value && "data" in value ? checkChecksum(value.data, input.sha256) : value?.sha256;
    if (!value && input.sha256.length > 0) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.InvalidArgument, "sha256 given without a payload to check");
    }
    const access = input.access && normaliseAccess(input.access);
    // Unconditional updates retry the compare-and-set until they win; conditional ones fail once.
    for (;;) {
      // Stryker disable next-line StringLiteral: any purpose but "read" leaves the read out of the audit log, as "write" does
      const current = await this.readable(identity, input.contextId, "write");
      if (
        (access || input.ttlMs !== undefined) &&
        current.ownerId !== identity.agentId &&
        !isAdmin(identity)
      ) {
        throw hubError(
          Code.PermissionDenied,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          `only the owner of context "${current.id}" may change its access or ttl`,
        );
      }
      if (input.expectedRevision !== 0 && input.expectedRevision !== current.revision) {
        throw this.revisionMismatch(current, input.expectedRevision);
      }
      const now = this.hub.clock.now();
      // A new value replaces the old one whichever tier each is in: drop the old storage ref.
      const { storageRef: _previousRef, ...rest } = current;
      const next: ContextRecord = {
        ...(value ? rest : current),
        revision: current.revision + 1,
        updatedAt: now,
        ...(value &&
          digest &&
          ("data" in value
            ? {
                contentType: value.contentType,
                data: value.data,
                sha256: digest,
                size: value.data.length,
              }
            : {
                data: new Uint8Array(),
                storageRef: value.storageRef,
                sha256: digest,
                size: value.storageRef.size,
              })),
        ...(input.metadata && { metadata: input.metadata }),
        ...(input.schemaVersion !== "" && { schemaVersion: input.schemaVersion }),
        ...(input.ttlMs !== undefined && { expiresAt: now + input.ttlMs }),
        ...(access && { scope: access.scope, allowedIds: access.allowedIds }),
      };
      const newBytes = value && "data" in value ? value.data.length : 0;
      await this.hub.quotas.chargeContextWrite(identity, newBytes, next.size - current.size);
      const result = await this.hub.backend.contexts.replace(
        next,
        current.revision,
        this.event(ContextEventKind.UPDATED, next),
      );
      if (result.ok) {
        // Stryker disable next-line BlockStatement: a blob not released is never deleted from the blob store: disk, which no client reads
        if (value && current.storageRef) {
          // Stryker disable next-line OptionalChaining: the large-context service, which every hub makes, sets it as it starts
          await this.onBlobReleased?.(current.tenantId, current.storageRef);
        }
        await this.hub.quotas.contextWritten(
          next.tenantId,
          value ? next.size : 0,
          next.size - current.size,
        );
        await this.audited(identity, "context.update", next);
        this.scheduleSweep(next.expiresAt);
        return next;
      }
      if (input.expectedRevision !== 0) {
        if (!result.current) throw notFound("context", input.contextId);
        throw this.revisionMismatch(result.current, input.expectedRevision);
      }
    }
  }

  async delete(identity: Identity, contextId: string, expectedRevision: number): Promise<void> {
    // Stryker disable next-line StringLiteral: any purpose but "read" leaves the read out of the audit log, as "write" does
    const current = await this.readable(identity, contextId, "write");
    if (current.ownerId !== identity.agentId && !isAdmin(identity)) {
      throw hubError(
        Code.PermissionDenied,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `only the owner of context "${contextId}" may delete it`,
      );
    }
    if (expectedRevision !== 0 && expectedRevision !== current.revision) {
      throw this.revisionMismatch(current, expectedRevision);
    }
    const result = await this.hub.backend.contexts.delete(
      identity.tenantId,
      contextId,
      current.revision,
      this.event(ContextEventKind.DELETED, current),
    );
    if (!result.ok) {
      if (!result.current) throw notFound("context", contextId);
      throw this.revisionMismatch(result.current, expectedRevision || current.revision);
    }
    // Stryker disable next-line OptionalChaining: the large-context service, which every hub makes, sets it as it starts
    if (current.storageRef) await this.onBlobReleased?.(current.tenantId, current.storageRef);
    await this.hub.quotas.storageReleased(current.tenantId, current.size);
    await this.audited(identity, "context.delete", current);
  }

  async list(identity: Identity, query: ContextQuery, size: number, token: string) {
    const limit = pageSize(size);
    const page: ContextRecord[] = [];
    let after = decodePageToken(token);
    // Scope filtering happens after the store's query, so keep reading until the page is full.
    for (;;) {
      const batch = await this.hub.backend.contexts.list(
        identity.tenantId,
        query,
        after,
        limit + 1,
      );
      for (const ctx of batch) {
        if (this.isLive(ctx) && (await this.canRead(identity, ctx))) page.push(ctx);
      }
      const last = batch[batch.length - 1];
      if (page.length > limit || batch.length <= limit || !last) break;
      after = last.id;
    }
    const items = page.slice(0, limit);
    const lastItem = items[items.length - 1];
    return {
      contexts: items,
      nextPageToken: page.length > limit && lastItem ? encodePageToken(lastItem.id) : "",
    };
  }

  /** Matching, readable changes from the cursor on, then live; see followEvents. */
  async *subscribe(
    identity: Identity,
    input: SubscribeInput,
    signal: AbortSignal,
  ): AsyncGenerator<Followed<ContextChange>> {
    await this.hub.audit({
      identity,
      action: "context.subscribe",
      target: input.types.length > 0 ? `contexts/${input.types.join(",")}` : "contexts",
      outcome: "success",
    });
    const stream = followEvents<ContextChange>(
      this.hub.backend.events,
      identity.tenantId,
      "contexts",
      input.cursor,
      this.hub.epoch,
      signal,
      decodeContextChange,
      tenantStillCurrent(this.hub, identity),
    );
    for await (const item of stream) {
      if (item.kind === "ready") {
        yield item;
        continue;
      }
      const ctx = item.event.context;
      if (input.types.length > 0 && !input.types.includes(ctx.type)) continue;
      if (!Object.entries(input.metadata).every(([k, v]) => ctx.metadata[k] === v)) continue;
      if (!(await this.canRead(identity, ctx))) continue;
      yield item;
    }
  }

  /**
   * Applies TTLs that passed while no hub ran (a durable backend), and arms the sweeper for the
   * earliest stored expiry.
   */
  async resume(): Promise<void> {
    await this.sweepExpired();
    this.scheduleSweep(await this.hub.backend.contexts.nextExpiry());
  }

  /** Deletes every context whose TTL has passed and records EXPIRED events. */
  async sweepExpired(): Promise<void> {
    for (;;) {
      const expired = await this.hub.backend.contexts.listExpired(this.hub.clock.now(), 500);
      for (const ctx of expired) await this.expire(ctx);
      if (expired.length < 500) break;
    }
  }

  // Stryker disable all: hub shutdown; nothing is served after it
  close(): void {
    this.sweepTimer?.timer.cancel();
    this.sweepTimer = undefined;
  }
  // Stryker restore all

  private async expire(ctx: ContextRecord): Promise<boolean> {
    const result = await this.hub.backend.contexts.delete(
      ctx.tenantId,
      ctx.id,
      ctx.revision,
      this.event(ContextEventKind.EXPIRED, ctx),
    );
    if (result.ok) {
      // Stryker disable next-line OptionalChaining: the large-context service, which every hub makes, sets it as it starts
      if (ctx.storageRef) await this.onBlobReleased?.(ctx.tenantId, ctx.storageRef);
      await this.hub.quotas.storageReleased(ctx.tenantId, ctx.size);
    }
    return result.ok;
  }

  /** Keeps one timer armed for the earliest expiry. */
  private scheduleSweep(expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    if (this.sweepTimer && this.sweepTimer.at <= expiresAt) return;
    this.sweepTimer?.timer.cancel();
    const timer = this.hub.clock.setTimer(expiresAt - this.hub.clock.now(), () => {
      this.sweepTimer = undefined;
      // Stryker disable all: a log line
      const failed = (err: unknown) =>
        this.hub.logger.log("error", "context TTL sweep failed", { err });
      // Stryker restore all
      this.sweepExpired()
        .then(async () => this.scheduleSweep(await this.hub.backend.contexts.nextExpiry()))
        .catch(failed);
    });
    this.sweepTimer = { timer, at: expiresAt };
  }

  private revisionMismatch(current: ContextRecord, expected: number) {
    return hubError(
      Code.Aborted,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `context "${current.id}" is at revision ${current.revision}, not ${expected}: re-read it and retry`,
      { reason: "REVISION_MISMATCH", metadata: { current_revision: String(current.revision) } },
    );
  }

  /** The change event a write stores with itself (in the same atomic step). */
  private event(kind: ContextEventKind, ctx: ContextRecord): Uint8Array {
    return encodeContextChange({ kind, context: ctx, time: this.hub.clock.now() });
  }
}
