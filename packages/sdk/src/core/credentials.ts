import type { AuthService, TokenPair } from "@acb/gen/acb/v1/auth_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code } from "@connectrpc/connect";
import { acbError } from "./acb-error.js";

/** A bearer credential, or a function returning the current one (called before every request). */
export type TokenSource = string | (() => string | Promise<string>);

/** An access token with the refresh token that renews it (AuthService.IssueToken's answer). */
export interface RefreshableCredentials {
  /** The current JWT access token. */
  accessToken: string;
  /** The single-use refresh token; each refresh spends it and yields a new one. */
  refreshToken: string;
  /** When the access token expires. Default: read from the JWT's `exp` claim. */
  expiresAt?: Date;
  /** Refresh this many milliseconds before the access token expires. Default 60,000. */
  refreshBeforeMs?: number;
  /**
   * Called with every new pair. Persist the refresh token here if the process may restart: the
   * previous one is spent, and presenting it again revokes the whole token family.
   */
  onRefresh?: (tokens: {
    accessToken: string;
    refreshToken: string;
    expiresAt: Date | undefined;
  }) => void;
}

/** What a client accepts as `token`: a fixed credential, a function, or refreshable tokens. */
export type Credentials = TokenSource | RefreshableCredentials;

/** Whether `c` is `{ accessToken, refreshToken }` (which the SDK refreshes by itself). */
export function isRefreshable(c: Credentials | undefined): c is RefreshableCredentials {
  return typeof c === "object" && c !== null && "refreshToken" in c;
}

/** The `exp` claim of a JWT as a Date; undefined for anything else (API keys, opaque tokens). */
export function jwtExpiry(token: string): Date | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp: unknown = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns refreshable credentials into a token source that calls AuthService.RefreshToken shortly
 * before the access token expires. Concurrent calls share one refresh (a refresh token is single
 * use: two parallel refreshes would look like token theft to the hub and revoke the family).
 */
export function refreshingTokenSource(
  credentials: RefreshableCredentials,
  auth: Pick<Client<typeof AuthService>, "refreshToken">,
  now: () => number = Date.now,
): () => Promise<string> {
  let access = credentials.accessToken;
  let refresh = credentials.refreshToken;
  let expiresAt = credentials.expiresAt ?? jwtExpiry(access);
  const margin = credentials.refreshBeforeMs ?? 60_000;
  let inFlight: Promise<string> | undefined;

  const renew = async (): Promise<string> => {
    const res = await auth.refreshToken({ refreshToken: refresh });
    const tokens: TokenPair | undefined = res.tokens;
    if (!tokens?.accessToken)
      throw acbError(Code.Internal, "hub answered RefreshToken without tokens");
    access = tokens.accessToken;
    refresh = tokens.refreshToken;
    expiresAt = tokens.accessTokenExpiresAt
      ? timestampDate(tokens.accessTokenExpiresAt)
      : jwtExpiry(access);
    credentials.onRefresh?.({ accessToken: access, refreshToken: refresh, expiresAt });
    return access;
  };

  return () => {
    if (expiresAt === undefined || now() < expiresAt.getTime() - margin) {
      return Promise.resolve(access);
    }
    inFlight ??= renew().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
