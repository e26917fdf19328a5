// The Node entry point: HTTP/2 by default (one connection multiplexes every call and stream), with
// HTTP/1.1 and the gRPC protocol available. Everything else is the universal API.
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { type AcbClient, createAcbClient } from "./core/client.js";
import type { Credentials } from "./core/credentials.js";
import type { E2eOptions } from "./core/e2e/client-e2e.js";
import { createBulkSessionManager, nodeSha256 } from "./node-streaming.js";

export * from "./core/index.js";
export { nodeSha256, receiveContextReadable } from "./node-streaming.js";
export * from "./protocol.js";

/** Options of {@link createClient} for Node. */
export interface NodeClientOptions {
  /** The hub's base URL, e.g. "http://127.0.0.1:7443". */
  baseUrl: string;
  /**
   * Access token or API key, a function returning the current one, or `{ accessToken,
   * refreshToken }` (refreshed automatically before expiry). Default: none (anonymous RPCs only).
   */
  token?: Credentials;
  /** Deadline of every unary call that sets no `timeoutMs` of its own. Default: none. */
  timeoutMs?: number;
  /** "2" (HTTP/2, h2c on plaintext) or "1.1". Default "2". */
  httpVersion?: "2" | "1.1";
  /** "connect" or "grpc" (gRPC needs HTTP/2). Default "connect". */
  protocol?: "connect" | "grpc";
  /** End-to-end encryption: keys, default recipients, pins (AcbClientOptions.e2e). */
  e2e?: E2eOptions;
}

/** Creates a client that talks to the hub with Node's HTTP stack. */
export function createClient(options: NodeClientOptions): AcbClient {
  const transport =
    options.protocol === "grpc"
      ? createGrpcTransport({ baseUrl: options.baseUrl })
      : createConnectTransport({
          baseUrl: options.baseUrl,
          httpVersion: options.httpVersion ?? "2",
          useBinaryFormat: true,
          // Large-context chunks need wide HTTP/2 flow-control windows (see node-streaming.ts).
          ...((options.httpVersion ?? "2") === "2" && {
            sessionManager: createBulkSessionManager(options.baseUrl),
          }),
        });
  // Node streams request bodies, so uploads use client streams; hashing is native.
  return createAcbClient({
    transport,
    ...(options.token !== undefined && { token: options.token }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.e2e && { e2e: options.e2e }),
    uploadMode: "stream",
    sendMode: "stream",
    sha256: nodeSha256,
  });
}
