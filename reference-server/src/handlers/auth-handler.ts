import { type AuthService, type TokenPair, TokenPairSchema } from "@acb/gen/acb/v1/auth_pb";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Identity, isAdmin, PLATFORM_TENANT } from "../auth/identity.js";
import type { IssuedTokens } from "../auth/token-service.js";
import { notFound } from "../errors.js";
import type { HubContext } from "../hub-context.js";
import { callerOf, durationMs, ts, tsOpt } from "./convert.js";

function tokenPair(t: IssuedTokens): TokenPair {
  return create(TokenPairSchema, {
    accessToken: t.accessToken,
    accessTokenExpiresAt: ts(t.accessTokenExpiresAt),
    refreshToken: t.refreshToken,
    refreshTokenExpiresAt: ts(t.refreshTokenExpiresAt),
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

/** Tokens and identity. API keys arrive with the security work; until then they are UNIMPLEMENTED. */
export function createAuthHandler(hub: HubContext): Partial<ServiceImpl<typeof AuthService>> {
  return {
    async issueToken(req, ctx) {
      const tenant = await administeredTenant(hub, callerOf(ctx), req.tenantId);
      const tokens = await hub.tokens.issue(
        tenant.id,
        req.agentId,
        req.roles,
        durationMs(req.accessTokenTtl),
      );
      return { tokens: tokenPair(tokens) };
    },
    async refreshToken(req) {
      return { tokens: tokenPair(await hub.tokens.refresh(req.refreshToken)) };
    },
    async revokeToken(req) {
      await hub.tokens.revoke(req.refreshToken);
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
      };
    },
  };
}
