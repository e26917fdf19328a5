// acb-hub cert and acb-hub keygen: write key material for a hub. Neither ever replaces an existing
// file unless --force is given (a development TLS key must not silently overwrite a signing key).

import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { commandHelp, parseCommand, UsageError } from "./cli-commands.js";
import { generateDevCertificate } from "./server/dev-cert.js";

/** What a command prints and where; the bin passes process.stdout. */
export interface CliOutput {
  write(text: string): unknown;
}

/**
 * Writes files (creating their folders), all or none: when one exists and `force` is not set,
 * nothing is written and the error names every existing file.
 */
function writeNewFiles(
  files: { path: string; data: string; mode: number }[],
  force: boolean,
): void {
  if (!force) {
    const existing = files.filter((f) => existsSync(f.path)).map((f) => f.path);
    if (existing.length > 0) {
      throw new UsageError(
        `${existing.join(" and ")} ${existing.length > 1 ? "exist" : "exists"} already; nothing was written (give --force to overwrite)`,
      );
    }
  }
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    // "wx" fails instead of replacing a file that appeared meanwhile.
    writeFileSync(f.path, f.data, { mode: f.mode, flag: force ? "w" : "wx" });
  }
}

/** acb-hub cert: writes DIR/cert.pem and DIR/key.pem (mode 0600) and prints one JSON line. */
export async function runCertCommand(
  args: string[],
  out: CliOutput = process.stdout,
): Promise<void> {
  const values = parseCommand("cert", args);
  if (!values) return void out.write(commandHelp("cert"));
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1)
    throw new UsageError(`--days "${values.days}" is not a day count`);
  const { key, cert } = await generateDevCertificate({
    days,
    ...(values.host.length > 0 && { hosts: values.host }),
  });
  const certFile = join(values.out, "cert.pem");
  const keyFile = join(values.out, "key.pem");
  writeNewFiles(
    [
      { path: certFile, data: cert, mode: 0o644 },
      { path: keyFile, data: key, mode: 0o600 },
    ],
    values.force,
  );
  out.write(`${JSON.stringify({ event: "certificate", certFile, keyFile })}\n`);
}

/** acb-hub keygen: writes a new Ed25519 signing key (PKCS#8 PEM, mode 0600), prints one JSON line. */
export async function runKeygenCommand(
  args: string[],
  out: CliOutput = process.stdout,
): Promise<void> {
  const values = parseCommand("keygen", args);
  if (!values) return void out.write(commandHelp("keygen"));
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  writeNewFiles([{ path: values.out, data: pem, mode: 0o600 }], values.force);
  out.write(`${JSON.stringify({ event: "signing-key", keyFile: values.out, alg: "EdDSA" })}\n`);
}
