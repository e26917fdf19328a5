// How the wire suites (hub-wire, wire-contract) reach a hub: one transport per protocol, with a
// bearer token or none, so every suite speaks each protocol the same way.

import type { Interceptor, Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

/** The protocols a client may speak to the hub's one port. */
export type WireProtocol = "connect-json" | "connect-proto" | "grpc" | "grpc-web";
export const wireProtocols: WireProtocol[] = ["connect-json", "connect-proto", "grpc", "grpc-web"];

export type HttpVersion = "1.1" | "2";

/** Sends `Authorization: Bearer <token>` with every call. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
}

export interface WireTransportOptions {
  /** The access token sent as a bearer credential; none when undefined. */
  token?: string | undefined;
  /** HTTP version of Connect and gRPC-Web (gRPC is always HTTP/2). Default "1.1". */
  httpVersion?: HttpVersion;
  /** Interceptors that run after the bearer one. Default none. */
  interceptors?: Interceptor[];
}

/** A transport to the hub at `baseUrl` in `protocol`. */
export function wireTransport(
  baseUrl: string,
  protocol: WireProtocol,
  options: WireTransportOptions = {},
): Transport {
  const interceptors = [
    ...(options.token === undefined ? [] : [bearer(options.token)]),
    ...(options.interceptors ?? []),
  ];
  const httpVersion = options.httpVersion ?? "1.1";
  switch (protocol) {
    case "connect-json":
    case "connect-proto":
      return createConnectTransport({
        baseUrl,
        httpVersion,
        useBinaryFormat: protocol === "connect-proto",
        interceptors,
      });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion, interceptors });
  }
}
