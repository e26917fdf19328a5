import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import {
  type Backend,
  createHub,
  createMemoryBackend,
  type Hub,
  type Listener,
  ManualClock,
  silentLogger,
} from "@acb/hub";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** A hub on a manual clock, one tenant, and a way to mint agent credentials. */
export interface TestBed {
  hub: Hub;
  backend: Backend;
  clock: ManualClock;
  listener: Listener;
  tenantId: string;
  presenceTimeoutMs: number;
  /** An access token for `agentId` in the test tenant. */
  tokenFor(agentId: string, roles?: Role[]): Promise<string>;
  /** Provisions another tenant and returns a token minter for it (isolation tests). */
  otherTenant(): Promise<{ tenantId: string; tokenFor(agentId: string): Promise<string> }>;
  close(): Promise<void>;
}

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

/** Options of {@link startTestBed}. */
export interface TestBedOptions {
  presenceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  ackDeadlineMs?: number;
  maxDeliveryAttempts?: number;
  /** The backend; default a fresh in-memory one. */
  backend?: Backend;
}

export async function startTestBed(options: TestBedOptions = {}): Promise<TestBed> {
  const clock = new ManualClock();
  const backend = options.backend ?? createMemoryBackend();
  const hub = await createHub({ clock, backend, logger: silentLogger });
  const listener = await hub.listen({ host: "127.0.0.1", port: 0 });
  const transport = createConnectTransport({
    baseUrl: listener.url,
    httpVersion: "1.1",
    interceptors: [bearer(await hub.issueAdminToken())],
  });
  const tenantId = `t-${Math.random().toString(36).slice(2, 10)}`;
  const presenceTimeoutMs = options.presenceTimeoutMs ?? 30_000;
  await createConnectClient(AdminService, transport).createTenant({
    tenantId,
    tier: Tier.ENTERPRISE,
    settings: {
      presenceTimeout: durationFromMs(presenceTimeoutMs),
      heartbeatInterval: durationFromMs(options.heartbeatIntervalMs ?? 10_000),
      ackDeadline: durationFromMs(options.ackDeadlineMs ?? 30_000),
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
    },
  });
  const auth = createConnectClient(AuthService, transport);
  return {
    hub,
    backend,
    clock,
    listener,
    tenantId,
    presenceTimeoutMs,
    async tokenFor(agentId, roles = [Role.AGENT_FULL]) {
      const res = await auth.issueToken({ tenantId, agentId, roles });
      return res.tokens?.accessToken ?? "";
    },
    async otherTenant() {
      const other = `t-${Math.random().toString(36).slice(2, 10)}`;
      await createConnectClient(AdminService, transport).createTenant({
        tenantId: other,
        tier: Tier.ENTERPRISE,
      });
      return {
        tenantId: other,
        async tokenFor(agentId: string) {
          const res = await auth.issueToken({ tenantId: other, agentId, roles: [Role.AGENT_FULL] });
          return res.tokens?.accessToken ?? "";
        },
      };
    },
    close: () => hub.close(),
  };
}
