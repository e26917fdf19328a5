import * as http from "node:http";
import * as http2 from "node:http2";
import type { Socket } from "node:net";
import * as net from "node:net";
import { type ConsoleOptions, consoleFiles } from "./console-files.js";
import { applyCors, type CorsOptions } from "./cors.js";
/** What connectNodeAdapter returns: a request listener for node:http and node:http2. */
export type NodeHandlerFn = ReturnType<
  typeof import("@connectrpc/connect-node").connectNodeAdapter
>;

/** Where and how a hub listener accepts connections. */
export interface ListenOptions {
  /** Interface to bind. Default "127.0.0.1". */
  host?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  port?: number;
  /** PEM key and certificate: serve TLS 1.3 (HTTP/2 and HTTP/1.1 chosen by ALPN). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Let browsers on these origins call the hub (CORS). Default: no cross-origin access. */
  cors?: CorsOptions;
  /** Serve the web console's files under /console/ on this port. Default: no console. */
  console?: ConsoleOptions;
  /** When connections a client abandoned are closed (defaults: {@link defaultConnectionTimeouts}). */
  timeouts?: ConnectionTimeouts;
}

/**
 * Limits on how long a connection may hold the hub's resources without making progress: a client
 * that stops half-way through its headers or its request body, or keeps a connection open with
 * nothing in progress, loses it (docs/operations.md, "Connection timeouts").
 */
export interface ConnectionTimeouts {
  /**
   * From the connection's start until its first request's headers are complete (and the TLS
   * handshake, on TLS listeners). Default 10 s.
   */
  headersMs?: number;
  /**
   * While a request body is unfinished: the longest silence on its stream. A unary request's body
   * must keep arriving; a streaming request (SendStream, UploadChunks) must send, or be answered,
   * at least this often. The stream is cancelled (HTTP/2) or the connection closed (HTTP/1.1).
   * Default 30 s.
   */
  bodyIdleMs?: number;
  /**
   * A connection with no request or stream in progress is closed after this long (an HTTP/2
   * session gets GOAWAY). Default 60 s.
   */
  idleMs?: number;
}

export const defaultConnectionTimeouts: Required<ConnectionTimeouts> = {
  headersMs: 10_000,
  bodyIdleMs: 30_000,
  idleMs: 60_000,
};

/** A bound listener. */
export interface Listener {
  /** Base URL for clients, e.g. "http://127.0.0.1:7443". */
  readonly url: string;
  readonly port: number;
  /** Destroys every open connection without closing the listener (clients see a dropped network). */
  dropConnections(): void;
  /** Stops accepting, lets in-flight calls finish for `graceMs`, then destroys what is left. */
  close(graceMs?: number): Promise<void>;
}

// HTTP/2 flow control: Node's default 64 KiB windows let a sender have only 64 KiB in flight, which
// caps bulk streams (large-context chunks) near 250 MiB/s on loopback. A stream window of 4 MiB
// (four 1 MiB chunks) and a connection window of 16 MiB keep the link busy; they bound what a peer
// may buffer in us per stream and per connection, so memory stays bounded.
const H2_STREAM_WINDOW = 4 * 1024 * 1024;
const H2_CONNECTION_WINDOW = 16 * 1024 * 1024;
const h2Options = {
  settings: { initialWindowSize: H2_STREAM_WINDOW },
  // nghttp2 counts buffered window bytes against this (MB; default 10) and resets streams beyond it.
  maxSessionMemory: 64,
};

// Every HTTP/2 connection starts with this preface; no HTTP/1.x request can start with "PRI".
const H2_PREFACE_START = Buffer.from("PRI");

/**
 * Drops a closed HTTP/2 stream's listeners (the compatibility layer's, bound to the call's request
 * and response, and the hub's own). Node keeps a closed stream object reachable from the young
 * generation's point of view until the next full collection, and through these listeners it
 * kept everything the call made: `./dev bench unary-gc` measured 1,540–1,570 bytes promoted to
 * the old generation per heartbeat call with them, 1,215–1,225 without (docs/messaging.md).
 * An 'error' listener stays, so a late error event cannot throw.
 */
function releaseClosedStream(stream: http2.ServerHttp2Stream): void {
  stream.removeAllListeners();
  stream.on("error", ignoreError);
}

function ignoreError(): void {}

/** Streams closed since the last turn, released together once every 'close' listener has run. */
let closedStreams: http2.ServerHttp2Stream[] = [];

/** Releases a closed stream after every other 'close' listener has run: one immediate a turn. */
function releaseLater(stream: http2.ServerHttp2Stream): void {
  if (closedStreams.push(stream) === 1) setImmediate(releaseClosed);
}

function releaseClosed(): void {
  const streams = closedStreams;
  closedStreams = [];
  for (const stream of streams) releaseClosedStream(stream);
}

/**
 * Serves one handler for HTTP/1.1 and HTTP/2 on a single port.
 * - TLS: ALPN picks h2 or http/1.1 (allowHTTP1), TLS 1.3 only.
 * - Plaintext: the first bytes of each connection are inspected; the HTTP/2 preface goes to an h2c
 *   server (Node clients, gRPC), anything else to an HTTP/1.1 server (browsers, curl, buf curl).
 */
export async function listen(inner: NodeHandlerFn, options: ListenOptions = {}): Promise<Listener> {
  const host = options.host ?? "127.0.0.1";
  const timeouts = { ...defaultConnectionTimeouts, ...options.timeouts };
  for (const [name, ms] of Object.entries(timeouts)) {
    if (!Number.isInteger(ms) || ms <= 0)
      throw new RangeError(`timeouts.${name} must be a positive whole number of ms, got ${ms}`);
  }
  const sockets = new Set<Socket>();
  // HTTP/1.1 connections with no request in progress: closed when their timer fires (headersMs
  // for a new connection, idleMs between requests). A request's headers being complete (the
  // handler is called) stops it.
  const h1Waiting = new Map<Socket, NodeJS.Timeout>();
  const h1Wait = (socket: Socket, ms: number) => {
    clearTimeout(h1Waiting.get(socket));
    h1Waiting.set(socket, setTimeout(() => socket.destroy(), ms).unref());
  };
  const h1Busy = (socket: Socket) => {
    clearTimeout(h1Waiting.get(socket));
    h1Waiting.delete(socket);
  };
  // HTTP/1.1 requests in flight per connection, so close() can drop idle keep-alive connections
  // at once and the busy ones as soon as their last response ends.
  const busy = new Map<Socket, number>();
  let closing = false;
  const h2Sockets = new Set<Socket>();
  const { cors } = options;
  const serveConsole = options.console ? consoleFiles(options.console) : undefined;
  const handler: NodeHandlerFn = (req, res) => {
    if (serveConsole?.(req, res)) return;
    if (cors && applyCors(req, res, cors)) return;
    if (req.httpVersionMajor === 1) {
      const socket = req.socket;
      h1Busy(socket);
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (busy.get(socket) ?? 1) - 1;
        busy.set(socket, left);
        if (closing && left === 0) socket.destroy();
        else if (left === 0 && !socket.destroyed) h1Wait(socket, timeouts.idleMs);
      });
      if (!req.complete) {
        // An unfinished body: the socket's inactivity timeout (no 'timeout' listener: Node's
        // HTTP server destroys the socket) runs until the body ends.
        socket.setTimeout(timeouts.bodyIdleMs);
        req.once("end", () => socket.setTimeout(0));
      }
    } else if (!req.complete) {
      const stream = (req as http2.Http2ServerRequest).stream;
      const idle = () => stream.close(http2.constants.NGHTTP2_CANCEL);
      stream.setTimeout(timeouts.bodyIdleMs, idle);
      // Its 'timeout' listener goes too: a stream open for hours (Receive) would hold it.
      req.once("end", () => stream.setTimeout(0, idle));
    }
    inner(req, res);
  };
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => {
      sockets.delete(s);
      busy.delete(s);
      h2Sockets.delete(s);
      h1Busy(s);
    });
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  // Open streams per HTTP/2 session: once the listener closes, a session whose last stream ended
  // is destroyed at once (a client may keep a session open after GOAWAY until it times out).
  const openStreams = new Map<http2.ServerHttp2Session, number>();
  const endIfIdle = (session: http2.ServerHttp2Session) => {
    if (!closing || (openStreams.get(session) ?? 0) > 0 || session.destroyed) return;
    // Frames still queued (the last stream's trailers) are written first: in the session's queue
    // and in the socket's buffer, which destroying the session would discard.
    const queued =
      (session.state.outboundQueueSize ?? 0) > 0 || (session.socket?.writableLength ?? 0) > 0;
    if (queued) setImmediate(() => endIfIdle(session));
    // A moment for the client to read them (and close by itself) before the connection goes: a
    // close with the client's last frames unread would send a reset that can overtake them.
    else setTimeout(() => session.destroyed || session.destroy(), 100).unref();
  };
  const trackSession = (session: http2.ServerHttp2Session) => {
    session.setLocalWindowSize(H2_CONNECTION_WINDOW);
    sessions.add(session);
    openStreams.set(session, 0);
    // A session with no open stream gets GOAWAY after headersMs (before its first stream) or
    // idleMs (after its last one); a session that never completes a stream's headers is closed so.
    let idle: NodeJS.Timeout | undefined;
    const waitIdle = (ms: number) => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        session.close();
        // close() waits for the peer's streams; a peer that went silent mid-frame has none.
        if (!session.destroyed) session.destroy();
      }, ms).unref();
    };
    waitIdle(timeouts.headersMs);
    session.on("stream", (stream) => {
      clearTimeout(idle);
      openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
      stream.once("close", () => {
        const left = (openStreams.get(session) ?? 1) - 1;
        openStreams.set(session, left);
        if (left === 0 && !session.destroyed) waitIdle(timeouts.idleMs);
        endIfIdle(session);
        releaseLater(stream);
      });
    });
    session.once("close", () => {
      clearTimeout(idle);
      sessions.delete(session);
      openStreams.delete(session);
    });
  };
  let outer: net.Server;
  let servers: (http.Server | http2.Http2Server | http2.Http2SecureServer)[];

  if (options.tls) {
    const secure = http2.createSecureServer(
      {
        key: options.tls.key,
        cert: options.tls.cert,
        allowHTTP1: true,
        minVersion: "TLSv1.3",
        handshakeTimeout: timeouts.headersMs,
        ...h2Options,
      },
      handler,
    );
    secure.on("secureConnection", (socket) => {
      track(socket);
      if (socket.alpnProtocol === "h2") h2Sockets.add(socket);
      else h1Wait(socket, timeouts.headersMs);
    });
    secure.on("session", trackSession);
    outer = secure;
    servers = [secure];
  } else {
    const h1 = http.createServer({ keepAliveTimeout: timeouts.idleMs, requestTimeout: 0 }, handler);
    const h2 = http2.createServer(h2Options, handler);
    h2.on("session", trackSession);
    servers = [h1, h2];
    outer = net.createServer((socket) => {
      track(socket);
      // Until the first bytes say which protocol this is, the headers timeout runs here.
      const stalled = setTimeout(() => socket.destroy(), timeouts.headersMs).unref();
      socket.once("close", () => clearTimeout(stalled));
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.length < H2_PREFACE_START.length) return;
        clearTimeout(stalled);
        socket.off("data", onData);
        socket.pause();
        socket.unshift(head);
        if (head.subarray(0, 3).equals(H2_PREFACE_START)) {
          // The HTTP/2 session reads the buffered bytes itself and then consumes the socket's
          // handle directly; resuming here would replay the preface and break the session.
          h2Sockets.add(socket);
          h2.emit("connection", socket);
        } else {
          h1Wait(socket, timeouts.headersMs);
          h1.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
    });
  }

  await new Promise<void>((resolve, reject) => {
    outer.once("error", reject);
    outer.listen(options.port ?? 0, host, () => {
      outer.off("error", reject);
      resolve();
    });
  });
  const address = outer.address() as net.AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${options.tls ? "https" : "http"}://${urlHost}:${address.port}`;

  return {
    url,
    port: address.port,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async close(graceMs = 2000) {
      closing = true;
      const closed = new Promise<void>((resolve) => outer.close(() => resolve()));
      for (const s of servers) if (s !== outer) s.close();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      timer.unref();
      // Idle connections would hold close() open until the grace period ends: HTTP/2 sessions get
      // GOAWAY (active streams may finish), idle HTTP/1.1 connections are closed now.
      for (const session of sessions) {
        session.close();
        endIfIdle(session);
      }
      for (const socket of sockets) {
        if (!h2Sockets.has(socket) && (busy.get(socket) ?? 0) === 0) socket.destroy();
      }
      if (sockets.size === 0) clearTimeout(timer);
      await closed;
      clearTimeout(timer);
    },
  };
}
