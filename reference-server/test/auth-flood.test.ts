// A flood of bad credentials from one address, and one naming one tenant: past the limits the hub
// answers RESOURCE_EXHAUSTED with RetryInfo, counts the repeats in one aggregated audit record,
// and the evidence survives an audit store that is far smaller than the flood.

import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { Code } from "@connectrpc/connect";
import { generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryBackend } from "../src/storage/memory/memory-backend.js";
import {
  auditedWith,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
} from "./security-harness.js";

let t: TestHub | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function auditRecords(hub: TestHub, action: string) {
  const res = await hub.admin.admin.queryAuditLog({ tenantId: "*", action, pageSize: 1000 });
  return res.records;
}

describe("failed authentication is limited and aggregated", () => {
  it("per peer: UNAUTHENTICATED within the limit, then RESOURCE_EXHAUSTED counted in one record", async () => {
    // The store keeps 40 records only: a record per failure would push the evidence out.
    const backend = createMemoryBackend({ audit: { maxRecords: 40 } });
    const hub = await startTestHub({
      backend,
      limits: { authFailuresPerPeerPerMinute: 5, authFailuresPerTenantPerMinute: 0 },
    });
    t = hub;
    const tenantId = await hub.newTenant();
    const agent = await hub.agentIn(tenantId, "legit");
    const attacker = (cid?: string) => hub.clients("not-a-token", cid);

    for (let i = 0; i < 5; i++) {
      const cid = newCorrelationId();
      await expectCode(attacker(cid).auth.whoAmI({}), Code.Unauthenticated);
      expect((await auditedWith(hub, cid)).map((r) => r.action)).toEqual(["auth.authenticate"]);
    }
    const first = newCorrelationId();
    const refused = await expectCode(attacker(first).auth.whoAmI({}), Code.ResourceExhausted);
    const retry = refused.findDetails(RetryInfoSchema)[0];
    expect(retry?.limit).toBe("auth.failures_per_peer_per_minute");
    expect(Number(retry?.retryDelay?.seconds ?? 0n)).toBeGreaterThan(0);
    // A request without any credential counts as a failure too.
    await expectCode(hub.clients().auth.whoAmI({}), Code.ResourceExhausted);
    const flood = attacker();
    for (let i = 0; i < 200; i++) {
      await expectCode(flood.auth.whoAmI({}), Code.ResourceExhausted);
    }
    // A valid credential from the same address is not locked out.
    expect((await agent.auth.whoAmI({})).agentId).toBe("legit");

    const aggregated = await auditRecords(hub, "auth.rate_limited");
    expect(aggregated).toHaveLength(1);
    expect(aggregated[0]?.correlationId).toBe(first);
    expect(aggregated[0]?.details["count"]).toBe("202");
    expect(aggregated[0]?.details["peer"]).toMatch(/127\.0\.0\.1/);
    // No record per refused attempt: the log holds the 5 individual failures and the aggregate.
    const failures = (await auditRecords(hub, "auth.authenticate")).filter(
      (r) => r.outcome === "failure",
    );
    expect(failures).toHaveLength(5);
    expect(await auditRecords(hub, "quota.exceeded")).toHaveLength(0);

    // The next minute starts from zero.
    hub.clock.advance(60_000);
    await expectCode(attacker().auth.whoAmI({}), Code.Unauthenticated);
  });

  it("per claimed tenant: forged tokens naming one tenant are limited, other tenants are not", async () => {
    const hub = await startTestHub({
      limits: { authFailuresPerPeerPerMinute: 0, authFailuresPerTenantPerMinute: 3 },
    });
    t = hub;
    const victim = await hub.newTenant();
    const other = await hub.newTenant();
    const { privateKey } = await generateKeyPair("EdDSA");
    const forged = (tid: string) =>
      new SignJWT({ tid, roles: ["admin"] })
        .setProtectedHeader({ alg: "EdDSA" })
        .setSubject("mallory")
        .setIssuer("acb-hub")
        .setAudience("acb")
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(privateKey);
    const token = await forged(victim);
    for (let i = 0; i < 3; i++) {
      await expectCode(hub.clients(token).auth.whoAmI({}), Code.Unauthenticated);
    }
    const err = await expectCode(hub.clients(token).auth.whoAmI({}), Code.ResourceExhausted);
    expect(err.findDetails(RetryInfoSchema)[0]?.limit).toBe("auth.failures_per_tenant_per_minute");
    await expectCode(hub.clients(await forged(other)).auth.whoAmI({}), Code.Unauthenticated);
    // The tenant's own agents still get in.
    const agent = await hub.agentIn(victim, "legit");
    expect((await agent.auth.whoAmI({})).tenantId).toBe(victim);
    const aggregated = await auditRecords(hub, "auth.rate_limited");
    expect(aggregated.map((r) => r.details["claimed_tenant"])).toEqual([victim]);
  });

  it("limits failed refresh-token exchanges (an RPC without a bearer credential) per peer", async () => {
    const hub = await startTestHub({ limits: { authFailuresPerPeerPerMinute: 3 } });
    t = hub;
    const anonymous = hub.clients();
    for (let i = 0; i < 3; i++) {
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: `acbr_guess${i}` }),
        Code.Unauthenticated,
      );
    }
    for (let i = 0; i < 10; i++) {
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: `acbr_more${i}` }),
        Code.ResourceExhausted,
      );
    }
    const aggregated = await auditRecords(hub, "auth.rate_limited");
    expect(aggregated.map((r) => [r.target, r.details["count"]])).toEqual([
      ["acb.v1.AuthService/RefreshToken", "10"],
    ]);
    // A genuine refresh token still works from this address.
    const tenantId = await hub.newTenant();
    const agent = await hub.agentIn(tenantId, "legit");
    const fresh = await anonymous.auth.refreshToken({ refreshToken: agent.refreshToken });
    expect(fresh.tokens?.accessToken).not.toBe("");
  });
});
