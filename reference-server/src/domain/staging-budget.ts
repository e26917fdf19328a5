// What upload sessions may stage before they commit: a tenant's storage quota counts staged bytes
// too (a tenant with a 4 KiB quota must not park gigabytes in the blob store), and staging is
// bounded per tenant and per hub, so one tenant cannot fill the disk every tenant shares.
//
// The staged totals come from the stored sessions (UploadSessionStore.stagedBytes: the verified
// bytes of OPEN sessions), so they survive a restart of a durable hub and count the sessions of
// every node sharing the backend. Chunks this process is storing right now, not yet recorded in
// their session, are counted here until they are.

import type { Identity } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";

/** How long a refused upload is told to wait before trying again. */
const RETRY_AFTER_MS = 60_000;

export class StagingBudget {
  /** Bytes of chunks this process is storing, not yet in their session's verifiedOffset. */
  private readonly inFlight = new Map<string, number>();
  private inFlightAll = 0;

  constructor(private readonly hub: HubContext) {}

  /**
   * BeginUpload: refuses a declared size that cannot be staged — past the tenant's storage quota
   * (counting what it holds and already stages; the bytes of an update stage beside the value
   * they replace) or past the per-tenant staging bound.
   */
  async admit(identity: Identity, totalSize: number): Promise<void> {
    const { maxStagedBytesPerTenant } = this.hub.limits;
    if (maxStagedBytesPerTenant > 0 && totalSize > maxStagedBytesPerTenant) {
      throw this.refused(
        "upload.staged_bytes_per_tenant",
        `total_size ${totalSize} exceeds the ${maxStagedBytesPerTenant} bytes a tenant may stage on this hub`,
      );
    }
    await this.checkQuota(identity.tenantId, totalSize, await this.staged(identity.tenantId));
  }

  /**
   * A chunk of `bytes` is about to be staged: checks the quota and both bounds and counts the
   * bytes as in flight until {@link settle} (call it once the session records the chunk, or when
   * the chunk was not stored after all).
   */
  async reserve(tenantId: string, bytes: number): Promise<void> {
    const staged = await this.staged(tenantId);
    await this.checkQuota(tenantId, bytes, staged);
    const { maxStagedBytesPerTenant, maxStagedBytesPerHub } = this.hub.limits;
    if (maxStagedBytesPerTenant > 0 && staged.tenant + bytes > maxStagedBytesPerTenant) {
      throw this.refused(
        "upload.staged_bytes_per_tenant",
        `tenant "${tenantId}" already stages ${staged.tenant} of the ${maxStagedBytesPerTenant} bytes a tenant may stage: commit or abort an upload first`,
      );
    }
    if (maxStagedBytesPerHub > 0 && staged.all + bytes > maxStagedBytesPerHub) {
      throw this.refused(
        "upload.staged_bytes_per_hub",
        `this hub already stages ${staged.all} of its ${maxStagedBytesPerHub} bytes for uploads: try again later`,
      );
    }
    this.inFlight.set(tenantId, (this.inFlight.get(tenantId) ?? 0) + bytes);
    this.inFlightAll += bytes;
  }

  /** A reserved chunk is no longer in flight: its session records it, or it was not stored. */
  settle(tenantId: string, bytes: number): void {
    const left = (this.inFlight.get(tenantId) ?? 0) - bytes;
    if (left > 0) this.inFlight.set(tenantId, left);
    else this.inFlight.delete(tenantId);
    this.inFlightAll = Math.max(0, this.inFlightAll - bytes);
  }

  /** Staged bytes of the tenant and of every tenant: the stored sessions' and those in flight. */
  private async staged(tenantId: string): Promise<{ tenant: number; all: number }> {
    const stored = await this.hub.backend.uploads.stagedBytes(tenantId);
    return {
      tenant: stored.tenant + (this.inFlight.get(tenantId) ?? 0),
      all: stored.all + this.inFlightAll,
    };
  }

  private async checkQuota(
    tenantId: string,
    moreBytes: number,
    staged: { tenant: number },
  ): Promise<void> {
    const quota = (await this.hub.tenant(tenantId)).quotas.storageBytes;
    if (quota <= 0 || moreBytes <= 0) return;
    const held = await this.hub.backend.usage.storageBytes(tenantId);
    if (held + staged.tenant + moreBytes > quota) {
      throw this.refused(
        "tenant.storage_bytes",
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `tenant "${tenantId}" holds ${held} and stages ${staged.tenant} of its ${quota} storage bytes; ${moreBytes} more would pass the quota`,
      );
    }
  }

  private refused(limit: string, message: string) {
    return hubError(Code.ResourceExhausted, message, { retryAfterMs: RETRY_AFTER_MS, limit });
  }
}
