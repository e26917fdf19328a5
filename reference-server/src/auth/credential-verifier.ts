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
        `credential names tenant "${identity.tenantId}", which does not exist`,
      );
    }
    if (identity.tenantIncarnation !== tenant.incarnation) {
      throw hubError(
        Code.Unauthenticated,
        `credential was issued for an earlier tenant "${identity.tenantId}" that has been deleted`,
      );
    }
  };

  // RevokeAccessTokens: tokens issued before the tenant's or the subject's not-before time are
  // refused, on every call (also when the token is in the cache below).
  const checkNotRevoked = async (identity: Identity) => {
    const notBefore = await tokens.notBefore(identity.tenantId, identity.agentId);
    if (notBefore > 0 && (identity.issuedAt ?? 0) <= notBefore) {
      throw hubError(
        Code.Unauthenticated,
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
      const keyId = identity.apiKeyId ?? "";
      if (!keysSeen.has(keyId)) {
        if (keysSeen.size >= cacheSize) keysSeen.clear();
        keysSeen.add(keyId);
        await fresh(identity);
      }
      return identity;
    }
    const hit = verified.get(credential);
    if (hit && (hit.identity.expiresAt === undefined || hit.identity.expiresAt > clock.now())) {
      // Most recently used last (a Map keeps insertion order), so eviction takes the least. The
      // entry keeps its own key: `credential` is a slice of this request's header, which the
      // cache would otherwise hold (with the whole header value) until the token's next use.
      verified.delete(credential);
      verified.set(hit.token, hit);
      await checkTenant(hit.identity);
      return hit.identity;
    }
    verified.delete(credential);
    const identity = await tokens.verify(credential);
    await checkTenant(identity);
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
function ownCopy(s: string): string {
  const copy = Buffer.from(s, "latin1").toString("latin1");
  return copy === s ? copy : s;
}
