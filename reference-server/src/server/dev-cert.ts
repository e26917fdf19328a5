import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/** A PEM private key and self-signed certificate. */
export interface DevCertificate {
  key: string;
  cert: string;
}

/** Options of {@link generateDevCertificate}. */
export interface DevCertificateOptions {
  /** Names and addresses the certificate is valid for. Default: localhost, 127.0.0.1 and ::1. */
  hosts?: string[];
  /** Validity in days. Default 30. */
  days?: number;
}

/**
 * Generates a self-signed P-256 certificate for development TLS. Node's crypto creates keys but
 * not X.509 certificates, so this asks the `openssl` command (present on Linux and macOS) rather
 * than hand-rolling ASN.1; a clear error says so when it is missing. Never use it in production:
 * nothing vouches for a self-signed certificate.
 */
export async function generateDevCertificate(
  options: DevCertificateOptions = {},
): Promise<DevCertificate> {
  const hosts = options.hosts ?? ["localhost", "127.0.0.1", "::1"];
  for (const h of hosts) {
    if (!/^[A-Za-z0-9.:-]+$/.test(h)) throw new Error(`"${h}" is not a host name or address`);
  }
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const dir = await mkdtemp(join(tmpdir(), "acb-cert-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      String(options.days ?? 30),
      "-subj",
      `/CN=${hosts[0] ?? "localhost"}`,
      "-addext",
      `subjectAltName=${san}`,
    ]).catch((err: unknown) => {
      throw new Error(
        `generating a development certificate needs the openssl command: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    });
    return { key: await readFile(keyFile, "utf8"), cert: await readFile(certFile, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
