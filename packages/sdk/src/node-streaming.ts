// Node-only pieces of large-context streaming: native SHA-256, HTTP/2 sessions with flow-control
// windows big enough for bulk transfers, and Node stream adapters.
import { createHash, hash } from "node:crypto";
import type * as http2 from "node:http2";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebReadableStream } from "node:stream/web";
import * as zlib from "node:zlib";
import { Http2SessionManager } from "@connectrpc/connect-node";
import type { AcbClient } from "./core/client.js";
import type { ReceiveStreamOptions } from "./core/large-contexts.js";
import type { Sha256Provider } from "./core/sha256.js";
import { createThreadedSha256 } from "./node-hash-thread.js";

/**
 * node:crypto's SHA-256 (native, about 1.7 GB/s) and zlib's CRC-32, injected into the universal
 * core; whole objects are hashed on a worker thread (node-hash-thread.ts).
 */
export const nodeSha256: Sha256Provider = {
  create: () => {
    const h = createHash("sha256");
    return {
      update: (data) => {
        h.update(data);
      },
      digest: () => new Uint8Array(h.digest()),
    };
  },
  createAsync: createThreadedSha256,
  digest: (data) => hash("sha256", data, "buffer"),
  // zlib's native CRC-32 (several GB/s): the per-chunk check beside the whole-object SHA-256.
  ...(typeof zlib.crc32 === "function" && { crc32: (data: Uint8Array) => zlib.crc32(data) }),
};

// Node's HTTP/2 default windows (64 KiB) let a peer have only 64 KiB in flight towards us, which
// caps downloads near 250 MiB/s. These let four 1 MiB chunks per stream and 16 MiB per connection
// be in flight; they bound what the hub may buffer in this process.
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;

/**
 * An HTTP/2 session manager that enlarges the receive windows: the stream window through the
 * SETTINGS of each new session, the connection window once per session (Node has no option for it).
 */
export function createBulkSessionManager(
  baseUrl: string,
  tls: http2.SecureClientSessionOptions = {},
): Http2SessionManager {
  const options: http2.SecureClientSessionOptions = {
    ...tls,
    settings: { initialWindowSize: STREAM_WINDOW },
    maxSessionMemory: 64,
  };
  const widened = new WeakSet<http2.ClientHttp2Session>();
  return new (class extends Http2SessionManager {
    override async request(
      ...args: Parameters<Http2SessionManager["request"]>
    ): Promise<http2.ClientHttp2Stream> {
      const stream = await super.request(...args);
      const session = stream.session as http2.ClientHttp2Session | undefined;
      if (session && !widened.has(session)) {
        widened.add(session);
        session.setLocalWindowSize(CONNECTION_WINDOW);
      }
      return stream;
    }
  })(baseUrl, {}, options);
}

/** A context's value as a Node Readable (see AcbClient.receiveContextStream). */
export function receiveContextReadable(
  client: AcbClient,
  contextId: string,
  options?: ReceiveStreamOptions,
): Readable {
  return Readable.fromWeb(
    client.receiveContextStream(contextId, options) as unknown as NodeWebReadableStream<Uint8Array>,
  );
}
