import { isIP } from "node:net";

/** Whether `host` names this machine only: plaintext is allowed there without --insecure. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}
