import type { TokenService } from "./auth/token-service.js";
import type { Clock } from "./clock.js";
import type { Logger } from "./logger.js";
import type { Backend, TenantRecord } from "./storage/types.js";

/** What every domain module and handler of one hub shares. */
export interface HubContext {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly tokens: TokenService;
  /** Changes whenever the hub's state is lost; cursors carry it. */
  readonly epoch: string;
  readonly nodeId: string;
  readonly limits: HubLimits;
  /** Where background work (timers, sweepers) reports failures it cannot return to a caller. */
  readonly logger: Logger;
  /** Reads a tenant (the caller's tenant always exists: authentication checked it). */
  tenant(tenantId: string): Promise<TenantRecord>;
}

export interface HubLimits {
  maxInlinePayloadBytes: number;
  maxRequestBytes: number;
  defaultChunkSizeBytes: number;
  maxObjectBytes: number;
  maxConcurrentStreamsPerAgent: number;
  /** How long an upload session may go without an accepted chunk before it expires. */
  uploadIdleTimeoutMs: number;
}
