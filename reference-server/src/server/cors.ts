import type { IncomingHttpHeaders } from "node:http";
import { cors as connectCors } from "@connectrpc/connect";

/** Which browser origins may call the hub (CORS). */
export interface CorsOptions {
  /**
   * Exact origins such as "https://app.example.com", "*" for any origin, or "loopback" for any
   * http(s) origin on localhost, 127.0.0.0/8 or [::1] (development: a page served by a local dev
   * server on another port). Default: none, so browsers on other origins are refused.
   */
  allowedOrigins: ReadonlyArray<string>;
  /** How long a browser may cache a preflight answer, in seconds. Default 7200. */
  maxAgeSeconds?: number;
}

const loopbackOrigin = /^https?:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/;

/** Whether `origin` is allowed by `options`. */
export function originAllowed(origin: string, options: CorsOptions): boolean {
  return options.allowedOrigins.some(
    (o) => o === "*" || o === origin || (o === "loopback" && loopbackOrigin.test(origin)),
  );
}

// The parts of node:http's and node:http2's request and response this needs (both fit).
type Req = { headers: IncomingHttpHeaders; method?: string | undefined };
type Res = {
  setHeader(name: string, value: string): unknown;
  writeHead(status: number): unknown;
  end(): unknown;
};

/**
 * Answers CORS for allowed origins: preflights (OPTIONS) here, and the headers a browser needs on
 * the real request (Connect's lists of allowed and exposed headers, so gRPC-Web and the Connect
 * protocol both work). Returns true when the request was a preflight and has been answered.
 * Requests from other origins get no CORS headers, so the browser refuses the answer.
 */
export function applyCors(req: Req, res: Res, options: CorsOptions): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== "string" || !originAllowed(origin, options)) return false;
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Vary", "Origin");
  res.setHeader("Access-Control-Expose-Headers", connectCors.exposedHeaders.join(", "));
  if (req.method !== "OPTIONS") return false;
  res.setHeader("Access-Control-Allow-Methods", connectCors.allowedMethods.join(", "));
  res.setHeader(
    "Access-Control-Allow-Headers",
    [...connectCors.allowedHeaders, "Authorization"].join(", "),
  );
  res.setHeader("Access-Control-Max-Age", String(options.maxAgeSeconds ?? 7200));
  res.writeHead(204);
  res.end();
  return true;
}
