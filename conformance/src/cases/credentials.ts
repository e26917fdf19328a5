// Credentials: what the tokens and API keys a hub issues stand for, and when they stop working
// (expiry, rotation, reuse, revocation). Each case reads the credential back through WhoAmI or
// presents it and expects UNAUTHENTICATED; the only waits are for an expiry, bounded by the expiry
// time the hub itself reported.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { type ApiKey, ApiKeySchema, Role } from "@acb/gen/acb/v1/auth_pb";
import { toJsonString } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import { type CaseContext, type Clients, duration } from "../harness.js";
import { Code, expectCode, poll, untilPast } from "../wire.js";

/** A timestamp in milliseconds; 0 when unset. */
const msOf = (t: Timestamp | undefined) => (t ? timestampMs(t) : 0);

const sameSet = <T>(a: readonly T[], b: readonly T[]) =>
  [...a].map(String).sort().join(",") === [...b].map(String).sort().join(",");

/** WhoAmI with `clients`, checked against what the credential was issued for. */
async function checkIdentity(
  clients: Clients,
  want: {
    tenantId: string;
    agentId: string;
    roles: Role[];
    groups: string[];
    kind: string;
    expiresAtMs: number | undefined;
  },
  what: string,
): Promise<void> {
  const me = await clients.auth.whoAmI({});
  check(
    me.tenantId === want.tenantId && me.agentId === want.agentId,
    `${what}: WhoAmI says ${me.tenantId}/${me.agentId}, not ${want.tenantId}/${want.agentId}`,
  );
  check(
    sameSet(me.roles, want.roles),
    `${what}: WhoAmI roles are [${me.roles.map((r) => Role[r])}], not [${want.roles.map((r) => Role[r])}]`,
  );
  check(
    sameSet(me.groups, want.groups),
    `${what}: WhoAmI groups are [${me.groups}], not [${want.groups}]`,
  );
  check(
    me.credentialKind === want.kind,
    `${what}: credential_kind "${me.credentialKind}", not "${want.kind}"`,
  );
  const expires = me.expiresAt && timestampMs(me.expiresAt);
  check(
    expires === want.expiresAtMs,
    `${what}: WhoAmI expires_at is ${expires === undefined ? "unset" : new Date(expires).toISOString()}, not ${want.expiresAtMs === undefined ? "unset" : new Date(want.expiresAtMs).toISOString()}`,
  );
}

/** Waits until `clients`' credential is refused, no later than `waitMs` after `expiresAtMs`. */
async function untilRefused(t: CaseContext, clients: Clients, expiresAtMs: number, what: string) {
  await poll(
    async () => {
      try {
        await clients.auth.whoAmI({});
        return undefined;
      } catch (err) {
        await expectCode(Promise.reject(err), Code.Unauthenticated, what);
        return true;
      }
    },
    `${what} refused after its expiry`,
    Math.max(0, expiresAtMs - Date.now()) + t.settings.waitMs,
    t.signal,
    50,
  );
}

/** Every key of a tenant, paged one at a time. */
async function listKeys(admin: Clients, tenantId: string): Promise<ApiKey[]> {
  const keys: ApiKey[] = [];
  let pageToken = "";
  for (let page = 0; page < 100; page++) {
    const res = await admin.auth.listApiKeys({ tenantId, pageSize: 1, pageToken });
    check(res.keys.length <= 1, `ListApiKeys with page_size 1 returned ${res.keys.length} keys`);
    keys.push(...res.keys);
    if (res.nextPageToken === "") return keys;
    pageToken = res.nextPageToken;
  }
  throw new Error("ListApiKeys did not end within 100 pages");
}

const bearer = (t: CaseContext, token: string | undefined) =>
  t.clientsWith(`Bearer ${token ?? ""}`);

export const credentialCases: ConformanceCase[] = [
  {
    id: "auth.token-expiry",
    level: "MUST",
    profile: "security",
    description:
      "An access token expires access_token_ttl after its issue (default one hour), then is UNAUTHENTICATED",
    spec: "acb.v1.AuthService.IssueToken",
    rules: ["auth.token-expiry", "auth.who-am-i"],
    async run(t) {
      const tenant = await t.tenant();
      const before = Date.now();
      const lasting = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "exp-a",
        roles: [Role.AGENT_FULL],
      });
      const after = Date.now();
      const lastingAt = msOf(lasting.tokens?.accessTokenExpiresAt);
      // Token times are whole seconds: one second of rounding, plus the run's clock allowance.
      const slack = 1_000 + t.settings.waitMs;
      check(
        lastingAt >= before + 3_600_000 - slack && lastingAt <= after + 3_600_000 + slack,
        `an access token without access_token_ttl expires at ${new Date(lastingAt).toISOString()}, not one hour after its issue`,
      );
      const refreshAt = msOf(lasting.tokens?.refreshTokenExpiresAt);
      const week = 7 * 24 * 3_600_000;
      check(
        refreshAt >= before + week - slack && refreshAt <= after + week + slack,
        `a refresh token expires at ${new Date(refreshAt).toISOString()}, not seven days after its issue`,
      );
      const short = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "exp-a",
        roles: [Role.AGENT_FULL],
        accessTokenTtl: duration(2_000),
      });
      const expiresAt = msOf(short.tokens?.accessTokenExpiresAt);
      check(
        expiresAt > before && expiresAt <= Date.now() + 2_000 + slack,
        `an access token with access_token_ttl 2 s expires at ${new Date(expiresAt).toISOString()}`,
      );
      const clients = bearer(t, short.tokens?.accessToken);
      if (Date.now() < expiresAt - 500) {
        await checkIdentity(
          clients,
          {
            tenantId: tenant.id,
            agentId: "exp-a",
            roles: [Role.AGENT_FULL],
            groups: [],
            kind: "jwt",
            expiresAtMs: expiresAt,
          },
          "a short-lived access token",
        );
      }
      await untilRefused(t, clients, expiresAt, "an expired access token");
      // The other token of the same subject is not touched by its expiry.
      await bearer(t, lasting.tokens?.accessToken).auth.whoAmI({});
    },
  },
  {
    id: "auth.refresh-rotation",
    level: "MUST",
    profile: "security",
    description:
      "RefreshToken keeps tenant, agent, roles and groups; a used refresh token presented again is UNAUTHENTICATED and revokes its family",
    spec: "acb.v1.AuthService.RefreshToken",
    rules: ["auth.refresh-rotation", "auth.who-am-i"],
    async run(t) {
      const tenant = await t.tenant();
      const roles = [Role.AGENT_PRODUCER, Role.OBSERVER];
      const groups = ["rot-g1", "rot-g2"];
      const first = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "rot-a",
        roles,
        groups,
      });
      const anonymous = t.clientsWith(undefined);
      let current = first.tokens;
      const used: string[] = [];
      for (const step of [1, 2]) {
        const presented = current?.refreshToken ?? "";
        const next = (await anonymous.auth.refreshToken({ refreshToken: presented })).tokens;
        check(
          next?.refreshToken && next.refreshToken !== presented,
          `refresh ${step} returned no new refresh token`,
        );
        await checkIdentity(
          bearer(t, next.accessToken),
          {
            tenantId: tenant.id,
            agentId: "rot-a",
            roles,
            groups,
            kind: "jwt",
            expiresAtMs: msOf(next.accessTokenExpiresAt),
          },
          `the access token of refresh ${step}`,
        );
        used.push(presented);
        current = next;
      }
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: used[0] ?? "" }),
        Code.Unauthenticated,
        "RefreshToken with a refresh token already used",
      );
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: current?.refreshToken ?? "" }),
        Code.Unauthenticated,
        "RefreshToken with the latest token of a family revoked by reuse",
      );
    },
  },
  {
    id: "auth.revoke-token",
    level: "MUST",
    profile: "security",
    description:
      "RevokeToken refuses every refresh token of the family and leaves the agent's other families working",
    spec: "acb.v1.AuthService.RevokeToken",
    rules: ["auth.revoke-token"],
    async run(t) {
      const tenant = await t.tenant();
      const issue = async () =>
        (
          await t.admin.auth.issueToken({
            tenantId: tenant.id,
            agentId: "rvk-a",
            roles: [Role.AGENT_FULL],
          })
        ).tokens;
      const revoked = await issue();
      const kept = await issue();
      const anonymous = t.clientsWith(undefined);
      const rotated = (
        await anonymous.auth.refreshToken({ refreshToken: revoked?.refreshToken ?? "" })
      ).tokens;
      // Revoking by the latest token of the family, with the agent's own credential.
      await bearer(t, rotated?.accessToken).auth.revokeToken({
        refreshToken: rotated?.refreshToken ?? "",
      });
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: rotated?.refreshToken ?? "" }),
        Code.Unauthenticated,
        "RefreshToken of a revoked family",
      );
      // A refresh token the hub never issued: nothing to revoke, and no error.
      await t.admin.auth.revokeToken({ refreshToken: "not-a-refresh-token" });
      // The other family: rotates, and rotates again, as what it was issued for.
      const next = await anonymous.auth.refreshToken({ refreshToken: kept?.refreshToken ?? "" });
      const again = (
        await anonymous.auth.refreshToken({ refreshToken: next.tokens?.refreshToken ?? "" })
      ).tokens;
      await checkIdentity(
        bearer(t, again?.accessToken),
        {
          tenantId: tenant.id,
          agentId: "rvk-a",
          roles: [Role.AGENT_FULL],
          groups: [],
          kind: "jwt",
          expiresAtMs: msOf(again?.accessTokenExpiresAt),
        },
        "the access token of a family rotated twice",
      );
    },
  },
  {
    id: "auth.api-keys",
    level: "MUST",
    profile: "security",
    description:
      "An API key authenticates as its agent, roles and groups, is listed as created without its secret, and a wrong or expired secret is UNAUTHENTICATED",
    spec: "acb.v1.AuthService.CreateApiKey",
    rules: ["auth.api-keys", "auth.who-am-i", "pagination.complete", "security.tenant-isolation"],
    async run(t) {
      const tenant = await t.tenant();
      const other = await t.tenant();
      const created = [
        { agentId: "key-a", roles: [Role.AGENT_CONSUMER, Role.OBSERVER], groups: ["key-g"] },
        { agentId: "key-b", roles: [Role.AGENT_FULL], groups: [] },
        { agentId: "key-c", roles: [Role.AGENT_PRODUCER], groups: [], ttl: 3_600_000 },
      ];
      const keys: { key: ApiKey; secret: string }[] = [];
      for (const [i, c] of created.entries()) {
        const before = Date.now();
        const res = await t.admin.auth.createApiKey({
          tenantId: tenant.id,
          agentId: c.agentId,
          roles: c.roles,
          groups: c.groups,
          description: `key ${i}`,
          ...(c.ttl !== undefined && { ttl: duration(c.ttl) }),
        });
        check(res.key && res.secret, "CreateApiKey returned no key or no secret");
        const expiresAt = res.key.expiresAt && timestampMs(res.key.expiresAt);
        check(
          c.ttl === undefined
            ? expiresAt === undefined
            : expiresAt !== undefined &&
                expiresAt >= before + c.ttl - t.settings.waitMs &&
                expiresAt <= Date.now() + c.ttl + t.settings.waitMs,
          `an API key with ttl ${c.ttl ?? "unset"} expires at ${expiresAt === undefined ? "never" : new Date(expiresAt).toISOString()}`,
        );
        keys.push({ key: res.key, secret: res.secret });
        await checkIdentity(
          bearer(t, res.secret),
          {
            tenantId: tenant.id,
            agentId: c.agentId,
            roles: c.roles,
            groups: c.groups,
            kind: "api-key",
            expiresAtMs: expiresAt,
          },
          `API key ${i}`,
        );
      }
      const elsewhere = await t.admin.auth.createApiKey({
        tenantId: other.id,
        agentId: "key-a",
        roles: [Role.AGENT_FULL],
      });
      const listed = await listKeys(t.admin, tenant.id);
      check(
        sameSet(
          listed.map((k) => k.id),
          keys.map((k) => k.key.id),
        ),
        `ListApiKeys paged by one lists [${listed.map((k) => k.id)}], not the tenant's keys [${keys.map((k) => k.key.id)}]`,
      );
      for (const [i, { key, secret }] of keys.entries()) {
        const l = listed.find((k) => k.id === key.id);
        const c = created[i];
        check(l && c, `API key ${i} is not listed`);
        check(
          l.tenantId === tenant.id &&
            l.agentId === c.agentId &&
            sameSet(l.roles, c.roles) &&
            sameSet(l.groups, c.groups) &&
            l.description === `key ${i}` &&
            l.createdAt !== undefined &&
            l.revokedAt === undefined &&
            (l.expiresAt && timestampMs(l.expiresAt)) ===
              (key.expiresAt && timestampMs(key.expiresAt)),
          `API key ${i} is listed as ${l.tenantId}/${l.agentId} [${l.roles}] [${l.groups}] "${l.description}", not as created`,
        );
        check(
          !toJsonString(ApiKeySchema, l).includes(secret.slice(-20)),
          `ListApiKeys shows API key ${i}'s secret`,
        );
      }
      // A secret that is not exactly an issued one. (Each refusal counts against the hub's limit
      // of failed authentications per address, which runs in a row share: the suite keeps few.)
      const secret = keys[0]?.secret ?? "";
      const otherId = (elsewhere.secret ?? "").slice(0, secret.length - 43) + secret.slice(-43);
      for (const [bad, what] of [
        [otherId, "another key's id with this key's secret part"],
        [`${secret}x`, "an API key with a character added"],
      ] as const) {
        await expectCode(
          bearer(t, bad).auth.whoAmI({}),
          Code.Unauthenticated,
          `WhoAmI with ${what}`,
        );
      }
      // An expired key.
      const short = await t.admin.auth.createApiKey({
        tenantId: tenant.id,
        agentId: "key-d",
        roles: [Role.AGENT_FULL],
        ttl: duration(1_000),
      });
      const shortAt = msOf(short.key?.expiresAt);
      await untilRefused(t, bearer(t, short.secret), shortAt, "an expired API key");
      await bearer(t, keys[1]?.secret).auth.whoAmI({});
    },
  },
  {
    id: "auth.revoke-api-key",
    level: "MUST",
    profile: "security",
    description:
      "A revoked API key is UNAUTHENTICATED at once and listed with revoked_at; other keys keep working; unknown or foreign keys are NOT_FOUND",
    spec: "acb.v1.AuthService.RevokeApiKey",
    rules: ["auth.revoke-api-key", "security.tenant-isolation"],
    async run(t) {
      const tenant = await t.tenant();
      const other = await t.tenant();
      const admin = await tenant.agent("rk-admin", { roles: [Role.ADMIN], register: false });
      const create = (tenantId: string, agentId: string) =>
        t.admin.auth.createApiKey({ tenantId, agentId, roles: [Role.AGENT_FULL] });
      const revoked = await create(tenant.id, "rk-a");
      const kept = await create(tenant.id, "rk-b");
      const foreign = await create(other.id, "rk-a");
      const revokedClients = bearer(t, revoked.secret);
      await revokedClients.auth.whoAmI({});
      await admin.auth.revokeApiKey({ keyId: revoked.key?.id ?? "" });
      await expectCode(
        revokedClients.auth.whoAmI({}),
        Code.Unauthenticated,
        "WhoAmI with a revoked API key",
      );
      await bearer(t, kept.secret).auth.whoAmI({});
      const listed = await listKeys(admin, tenant.id);
      const r = listed.find((k) => k.id === revoked.key?.id);
      const k = listed.find((k) => k.id === kept.key?.id);
      check(r?.revokedAt !== undefined, "ListApiKeys shows no revoked_at for a revoked key");
      check(k && k.revokedAt === undefined, "ListApiKeys shows revoked_at for a key not revoked");
      await expectCode(
        admin.auth.revokeApiKey({ keyId: foreign.key?.id ?? "" }),
        Code.NotFound,
        "RevokeApiKey of another tenant's key",
      );
      await bearer(t, foreign.secret).auth.whoAmI({});
      await expectCode(
        admin.auth.revokeApiKey({ keyId: "0123456789abcdef" }),
        Code.NotFound,
        "RevokeApiKey of an unknown key",
      );
    },
  },
  {
    id: "auth.revoke-access-tokens",
    level: "MUST",
    profile: "security",
    description:
      "RevokeAccessTokens refuses the agent's (or the tenant's) tokens issued so far, not other agents' tokens, API keys or later tokens",
    spec: "acb.v1.AuthService.RevokeAccessTokens",
    rules: ["auth.revoke-access-tokens"],
    async run(t) {
      const tenant = await t.tenant();
      const issue = async (agentId: string) =>
        (await t.admin.auth.issueToken({ tenantId: tenant.id, agentId, roles: [Role.AGENT_FULL] }))
          .tokens;
      const a = await issue("rat-a");
      const b = await issue("rat-b");
      const key = await t.admin.auth.createApiKey({
        tenantId: tenant.id,
        agentId: "rat-a",
        roles: [Role.AGENT_FULL],
      });
      const aClients = bearer(t, a?.accessToken);
      await aClients.auth.whoAmI({});
      const res = await t.admin.auth.revokeAccessTokens({ tenantId: tenant.id, agentId: "rat-a" });
      const notBefore = msOf(res.notBefore);
      check(notBefore > 0, "RevokeAccessTokens returned no not_before");
      await expectCode(
        aClients.auth.whoAmI({}),
        Code.Unauthenticated,
        "an access token issued before RevokeAccessTokens of its agent",
      );
      const anonymous = t.clientsWith(undefined);
      await expectCode(
        anonymous.auth.refreshToken({ refreshToken: a?.refreshToken ?? "" }),
        Code.Unauthenticated,
        "a refresh token issued before RevokeAccessTokens of its agent",
      );
      const bClients = bearer(t, b?.accessToken);
      await bClients.auth.whoAmI({});
      const keyClients = bearer(t, key.secret);
      await keyClients.auth.whoAmI({});
      const all = await t.admin.auth.revokeAccessTokens({ tenantId: tenant.id, agentId: "" });
      await expectCode(
        bClients.auth.whoAmI({}),
        Code.Unauthenticated,
        "an access token issued before RevokeAccessTokens of its tenant",
      );
      await keyClients.auth.whoAmI({});
      // Tokens carry whole seconds: one issued a second after the revocation works. Past that
      // second by the local clock, the first token issued normally works; the poll allows for
      // a hub whose clock runs behind.
      await untilPast(msOf(all.notBefore) + 1_000, t.signal);
      const later = await poll(
        async () => {
          const tokens = await issue("rat-a");
          try {
            await bearer(t, tokens?.accessToken).auth.whoAmI({});
            return tokens;
          } catch {
            return undefined;
          }
        },
        "an access token issued after RevokeAccessTokens working",
        1_000 + t.settings.waitMs,
        t.signal,
        250,
      );
      await anonymous.auth.refreshToken({ refreshToken: later?.refreshToken ?? "" });
    },
  },
  {
    id: "admin.delete-tenant-credentials",
    level: "MUST",
    profile: "security",
    description:
      "After DeleteTenant the tenant's access tokens, refresh tokens and API keys are UNAUTHENTICATED, also once the same tenant id is created again; another tenant's key and refresh token still work",
    spec: "acb.v1.AdminService.DeleteTenant",
    rules: ["admin.delete-tenant-credentials"],
    async run(t) {
      const tenant = await t.tenant();
      const issued = (
        await t.admin.auth.issueToken({
          tenantId: tenant.id,
          agentId: "gone-a",
          roles: [Role.AGENT_FULL],
        })
      ).tokens;
      const key = await t.admin.auth.createApiKey({
        tenantId: tenant.id,
        agentId: "gone-a",
        roles: [Role.AGENT_FULL],
      });
      const token = bearer(t, issued?.accessToken);
      const keyed = bearer(t, key.secret);
      await token.auth.whoAmI({});
      await keyed.auth.whoAmI({});
      const anonymous = t.clientsWith(undefined);
      const refuse = async (when: string) => {
        await expectCode(
          token.auth.whoAmI({}),
          Code.Unauthenticated,
          `an access token of a tenant ${when}`,
        );
        await expectCode(
          keyed.auth.whoAmI({}),
          Code.Unauthenticated,
          `an API key of a tenant ${when}`,
        );
        await expectCode(
          anonymous.auth.refreshToken({ refreshToken: issued?.refreshToken ?? "" }),
          Code.Unauthenticated,
          `a refresh token of a tenant ${when}`,
        );
      };
      // Another tenant's key, which the deletion must leave alone.
      const other = await t.tenant();
      const otherKey = await t.admin.auth.createApiKey({
        tenantId: other.id,
        agentId: "gone-a",
        roles: [Role.AGENT_FULL],
      });
      const otherIssued = (
        await t.admin.auth.issueToken({
          tenantId: other.id,
          agentId: "gone-a",
          roles: [Role.AGENT_FULL],
        })
      ).tokens;
      await t.admin.admin.deleteTenant({ tenantId: tenant.id });
      await bearer(t, otherKey.secret).auth.whoAmI({});
      // The other tenant's refresh token still refreshes.
      const refreshed = await anonymous.auth.refreshToken({
        refreshToken: otherIssued?.refreshToken ?? "",
      });
      await bearer(t, refreshed.tokens?.accessToken).auth.whoAmI({});
      await expectCode(
        token.auth.whoAmI({}),
        Code.Unauthenticated,
        "an access token of a deleted tenant",
      );
      await t.admin.admin.createTenant({ tenantId: tenant.id, tier: Tier.ENTERPRISE });
      await refuse("deleted and created again");
      const keys = await t.admin.auth.listApiKeys({ tenantId: tenant.id });
      check(keys.keys.length === 0, "the tenant created again lists the deleted tenant's API keys");
      // The new tenant's own credentials work.
      const fresh = await t.admin.auth.issueToken({
        tenantId: tenant.id,
        agentId: "gone-a",
        roles: [Role.AGENT_FULL],
      });
      await bearer(t, fresh.tokens?.accessToken).auth.whoAmI({});
    },
  },
];
