// acb-hub cert [--out DIR] [--host NAME ...]: writes a self-signed development certificate.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateDevCertificate } from "./server/dev-cert.js";

export const certUsage = "acb-hub cert [--out DIR] [--host NAME ...] [--days N]";

/** Writes DIR/cert.pem and DIR/key.pem (mode 0600) and prints one JSON line naming them. */
export async function runCertCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string", default: "." },
      host: { type: "string", multiple: true, default: [] },
      days: { type: "string", default: "30" },
    },
    strict: true,
  });
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1)
    throw new Error(`--days "${values.days}" is not a day count`);
  const { key, cert } = await generateDevCertificate({
    days,
    ...(values.host.length > 0 && { hosts: values.host }),
  });
  const certFile = join(values.out, "cert.pem");
  const keyFile = join(values.out, "key.pem");
  writeFileSync(certFile, cert);
  writeFileSync(keyFile, key, { mode: 0o600 });
  process.stdout.write(`${JSON.stringify({ event: "certificate", certFile, keyFile })}\n`);
}
