// What the benchmarks' load clients share: one HTTP/2 connection's messaging and registry clients
// speaking binary protobuf (as the SDK's Node entry point does), and the bearer credential, as
// per-call options or as an interceptor of a transport.

import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** One HTTP/2 connection's clients (each transport keeps its own connection). */
export interface Connection {
  messaging: Client<typeof MessagingService>;
  registry: Client<typeof RegistryService>;
}

/** A new HTTP/2 connection to the hub at `url`, binary protobuf. */
export function connection(url: string): Connection {
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "2",
    useBinaryFormat: true,
  });
  return {
    messaging: createClient(MessagingService, transport),
    registry: createClient(RegistryService, transport),
  };
}

/** Call options carrying `token` as the bearer credential. */
export const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** An interceptor that sends `token` as the bearer credential of every call. */
export const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
