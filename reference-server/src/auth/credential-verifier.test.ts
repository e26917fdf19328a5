import { Role } from "@acb/gen/acb/v1/auth_pb";
import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../audit/audit-log.js";
import { ManualClock } from "../clock.js";
import { createMemoryBackend } from "../storage/memory/memory-backend.js";
import { tenantRecord } from "../storage/suite/helpers.js";
import { ApiKeys } from "./api-keys.js";
import { createCredentialVerifier } from "./credential-verifier.js";
import { createTokenService, generateDevKeys } from "./token-service.js";

/** A verifier over a memory backend with one tenant, counting signature checks and audits. */
async function setup(cacheSize: number) {
  const clock = new ManualClock();
  const backend = createMemoryBackend();
  const tokens = createTokenService({
    keys: await generateDevKeys(),
    clock,
    store: backend.auth,
    incarnationOf: async (tenantId) => (await backend.tenants.get(tenantId))?.incarnation,
  });
  await backend.tenants.create(tenantRecord("t1"));
  let verifications = 0;
  const counted = {
    ...tokens,
    verify: (token: string) => {
      verifications++;
      return tokens.verify(token);
    },
  };
  const audited: AuditEvent[] = [];
  const verify = createCredentialVerifier({
    tokens: counted,
    apiKeys: new ApiKeys(backend.apiKeys, clock),
    tenants: backend.tenants,
    clock,
    audit: async (e) => {
      audited.push(e);
    },
    cacheSize,
  });
  const token = async (agentId: string) =>
    (await tokens.signAccessToken("t1", agentId, [Role.AGENT_FULL])).token;
  return { verify, token, verifications: () => verifications, audited };
}

describe("the credential verifier's cache", () => {
  it("keeps the tokens in use: each is verified and audited once, in any order of use", async () => {
    const { verify, token, verifications, audited } = await setup(3);
    const [a, b, c] = [await token("a"), await token("b"), await token("c")];
    for (const t of [a, b, c, a, b, c, c, b, a]) await verify(t);
    expect(verifications()).toBe(3);
    expect(audited.map((e) => e.identity?.agentId)).toEqual(["a", "b", "c"]);
  });

  it("evicts the least recently used token, not the oldest", async () => {
    const { verify, token, verifications } = await setup(2);
    const [a, b, c] = [await token("a"), await token("b"), await token("c")];
    await verify(a);
    await verify(b);
    await verify(a); // a is now the most recently used
    await verify(c); // evicts b
    expect(verifications()).toBe(3);
    await verify(a);
    expect(verifications()).toBe(3);
    await verify(b);
    expect(verifications()).toBe(4);
  });
});
