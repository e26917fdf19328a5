import {
  type ApiKey,
  ApiKeySchema,
  type AuthService,
  type TokenPair,
  TokenPairSchema,
} from "@acb/gen/acb/v1/auth_pb";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Identity, isAdmin, PLATFORM_TENANT } from "../auth/identity.js";
import type { IssuedTokens } from "../auth/token-service.js";
import { decodePageToken, encodePageToken, pageSize } from "../domain/cursor.js";
import { Code, hubError, notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import type { ApiKeyRecord } from "../storage/types.js";
import { callerOf, durationMs, ts, tsOpt } from "./convert.js";

function tokenPair(t: IssuedTokens): TokenPair {
  return create(TokenPairSchema, {
    accessToken: t.accessToken,
    accessTokenExpiresAt: ts(t.accessTokenExpiresAt),
    refreshToken: t.refreshToken,
    refreshTokenExpiresAt: ts(t.refreshTokenExpiresAt),
  });
}

function apiKeyToProto(k: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    agentId: k.agentId,
    roles: k.roles,
    description: k.description,
    groups: k.groups ?? [],
    createdAt: ts(k.createdAt),
    expiresAt: tsOpt(k.expiresAt),
    revokedAt: tsOpt(k.revokedAt),
  });
}

/** Tenants an admin may administer: its own, or any for a platform admin. Others are NOT_FOUND. */
export async function administeredTenant(hub: HubContext, caller: Identity, tenantId: string) {
  const visible =
    isAdmin(caller) && (caller.tenantId === PLATFORM_TENANT || caller.tenantId === tenantId);
  const tenant = visible ? await hub.backend.tenants.get(tenantId) : undefined;
  if (!tenant) throw notFound("tenant", tenantId);
  return tenant;
}

/** Tokens, API keys and identity. Issuing and revoking credentials is audited. */
export function createAuthHandler(hub: HubContext): ServiceImpl<typeof AuthService> {
  return {
    async issueToken(req, ctx) {
      const tenant = await administeredTenant(hub, callerOf(ctx), req.tenantId);
      const ttlMs = durationMs(req.accessTokenTtl);
      if (ttlMs !== undefined && ttlMs > hub.limits.maxAccessTokenTtlMs) {
        throw hubError(
          Code.InvalidArgument,
          `access_token_ttl may be at most ${hub.limits.maxAccessTokenTtlMs / 1000} s on this hub`,
        );
      }
      const tokens = await hub.tokens.issue(tenant.id, req.agentId, req.roles, ttlMs, req.groups);
      await hub.audit({
        identity: callerOf(ctx),
        tenantId: tenant.id,
        action: "token.issue",
        target: `agent/${req.agentId}`,
        outcome: "success",
        details: { roles: req.roles.join(","), groups: req.groups.join(",") },
      });
      return { tokens: tokenPair(tokens) };
    },
    async refreshToken(req) {
      return { tokens: tokenPair(await hub.tokens.refresh(req.refreshToken)) };
    },
    async revokeToken(req, ctx) {
      await hub.tokens.revoke(req.refreshToken);
      await hub.audit({
        identity: callerOf(ctx),
        action: "token.revoke",
        target: "refresh-token-family",
        outcome: "success",
      });
      return {};
    },
    async createApiKey(req, ctx) {
      const caller = callerOf(ctx);
      const tenant = await administeredTenant(hub, caller, req.tenantId);
      const { record, secret } = await hub.apiKeys.create({
        tenant,
        agentId: req.agentId,
        roles: req.roles,
        description: req.description,
        ttlMs: durationMs(req.ttl),
        groups: req.groups,
      });
      await hub.audit({
        identity: caller,
        tenantId: tenant.id,
        action: "apikey.create",
        target: `apikey/${record.id}`,
        outcome: "success",
        details: { agent: req.agentId, roles: req.roles.join(","), groups: req.groups.join(",") },
      });
      return { key: apiKeyToProto(record), secret };
    },
    async listApiKeys(req, ctx) {
      const tenant = await administeredTenant(hub, callerOf(ctx), req.tenantId);
      const limit = pageSize(req.pageSize);
      const found = await hub.apiKeys.list(tenant.id, decodePageToken(req.pageToken), limit + 1);
      const page = found.slice(0, limit);
      const last = page[page.length - 1];
      return {
        keys: page.map(apiKeyToProto),
        nextPageToken: found.length > limit && last ? encodePageToken(last.id) : "",
      };
    },
    async revokeApiKey(req, ctx) {
      const caller = callerOf(ctx);
      const revoked = await hub.apiKeys.revoke(
        req.keyId,
        (tenantId) =>
          isAdmin(caller) && (caller.tenantId === PLATFORM_TENANT || caller.tenantId === tenantId),
      );
      await hub.audit({
        identity: caller,
        tenantId: revoked.tenantId,
        action: "apikey.revoke",
        target: `apikey/${revoked.id}`,
        outcome: "success",
      });
      return {};
    },
    whoAmI(_req, ctx) {
      const caller = callerOf(ctx);
      return {
        tenantId: caller.tenantId,
        agentId: caller.agentId,
        roles: [...caller.roles],
        credentialKind: caller.credentialKind,
        expiresAt: tsOpt(caller.expiresAt),
        groups: [...(caller.groups ?? [])],
      };
    },
    async revokeAccessTokens(req, ctx) {
      const caller = callerOf(ctx);
      const tenant = await administeredTenant(hub, caller, req.tenantId);
      const at = await hub.tokens.revokeIssuedBefore(tenant.id, req.agentId);
      await hub.audit({
        identity: caller,
        tenantId: tenant.id,
        action: "token.revoke",
        target: req.agentId === "" ? `tenant/${tenant.id}` : `agent/${req.agentId}`,
        outcome: "success",
        details: { not_before: new Date(at).toISOString() },
      });
      return { notBefore: ts(at) };
    },
  };
}
