// The web console's static files, served by the listener under /console/ when the hub runs with
// the console on. The folder is read once, when the listener starts, into a table of names:
// a request can only ever get one of those files, so no path (../, %2e%2e, encoded slashes,
// absolute paths) reaches the file system.

import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import type { NodeHandlerFn } from "./listener.js";

/** Where the console is served from and what it serves. */
export interface ConsoleOptions {
  /** The folder holding the built console (index.html, console.js, …); read once at listen(). */
  dir: string;
  /** The URL path it is served under. Default "/console/". */
  prefix?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

interface File {
  type: string;
  body: Buffer;
}

/**
 * A request handler for the console's files: true when it answered the request (a path under the
 * prefix), false for every other path (the RPC router's).
 */
export function consoleFiles(
  options: ConsoleOptions,
): (req: Parameters<NodeHandlerFn>[0], res: Parameters<NodeHandlerFn>[1]) => boolean {
  const prefix = options.prefix ?? "/console/";
  const files = new Map<string, File>();
  for (const entry of readdirSync(options.dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    files.set(entry.name, { type, body: readFileSync(join(options.dir, entry.name)) });
  }
  if (!files.has("index.html"))
    throw new Error(`the console folder "${options.dir}" has no index.html: build it first`);
  const bare = prefix.replace(/\/$/, "");
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path !== bare && !path.startsWith(prefix)) return false;
    const send = (status: number, headers: Record<string, string>, body: Buffer | string = "") => {
      res.statusCode = status;
      for (const [k, v] of Object.entries({
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
        ...headers,
      }))
        res.setHeader(k, v);
      res.end(req.method === "HEAD" ? "" : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { allow: "GET, HEAD", "content-type": "text/plain" }, "method not allowed\n");
    } else if (path === bare) {
      send(308, { location: prefix });
    } else {
      const name = path.slice(prefix.length) || "index.html";
      const file = files.get(name);
      if (file) send(200, { "content-type": file.type }, file.body);
      else send(404, { "content-type": "text/plain" }, "not found\n");
    }
    return true;
  };
}
