// The relay of bench/http2-floor.ts, in a process of its own as the hub is: plain node:http2
// (cleartext, as `acb-hub dev` serves), no protocol library, no storage. Each client opens
// POST /recv/<i> (a response stream the relay writes to) and POST /send (a request stream it
// writes to). Every message a client writes on /send is a Connect-style envelope (1 flag byte,
// 4-byte big-endian length) whose first 2 bytes name the recipient; the relay writes the same
// envelope to that recipient's /recv stream as it arrives, one write per message, and answers
// every envelope on the sender's /send stream with an empty one, as a hub answers each item of a
// SendStream (recipient 0xffff: an ack of a delivery, answered but not relayed).
// Prints {"event":"listening","url":...} on stdout once it listens.

import http2 from "node:http2";

const ANSWER = Buffer.from([0, 0, 0, 0, 0]);
const receivers = new Map<number, http2.ServerHttp2Stream>();

const server = http2.createServer();
server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
  const path = String(headers[":path"] ?? "");
  if (path.startsWith("/recv/")) {
    const id = Number(path.slice("/recv/".length));
    stream.respond({ ":status": 200, "content-type": "application/octet-stream" });
    receivers.set(id, stream);
    stream.on("close", () => {
      if (receivers.get(id) === stream) receivers.delete(id);
    });
    return;
  }
  if (path === "/send") {
    stream.respond({ ":status": 200 });
    let pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const size = pending.readUInt32BE(1);
        if (pending.length < 5 + size) break;
        const envelope = pending.subarray(0, 5 + size);
        pending = pending.subarray(5 + size);
        const to = envelope.readUInt16BE(5);
        if (to !== 0xffff) receivers.get(to)?.write(envelope);
        stream.write(ANSWER);
      }
    });
    stream.on("end", () => stream.end());
    return;
  }
  stream.respond({ ":status": 404 });
  stream.end();
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(
    `${JSON.stringify({ event: "listening", url: `http://127.0.0.1:${port}` })}\n`,
  );
});
process.on("SIGTERM", () => process.exit(0));
