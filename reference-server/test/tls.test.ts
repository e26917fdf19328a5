// TLS: only TLS 1.3 handshakes are accepted; plaintext only on loopback or when asked for.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { AuthService } from "@acb/gen/acb/v1/auth_pb";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCertCommand } from "../src/cli-cert.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { type DevCertificate, generateDevCertificate } from "../src/server/dev-cert.js";

let hub: Hub;
let cert: DevCertificate;
let port: number;
let url: string;

beforeAll(async () => {
  cert = await generateDevCertificate();
  hub = await createHub({ logger: silentLogger });
  const l = await hub.listen({ host: "127.0.0.1", port: 0, tls: cert });
  port = l.port;
  url = l.url;
});

afterAll(async () => {
  await hub?.close();
});

/** Completes a TLS handshake limited to the given versions; resolves with the protocol or the error. */
function handshake(
  minVersion: "TLSv1.2" | "TLSv1.3",
  maxVersion: "TLSv1.2" | "TLSv1.3",
): Promise<{ protocol: string | null } | { error: Error }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: cert.cert,
      servername: "localhost",
      minVersion,
      maxVersion,
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      resolve({ protocol: socket.getProtocol() });
      socket.destroy();
    });
    socket.once("error", (error) => {
      resolve({ error });
      socket.destroy();
    });
  });
}

describe("TLS", () => {
  it("refuses a TLS 1.2 handshake", async () => {
    const result = await handshake("TLSv1.2", "TLSv1.2");
    expect("error" in result && result.error.message).toMatch(/protocol version|alert/i);
  });

  it("accepts TLS 1.3, and serves RPCs over it", async () => {
    expect(await handshake("TLSv1.3", "TLSv1.3")).toEqual({ protocol: "TLSv1.3" });
    expect(url).toMatch(/^https:/);
    const token = await hub.issueAdminToken();
    const auth = createClient(
      AuthService,
      createConnectTransport({
        baseUrl: url.replace("127.0.0.1", "localhost"),
        httpVersion: "2",
        nodeOptions: { ca: cert.cert },
        interceptors: [
          (next) => (req) => {
            req.header.set("Authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );
    expect((await auth.whoAmI({})).tenantId).toBe("*");
  });

  it("refuses plaintext on a non-loopback address unless insecure is set", async () => {
    await expect(hub.listen({ host: "0.0.0.0", port: 0 })).rejects.toThrow(/refusing plaintext/);
    const l = await hub.listen({ host: "0.0.0.0", port: 0, insecure: true });
    expect(l.url).toMatch(/^http:/);
    await l.close();
  });

  it("acb-hub cert writes a key (mode 0600) and a certificate the hub serves TLS 1.3 with", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acb-cert-test-"));
    try {
      await runCertCommand(["--out", dir, "--host", "localhost", "--days", "2"]);
      const key = readFileSync(join(dir, "key.pem"), "utf8");
      const certPem = readFileSync(join(dir, "cert.pem"), "utf8");
      expect(statSync(join(dir, "key.pem")).mode & 0o777).toBe(0o600);
      expect(certPem).toMatch(/BEGIN CERTIFICATE/);
      const l = await hub.listen({ host: "127.0.0.1", port: 0, tls: { key, cert: certPem } });
      try {
        const protocol = await new Promise<string | null>((resolve, reject) => {
          const socket = tlsConnect({
            host: "127.0.0.1",
            port: l.port,
            ca: certPem,
            servername: "localhost",
          });
          socket.once("secureConnect", () => {
            resolve(socket.getProtocol());
            socket.destroy();
          });
          socket.once("error", reject);
        });
        expect(protocol).toBe("TLSv1.3");
      } finally {
        await l.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
