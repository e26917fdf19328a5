// A small harness for the security suites: one hub on a real port with a ManualClock, tenants
// provisioned through AdminService, agents with issued tokens, and audit-log lookups.

import { randomUUID } from "node:crypto";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { expect } from "vitest";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub, type HubOptions } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";

export interface Clients {
  registry: Client<typeof RegistryService>;
  contexts: Client<typeof ContextService>;
  large: Client<typeof LargeContextService>;
  messaging: Client<typeof MessagingService>;
  meetings: Client<typeof MeetingService>;
  auth: Client<typeof AuthService>;
  admin: Client<typeof AdminService>;
}

/** CreateTenant fields a test may set (the harness picks the id). */
export interface TenantInit {
  tier?: Tier;
  quotas?: MessageInitShape<typeof AdminService.method.createTenant.input>["quotas"];
}

export interface TestHub {
  hub: Hub;
  clock: ManualClock;
  url: string;
  adminToken: string;
  /** Clients sending `token` (none when undefined) and, when given, an x-correlation-id. */
  clients(token?: string, correlationId?: string): Clients;
  admin: Clients;
  newTenant(
    init?: Omit<MessageInitShape<typeof AdminService.method.createTenant.input>, "tenantId">,
  ): Promise<string>;
  /** Issues a token (a day long) for an agent; `groups` are the groups its credential grants. */
  agentIn(tenantId: string, agentId: string, roles?: Role[], groups?: string[]): Promise<Agent>;
  close(): Promise<void>;
}

export interface Agent extends Clients {
  id: string;
  token: string;
  refreshToken: string;
}

export function transport(url: string, token?: string, correlationId?: string): Transport {
  return createConnectTransport({
    baseUrl: url,
    httpVersion: "2",
    interceptors: [
      (next) => (req) => {
        if (token !== undefined) req.header.set("Authorization", `Bearer ${token}`);
        if (correlationId !== undefined) req.header.set("x-correlation-id", correlationId);
        return next(req);
      },
    ],
  });
}

export function clientsOf(t: Transport): Clients {
  return {
    registry: createClient(RegistryService, t),
    contexts: createClient(ContextService, t),
    large: createClient(LargeContextService, t),
    messaging: createClient(MessagingService, t),
    meetings: createClient(MeetingService, t),
    auth: createClient(AuthService, t),
    admin: createClient(AdminService, t),
  };
}

export async function startTestHub(options: HubOptions = {}): Promise<TestHub> {
  const clock = new ManualClock();
  // Tokens of a day (agentIn), so suites may move the clock by hours.
  const hub = await createHub({
    clock,
    logger: silentLogger,
    ...options,
    limits: { maxAccessTokenTtlMs: 86_400_000, ...options.limits },
  });
  const url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  // Long-lived, so suites may move the clock by months (audit retention).
  const adminToken = await hub.issueAdminToken(2 * 365 * 24 * 3_600_000);
  const clients = (token?: string, correlationId?: string) =>
    clientsOf(transport(url, token, correlationId));
  const admin = clients(adminToken);
  return {
    hub,
    clock,
    url,
    adminToken,
    clients,
    admin,
    async newTenant(init = {}) {
      const tenantId = `t-${randomUUID().slice(0, 8)}`;
      await admin.admin.createTenant({
        tenantId,
        tier: init.tier ?? Tier.ENTERPRISE,
        ...(init.quotas && { quotas: init.quotas }),
      });
      return tenantId;
    },
    async agentIn(tenantId, agentId, roles = [Role.AGENT_FULL], groups = []) {
      // A day (the most IssueToken grants), so suites may move the clock by hours.
      const res = await admin.auth.issueToken({
        tenantId,
        agentId,
        roles,
        accessTokenTtl: { seconds: 86_400n },
        groups,
      });
      const token = res.tokens?.accessToken ?? "";
      expect(token).not.toBe("");
      return {
        id: agentId,
        token,
        refreshToken: res.tokens?.refreshToken ?? "",
        ...clients(token),
      };
    },
    close: () => hub.close(),
  };
}

/** Awaits a call that must fail with `code`; returns the error. */
export async function expectCode(call: Promise<unknown>, code: Code): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  if (caught === undefined) throw new Error(`expected ${Code[code]}, but the call succeeded`);
  const err = ConnectError.from(caught);
  expect(Code[err.code], err.message).toBe(Code[code]);
  return err;
}

/** Drains a server stream (the first refusal surfaces on the first read). */
export async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // keep reading
  }
}

export const text = (s: string) => new TextEncoder().encode(s);
export const newCorrelationId = () => `test-${randomUUID()}`;

/** Every audit record (all tenants, through QueryAuditLog as a platform admin) with this correlation id. */
export async function auditedWith(t: TestHub, correlationId: string) {
  const found = [];
  let pageToken = "";
  do {
    const res = await t.admin.admin.queryAuditLog({ tenantId: "*", pageSize: 1000, pageToken });
    found.push(...res.records.filter((r) => r.correlationId === correlationId));
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return found;
}

/** Asserts that the audit log holds a record of the attempt made with `correlationId`. */
export async function expectAudited(
  t: TestHub,
  correlationId: string,
  want: { action: string; outcome: string; tenantId?: string; actor?: string; reason?: RegExp },
): Promise<void> {
  const records = await auditedWith(t, correlationId);
  const match = records.find(
    (r) =>
      r.action === want.action &&
      r.outcome === want.outcome &&
      (want.tenantId === undefined || r.tenantId === want.tenantId) &&
      (want.actor === undefined || r.actor === want.actor) &&
      (want.reason === undefined || want.reason.test(r.details["reason"] ?? "")),
  );
  expect(
    match,
    `no audit record ${JSON.stringify({ ...want, reason: want.reason?.source })} among ${JSON.stringify(records.map((r) => [r.action, r.outcome, r.tenantId, r.actor, r.details["reason"]]))}`,
  ).toBeDefined();
}
