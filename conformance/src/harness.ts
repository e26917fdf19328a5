// Provisioning over the wire: every case gets fresh tenants (run-unique ids, settings tuned for a
// fast deterministic check) and agents with tokens issued through AuthService.IssueToken; every
// tenant is deleted when its case ends.

import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { AdminService, type TenantSettings, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { ConversationService } from "@acb/gen/acb/v1/conversations_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type GetServerInfoResponse, ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { Health } from "@acb/gen/grpc/health/v1/health_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Duration, DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import type { StreamReader } from "./wire.js";

/** The wire protocol the suite speaks to the hub. */
export type WireProtocol = "connect" | "grpc" | "grpc-web";

/** Figures a case reads from the run's options. */
export interface CaseSettings {
  /** Upper bound of every wait for an event the hub owes (a delivery, a READY marker). */
  readonly waitMs: number;
  /** Latency thresholds in ms. */
  readonly thresholds: { readonly p50: number; readonly p95: number; readonly p99: number };
  /** Latency load: messages and their rate. */
  readonly latencyLoad: {
    readonly messages: number;
    readonly ratePerSecond: number;
    /** Payload bytes of each message. */
    readonly messageBytes: number;
  };
  /** Shell command that restarts the hub (durability profile); undefined skips it. */
  readonly restartCmd: string | undefined;
}

/** The clients of one credential, one per service. */
export interface Clients {
  readonly registry: Client<typeof RegistryService>;
  readonly contexts: Client<typeof ContextService>;
  readonly messaging: Client<typeof MessagingService>;
  readonly conversations: Client<typeof ConversationService>;
  readonly large: Client<typeof LargeContextService>;
  readonly meetings: Client<typeof MeetingService>;
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  readonly info: Client<typeof ServerInfoService>;
  readonly health: Client<typeof Health>;
}

/** A provisioned agent: its id, token and clients. */
export interface TestAgent extends Clients {
  readonly id: string;
  readonly tenantId: string;
  readonly token: string;
}

export interface AgentOptions {
  /** Default [AGENT_FULL]. */
  roles?: Role[];
  /**
   * The node (index into the run's URLs) the agent's clients talk to; default 0, the first. With
   * one URL every index is that node.
   */
  node?: number;
  /** Register the agent (default true). */
  register?: boolean;
  /** Extra fields of the RegisterRequest. */
  registration?: {
    capabilities?: string[];
    location?: string;
    metadata?: Record<string, string>;
    groups?: string[];
  };
}

/** A tenant created for one case. */
export interface TestTenant {
  readonly id: string;
  /** Issues a token for `name` (agent ids are the names: the tenant is run-unique already). */
  agent(name: string, options?: AgentOptions): Promise<TestAgent>;
}

/** Tenant settings a case asks for (TenantSettings, in milliseconds). */
export type TenantSettingsInit = Partial<
  Pick<TenantSettings, "maxDeliveryAttempts"> & {
    ackDeadlineMs: number;
    presenceTimeoutMs: number;
    heartbeatIntervalMs: number;
    dedupeWindowMs: number;
  }
>;

/** A latency measurement as the JSON report gives it, for a CI to graph. */
export interface LatencyProfile {
  /** The offered (paced, open-loop) load in messages per second. */
  offeredRatePerSecond: number;
  /** The rate the sends actually left at (below the offered rate when the client fell behind). */
  achievedRatePerSecond: number;
  /** Messages sent and measured (first delivery attempts only). */
  messages: number;
  samples: number;
  /** Payload bytes of each message. */
  messageBytes: number;
  senders: number;
  /** Send→deliver latency in ms (nearest rank). */
  percentilesMs: { p50: number; p90: number; p95: number; p99: number; max: number };
  meanMs: number;
  /** The thresholds the run applied, in ms. */
  thresholdsMs: { p50: number; p95: number; p99: number };
}

/** What a running case gets. */
export interface CaseContext {
  /** Aborted when the case times out or ends: pass it to every call and stream. */
  readonly signal: AbortSignal;
  readonly settings: CaseSettings;
  readonly info: GetServerInfoResponse;
  /** Clients with the platform-admin credential (for cross-tenant and admin checks). */
  readonly admin: Clients;
  /**
   * Clients with a given raw Authorization header value (undefined: no header), talking to `node`
   * (index into the run's URLs; default 0).
   */
  clientsWith(authorization: string | undefined, node?: number): Clients;
  /** The transport {@link clientsWith} uses, for services beyond {@link Clients}. */
  transportWith(authorization: string | undefined, node?: number): Transport;
  /**
   * Clients with a given Authorization header value on a connection of their own whose socket is
   * bound to `localAddress` (an IPv4 loopback address, 127.x.y.z), so that the hub sees another
   * network address than the rest of the run's; closed when the case ends. Undefined when the
   * hub (the first --url) is not on this host's IPv4 loopback, where no such address is ours.
   */
  clientsFrom(localAddress: string, authorization: string | undefined): Clients | undefined;
  /** How many nodes of the hub the run was given (one per --url); the cluster cases need two. */
  readonly nodes: number;
  /** Creates a fresh tenant, deleted when the case ends. */
  tenant(settings?: TenantSettingsInit): Promise<TestTenant>;
  /**
   * An agent of a tenant the case created itself (CreateTenant with quotas of its own), made as
   * {@link TestTenant.agent} makes them.
   */
  agentIn(tenantId: string, name: string, options?: AgentOptions): Promise<TestAgent>;
  /** Opens a server stream that is closed when the case ends. */
  stream<T>(open: (signal: AbortSignal) => AsyncIterable<T>): StreamReader<T>;
  /** Records what the case measured; it appears in the case's result and the JSON report. */
  measured(latency: LatencyProfile): void;
  /** Registers cleanup work to run when the case ends (in reverse order). */
  defer(fn: () => Promise<unknown> | unknown): void;
}

export function duration(ms: number): MessageInitShape<typeof DurationSchema> {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function durationMs(d: Duration | undefined): number {
  return d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000) : 0;
}

function bearer(value: string | undefined): Interceptor {
  return (next) => (req) => {
    if (value !== undefined) req.header.set("Authorization", value);
    return next(req);
  };
}

/** One connection pool to the hub, shared by every credential of the run. */
export class Wire {
  private readonly sessions: Http2SessionManager | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly protocol: WireProtocol,
  ) {
    // Connect and gRPC share one HTTP/2 connection (client streams need HTTP/2 anyway).
    this.sessions = protocol === "grpc-web" ? undefined : new Http2SessionManager(baseUrl);
  }

  private transport(
    authorization: string | undefined,
    sessions = this.sessions,
    baseUrl = this.baseUrl,
    localAddress?: string,
  ): Transport {
    const interceptors = [bearer(authorization)];
    if (this.protocol === "grpc") {
      return createGrpcTransport({
        baseUrl,
        interceptors,
        ...(sessions && { sessionManager: sessions }),
      });
    }
    if (this.protocol === "grpc-web") {
      return createGrpcWebTransport({
        baseUrl,
        httpVersion: "1.1",
        interceptors,
        ...(localAddress !== undefined && { nodeOptions: { localAddress } }),
      });
    }
    return createConnectTransport({
      baseUrl,
      httpVersion: "2",
      interceptors,
      ...(sessions && { sessionManager: sessions }),
    });
  }

  clients(authorization: string | undefined): Clients {
    return clientsOf(this.transport(authorization));
  }

  /** The transport of {@link clients}. */
  transportFor(authorization: string | undefined): Transport {
    return this.transport(authorization);
  }

  /**
   * A connection of its own bound to `localAddress` (see {@link CaseContext.clientsFrom}): a
   * function that gives clients on it for an Authorization header value, and one that closes it;
   * undefined when the hub is not on the IPv4 loopback.
   */
  connectionFrom(
    localAddress: string,
  ): { clients(authorization: string | undefined): Clients; close(): void } | undefined {
    const url = new URL(this.baseUrl);
    if (url.hostname === "localhost") url.hostname = "127.0.0.1";
    if (!/^127\.\d+\.\d+\.\d+$/.test(url.hostname)) return undefined;
    const baseUrl = url.toString().replace(/\/$/, "");
    const sessions =
      this.protocol === "grpc-web"
        ? undefined
        : new Http2SessionManager(baseUrl, undefined, {
            createConnection: (authority) =>
              connect({ host: authority.hostname, port: Number(authority.port), localAddress }),
          });
    return {
      clients: (authorization) =>
        clientsOf(this.transport(authorization, sessions, baseUrl, localAddress)),
      close: () => sessions?.abort(),
    };
  }

  close(): void {
    this.sessions?.abort();
  }
}

/** One client per service over `t`. */
function clientsOf(t: Transport): Clients {
  return {
    registry: createClient(RegistryService, t),
    contexts: createClient(ContextService, t),
    messaging: createClient(MessagingService, t),
    conversations: createClient(ConversationService, t),
    large: createClient(LargeContextService, t),
    meetings: createClient(MeetingService, t),
    auth: createClient(AuthService, t),
    admin: createClient(AdminService, t),
    info: createClient(ServerInfoService, t),
    health: createClient(Health, t),
  };
}

/** Creates tenants with run-unique ids and deletes every one it created. */
export class Provisioner {
  readonly runId = randomBytes(5).toString("hex");
  private count = 0;
  private readonly live = new Set<string>();

  constructor(
    private readonly wires: readonly Wire[],
    private readonly admin: Clients,
  ) {}

  async createTenant(settings: TenantSettingsInit = {}): Promise<TestTenant> {
    const id = `acbc-${this.runId}-${++this.count}`;
    await this.admin.admin.createTenant({
      tenantId: id,
      displayName: `acb-conformance run ${this.runId}`,
      // No tier quotas: the cases create a handful of agents and send bursts on purpose.
      tier: Tier.ENTERPRISE,
      settings: {
        ...(settings.ackDeadlineMs !== undefined && {
          ackDeadline: duration(settings.ackDeadlineMs),
        }),
        ...(settings.presenceTimeoutMs !== undefined && {
          presenceTimeout: duration(settings.presenceTimeoutMs),
        }),
        ...(settings.heartbeatIntervalMs !== undefined && {
          heartbeatInterval: duration(settings.heartbeatIntervalMs),
        }),
        ...(settings.dedupeWindowMs !== undefined && {
          dedupeWindow: duration(settings.dedupeWindowMs),
        }),
        ...(settings.maxDeliveryAttempts !== undefined && {
          maxDeliveryAttempts: settings.maxDeliveryAttempts,
        }),
      },
    });
    this.live.add(id);
    return {
      id,
      agent: (name, options) => this.agent(id, name, options),
    };
  }

  /** Issues a token for `name` in `tenantId` and (by default) registers the agent. */
  async agent(tenantId: string, name: string, options: AgentOptions = {}): Promise<TestAgent> {
    const issued = await this.admin.auth.issueToken({
      tenantId,
      agentId: name,
      roles: options.roles ?? [Role.AGENT_FULL],
      // Group membership is granted by the credential; the registration shows the same groups.
      groups: options.registration?.groups ?? [],
    });
    const token = issued.tokens?.accessToken;
    if (!token) throw new Error(`IssueToken for "${name}" returned no access token`);
    const wire = this.wires[(options.node ?? 0) % this.wires.length] as Wire;
    const clients = wire.clients(`Bearer ${token}`);
    if (options.register ?? true) {
      await clients.registry.register({
        ...options.registration,
        agentId: name,
        type: "conformance",
      });
    }
    return { ...clients, id: name, tenantId, token };
  }

  async deleteTenant(id: string): Promise<void> {
    try {
      await this.admin.admin.deleteTenant({ tenantId: id });
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) throw err;
    }
    this.live.delete(id);
  }

  /** Tenants created and not yet deleted. */
  get remaining(): string[] {
    return [...this.live];
  }
}
