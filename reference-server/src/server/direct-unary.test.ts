// Unary calls served by direct-unary.ts against the same calls served by the protocol library: two
// adapters over the same stub MessagingService, interceptors and limits, one of them serving the
// service's unary methods directly, get the same hand-made HTTP/2 requests, and a client must not
// be able to tell them apart — status, headers (but the date), body bytes (decompressed when the
// answer is compressed), the stream's reset code — nor may the handler (what it was given, what its
// signal says when it ends) or the request gate (what onCall sees). Each case also states which
// path the direct adapter must have taken: serveDirectUnary is wrapped in a spy that counts its
// calls.

import * as http from "node:http";
import * as http2 from "node:http2";
import * as zlib from "node:zlib";
import {
  type AckRequest,
  AckRequestSchema,
  MessagingService,
  type SendRequest,
  SendRequestSchema,
  SendResponseSchema,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import {
  create,
  type DescMessage,
  type MessageInitShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import type {
  ConnectRouter,
  ConnectRouterOptions,
  HandlerContext,
  Interceptor,
  ServiceImpl,
} from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { peerKey } from "../audit/early-refusals.js";
import { Code, ConnectError, hubError } from "../errors.js";
import { createValidationInterceptor } from "../validation-interceptor.js";
import { describeReason, failure, untilAborted } from "./direct-test-support.js";
import { serveDirectUnary } from "./direct-unary.js";
import { type Listener, listen } from "./listener.js";
import { createNodeAdapter, type NodeAdapterOptions } from "./node-adapter.js";

vi.mock("./direct-unary.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("./direct-unary.js")>();
  return { ...original, serveDirectUnary: vi.fn(original.serveDirectUnary) };
});

const READ_MAX_BYTES = 64;
const SEND = "/acb.v1.MessagingService/Send";
const ACK = "/acb.v1.MessagingService/Ack";

/** The two servers listen on different ports. */
function portless(url: string): string {
  return url.replace(/:\d+\//, ":<port>/");
}

/** What the handler saw of one call, by the call's x-call header. */
interface HandlerRecord {
  input: unknown;
  context: unknown;
  error?: string;
  signal?: string;
}

/** What a handler or the gate sees of its context, but the signal. */
function contextSeen(ctx: HandlerContext): unknown {
  return {
    service: ctx.service.typeName,
    method: ctx.method.name,
    protocol: ctx.protocolName,
    requestMethod: ctx.requestMethod,
    url: portless(ctx.url),
    deadline: ctx.timeoutMs() === undefined ? "none" : "set",
    requestHeader: [...ctx.requestHeader],
    responseHeader: [...ctx.responseHeader],
    responseTrailer: [...ctx.responseTrailer],
    peer: ctx.values.get(peerKey) !== "" ? "peer" : "no peer",
  };
}

/** The stub service with what its handlers and the request gate saw. */
class Stub {
  readonly gate: unknown[] = [];
  /** What the adapter reported as failing after a response started: nothing, here. */
  readonly handlerErrors: string[] = [];
  private readonly records = new Map<string, HandlerRecord>();
  private readonly starts = new Map<string, () => void>();
  private readonly startedIds = new Set<string>();
  private readonly waiters = new Map<string, (r: HandlerRecord) => void>();

  /** Whether the handler of the call started. */
  ran(id: string): boolean {
    return this.startedIds.has(id);
  }

  /** Resolves once the handler of the call has started. */
  started(id: string): Promise<void> {
    if (this.startedIds.has(id)) return Promise.resolve();
    return new Promise((resolve) => this.starts.set(id, resolve));
  }

  /** Resolves with the handler's record once its finally block has run. */
  ended(id: string): Promise<HandlerRecord> {
    const done = this.records.get(id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  /** Runs a handler, recording what it was given and how it ended. */
  private async run<I extends DescMessage, T>(
    schema: I,
    input: MessageInitShape<I>,
    ctx: HandlerContext,
    body: (what: string, n: number) => Promise<T>,
  ): Promise<T> {
    const id = ctx.requestHeader.get("x-call") ?? "";
    const seen = contextSeen(ctx);
    this.startedIds.add(id);
    this.starts.get(id)?.();
    const [what = "", n] = (ctx.requestHeader.get("x-scenario") ?? "").split(":");
    let error: unknown;
    try {
      ctx.responseHeader.set("x-handler", schema.typeName);
      return await body(what, Number(n ?? 0));
    } catch (err) {
      error = err;
      throw err;
    } finally {
      const record: HandlerRecord = {
        input: toJson(schema, create(schema, input)),
        context: seen,
        ...(error !== undefined && { error: describeReason(error) }),
        ...(ctx.signal.aborted && { signal: describeReason(ctx.signal.reason) }),
      };
      this.records.set(id, record);
      this.waiters.get(id)?.(record);
    }
  }

  impl(): Partial<ServiceImpl<typeof MessagingService>> {
    const stub = this;
    return {
      send(req: SendRequest, ctx: HandlerContext) {
        return stub.run(SendRequestSchema, req, ctx, async (what) => {
          if (what === "fail") throw failure();
          if (what === "crash") throw new Error("the stub crashed");
          if (what === "wait") await untilAborted(ctx.signal);
          ctx.responseTrailer.set("x-handler-trailer", "send done");
          ctx.responseTrailer.append("x-twice", "one");
          ctx.responseTrailer.append("x-twice", "two");
          // A plain initializer, as a handler may return: made a message before interceptors see it.
          return { messageId: `message-to-${req.target.value}` };
        });
      },
      ack(req: AckRequest, ctx: HandlerContext) {
        return stub.run(AckRequestSchema, req, ctx, async (what, n) => {
          if (what === "unserializable") {
            return { results: [{ deliveryId: "d", status: (2 ** 40) as SettleStatus }] };
          }
          const ids =
            what === "many"
              ? Array.from({ length: n }, (_, i) => `delivery-${String(i).padStart(6, "0")}`)
              : req.deliveryIds;
          return { results: ids.map((deliveryId) => ({ deliveryId, status: SettleStatus.OK })) };
        });
      },
    };
  }
}

/**
 * Refuses calls carrying x-refuse (PERMISSION_DENIED with a detail and metadata); on the others,
 * adds a response header naming what it saw of the request and the response, a header set twice
 * (Set-Cookie) and a trailer.
 */
const observer: Interceptor = (next) => async (req) => {
  if (req.header.has("x-refuse")) {
    const e = hubError(Code.PermissionDenied, `${req.method.name} is not allowed for this caller`, {
      reason: "DENIED",
      metadata: { method: req.method.name },
    });
    e.metadata.set("x-refused-by", "observer");
    throw e;
  }
  const res = await next(req);
  res.header.append("set-cookie", "a=1");
  res.header.append("set-cookie", "b=2");
  res.header.set(
    "x-seen",
    [
      req.service.typeName,
      req.method.name,
      req.requestMethod,
      portless(req.url),
      req.header.get("content-type"),
      req.header.get("x-call"),
      req.contextValues.get(peerKey) !== "" ? "peer" : "no peer",
      req.signal.aborted ? "aborted" : "not aborted",
      res.stream ? "stream" : (res.message as { $typeName?: string }).$typeName,
    ].join(" "),
  );
  res.trailer.set("x-interceptor-trailer", "seen");
  return res;
};

interface Server {
  stub: Stub;
  listener: Listener;
  session: http2.ClientHttp2Session;
}

/** How a pair of servers differs from the hub's setup. */
interface Variant {
  name: string;
  /** The service's options. */
  service?: ConnectRouterOptions | undefined;
  adapter?: Partial<NodeAdapterOptions>;
}

/** As the hub registers MessagingService (hub.ts): no compression. */
const HUB_LIKE: Variant = {
  name: "a service accepting no compression",
  service: { acceptCompression: [] },
};
/** The router's default: gzip and brotli. */
const COMPRESSING: Variant = { name: "a service accepting gzip and br", service: undefined };

async function startServer(direct: boolean, variant: Variant): Promise<Server> {
  const stub = new Stub();
  const handler = createNodeAdapter({
    routes: (router: ConnectRouter) => {
      router.service(MessagingService, stub.impl(), variant.service);
    },
    onHandlerError: (procedure, reason) => {
      stub.handlerErrors.push(`${procedure}: ${describeReason(reason)}`);
    },
    interceptors: [observer, createValidationInterceptor()],
    readMaxBytes: READ_MAX_BYTES,
    onCall: (context) => {
      stub.gate.push(contextSeen(context));
      if (context.requestHeader.has("x-gate-refuse")) {
        throw new ConnectError("refused by the gate", Code.ResourceExhausted);
      }
    },
    ...variant.adapter,
    ...(direct && { direct: ["acb.v1.MessagingService/*"] }),
  });
  const listener = await listen(handler);
  const session = http2.connect(listener.url);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  return { stub, listener, session };
}

async function startPair(variant: Variant): Promise<{ library: Server; direct: Server }> {
  return { library: await startServer(false, variant), direct: await startServer(true, variant) };
}

async function stopServer(s: Server | undefined): Promise<void> {
  if (!s) return;
  s.session.destroy();
  await s.listener.close();
}

function sendRequest(init: MessageInitShape<typeof SendRequestSchema> = {}): Buffer {
  return Buffer.from(
    toBinary(
      SendRequestSchema,
      create(SendRequestSchema, {
        target: { case: "recipientId", value: "agent-1" },
        kind: "note",
        ...init,
      }),
    ),
  );
}

function ackRequest(...ids: string[]): Buffer {
  return Buffer.from(
    toBinary(
      AckRequestSchema,
      create(AckRequestSchema, { deliveryIds: ids.length ? ids : ["d1"] }),
    ),
  );
}

/** Bytes that are not protobuf: field 0 is never valid. */
const MALFORMED = Buffer.from([0x00, 0x01, 0xff, 0xff]);
/** A valid request of either method over READ_MAX_BYTES: an unknown length-delimited field 100. */
const OVERSIZED = Buffer.concat([Buffer.from([0xa2, 0x06, 100]), Buffer.alloc(100, 0x61)]);

/** A response as the client sees it. */
interface Exchange {
  status: number | undefined;
  headers: Record<string, unknown>;
  /** The body, decompressed: the error's JSON as text, a message in hex. */
  body: string;
  trailers: Record<string, unknown>;
  rstCode: number | undefined;
}

interface Call {
  path: string;
  method?: "POST" | "GET";
  scenario?: string;
  headers?: Record<string, string>;
  /** The request body's chunks, each written on its own. */
  body?: Buffer[];
  /** Writes the request body instead of `body`. */
  drive?: (stream: http2.ClientHttp2Stream, handlerStarted: Promise<void>) => Promise<void>;
  /** Sent over HTTP/1.1 instead (`body` only). */
  http1?: boolean;
}

let calls = 0;

async function exchange(server: Server, call: Call, id: string): Promise<Exchange> {
  const method = call.method ?? "POST";
  if (call.http1) return exchangeHttp1(server, call, id);
  const stream = server.session.request(
    {
      ":method": method,
      ":path": call.path,
      ...(method === "POST" && { "content-type": "application/proto" }),
      "connect-protocol-version": "1",
      "x-call": id,
      ...(call.scenario !== undefined && { "x-scenario": call.scenario }),
      ...call.headers,
    },
    { endStream: method === "GET" },
  );
  const chunks: Buffer[] = [];
  let headers: Record<string, unknown> = {};
  let trailers: Record<string, unknown> = {};
  stream.on("response", (h) => {
    headers = { ...h };
  });
  stream.on("trailers", (t) => {
    trailers = { ...t };
  });
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => {
    stream.on("close", () => resolve());
    // A reset stream reports an error; its code is compared below.
    stream.on("error", () => {});
  });
  if (call.drive) {
    await call.drive(stream, server.stub.started(id));
  } else if (method === "POST") {
    for (const chunk of call.body ?? []) stream.write(chunk);
    stream.end();
  }
  await closed;
  const status = headers[":status"] as number | undefined;
  delete headers[":status"];
  delete headers.date;
  return { status, headers, body: bodyText(headers, chunks), trailers, rstCode: stream.rstCode };
}

/** The body as text (JSON) or hex, decompressed as its content-encoding says. */
function bodyText(headers: Record<string, unknown>, chunks: Buffer[]): string {
  let bytes = Buffer.concat(chunks);
  const encoding = headers["content-encoding"];
  if (encoding === "gzip") bytes = zlib.gunzipSync(bytes);
  else if (encoding === "br") bytes = zlib.brotliDecompressSync(bytes);
  const json = String(headers["content-type"]).startsWith("application/json");
  return json ? bytes.toString("utf8") : bytes.toString("hex");
}

async function exchangeHttp1(server: Server, call: Call, id: string): Promise<Exchange> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(new URL(call.path, server.listener.url), {
      method: "POST",
      agent: false,
      headers: {
        // The same on both servers, which listen on different ports.
        host: "hub.test",
        "content-type": "application/proto",
        "connect-protocol-version": "1",
        "x-call": id,
        ...(call.scenario !== undefined && { "x-scenario": call.scenario }),
        ...call.headers,
      },
    });
    req.once("response", resolve);
    req.once("error", reject);
    for (const chunk of call.body ?? []) req.write(chunk);
    req.end();
  });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const headers: Record<string, unknown> = { ...res.headers };
  delete headers.date;
  return {
    status: res.statusCode,
    headers,
    body: bodyText(headers, chunks),
    trailers: { ...res.trailers },
    rstCode: undefined,
  };
}

/** What the handler and the gate saw of a call, and where the direct adapter served it. */
interface Observed {
  ex: Exchange;
  handler: HandlerRecord | "not run";
  gate: unknown[];
  directCalls: number;
}

async function observe(server: Server, call: Call, id: string): Promise<Observed> {
  const before = vi.mocked(serveDirectUnary).mock.calls.length;
  const gateBefore = server.stub.gate.length;
  const ex = await exchange(server, call, id);
  // A handler whose finally block never runs keeps this waiting: the case times out.
  const handler = server.stub.ran(id) ? await server.stub.ended(id) : "not run";
  return {
    ex,
    handler,
    gate: server.stub.gate.slice(gateBefore),
    directCalls: vi.mocked(serveDirectUnary).mock.calls.length - before,
  };
}

/** The error of an answer that is one, as { code, message }; { code: "ok" } for a message. */
function outcome(ex: Exchange): { code: string; message?: string | undefined } {
  if (ex.status === 200) return { code: "ok" };
  const json = JSON.parse(ex.body) as { code: string; message?: string };
  return { code: json.code, message: json.message };
}

/**
 * Runs the call on both servers and expects the same answer; returns the library's, for the
 * case's own expectations. `direct` is whether the direct adapter must serve it directly.
 */
async function compare(
  pair: { library: Server; direct: Server },
  call: Call,
  direct: boolean,
): Promise<Observed> {
  // The same call id on both servers (each has a stub of its own).
  const id = `call-${++calls}`;
  const library = await observe(pair.library, call, id);
  const served = await observe(pair.direct, call, id);
  expect(library.directCalls).toBe(0);
  expect({ ...served, directCalls: undefined }).toEqual({ ...library, directCalls: undefined });
  expect(served.directCalls).toBe(direct ? 1 : 0);
  return library;
}

describe.each([HUB_LIKE, COMPRESSING])(
  "direct-unary, $name: the direct path answers as the protocol library does",
  (variant) => {
    let pair: { library: Server; direct: Server };
    const compresses = variant === COMPRESSING;

    beforeAll(async () => {
      pair = await startPair(variant);
    });
    afterAll(async () => {
      await stopServer(pair?.library);
      await stopServer(pair?.direct);
      expect(pair.library.stub.handlerErrors).toEqual([]);
      expect(pair.direct.stub.handlerErrors).toEqual([]);
    });

    it("Send: headers and trailers from the handler and an interceptor, a header set twice", async () => {
      const r = await compare(pair, { path: SEND, body: [sendRequest()] }, true);
      expect(r.ex.status).toBe(200);
      expect(outcome(r.ex)).toEqual({ code: "ok" });
      expect(r.ex.headers["content-type"]).toBe("application/proto");
      expect(r.ex.headers["x-handler"]).toBe("acb.v1.SendRequest");
      expect(r.ex.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
      expect(r.ex.headers["trailer-x-handler-trailer"]).toBe("send done");
      expect(r.ex.headers["trailer-x-interceptor-trailer"]).toBe("seen");
      expect(r.ex.headers["trailer-x-twice"]).toBe("one, two");
      expect(String(r.ex.headers["x-seen"])).toBe(
        `acb.v1.MessagingService Send POST http://127.0.0.1:<port>${SEND} application/proto ` +
          `call-${calls} peer not aborted acb.v1.SendResponse`,
      );
      expect(r.ex.body).toBe(
        Buffer.from(
          toBinary(
            SendResponseSchema,
            create(SendResponseSchema, { messageId: "message-to-agent-1" }),
          ),
        ).toString("hex"),
      );
      expect(r.handler).not.toBe("not run");
      expect((r.handler as HandlerRecord).error).toBeUndefined();
      expect(r.gate).toHaveLength(1);
    });

    it("Send and Ack: a content type in capitals, identity content encoding, valid timeouts, a query string", async () => {
      for (const headers of [
        { "content-type": "Application/Proto" },
        { "content-encoding": "identity" },
        { "connect-timeout-ms": "60000" },
        { "connect-timeout-ms": "0" },
        // Not a header: a query string on the path.
        { "x-query": "?a=1&b=%20" },
      ] as Record<string, string>[]) {
        for (const [path, body] of [
          [SEND, sendRequest()],
          [ACK, ackRequest("d1", "d2")],
        ] as const) {
          const query = headers["x-query"] ?? "";
          const r = await compare(pair, { path: `${path}${query}`, headers, body: [body] }, true);
          expect(outcome(r.ex), JSON.stringify(headers)).toEqual({ code: "ok" });
        }
      }
    });

    it("Send: a body in several chunks", async () => {
      const body = sendRequest({ kind: "a.longer.kind" });
      const r = await compare(
        pair,
        { path: SEND, body: [body.subarray(0, 3), body.subarray(3, 9), body.subarray(9)] },
        true,
      );
      expect(outcome(r.ex)).toEqual({ code: "ok" });
    });

    it("Send: a handler error with details and metadata", async () => {
      const r = await compare(pair, { path: SEND, scenario: "fail", body: [sendRequest()] }, true);
      expect(r.ex.status).toBe(503);
      expect(outcome(r.ex)).toEqual({
        code: "unavailable",
        message: "the stub's backend is unavailable",
      });
      expect(r.ex.headers["x-error-metadata"]).toBe("from the handler");
      expect(r.ex.headers["x-handler"]).toBe("acb.v1.SendRequest");
      expect(r.ex.body).toContain('"details":[');
      expect((r.handler as HandlerRecord).error).toBe(
        "Unavailable: the stub's backend is unavailable",
      );
    });

    it("Send: an interceptor's refusal", async () => {
      const r = await compare(
        pair,
        { path: SEND, headers: { "x-refuse": "1" }, body: [sendRequest()] },
        true,
      );
      expect(outcome(r.ex).code).toBe("permission_denied");
      expect(r.ex.headers["x-refused-by"]).toBe("observer");
      expect(r.handler).toBe("not run");
      expect(r.gate).toHaveLength(1);
    });

    it("Ack: a request the validation interceptor refuses", async () => {
      const r = await compare(pair, { path: ACK, body: [ackRequest("d1", "d1")] }, true);
      expect(outcome(r.ex).code).toBe("invalid_argument");
      expect(r.handler).toBe("not run");
    });

    it("Send: the request gate's refusal", async () => {
      const r = await compare(
        pair,
        { path: SEND, headers: { "x-gate-refuse": "1" }, body: [sendRequest()] },
        true,
      );
      expect(r.ex.status).toBe(429);
      expect(outcome(r.ex)).toEqual({ code: "resource_exhausted", message: "refused by the gate" });
      expect(r.handler).toBe("not run");
    });

    it("Send and Ack: an empty body", async () => {
      for (const path of [SEND, ACK]) {
        const r = await compare(pair, { path, body: [] }, true);
        expect(outcome(r.ex).code, path).toBe("invalid_argument");
        expect(r.handler, path).toBe("not run");
      }
    });

    it("Send: a handler that throws something other than a ConnectError", async () => {
      const r = await compare(pair, { path: SEND, scenario: "crash", body: [sendRequest()] }, true);
      expect(r.ex.status).toBe(500);
      expect(outcome(r.ex)).toEqual({ code: "internal", message: "internal error" });
    });

    it("Ack: a response that cannot be serialized", async () => {
      const r = await compare(
        pair,
        { path: ACK, scenario: "unserializable", body: [ackRequest()] },
        true,
      );
      expect(outcome(r.ex).code).toBe("internal");
      expect(outcome(r.ex).message).toMatch(/^serialize binary: /);
      expect(r.ex.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    });

    it("Ack: a response of 1,024 bytes or more, gzip accepted by the client and not", async () => {
      for (const accept of [
        { "accept-encoding": "gzip" },
        { "accept-encoding": "br;q=0.5, gzip" },
        {},
      ]) {
        const r = await compare(
          pair,
          { path: ACK, scenario: "many:100", headers: accept, body: [ackRequest()] },
          true,
        );
        expect(outcome(r.ex)).toEqual({ code: "ok" });
        expect(r.ex.body.length / 2).toBeGreaterThanOrEqual(1024);
        const encoding = compresses && "accept-encoding" in accept ? "gzip" : undefined;
        expect(r.ex.headers["content-encoding"], JSON.stringify(accept)).toBe(encoding);
      }
    });

    it("Ack: a response under 1,024 bytes with gzip accepted is not compressed", async () => {
      const r = await compare(
        pair,
        {
          path: ACK,
          scenario: "many:10",
          headers: { "accept-encoding": "gzip" },
          body: [ackRequest()],
        },
        true,
      );
      expect(r.ex.body.length / 2).toBeLessThan(1024);
      expect(r.ex.headers["content-encoding"]).toBeUndefined();
    });

    it("Send: an error answer with gzip accepted", async () => {
      const r = await compare(
        pair,
        {
          path: SEND,
          scenario: "fail",
          headers: { "accept-encoding": "gzip" },
          body: [sendRequest()],
        },
        true,
      );
      expect(outcome(r.ex).code).toBe("unavailable");
    });

    it("Send: a timeout that passes while the handler waits", async () => {
      const r = await compare(
        pair,
        {
          path: SEND,
          scenario: "wait",
          headers: { "connect-timeout-ms": "50" },
          body: [sendRequest()],
        },
        true,
      );
      expect(r.ex.status).toBe(504);
      expect(outcome(r.ex)).toEqual({
        code: "deadline_exceeded",
        message: "the operation timed out",
      });
      expect(r.handler).toMatchObject({
        error: "DeadlineExceeded: the operation timed out",
        signal: "DeadlineExceeded: the operation timed out",
      });
    });

    it("Send: a client that resets the stream while the handler waits", async () => {
      const r = await compare(
        pair,
        {
          path: SEND,
          scenario: "wait",
          drive: async (stream, handlerStarted) => {
            stream.end(sendRequest());
            await handlerStarted;
            stream.close(http2.constants.NGHTTP2_CANCEL);
          },
        },
        true,
      );
      expect(r.ex.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(r.ex.status).toBeUndefined();
      expect(r.handler).toMatchObject({
        error: "Canceled: http/2 stream closed with error code CANCEL (0x8)",
        signal: "Canceled: http/2 stream closed with error code CANCEL (0x8)",
      });
    });

    it("a client that resets the stream before its body has ended", async () => {
      const r = await compare(
        pair,
        {
          path: SEND,
          drive: async (stream) => {
            stream.write(sendRequest().subarray(0, 4));
            stream.close(http2.constants.NGHTTP2_CANCEL);
          },
        },
        false,
      );
      expect(r.ex.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(r.handler).toBe("not run");
      expect(r.gate).toEqual([]);
    });

    it("malformed protobuf bodies take the library's path", async () => {
      for (const [path, body] of [
        [SEND, MALFORMED],
        [ACK, MALFORMED],
        [SEND, sendRequest().subarray(0, 5)],
      ] as const) {
        const r = await compare(pair, { path, body: [body] }, false);
        expect(outcome(r.ex).code).toBe("invalid_argument");
        expect(outcome(r.ex).message).toMatch(/^request body is not a valid acb\.v1\./);
        expect(r.handler).toBe("not run");
        expect(r.gate).toHaveLength(1);
      }
    });

    it("a body over readMaxBytes, with and without a content-length, takes the library's path", async () => {
      for (const [what, call] of [
        [
          "declared",
          { headers: { "content-length": String(OVERSIZED.length) }, body: [OVERSIZED] },
        ],
        ["undeclared, one chunk", { body: [OVERSIZED] }],
        ["undeclared, in chunks", { body: [OVERSIZED.subarray(0, 40), OVERSIZED.subarray(40)] }],
      ] as [string, Omit<Call, "path">][]) {
        const r = await compare(pair, { path: ACK, ...call }, false);
        expect(outcome(r.ex).code, what).toBe("resource_exhausted");
        expect(outcome(r.ex).message, what).toBe(
          `a request message is larger than the hub accepts (${READ_MAX_BYTES} bytes per message); ` +
            "send large payloads with LargeContextService",
        );
        expect(r.handler, what).toBe("not run");
      }
    });

    it("a body of exactly readMaxBytes is served directly", async () => {
      const body = Buffer.concat([
        Buffer.from([0xa2, 0x06, READ_MAX_BYTES - 3]),
        Buffer.alloc(61, 0x61),
      ]);
      expect(body.length).toBe(READ_MAX_BYTES);
      for (const headers of [{ "content-length": String(body.length) }, {}]) {
        const r = await compare(pair, { path: ACK, headers, body: [body] }, true);
        // No delivery ids: the validation interceptor refuses it.
        expect(outcome(r.ex).code).toBe("invalid_argument");
      }
    });

    it("HTTP/1.1 takes the library's path", async () => {
      for (const scenario of ["", "fail"]) {
        const r = await compare(
          pair,
          { path: SEND, scenario, http1: true, body: [sendRequest()] },
          false,
        );
        expect(outcome(r.ex).code).toBe(scenario === "" ? "ok" : "unavailable");
        expect(r.ex.headers["trailer-x-handler-trailer"]).toBe(
          scenario === "" ? "send done" : undefined,
        );
      }
    });

    it("JSON takes the library's path", async () => {
      for (const body of ['{"deliveryIds":["d1"]}', '{"deliveryIds":["d1"], "nope": 1}', "{"]) {
        const r = await compare(
          pair,
          { path: ACK, headers: { "content-type": "application/json" }, body: [Buffer.from(body)] },
          false,
        );
        expect(outcome(r.ex).code, body).toBe(
          body.includes("nope") || body === "{" ? "invalid_argument" : "ok",
        );
      }
    });

    it("a compressed request takes the library's path", async () => {
      const r = await compare(
        pair,
        {
          path: ACK,
          headers: { "content-encoding": "gzip" },
          body: [zlib.gzipSync(ackRequest("d1"))],
        },
        false,
      );
      expect(outcome(r.ex).code).toBe(compresses ? "ok" : "unimplemented");
    });

    it("a timeout the library refuses takes the library's path", async () => {
      for (const timeout of ["12345678901", "1.5", "-1", "abc", ""]) {
        const r = await compare(
          pair,
          { path: SEND, headers: { "connect-timeout-ms": timeout }, body: [sendRequest()] },
          false,
        );
        expect(outcome(r.ex).code, timeout).toBe("invalid_argument");
        expect(r.handler, timeout).toBe("not run");
      }
    });

    it("GET takes the library's path", async () => {
      const message = ackRequest("d1").toString("base64url");
      const r = await compare(
        pair,
        {
          path: `${ACK}?connect=v1&encoding=proto&base64=1&message=${message}`,
          method: "GET",
        },
        false,
      );
      expect(outcome(r.ex).code).toBe("unimplemented");
      expect(r.handler).toBe("not run");
    });
  },
);

describe("direct-unary: adapter options", () => {
  const pairs: { library: Server; direct: Server }[] = [];
  afterAll(async () => {
    for (const pair of pairs) {
      await stopServer(pair.library);
      await stopServer(pair.direct);
      expect(pair.library.stub.handlerErrors).toEqual([]);
      expect(pair.direct.stub.handlerErrors).toEqual([]);
    }
  });

  it("the smallest response compressed (compressMinBytes)", async () => {
    for (const compressMinBytes of [0, 4096]) {
      const pair = await startPair({ ...COMPRESSING, adapter: { compressMinBytes } });
      pairs.push(pair);
      for (const n of [1, 100]) {
        const r = await compare(
          pair,
          {
            path: ACK,
            scenario: `many:${n}`,
            headers: { "accept-encoding": "gzip" },
            body: [ackRequest()],
          },
          true,
        );
        const compressed = r.ex.body.length / 2 >= compressMinBytes;
        expect(r.ex.headers["content-encoding"], `${compressMinBytes} ${n}`).toBe(
          compressed ? "gzip" : undefined,
        );
      }
    }
  });

  it("the shutdown signal aborting a waiting handler", async () => {
    // One signal for each server, aborted by the call on that server once its handler waits.
    const library = new AbortController();
    const direct = new AbortController();
    const shutdowns = [library, direct];
    const pair = {
      library: await startServer(false, {
        ...HUB_LIKE,
        adapter: { shutdownSignal: library.signal },
      }),
      direct: await startServer(true, { ...HUB_LIKE, adapter: { shutdownSignal: direct.signal } }),
    };
    pairs.push(pair);
    const r = await compare(
      pair,
      {
        path: SEND,
        scenario: "wait",
        drive: async (stream, handlerStarted) => {
          stream.end(sendRequest());
          await handlerStarted;
          shutdowns.shift()?.abort(new ConnectError("the hub is shutting down", Code.Unavailable));
        },
      },
      true,
    );
    expect(outcome(r.ex)).toEqual({ code: "unavailable", message: "the hub is shutting down" });
    expect(r.handler).toMatchObject({ signal: "Unavailable: the hub is shutting down" });
  });

  it("JSON options of the adapter's own keep the library's path", async () => {
    const pair = await startPair({
      ...HUB_LIKE,
      adapter: { jsonOptions: { useProtoFieldName: true, ignoreUnknownFields: false } },
    });
    pairs.push(pair);
    const r = await compare(pair, { path: SEND, scenario: "fail", body: [sendRequest()] }, false);
    expect(r.ex.body).toContain('"retry_delay":"1.500s"');
  });
});
