// The fetch entry point (`@acb/sdk/web`, also `@acb/sdk`, `@acb/sdk/deno`, `@acb/sdk/bun`): works
// wherever fetch does. It speaks the Connect protocol over fetch, so it makes unary and
// server-streaming calls only, which is all this API needs: large-context uploads use one unary
// AppendChunk call per chunk because fetch cannot stream a request body.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { checkBaseUrls } from "./core/base-url.js";
import { type AcbClient, createAcbClient } from "./core/client.js";
import type { Credentials } from "./core/credentials.js";
import type { E2eOptions } from "./core/e2e/client-e2e.js";

export * from "./core/index.js";
export * from "./protocol.js";

/** Options of {@link createClient} (fetch-based). */
export interface ClientOptions {
  /**
   * The hub's base URL, e.g. "https://hub.example.com" or "http://127.0.0.1:7443", or the URLs of
   * several nodes of one hub: calls go to one node until it fails, then to the next (see
   * docs/sdk.md#several-hub-nodes).
   */
  baseUrl: string | string[];
  /**
   * Access token or API key, a function returning the current one, or `{ accessToken,
   * refreshToken }` (refreshed automatically before expiry). Default: none (anonymous RPCs only).
   */
  token?: Credentials | undefined;
  /** Deadline of every unary call that sets no `timeoutMs` of its own. Default: none. */
  timeoutMs?: number;
  /** The fetch implementation. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Use the JSON wire format instead of binary (easier to read in devtools). Default false. */
  useJson?: boolean;
  /** End-to-end encryption: keys, default recipients, pins (AcbClientOptions.e2e). */
  e2e?: E2eOptions;
  /**
   * Connect interceptors run on every call, after the client added the credential (tracing,
   * logging, extra headers). Default: none.
   */
  interceptors?: Interceptor[];
}

/** Statuses whose responses have no body, and a Response of which cannot be given one. */
const nullBodyStatus = new Set([101, 103, 204, 205, 304]);

/**
 * `fetchImpl` with each response body tied to the request's signal: when the signal aborts, the
 * body errors with its reason, so a read waiting for the hub settles. Fetch should do this itself,
 * but Deno (2.x) can lose the link: the request it builds holds a signal of its own that follows
 * ours through a weak reference only, and once that request is garbage-collected an abort no
 * longer reaches the body. A Receive stream with nothing to deliver then never ends, and
 * `receiver.close()` waits forever. Piping the body through an identity stream with our signal
 * holds the link strongly, in every runtime.
 */
function withAbortableBodies(fetchImpl: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await fetchImpl(input, init);
    const signal = init?.signal;
    if (!signal || response.body === null || nullBodyStatus.has(response.status)) return response;
    return new Response(
      response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>(), { signal }),
      { status: response.status, statusText: response.statusText, headers: response.headers },
    );
  };
}

/** Creates a client that talks to the hub over fetch. Bad options fail with an AcbError. */
export function createClient(options: ClientOptions): AcbClient {
  const endpoints = checkBaseUrls(options?.baseUrl).map((baseUrl) => ({
    url: baseUrl,
    transport: createConnectTransport({
      baseUrl,
      useBinaryFormat: !(options.useJson ?? false),
      // Looked up at each call, as connect-web does, so a fetch installed later is used.
      fetch: withAbortableBodies(options.fetch ?? ((input, init) => globalThis.fetch(input, init))),
      ...(options.interceptors && { interceptors: options.interceptors }),
    }),
  }));
  return createAcbClient({
    transport:
      endpoints.length === 1 ? (endpoints[0] as { transport: Transport }).transport : endpoints,
    ...(options.token !== undefined && { token: options.token }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.e2e && { e2e: options.e2e }),
  });
}
