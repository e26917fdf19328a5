import type { ServerResponse } from "node:http";
import type { NodeHandlerFn } from "../server/listener.js";
import type { HubMetrics } from "./metrics.js";

/** The operator's HTTP paths, beside (or apart from) the RPC routes. */
export const opsPaths = ["/metrics", "/healthz", "/readyz"] as const;

/** What the operator endpoints report. */
export interface OpsState {
  metrics: HubMetrics;
  /** Why the hub is not ready ("draining", "backend unavailable"), or undefined when it is. */
  notReady(): string | undefined;
}

type Req = Parameters<NodeHandlerFn>[0];
type Res = Parameters<NodeHandlerFn>[1];

/**
 * Answers GET/HEAD /metrics (Prometheus text), /healthz (liveness: 200 while the process serves
 * HTTP) and /readyz (readiness: 200 when the backends answer and the hub is not draining, else
 * 503 with the reason). Returns false for any other path, which the caller then serves.
 */
export function serveOps(state: OpsState, req: Req, res: Res): boolean {
  const path = (req.url ?? "").split("?")[0];
  if (!opsPaths.includes(path as (typeof opsPaths)[number])) return false;
  const reply = (status: number, contentType: string, body: string) => {
    (res as ServerResponse).writeHead(status, {
      "content-type": contentType,
      "cache-control": "no-store",
    });
    (res as ServerResponse).end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    reply(405, "text/plain; charset=utf-8", `${req.method} is not allowed on ${path}; use GET\n`);
    return true;
  }
  if (path === "/healthz") {
    reply(200, "text/plain; charset=utf-8", "ok\n");
  } else if (path === "/readyz") {
    const why = state.notReady();
    if (why === undefined) reply(200, "text/plain; charset=utf-8", "ready\n");
    else reply(503, "text/plain; charset=utf-8", `not ready: ${why}\n`);
  } else {
    state.metrics.scrape().then(
      ({ contentType, body }) => reply(200, contentType, body),
      (err: unknown) =>
        reply(500, "text/plain; charset=utf-8", `metrics failed: ${(err as Error).message}\n`),
    );
  }
  return true;
}
