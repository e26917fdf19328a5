import { Role } from "@acb/gen/acb/v1/auth_pb";
import { createContextKey } from "@connectrpc/connect";

/** The tenant id of platform administrators, who manage every tenant. */
export const PLATFORM_TENANT = "*";

/** Who is calling: established by the auth interceptor for every RPC. */
export interface Identity {
  /** The caller's tenant; PLATFORM_TENANT for a platform admin. */
  readonly tenantId: string;
  /** The token subject: an agent id, or an admin's name. */
  readonly agentId: string;
  readonly roles: ReadonlySet<Role>;
  readonly credentialKind: "jwt" | "api-key";
  /** When the credential expires (ms since epoch); undefined when it does not. */
  readonly expiresAt: number | undefined;
  /**
   * The groups the credential grants membership of (GROUP-scoped contexts). Only whoever issued
   * the credential sets them; an agent cannot add itself to a group.
   */
  readonly groups?: readonly string[];
  /** When an access token was issued (ms since epoch, whole seconds); checked against revocations. */
  readonly issuedAt?: number;
  /** The id of the API key used, when the credential is one. */
  readonly apiKeyId?: string;
  /**
   * The incarnation of the tenant the credential was issued in; a tenant deleted and created again
   * under the same id has another, so credentials of its predecessor are refused.
   */
  readonly tenantIncarnation?: string;
}

/** Context key under which handlers find the caller's identity (undefined on anonymous RPCs). */
// Stryker disable next-line ObjectLiteral: the key's description is for debugging only
export const identityKey = createContextKey<Identity | undefined>(undefined, {
  // Stryker disable next-line StringLiteral: the key's description is for debugging only
  description: "caller identity",
});

/** Role names as they appear in tokens, logs and docs. */
// Tokens are written and read with these same names, and are opaque to clients (WhoAmI reports the
// roles as the enum): a name changed is changed on both sides.
// Stryker disable StringLiteral: see above
export const roleNames: ReadonlyMap<Role, string> = new Map([
  [Role.ADMIN, "admin"],
  [Role.AGENT_PRODUCER, "agent-producer"],
  [Role.AGENT_CONSUMER, "agent-consumer"],
  [Role.AGENT_FULL, "agent-full"],
  [Role.OBSERVER, "observer"],
]);
// Stryker restore StringLiteral

const rolesByName = new Map([...roleNames].map(([role, name]) => [name, role]));

export function roleFromName(name: string): Role | undefined {
  return rolesByName.get(name);
}

export function isAdmin(identity: Identity): boolean {
  return identity.roles.has(Role.ADMIN);
}

/**
 * Whether the credential grants membership of one of `groups`. Membership is a claim of the
 * credential, set by whoever issued it (IssueToken, CreateApiKey): what an agent registers
 * (RegisterRequest.groups) never counts.
 */
export function inAnyGroup(identity: Identity, groups: readonly string[]): boolean {
  // Every identity the hub makes (tokens, API keys) has its list of groups.
  // Stryker disable next-line ArrayDeclaration: see above
  return (identity.groups ?? []).some((g) => groups.includes(g));
}
