// Where acb finds the hub and the credential: flags, then ACB_URL / ACB_TOKEN, then the config file
// (--config, $ACB_CONFIG, or ~/.config/acb/config.json). A missing or expired credential is a
// clear error before any call goes out.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { jwtExpiry } from "@acb/sdk/node";
import { UsageError } from "./commands.js";

/** The default hub: what `acb hub` and `acb-hub dev` listen on. */
export const DEFAULT_URL = "http://127.0.0.1:7443";

/** A credential that cannot be used; the CLI exits with 1 and this message. */
export class CredentialError extends Error {
  override name = "CredentialError";
}

export interface Connection {
  url: string;
  token: string;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

/** The config file's path: --config, $ACB_CONFIG, $XDG_CONFIG_HOME/acb or ~/.config/acb. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return flag;
  if (env["ACB_CONFIG"]) return env["ACB_CONFIG"];
  const base = env["XDG_CONFIG_HOME"] || join(env["HOME"] || homedir(), ".config");
  return join(base, "acb", "config.json");
}

function readConfig(path: string, explicit: boolean): { url?: string; token?: string } {
  if (!existsSync(path)) {
    if (explicit) throw new UsageError(`config file "${path}" does not exist`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UsageError(
      `config file "${path}" is not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new UsageError(
      `config file "${path}" must hold a JSON object {"url": ..., "token": ...}`,
    );
  const { url, token } = parsed as Record<string, unknown>;
  for (const [k, v] of Object.entries({ url, token })) {
    if (v !== undefined && typeof v !== "string")
      throw new UsageError(`config file "${path}": "${k}" must be a string`);
  }
  return {
    ...(typeof url === "string" && { url }),
    ...(typeof token === "string" && { token }),
  };
}

/** Resolves the hub URL and credential, or throws a CredentialError saying what to do. */
export function resolveConnection(
  values: { url?: string | undefined; token?: string | undefined; config?: string | undefined },
  env: NodeJS.ProcessEnv,
  now: Date = new Date(),
): Connection {
  const explicitConfig = values.config !== undefined || env["ACB_CONFIG"] !== undefined;
  const path = configPath(values.config, env);
  const config = readConfig(path, explicitConfig);
  const url = values.url ?? env["ACB_URL"] ?? config.url ?? DEFAULT_URL;
  let token: string | undefined;
  let tokenSource: string;
  if (values.token !== undefined) [token, tokenSource] = [values.token, "--token"];
  else if (env["ACB_TOKEN"]) [token, tokenSource] = [env["ACB_TOKEN"], "ACB_TOKEN"];
  else [token, tokenSource] = [config.token, `the config file ${path}`];
  if (!token) {
    throw new CredentialError(
      `no credential: set ACB_TOKEN, pass --token, or put "token" in ${path} ` +
        "(acb-hub dev prints an admin token; acb token issue mints one for an agent)",
    );
  }
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp.getTime() <= now.getTime()) {
    throw new CredentialError(
      `the token from ${tokenSource} expired at ${exp.toISOString()}: mint a new one ` +
        "(acb token issue, or acb-hub token for a platform admin) and set it again",
    );
  }
  return { url, token, tokenSource };
}
