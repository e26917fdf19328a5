// The attacker's view of the hub: forged and replayed credentials, cross-tenant probes and role
// abuse. Every attempt must be refused with the documented code AND leave a matching record in
// the audit log (found by the x-correlation-id the attacker's request carried).

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextScope } from "@acb/gen/acb/v1/contexts_pb";
import { Code } from "@connectrpc/connect";
import { decodeJwt, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Agent,
  drain,
  expectAudited,
  expectCode,
  newCorrelationId,
  startTestHub,
  type TestHub,
  text,
} from "./security-harness.js";

let t: TestHub;
let hubKeys: Awaited<ReturnType<typeof generateKeyPair>>;
let tenantA: string;
let tenantB: string;
let alice: Agent; // tenant A
let bob: Agent; // tenant B
let genuine: JWTPayload;

beforeAll(async () => {
  hubKeys = await generateKeyPair("RS256", { extractable: true });
  t = await startTestHub({
    keys: { privateKey: hubKeys.privateKey, publicKey: hubKeys.publicKey, alg: "RS256" },
  });
  tenantA = await t.newTenant();
  tenantB = await t.newTenant();
  alice = await t.agentIn(tenantA, "alice");
  bob = await t.agentIn(tenantB, "bob");
  genuine = decodeJwt(alice.token);
  await bob.registry.register({ agentId: "bob", type: "svc" });
  await bob.contexts.createContext({
    contextId: "b-secret",
    type: "note",
    payload: { contentType: "text/plain", data: text("tenant B only") },
  });
  await bob.meetings.createMeeting({ meetingId: "b-meeting", title: "B only" });
});

afterAll(async () => {
  await t?.close();
});

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** A token with the genuine token's claims, changed by `over`, signed as told. */
async function forge(
  over: JWTPayload,
  sign: { alg: string; key: CryptoKey | Uint8Array } = { alg: "RS256", key: hubKeys.privateKey },
): Promise<string> {
  return new SignJWT({ ...genuine, ...over })
    .setProtectedHeader({ alg: sign.alg, typ: "JWT" })
    .sign(sign.key);
}

/** Presents `token` to WhoAmI; it must be refused and the failure audited. */
async function refusedCredential(token: string, reason?: RegExp): Promise<void> {
  const cid = newCorrelationId();
  const err = await expectCode(t.clients(token, cid).auth.whoAmI({}), Code.Unauthenticated);
  if (reason) expect(err.message).toMatch(reason);
  await expectAudited(t, cid, { action: "auth.authenticate", outcome: "failure" });
}

describe("forged and misused tokens", () => {
  it("accepts the genuine token (the control for every forgery below)", async () => {
    const who = await t.clients(alice.token).auth.whoAmI({});
    expect(who.agentId).toBe("alice");
    expect(who.tenantId).toBe(tenantA);
  });

  it("refuses a token signed with another key", async () => {
    const other = await generateKeyPair("RS256");
    await refusedCredential(await forge({}, { alg: "RS256", key: other.privateKey }));
  });

  it("refuses alg:none", async () => {
    const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(genuine)}.`;
    await refusedCredential(unsigned);
  });

  it("refuses HS256 signed with the hub's public key (algorithm confusion)", async () => {
    const pem = new TextEncoder().encode(await exportSPKI(hubKeys.publicKey));
    await refusedCredential(await forge({}, { alg: "HS256", key: pem }));
  });

  it("refuses a signature copied onto changed claims", async () => {
    const [, , signature] = alice.token.split(".");
    const tampered = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ ...genuine, roles: ["admin"] })}.${signature}`;
    await refusedCredential(tampered);
  });

  it("refuses expired, not-yet-valid, wrong-issuer and wrong-audience tokens", async () => {
    const now = Math.floor(t.clock.now() / 1000);
    await refusedCredential(await forge({ iat: now - 7200, exp: now - 60 }), /expired/);
    await refusedCredential(await forge({ nbf: now + 3600 }), /nbf/);
    await refusedCredential(await forge({ iss: "someone-else" }), /iss/);
    await refusedCredential(await forge({ aud: "another-service" }), /aud/);
  });

  it("refuses a token naming another tenant or a forged role without the hub's key", async () => {
    const other = await generateKeyPair("RS256");
    await refusedCredential(
      await forge({ tid: tenantB, roles: ["admin"] }, { alg: "RS256", key: other.privateKey }),
    );
  });

  it("detects refresh-token reuse: the replay is refused and the whole family revoked", async () => {
    const victim = await t.agentIn(tenantA, "victim");
    const rotated = await t.clients().auth.refreshToken({ refreshToken: victim.refreshToken });
    const cid = newCorrelationId();
    await expectCode(
      t.clients(undefined, cid).auth.refreshToken({ refreshToken: victim.refreshToken }),
      Code.Unauthenticated,
    );
    await expectAudited(t, cid, {
      action: "auth.authenticate",
      outcome: "failure",
      reason: /already used/,
    });
    // The legitimate holder's newer token is revoked with the family.
    await expectCode(
      t.clients().auth.refreshToken({ refreshToken: rotated.tokens?.refreshToken ?? "" }),
      Code.Unauthenticated,
    );
  });

  it("refuses a revoked API key on the very next call", async () => {
    const created = await t.admin.auth.createApiKey({
      tenantId: tenantA,
      agentId: "robot",
      roles: [Role.AGENT_FULL],
      description: "ci",
    });
    const key = created.secret;
    expect(key).toMatch(new RegExp(`^acbk_${created.key?.id}_`));
    const who = await t.clients(key).auth.whoAmI({});
    expect(who.credentialKind).toBe("api-key");
    await t.admin.auth.revokeApiKey({ keyId: created.key?.id ?? "" });
    await refusedCredential(key, /revoked/);
    // A key with a valid id and a wrong secret is refused too.
    await refusedCredential(`acbk_${created.key?.id}_${"A".repeat(43)}`);
  });

  it("refuses tokens and keys of a deleted tenant after a tenant of the same id is created", async () => {
    const tenantId = await t.newTenant();
    const old = await t.agentIn(tenantId, "old");
    const { secret } = await t.admin.auth.createApiKey({
      tenantId,
      agentId: "old-robot",
      roles: [Role.AGENT_FULL],
    });
    await t.admin.admin.deleteTenant({ tenantId });
    await t.admin.admin.createTenant({ tenantId });
    await refusedCredential(old.token);
    await refusedCredential(secret);
    // A token of the new tenant works.
    const fresh = await t.agentIn(tenantId, "new");
    expect((await fresh.auth.whoAmI({})).tenantId).toBe(tenantId);
  });
});

describe("tenant A's agent against tenant B's objects", () => {
  /** Runs `attempt` as alice with a fresh correlation id; NOT_FOUND, audited in tenant A. */
  async function hidden(attempt: (c: ReturnType<TestHub["clients"]>) => Promise<unknown>) {
    const cid = newCorrelationId();
    await expectCode(attempt(t.clients(alice.token, cid)), Code.NotFound);
    await expectAudited(t, cid, {
      action: "authz.not_found",
      outcome: "denied",
      tenantId: tenantA,
      actor: "alice",
    });
  }

  it("reads, updates and deletes: NOT_FOUND", async () => {
    await hidden((c) => c.contexts.getContext({ contextId: "b-secret" }));
    await hidden((c) =>
      c.contexts.updateContext({
        contextId: "b-secret",
        payload: { contentType: "text/plain", data: text("pwned") },
      }),
    );
    await hidden((c) => c.contexts.deleteContext({ contextId: "b-secret" }));
    // Tenant B's context is unchanged.
    const still = await bob.contexts.getContext({ contextId: "b-secret" });
    expect(still.context?.revision).toBe(1n);
  });

  it("downloads (streaming): NOT_FOUND", async () => {
    await hidden((c) => drain(c.large.downloadContext({ contextId: "b-secret" })));
  });

  it("watches, joins and reads meetings: NOT_FOUND", async () => {
    await hidden((c) => drain(c.meetings.watchMeeting({ meetingId: "b-meeting" })));
    await hidden((c) => c.meetings.joinMeeting({ meetingId: "b-meeting" }));
    await hidden((c) => c.meetings.getMeeting({ meetingId: "b-meeting" }));
  });

  it("sends to tenant B's agent: NOT_FOUND", async () => {
    await alice.registry.register({ agentId: "alice", type: "svc" });
    await hidden((c) =>
      c.messaging.send({ target: { case: "recipientId", value: "bob" }, kind: "probe" }),
    );
  });

  it("subscribes: sees none of tenant B's changes", async () => {
    const ac = new AbortController();
    const events = alice.contexts
      .subscribeContexts({}, { signal: ac.signal })
      [Symbol.asyncIterator]();
    try {
      const ready = await events.next();
      expect(ready.value?.cursor).not.toBe("");
      await bob.contexts.updateContext({
        contextId: "b-secret",
        payload: { contentType: "text/plain", data: text("changed") },
      });
      await alice.contexts.createContext({
        contextId: "a-marker",
        type: "note",
        payload: { contentType: "text/plain", data: text("mine") },
      });
      // Events arrive in log order: had B's change leaked, it would come before A's marker.
      const next = await events.next();
      expect(next.value?.context?.id).toBe("a-marker");
      expect(next.value?.context?.tenantId).toBe(tenantA);
    } finally {
      ac.abort();
      await events.return?.().catch(() => {});
    }
  });
});

describe("roles and scopes", () => {
  it("refuses Send to a consumer: PERMISSION_DENIED, audited", async () => {
    const consumer = await t.agentIn(tenantA, "consumer", [Role.AGENT_CONSUMER]);
    const cid = newCorrelationId();
    await expectCode(
      t.clients(consumer.token, cid).messaging.send({
        target: { case: "recipientId", value: "alice" },
        kind: "x",
      }),
      Code.PermissionDenied,
    );
    await expectAudited(t, cid, { action: "authz.deny", outcome: "denied", actor: "consumer" });
  });

  it("refuses writes to an observer: PERMISSION_DENIED, audited", async () => {
    const observer = await t.agentIn(tenantA, "watcher", [Role.OBSERVER]);
    const cid = newCorrelationId();
    await expectCode(
      t.clients(observer.token, cid).contexts.createContext({
        type: "note",
        payload: { contentType: "text/plain", data: text("x") },
      }),
      Code.PermissionDenied,
    );
    await expectAudited(t, cid, { action: "authz.deny", outcome: "denied", tenantId: tenantA });
  });

  it("hides a PRIVATE context from another agent of the same tenant, audited", async () => {
    await alice.contexts.createContext({
      contextId: "a-private",
      type: "note",
      payload: { contentType: "text/plain", data: text("diary") },
      access: { scope: ContextScope.PRIVATE },
    });
    const mallory = await t.agentIn(tenantA, "mallory");
    const cid = newCorrelationId();
    await expectCode(
      t.clients(mallory.token, cid).contexts.getContext({ contextId: "a-private" }),
      Code.NotFound,
    );
    await expectAudited(t, cid, { action: "authz.not_found", outcome: "denied", actor: "mallory" });
    await expectCode(
      drain(mallory.large.downloadContext({ contextId: "a-private" })),
      Code.NotFound,
    );
  });

  it("refuses a tenant admin's attempt to administer another tenant: NOT_FOUND, audited", async () => {
    const adminA = await t.agentIn(tenantA, "admin-a", [Role.ADMIN]);
    const cid = newCorrelationId();
    await expectCode(
      t.clients(adminA.token, cid).auth.issueToken({
        tenantId: tenantB,
        agentId: "bob",
        roles: [Role.ADMIN],
      }),
      Code.NotFound,
    );
    await expectAudited(t, cid, {
      action: "authz.not_found",
      outcome: "denied",
      tenantId: tenantA,
    });
    await expectCode(
      adminA.auth.createApiKey({ tenantId: tenantB, agentId: "x", roles: [Role.ADMIN] }),
      Code.NotFound,
    );
    await expectCode(adminA.admin.queryAuditLog({ tenantId: tenantB }), Code.NotFound);
  });
});
