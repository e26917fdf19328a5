// What upload sessions may stage before they commit: a tenant's storage quota counts staged bytes
// too (a tenant with a 4 KiB quota must not park gigabytes in the blob store), and staging is
// bounded per tenant and per hub node, so one tenant cannot fill the disk every tenant shares.

import type { Identity } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { HubContext } from "../hub-context.js";

/** How long a refused upload is told to wait before trying again. */
const RETRY_AFTER_MS = 60_000;

export class StagingBudget {
  /** Bytes staged by OPEN upload sessions of this node, per tenant. */
  private readonly byTenant = new Map<string, number>();
  private total = 0;

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
    await this.checkQuota(identity.tenantId, totalSize);
  }

  /**
   * A chunk of `bytes` is about to be staged: checks the quota and both bounds and counts the
   * bytes (give them back with {@link release} if the chunk is not stored after all).
   */
  async reserve(tenantId: string, bytes: number): Promise<void> {
    await this.checkQuota(tenantId, bytes);
    const { maxStagedBytesPerTenant, maxStagedBytesPerHub } = this.hub.limits;
    const staged = this.byTenant.get(tenantId) ?? 0;
    if (maxStagedBytesPerTenant > 0 && staged + bytes > maxStagedBytesPerTenant) {
      throw this.refused(
        "upload.staged_bytes_per_tenant",
        `tenant "${tenantId}" already stages ${staged} of the ${maxStagedBytesPerTenant} bytes a tenant may stage: commit or abort an upload first`,
      );
    }
    if (maxStagedBytesPerHub > 0 && this.total + bytes > maxStagedBytesPerHub) {
      throw this.refused(
        "upload.staged_bytes_per_hub",
        `this hub node already stages ${this.total} of its ${maxStagedBytesPerHub} bytes for uploads: try again later`,
      );
    }
    this.byTenant.set(tenantId, staged + bytes);
    this.total += bytes;
  }

  /** Staged bytes leave the budget: a chunk that was not stored, or a session that closed. */
  release(tenantId: string, bytes: number): void {
    if (bytes <= 0) return;
    const left = (this.byTenant.get(tenantId) ?? 0) - bytes;
    if (left > 0) this.byTenant.set(tenantId, left);
    else this.byTenant.delete(tenantId);
    this.total = Math.max(0, this.total - bytes);
  }

  /** Staged bytes of a tenant on this node. */
  stagedBy(tenantId: string): number {
    return this.byTenant.get(tenantId) ?? 0;
  }

  private async checkQuota(tenantId: string, moreBytes: number): Promise<void> {
    const quota = (await this.hub.tenant(tenantId)).quotas.storageBytes;
    if (quota <= 0 || moreBytes <= 0) return;
    const held = await this.hub.backend.usage.storageBytes(tenantId);
    const staged = this.stagedBy(tenantId);
    if (held + staged + moreBytes > quota) {
      throw this.refused(
        "tenant.storage_bytes",
        `tenant "${tenantId}" holds ${held} and stages ${staged} of its ${quota} storage bytes; ${moreBytes} more would pass the quota`,
      );
    }
  }

  private refused(limit: string, message: string) {
    return hubError(Code.ResourceExhausted, message, { retryAfterMs: RETRY_AFTER_MS, limit });
  }
}
