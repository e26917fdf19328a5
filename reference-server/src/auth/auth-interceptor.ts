import type { Interceptor } from "@connectrpc/connect";
import { peerKey } from "../audit/early-refusals.js";
import { Code, hubError } from "../errors.js";
import { procedureOf } from "../procedure.js";
import { type AuthFailureLimiter, refusalAuditedKey } from "./auth-failure-limiter.js";
import { type Identity, identityKey, PLATFORM_TENANT } from "./identity.js";
import type { Access } from "./rbac-table.js";

/** Options of {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /** Turns a bearer credential into an identity, or throws UNAUTHENTICATED. */
  authenticate(credential: string): Promise<Identity>;
  /** Who may call each RPC, keyed "package.Service/Method". */
  accessTable: Readonly<Record<string, Access>>;
  /** Limits failed authentication per peer and claimed tenant. Default: no limit. */
  failures?: AuthFailureLimiter;
}

/**
 * Authentication and authorization for every RPC, in one place: a handler can only run after this
 * interceptor established the caller's identity and checked its role against the access table.
 */
export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    const procedure = procedureOf(req.method);
    const access = options.accessTable[procedure];
    // Every RPC the hub serves is in the table (rbac-table.test.ts checks it), and a path it does
    // not serve never reaches an interceptor: the fail-closed check refuses nothing the wire sends.
    // Stryker disable next-line ConditionalExpression,BlockStatement: see above
    if (access === undefined) {
      // Stryker disable next-line StringLiteral: see above
      throw hubError(Code.PermissionDenied, `${procedure} is not in the access table`);
    }
    // Without the mark the audit interceptor would also record each refusal past a failure limit
    // one by one: a cost that matters only once a flood would fill the audit store's cap.
    // Stryker disable next-line ArrowFunction,BooleanLiteral: see above
    const markAudited = () => req.contextValues.set(refusalAuditedKey, true);
    const peer = req.contextValues.get(peerKey);
    const header = req.header.get("authorization");
    const credential = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    if (access === "anonymous") {
      // A valid credential still says who is calling (GetServerInfo tells its caller more); an
      // invalid one is no reason to refuse a call that needs none.
      // `true` for either condition is equivalent (no credential fails to authenticate, and an
      // identity set to undefined is none); `false` is the block or the call removed, which
      // security.server-info-caller catches.
      // Stryker disable next-line ConditionalExpression: see above
      if (credential) {
        const identity = await options.authenticate(credential).catch(() => undefined);
        // Stryker disable next-line ConditionalExpression: see above
        if (identity) req.contextValues.set(identityKey, identity);
      }
      // RefreshToken fails UNAUTHENTICATED in its handler: those failures are limited too.
      return options.failures
        ? options.failures.guard({ peer, credential: undefined, procedure, markAudited }, () =>
            next(req),
          )
        : next(req);
    }

    const verify = async () => {
      // Without a header there is no credential either: the next check refuses it with the same
      // code, only another message.
      // Stryker disable next-line ConditionalExpression,BlockStatement: see above
      if (!header) {
        throw hubError(
          Code.Unauthenticated,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          "missing credential: send Authorization: Bearer <token>",
        );
      }
      if (!credential) {
        throw hubError(
          Code.Unauthenticated,
          // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
          "malformed Authorization header: expected Bearer <token>",
        );
      }
      return options.authenticate(credential);
    };
    const identity = options.failures
      ? await options.failures.guard({ peer, credential, procedure, markAudited }, verify)
      : await verify();
    // Known from here on, also to the audit interceptor when the checks below refuse the call.
    req.contextValues.set(identityKey, identity);
    if (!mayCall(identity, access)) {
      throw hubError(
        Code.PermissionDenied,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `${procedure} needs one of the roles that "${identity.agentId}" does not hold`,
      );
    }
    // Platform admins manage tenants; they hold no tenant of their own to act in.
    if (
      identity.tenantId === PLATFORM_TENANT &&
      !procedure.startsWith("acb.v1.AdminService/") &&
      !procedure.startsWith("acb.v1.AuthService/") &&
      // GetServerInfo is anonymous: it returned above, before this check.
      // Stryker disable next-line ConditionalExpression,StringLiteral: see above
      procedure !== "acb.v1.ServerInfoService/GetServerInfo"
    ) {
      throw hubError(
        Code.PermissionDenied,
        // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
        `${procedure} acts within a tenant: use a credential issued for a tenant (AuthService.IssueToken)`,
      );
    }
    return next(req);
  };
}

/** Whether `identity` holds a role that `access` admits (anonymous and authenticated admit all). */
export function mayCall(identity: Identity, access: Access | undefined): boolean {
  // Its callers pass only RPCs in the table (the interceptor after its own check, SendStream for
  // Send, Ack and Nack), and anonymous RPCs return before the interceptor calls it.
  // Stryker disable next-line ConditionalExpression,BlockStatement,BooleanLiteral: see above
  if (access === undefined) return false;
  if (access === "anonymous" || access === "authenticated") return true;
  return access.some((role) => identity.roles.has(role));
}
