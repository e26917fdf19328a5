// The attacker's side of the hardening issue: what an outside attack run got through, tried
// again over the wire. Each attempt must now be refused (with the documented code), change
// nothing, and be audited.

import { AuditRecordSchema, Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextScope } from "@acb/gen/acb/v1/contexts_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { toJsonString } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Agent,
  expectAudited,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
  text,
  transport,
} from "./security-harness.js";

let t: TestHub;
let tenantId: string;
let owner: Agent;

beforeAll(async () => {
  t = await startTestHub();
  tenantId = await t.newTenant();
  owner = await t.agentIn(tenantId, "owner", [Role.AGENT_FULL], ["finance"]);
  await owner.contexts.createContext({
    contextId: "ledger",
    type: "note",
    payload: { contentType: "text/plain", data: text("finance only") },
    access: { scope: ContextScope.GROUP, allowedIds: ["finance"] },
  });
});

afterAll(async () => {
  await t?.close();
});

describe("GROUP contexts: membership comes from the credential", () => {
  it("refuses an agent that registers itself into the group, and it still cannot read", async () => {
    const consumer = await t.agentIn(tenantId, "snoop", [Role.AGENT_CONSUMER]);
    await expectCode(consumer.contexts.getContext({ contextId: "ledger" }), Code.NotFound);
    const cid = newCorrelationId();
    await expectCode(
      t.clients(consumer.token, cid).registry.register({
        agentId: "snoop",
        type: "svc",
        groups: ["finance"],
        takeOver: true,
      }),
      Code.PermissionDenied,
    );
    await expectAudited(t, cid, { action: "authz.deny", outcome: "denied", actor: "snoop" });
    await expectCode(consumer.contexts.getContext({ contextId: "ledger" }), Code.NotFound);
    expect((await consumer.contexts.listContexts({})).contexts.map((c) => c.id)).toEqual([]);
  });

  it("keeps a producer that claims the group from overwriting the context", async () => {
    const producer = await t.agentIn(tenantId, "forger", [Role.AGENT_PRODUCER]);
    await expectCode(
      producer.registry.register({ agentId: "forger", type: "svc", groups: ["finance"] }),
      Code.PermissionDenied,
    );
    await expectCode(
      producer.contexts.updateContext({
        contextId: "ledger",
        payload: { contentType: "text/plain", data: text("pwned") },
      }),
      Code.NotFound,
    );
    const still = await owner.contexts.getContext({ contextId: "ledger" });
    expect(still.context?.revision).toBe(1n);
  });

  it("lets an agent whose token or API key grants the group read it, and shows the grant", async () => {
    const member = await t.agentIn(tenantId, "accountant", [Role.AGENT_CONSUMER], ["finance"]);
    expect((await member.contexts.getContext({ contextId: "ledger" })).context?.id).toBe("ledger");
    expect((await member.auth.whoAmI({})).groups).toEqual(["finance"]);
    // Registering a granted group is allowed and shows in the registry.
    const reg = await member.registry.register({
      agentId: "accountant",
      type: "svc",
      groups: ["finance"],
    });
    expect(reg.agent?.groups).toEqual(["finance"]);

    // A refreshed token keeps the groups.
    const refreshed = await t.clients().auth.refreshToken({ refreshToken: member.refreshToken });
    const again = t.clients(refreshed.tokens?.accessToken);
    expect((await again.contexts.getContext({ contextId: "ledger" })).context?.id).toBe("ledger");

    const { secret, key } = await t.admin.auth.createApiKey({
      tenantId,
      agentId: "robot",
      roles: [Role.AGENT_CONSUMER],
      groups: ["finance"],
    });
    expect(key?.groups).toEqual(["finance"]);
    const robot = t.clients(secret);
    expect((await robot.contexts.getContext({ contextId: "ledger" })).context?.id).toBe("ledger");
  });
});

describe("UpdateTenant: tier and quotas are the platform's", () => {
  it("refuses a tenant admin lifting its own quotas or tier, and changes nothing", async () => {
    const limited = await t.newTenant({
      tier: Tier.CUSTOM,
      quotas: { storageBytes: 4096n, maxAgents: 2 },
    });
    const admin = await t.agentIn(limited, "tenant-admin", [Role.ADMIN]);
    const before = (await t.admin.admin.getTenant({ tenantId: limited })).tenant;

    const cid = newCorrelationId();
    await expectCode(
      t.clients(admin.token, cid).admin.updateTenant({ tenantId: limited, quotas: {} }),
      Code.PermissionDenied,
    );
    await expectAudited(t, cid, {
      action: "authz.deny",
      outcome: "denied",
      tenantId: limited,
      reason: /platform admin/,
    });
    await expectCode(
      admin.admin.updateTenant({ tenantId: limited, tier: Tier.ENTERPRISE }),
      Code.PermissionDenied,
    );
    // Even combined with a setting it may change, nothing changes.
    await expectCode(
      admin.admin.updateTenant({
        tenantId: limited,
        tier: Tier.ENTERPRISE,
        settings: { maxDeliveryAttempts: 9 },
      }),
      Code.PermissionDenied,
    );
    expect((await t.admin.admin.getTenant({ tenantId: limited })).tenant).toEqual(before);

    // Its own settings and display name it may change.
    const changed = await admin.admin.updateTenant({
      tenantId: limited,
      displayName: "Limited",
      settings: { maxDeliveryAttempts: 9 },
    });
    expect(changed.tenant?.settings?.maxDeliveryAttempts).toBe(9);
    expect(changed.tenant?.quotas?.storageBytes).toBe(4096n);
    expect(changed.tenant?.tier).toBe(Tier.CUSTOM);

    // A platform admin may change them.
    const lifted = await t.admin.admin.updateTenant({ tenantId: limited, tier: Tier.ENTERPRISE });
    expect(lifted.tenant?.tier).toBe(Tier.ENTERPRISE);
  });
});

describe("GetServerInfo", () => {
  it("shows the node id to admins only", async () => {
    const agent = createClient(ServerInfoService, transport(t.url, owner.token));
    expect((await agent.getServerInfo({})).nodeId).toBe("");
    const admin = await t.agentIn(tenantId, "info-admin", [Role.ADMIN]);
    const asAdmin = createClient(ServerInfoService, transport(t.url, admin.token));
    expect((await asAdmin.getServerInfo({})).nodeId).toBe(t.hub.nodeId);
    const asPlatform = createClient(ServerInfoService, transport(t.url, t.adminToken));
    expect((await asPlatform.getServerInfo({})).nodeId).toBe(t.hub.nodeId);
  });
});

describe("revoking access tokens", () => {
  it("refuses an agent's access and refresh tokens issued before RevokeAccessTokens", async () => {
    const stolen = await t.agentIn(tenantId, "stolen");
    const bystander = await t.agentIn(tenantId, "bystander");
    expect((await stolen.auth.whoAmI({})).agentId).toBe("stolen");
    const admin = await t.agentIn(tenantId, "sec-admin", [Role.ADMIN]);
    const res = await admin.auth.revokeAccessTokens({ tenantId, agentId: "stolen" });
    expect(res.notBefore).toBeDefined();

    const cid = newCorrelationId();
    const err = await expectCode(
      t.clients(stolen.token, cid).auth.whoAmI({}),
      Code.Unauthenticated,
    );
    expect(err.message).toMatch(/revoked/);
    await expectAudited(t, cid, { action: "auth.authenticate", outcome: "failure" });
    await expectCode(
      t.clients().auth.refreshToken({ refreshToken: stolen.refreshToken }),
      Code.Unauthenticated,
    );
    // Other agents are untouched; a token issued a second later works.
    expect((await bystander.auth.whoAmI({})).agentId).toBe("bystander");
    t.clock.advance(1_000);
    const reissued = await t.agentIn(tenantId, "stolen");
    expect((await reissued.auth.whoAmI({})).agentId).toBe("stolen");
  });

  it("revokes every token of a tenant, and a tenant admin cannot revoke another tenant's", async () => {
    const other = await t.newTenant();
    const victim = await t.agentIn(other, "victim");
    const adminA = await t.agentIn(tenantId, "admin-a", [Role.ADMIN]);
    await expectCode(adminA.auth.revokeAccessTokens({ tenantId: other }), Code.NotFound);
    expect((await victim.auth.whoAmI({})).agentId).toBe("victim");

    await t.admin.auth.revokeAccessTokens({ tenantId: other });
    await expectCode(victim.auth.whoAmI({}), Code.Unauthenticated);
  });

  it("grants at most the hub's maximum access-token lifetime", async () => {
    const hub = await startTestHub({ limits: { maxAccessTokenTtlMs: 4 * 3_600_000 } });
    try {
      const tenant = await hub.newTenant();
      await expectCode(
        hub.admin.auth.issueToken({
          tenantId: tenant,
          agentId: "long",
          roles: [Role.AGENT_FULL],
          accessTokenTtl: { seconds: 5n * 3600n },
        }),
        Code.InvalidArgument,
      );
      const ok = await hub.admin.auth.issueToken({
        tenantId: tenant,
        agentId: "short",
        roles: [Role.AGENT_FULL],
        accessTokenTtl: { seconds: 4n * 3600n },
      });
      expect(ok.tokens?.accessToken).not.toBe("");
    } finally {
      await hub.close();
    }
  });
});

describe("the victim tenant sees probes against its objects", () => {
  it("files refused attempts on tenant B's ids under B, without naming the prober", async () => {
    const victimTenant = await t.newTenant();
    const bob = await t.agentIn(victimTenant, "bob");
    await bob.registry.register({ agentId: "bob", type: "svc" });
    await bob.contexts.createContext({
      contextId: "b-secret",
      type: "note",
      payload: { contentType: "text/plain", data: text("tenant B only") },
    });
    await bob.meetings.createMeeting({ meetingId: "b-meeting", title: "B only" });
    const proberTenant = await t.newTenant();
    const mallory = await t.agentIn(proberTenant, "mallory");

    const cid = newCorrelationId();
    const probe = t.clients(mallory.token, cid);
    await expectCode(probe.contexts.getContext({ contextId: "b-secret" }), Code.NotFound);
    await expectCode(probe.meetings.getMeeting({ meetingId: "b-meeting" }), Code.NotFound);
    await expectCode(probe.registry.getAgent({ agentId: "bob" }), Code.NotFound);
    // An id that no tenant holds is no one's probe.
    await expectCode(probe.contexts.getContext({ contextId: "nobody-has-it" }), Code.NotFound);

    // Repeats in the same minute are counted in the first record, not filed one by one.
    for (let i = 0; i < 20; i++) {
      await expectCode(probe.contexts.getContext({ contextId: "b-secret" }), Code.NotFound);
    }

    const bAdmin = await t.agentIn(victimTenant, "b-admin", [Role.ADMIN]);
    const seen = (
      await bAdmin.admin.queryAuditLog({ tenantId: victimTenant, action: "authz.probe" })
    ).records;
    expect(seen.map((r) => r.target).sort()).toEqual([
      "agent/bob",
      "context/b-secret",
      "meeting/b-meeting",
    ]);
    for (const r of seen) {
      expect(r.actor).toBe("another-tenant");
      expect(r.outcome).toBe("denied");
      const shown = toJsonString(AuditRecordSchema, r);
      expect(shown).not.toContain(proberTenant);
      expect(shown).not.toContain("mallory");
    }
    expect(seen[0]?.details["rpc"]).toMatch(/^acb\.v1\./);
    expect(seen.find((r) => r.target === "context/b-secret")?.details["count"]).toBe("21");
    // The prober's tenant keeps its own record; the platform admin can match the two.
    await expectAudited(t, cid, {
      action: "authz.not_found",
      outcome: "denied",
      tenantId: proberTenant,
      actor: "mallory",
    });
    await expectAudited(t, cid, {
      action: "authz.probe",
      outcome: "denied",
      tenantId: victimTenant,
    });
    // The prober's admin learns nothing of B from its own log.
    const aAdmin = await t.agentIn(proberTenant, "a-admin", [Role.ADMIN]);
    const own = (await aAdmin.admin.queryAuditLog({ tenantId: proberTenant })).records;
    expect(own.map((r) => toJsonString(AuditRecordSchema, r)).join("\n")).not.toContain(
      victimTenant,
    );
  });
});
