// What the lean-stream wire tests share (src/node-streams.test.ts, src/node-upload-wire.test.ts):
// envelopes as a server writes them, and a Connect transport beside the same transport with
// withLeanStreams, each on an HTTP/2 session of its own, both running one tagging interceptor.
import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { withLeanStreams } from "../src/node-streams.js";

/** One Connect envelope: flags, the length, the bytes. */
export function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/** A header an interceptor adds, so both paths are seen to run the transport's interceptors. */
const tagging: Interceptor = (next) => (req) => {
  req.header.set("x-intercepted", req.method.name);
  return next(req);
};

/** Connect's transport (`plain`) and the lean one (`lean`) to `baseUrl`; `close` ends both. */
export function plainAndLean(baseUrl: string) {
  const plainSessions = new Http2SessionManager(baseUrl);
  const leanSessions = new Http2SessionManager(baseUrl);
  const options = { baseUrl, httpVersion: "2" as const, interceptors: [tagging] };
  const plain = createConnectTransport({ ...options, sessionManager: plainSessions });
  const lean = withLeanStreams(
    createConnectTransport({ ...options, sessionManager: leanSessions }),
    { baseUrl, sessionManager: leanSessions, interceptors: [tagging] },
  );
  const close = () => {
    plainSessions.abort();
    leanSessions.abort();
  };
  return { plain, lean, close };
}
