// acb-hub token: signs an access token offline with the hub's signing key. A production hub
// (`acb-hub serve`) mints no token itself; this is how an operator gets the first platform-admin
// token, with which tenants are created and agent tokens issued (AuthService.IssueToken).

import { readFileSync } from "node:fs";
import type { Role } from "@acb/gen/acb/v1/auth_pb";
import { PLATFORM_TENANT, roleFromName, roleNames } from "./auth/identity.js";
import { signingKeysFromPem } from "./auth/signing-keys.js";
import { mintAccessToken } from "./auth/token-service.js";
import type { CliOutput } from "./cli-cert.js";
import { commandHelp, parseCommand, UsageError } from "./cli-commands.js";

/** The longest lifetime `acb-hub token` signs: a week, like a refresh token. */
const MAX_TTL_MS = 7 * 24 * 3_600_000;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "30m", "1h", "7d" in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  const ms = m ? Number(m[1]) * (UNITS[m[2] ?? ""] ?? 0) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`--ttl "${text}" is not a duration like 90s, 30m, 1h or 7d`);
  }
  if (ms > MAX_TTL_MS) throw new UsageError(`--ttl "${text}" is longer than the 7d maximum`);
  return ms;
}

/** Prints the access token alone on one line, so `ADMIN=$(acb-hub token …)` works. */
export async function runTokenCommand(
  args: string[],
  out: CliOutput = process.stdout,
  nowMs = Date.now(),
): Promise<void> {
  const values = parseCommand("token", args);
  if (!values) return void out.write(commandHelp("token"));
  const keyFile = values["signing-key"];
  if (!keyFile) throw new UsageError("token needs --signing-key FILE, the key the hub serves with");
  if (values.tenant !== PLATFORM_TENANT) {
    throw new UsageError(
      `--tenant "${values.tenant}": acb-hub token signs platform tokens (--tenant '*') only; ` +
        "a tenant's tokens carry its incarnation, so issue them with AuthService.IssueToken",
    );
  }
  const roles: Role[] = values.role.map((name) => {
    // The wire's spelling (ROLE_AGENT_FULL) names the same role as the token's (agent-full).
    const role = roleFromName(
      name
        .replace(/^ROLE_/, "")
        .toLowerCase()
        .replaceAll("_", "-"),
    );
    if (role === undefined) {
      throw new UsageError(
        `--role "${name}" is not a role (${[...roleNames.values()].join(", ")})`,
      );
    }
    return role;
  });
  if (values.subject === "") throw new UsageError("--subject must not be empty");
  const ttlMs = parseDuration(values.ttl);
  let pem: Buffer;
  try {
    pem = readFileSync(keyFile);
  } catch (err) {
    throw new UsageError(`cannot read --signing-key "${keyFile}": ${(err as Error).message}`);
  }
  const keys = signingKeysFromPem(pem, `--signing-key "${keyFile}"`);
  const { token } = await mintAccessToken(
    keys,
    { tenantId: values.tenant, subject: values.subject, roles },
    { nowMs, ttlMs },
  );
  out.write(`${token}\n`);
}
