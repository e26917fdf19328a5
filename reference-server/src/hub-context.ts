import type { AuditFn } from "./audit/audit-log.js";
import type { ApiKeys } from "./auth/api-keys.js";
import type { TokenService } from "./auth/token-service.js";
import type { Clock } from "./clock.js";
import type { Quotas } from "./domain/quotas.js";
import type { Logger } from "./logger.js";
import type { HubMetrics } from "./observability/metrics.js";
import type { MessageTracing } from "./observability/tracing.js";
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
  /** API keys for automation (created, listed, revoked by AuthService; verified on every call). */
  readonly apiKeys: ApiKeys;
  /** Records a security event in the audit log, with the current request's correlation id. */
  readonly audit: AuditFn;
  /** Quotas and the usage meter: message sends and context writes are charged here. */
  readonly quotas: Quotas;
  /** How long audit records are kept (ms). */
  readonly auditRetentionMs: number;
  /** Prometheus metrics of this node. */
  readonly metrics: HubMetrics;
  /** Continues a message's W3C trace through the hub (send and deliver spans). */
  readonly messageTracing: MessageTracing;
  /**
   * Reads a tenant (the caller's tenant always exists: authentication checked it), from this
   * node's copy when it is fresh (see domain/tenant-cache.ts); NOT_FOUND when there is none.
   */
  tenant(tenantId: string): Promise<TenantRecord>;
  /** Reads a tenant like {@link tenant}, answering undefined when there is none. */
  findTenant(tenantId: string): Promise<TenantRecord | undefined>;
  /** Announces that a tenant was created, updated or deleted: every node drops its copy. */
  tenantChanged(tenantId: string): Promise<void>;
}

export interface HubLimits {
  maxInlinePayloadBytes: number;
  maxRequestBytes: number;
  defaultChunkSizeBytes: number;
  maxObjectBytes: number;
  maxConcurrentStreamsPerAgent: number;
  /** How long an upload session may go without an accepted chunk before it expires. */
  uploadIdleTimeoutMs: number;
  /**
   * How long the blob of a replaced, deleted or expired large value is kept before it is deleted,
   * so downloads still reading it (on any node sharing the backend) can finish.
   */
  releasedBlobGraceMs: number;
  /**
   * How often a waiting reader (a Receive stream, a Request call) re-reads the store even without
   * a notification, in case one was lost.
   */
  notificationPollMs: number;
  /**
   * How long a Receive stream may send nothing before it sends a keepalive (KIND_KEEPALIVE), so
   * that proxies keep it open.
   */
  receiveKeepaliveMs: number;
  /** The longest access-token lifetime IssueToken grants (the protocol allows up to 24 h). */
  maxAccessTokenTtlMs: number;
  /** Bytes one tenant's open uploads may stage (on every node sharing the backend); 0: no bound. */
  maxStagedBytesPerTenant: number;
  /** Bytes all open uploads may stage (on every node sharing the backend); 0: no bound. */
  maxStagedBytesPerHub: number;
  /** Failed authentications per minute from one address answered one by one; 0: no limit. */
  authFailuresPerPeerPerMinute: number;
  /** Failed authentications per minute naming one tenant answered one by one; 0: no limit. */
  authFailuresPerTenantPerMinute: number;
}
