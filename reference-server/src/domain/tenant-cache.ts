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
  async start(): Promise<void> {
    this.unsubscribe = await this.notifier.subscribe(TENANTS_CHANNEL, (id) => this.drop(id));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.entries.clear();
  }

  /** The tenant's record, from this node's copy when it is fresh enough. */
  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const now = performance.now();
    const entry = this.entries.get(tenantId);
    if (entry && entry.until > now) {
      if (entry.until - now < this.ttlMs / 4) this.refresh(tenantId, now);
      return entry.record;
    }
    return this.read(tenantId, now);
  }

  /**
   * Reads the tenant again beside the call that found its copy aging (shared with a read under
   * way; an error leaves the copy to age).
   */
  private refresh(tenantId: string, now: number): void {
    this.read(tenantId, now).catch(() => undefined);
  }

  /** Reads the tenant in the store and keeps its copy when nothing changed meanwhile. */
  private async read(tenantId: string, now: number): Promise<TenantRecord | undefined> {
    // Calls that miss together share one read, unless a change was heard since it began.
    const pending = this.reading.get(tenantId);
    if (pending && pending.generation === this.generation) return pending.read;
    const generation = this.generation;
    const read = this.store.get(tenantId);
    this.reading.set(tenantId, { generation, read });
    let record: TenantRecord | undefined;
    try {
      record = await read;
    } finally {
      if (this.reading.get(tenantId)?.read === read) this.reading.delete(tenantId);
    }
    if (!record) {
      this.entries.delete(tenantId);
    } else if (generation === this.generation) {
      this.entries.delete(tenantId); // re-inserted last: the oldest entries go first
      if (this.entries.size >= MAX_ENTRIES) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(tenantId, { record, until: now + this.ttlMs });
    }
    return record;
  }

  /**
   * Forgets the tenant here at once and tells every node to (call after a tenant was created,
   * updated or deleted). A lost announcement is covered by the TTL.
   */
  async changed(tenantId: string): Promise<void> {
    this.drop(tenantId);
    await this.notifier.publish(TENANTS_CHANNEL, tenantId).catch(() => undefined);
  }

  private drop(tenantId: string): void {
    this.generation++; // reads under way are neither kept nor shared from now on
    if (tenantId === "") this.entries.clear();
    else this.entries.delete(tenantId);
  }
}
