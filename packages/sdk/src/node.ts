// The Node entry point: HTTP/2 by default (one connection multiplexes every call and stream), with
// HTTP/1.1 and the gRPC protocol available. Everything else is the universal API.
import { Code, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { acbError } from "./core/acb-error.js";
import { checkBaseUrls } from "./core/base-url.js";
import { type AcbClient, createAcbClient } from "./core/client.js";
import type { Credentials } from "./core/credentials.js";
import type { E2eOptions } from "./core/e2e/client-e2e.js";
import { createBulkSessionManager, nodeSha256 } from "./node-streaming.js";
import { withLeanStreams } from "./node-streams.js";

export * from "./core/index.js";
export { nodeSha256, receiveContextReadable } from "./node-streaming.js";
export * from "./protocol.js";

/** PEM text or bytes (a certificate, a chain, or a private key). */
export type Pem = string | Buffer;

/** TLS settings for an https: hub. */
export interface NodeTlsOptions {
  /**
   * Certificates to trust instead of Node's default CAs, e.g. a private CA or a development hub's
   * self-signed certificate. Default: Node's CA store.
   */
  ca?: Pem | Pem[];
  /** The client certificate (chain) for mutual TLS. Default: none. */
  cert?: Pem | Pem[];
  /** The client certificate's private key. Default: none. */
  key?: Pem;
  /** The name the hub's certificate must carry (and SNI sends). Default: the baseUrl's host. */
  servername?: string;
}

/** Options of {@link createClient} for Node. */
export interface NodeClientOptions {
  /**
   * The hub's base URL, e.g. "http://127.0.0.1:7443", or the URLs of several nodes of one hub:
   * calls go to one node until it fails, then to the next (see docs/sdk.md#several-hub-nodes).
   */
  baseUrl: string | string[];
  /**
   * Access token or API key, a function returning the current one, or `{ accessToken,
   * refreshToken }` (refreshed automatically before expiry). Default: none (anonymous RPCs only).
   */
  token?: Credentials | undefined;
  /** Deadline of every unary call that sets no `timeoutMs` of its own. Default: none. */
  timeoutMs?: number;
  /** "2" (HTTP/2, h2c on plaintext) or "1.1". Default "2". */
  httpVersion?: "2" | "1.1";
  /** "connect" or "grpc" (gRPC needs HTTP/2). Default "connect". */
  protocol?: "connect" | "grpc";
  /** End-to-end encryption: keys, default recipients, pins (AcbClientOptions.e2e). */
  e2e?: E2eOptions;
  /**
   * Connect interceptors run on every call, after the client added the credential (tracing,
   * logging, extra headers). Default: none.
   */
  interceptors?: Interceptor[];
  /** TLS settings (https: hubs only). Default: Node's CA store, no client certificate. */
  tls?: NodeTlsOptions;
}

/** Creates a client that talks to the hub with Node's HTTP stack. Bad options fail with an AcbError. */
export function createClient(options: NodeClientOptions): AcbClient {
  const urls = checkBaseUrls(options?.baseUrl);
  const { tls, interceptors = [] } = options;
  if (options.protocol === "grpc" && options.httpVersion === "1.1") {
    throw acbError(Code.InvalidArgument, 'createClient: protocol "grpc" needs httpVersion "2"');
  }
  const httpVersion = options.httpVersion ?? "2";
  const transportTo = (baseUrl: string) => {
    if (tls && !baseUrl.startsWith("https:")) {
      throw acbError(
        Code.InvalidArgument,
        `createClient: tls needs an https: baseUrl, not "${baseUrl}"`,
      );
    }
    return options.protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors, ...(tls && { nodeOptions: tls }) })
      : httpVersion === "2"
        ? connectOverHttp2(baseUrl)
        : createConnectTransport({
            baseUrl,
            httpVersion,
            useBinaryFormat: true,
            interceptors,
            ...(tls && { nodeOptions: tls }),
          });
  };
  /**
   * Connect over HTTP/2: streams skip the protocol library's per-message pipeline, and uploads
   * send their chunks without copying them (node-streams.ts).
   */
  function connectOverHttp2(baseUrl: string): Transport {
    // Large-context chunks need wide HTTP/2 flow-control windows (see node-streaming.ts).
    const sessionManager = createBulkSessionManager(baseUrl, tls);
    const transport = createConnectTransport({
      baseUrl,
      httpVersion: "2",
      useBinaryFormat: true,
      interceptors,
      sessionManager,
    });
    return withLeanStreams(transport, { baseUrl, sessionManager, interceptors });
  }
  const endpoints = urls.map((url) => ({ url, transport: transportTo(url) }));
  const transport =
    endpoints.length === 1 ? (endpoints[0] as { transport: Transport }).transport : endpoints;
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
