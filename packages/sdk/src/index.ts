// The universal entry point: works wherever fetch does (browsers, Deno, Bun, Node). It speaks the
// Connect protocol over fetch; browsers therefore get unary and server-streaming calls, which is
// all this API needs (uploads use unary chunk calls).
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  type AcbClient,
  createAcbClient,
  credentialInterceptor,
  type TokenSource,
} from "./core/client.js";

export * from "./core/index.js";

/** Options of {@link createClient} (fetch-based). */
export interface ClientOptions {
  /** The hub's base URL, e.g. "https://hub.example.com" or "http://127.0.0.1:7443". */
  baseUrl: string;
  /** Access token or API key. Default: none (anonymous RPCs only). */
  token?: TokenSource;
  /** The fetch implementation. Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Use the JSON wire format instead of binary (easier to read in devtools). Default false. */
  useJson?: boolean;
}

/** Creates a client that talks to the hub over fetch. */
export function createClient(options: ClientOptions): AcbClient {
  return createAcbClient({
    transport: createConnectTransport({
      baseUrl: options.baseUrl,
      useBinaryFormat: !(options.useJson ?? false),
      interceptors: [credentialInterceptor(options.token)],
      ...(options.fetch && { fetch: options.fetch }),
    }),
  });
}
