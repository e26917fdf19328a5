// Connections a client abandons are closed by the listener's timeouts (headers, body, idle), on
// plaintext (HTTP/1.1 and h2c on one port) and on TLS, while a live stream on a quiet connection
// is left alone. The hub here uses timeouts of a few hundred milliseconds; every case waits for
// the close itself (no sleeps), so a timeout that never fires fails the case by the test timeout.

import * as http2 from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub } from "../src/hub.js";
import type { Logger } from "../src/logger.js";
import { type DevCertificate, generateDevCertificate } from "../src/server/dev-cert.js";
import { listen } from "../src/server/listener.js";

const timeouts = { headersMs: 300, bodyIdleMs: 300, idleMs: 300 };
/** What the hub logged at level "error": a request closed for a timeout is not a hub failure. */
const errors: string[] = [];
const errorsTo: Logger = {
  log(level, msg, fields) {
    if (level === "error") errors.push(`${msg}: ${JSON.stringify(fields)}`);
  },
};
let hub: Hub;
let cert: DevCertificate;
let plainPort: number;
let plainUrl: string;
let tlsPort: number;

beforeAll(async () => {
  cert = await generateDevCertificate();
  hub = await createHub({ logger: errorsTo });
  const plain = await hub.listen({ port: 0, timeouts });
  plainPort = plain.port;
  plainUrl = plain.url;
  tlsPort = (await hub.listen({ port: 0, tls: cert, timeouts })).port;
});

afterAll(async () => {
  await hub?.close();
  expect(errors).toEqual([]);
});

/** Resolves once the hub closes the socket; records whether the socket saw an error first. */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on("error", () => {});
    socket.once("close", () => resolve());
  });
}

async function tcp(send?: string): Promise<Socket> {
  const socket = netConnect(plainPort, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  if (send !== undefined) socket.write(send);
  return socket;
}

/** gRPC framing of one (empty) message. */
const EMPTY_GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

describe("connection timeouts", () => {
  it("closes a connection that sends nothing, or stops inside the protocol preface", async () => {
    await closed(await tcp());
    await closed(await tcp("PR"));
  });

  it("closes an HTTP/1.1 connection that stops in the middle of its headers", async () => {
    await closed(await tcp("POST /acb.v1.ServerInfoService/GetServerInfo HTTP/1.1\r\nHost: x\r\n"));
  });

  it("closes an HTTP/1.1 connection whose request body stops arriving", async () => {
    const socket = await tcp(
      "POST /acb.v1.ServerInfoService/GetServerInfo HTTP/1.1\r\nHost: x\r\n" +
        "Content-Type: application/proto\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    await closed(socket);
  });

  it("closes an idle HTTP/1.1 keep-alive connection after its last response", async () => {
    const socket = await tcp("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    let response = "";
    socket.on("data", (chunk: Buffer) => {
      response += chunk.toString();
    });
    await closed(socket);
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("sends GOAWAY to an HTTP/2 session that opens no stream", async () => {
    const session = http2.connect(plainUrl);
    session.on("error", () => {});
    let goaway = false;
    session.once("goaway", () => {
      goaway = true;
    });
    await new Promise<void>((resolve) => session.once("close", resolve));
    expect(goaway).toBe(true);
  });

  it("cancels an HTTP/2 stream whose request body never comes, and leaves a live stream open", async () => {
    const session = http2.connect(plainUrl);
    session.on("error", () => {});
    // A live server stream on the same session: the health Watch answers once, then stays quiet.
    const watch = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    });
    watch.end(EMPTY_GRPC_MESSAGE);
    let watchClosed = false;
    watch.once("close", () => {
      watchClosed = true;
    });
    await new Promise<void>((resolve) => watch.once("data", () => resolve()));

    const abandoned = session.request(
      {
        ":method": "POST",
        ":path": "/acb.v1.ServerInfoService/GetServerInfo",
        "content-type": "application/proto",
      },
      { endStream: false },
    );
    abandoned.on("error", () => {});
    await new Promise<void>((resolve) => abandoned.once("close", resolve));
    expect(abandoned.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);

    // Longer than every timeout has passed since the watch began: it and its session are open.
    expect(watchClosed).toBe(false);
    expect(session.closed).toBe(false);
    watch.close();
    session.close();
  });

  it("closes a TLS connection that never finishes its handshake", async () => {
    await closed(await rawTo(tlsPort));
  });

  it("closes a TLS HTTP/1.1 connection that stops in the middle of its headers", async () => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: tlsPort,
      ca: cert.cert,
      servername: "localhost",
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise<void>((resolve) => socket.once("secureConnect", resolve));
    expect(socket.alpnProtocol).toBe("http/1.1");
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    await closed(socket);
  });
});

async function rawTo(port: number): Promise<Socket> {
  const socket = netConnect(port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  return socket;
}

describe("a stream whose request body has ended", () => {
  it("keeps no body-idle 'timeout' listener of the listener's (a long stream would hold it)", async () => {
    const counts: { atStart: number; afterEnd: number }[] = [];
    const server = await listen(
      (req, res) => {
        const stream = (req as http2.Http2ServerRequest).stream;
        const atStart = stream.listenerCount("timeout");
        req.resume();
        // Registered after the listener's own 'end' listener, so it runs after it.
        req.once("end", () => {
          counts.push({ atStart, afterEnd: stream.listenerCount("timeout") });
          res.end("ok");
        });
      },
      { port: 0, timeouts },
    );
    try {
      const session = http2.connect(server.url);
      const stream = session.request({ ":method": "POST", ":path": "/" }, { endStream: false });
      // The body ends only after the handler started, so its timeout was armed.
      stream.end(EMPTY_GRPC_MESSAGE);
      stream.resume();
      await new Promise<void>((resolve) => stream.once("close", resolve));
      session.close();
      expect(counts).toHaveLength(1);
      const [c] = counts;
      expect(c?.afterEnd).toBe((c?.atStart ?? 0) - 1);
    } finally {
      await server.close();
    }
  });
});
