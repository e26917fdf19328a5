// Receive and SendStream served by direct-streams.ts against the same calls served by the protocol
// library: two adapters over the same stub MessagingService, interceptors and limits, one of them
// serving both streams directly, get the same hand-made HTTP/2 requests, and a client must not be
// able to tell them apart — status, headers (but the date), body bytes, trailers, the stream's
// reset code — nor may the handler (what its finally block sees, what its request stream throws)
// or the request gate (what onCall sees). Each case also states which path the direct adapter
// must have taken: serveDirect is wrapped in a spy that counts its calls.

import * as http2 from "node:http2";
import {
  MessagingService,
  type ReceiveRequest,
  ReceiveRequestSchema,
  ReceiveResponse_Kind,
  ReceiveResponseSchema,
  SendStreamRequestSchema,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
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
import {
  afterResponses,
  type BodyReader,
  compare,
  describeReason,
  envelope,
  failure,
  type HandlerRecord,
  messageCount,
  outcome,
  protocols,
  untilAborted,
} from "./direct-test-support.js";
import { type Listener, listen } from "./listener.js";
import { createNodeAdapter, type NodeAdapterOptions } from "./node-adapter.js";

vi.mock("./direct-streams.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("./direct-streams.js")>();
  return { ...original, serveDirect: vi.fn(original.serveDirect) };
});

const READ_MAX_BYTES = 64;
const RECEIVE = "/acb.v1.MessagingService/Receive";
const SEND_STREAM = "/acb.v1.MessagingService/SendStream";
const DIRECT = ["acb.v1.MessagingService/Receive", "acb.v1.MessagingService/SendStream"];

/** The stub service with what its handlers and the request gate saw. */
class Stub {
  readonly gate: string[] = [];
  /** What the adapter reported as failing after a response started: nothing, here. */
  readonly handlerErrors: string[] = [];
  private readonly records = new Map<string, HandlerRecord>();
  private readonly started = new Set<string>();
  private readonly waiters = new Map<string, (r: HandlerRecord) => void>();

  /** Whether the handler of the call started. */
  ran(id: string): boolean {
    return this.started.has(id);
  }

  /** Resolves with the handler's record once its finally block has run. */
  ended(id: string): Promise<HandlerRecord> {
    const done = this.records.get(id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  private begin(ctx: HandlerContext): string {
    const id = ctx.requestHeader.get("x-call") ?? "";
    this.started.add(id);
    return id;
  }

  private end(id: string, ctx: HandlerContext, error: unknown): void {
    const record: HandlerRecord = {
      ...(error !== undefined && { error: describeReason(error) }),
      ...(ctx.signal.aborted && { signal: describeReason(ctx.signal.reason) }),
    };
    this.records.set(id, record);
    this.waiters.get(id)?.(record);
  }

  impl(): Partial<ServiceImpl<typeof MessagingService>> {
    const stub = this;
    return {
      async *receive(req: ReceiveRequest, ctx: HandlerContext) {
        const id = stub.begin(ctx);
        const [what, n] = (ctx.requestHeader.get("x-scenario") ?? "").split(":");
        let error: unknown;
        try {
          ctx.responseHeader.set("x-handler", "receive");
          if (what === "fail-before") throw failure();
          yield create(ReceiveResponseSchema, {
            kind: ReceiveResponse_Kind.READY,
            streamId: "stream-1",
            maxInFlight: req.maxInFlight,
          });
          // Plain initializers, as a handler may yield: made messages before interceptors see them.
          for (let i = 0; i < Number(n ?? 0); i++) yield { kind: ReceiveResponse_Kind.KEEPALIVE };
          if (what === "fail-after") throw failure();
          if (what === "crash-after") throw new Error("the stub crashed");
          if (what === "unserializable")
            yield { kind: ReceiveResponse_Kind.READY, maxInFlight: 2 ** 40 };
          if (what === "wait") await untilAborted(ctx.signal);
          // Until the client leaves: the handler waits at a yield while flow control holds it.
          if (what === "flood") for (;;) yield create(ReceiveResponseSchema, { kind: 3 });
          ctx.responseTrailer.set("x-handler-trailer", "receive done");
        } catch (err) {
          error = err;
          throw err;
        } finally {
          stub.end(id, ctx, error);
        }
      },
      async *sendStream(requests, ctx) {
        const id = stub.begin(ctx);
        const [what, n] = (ctx.requestHeader.get("x-scenario") ?? "").split(":");
        let error: unknown;
        let items = 0;
        try {
          ctx.responseHeader.set("x-handler", "send-stream");
          if (what === "fail-before") throw failure();
          for await (const r of requests) {
            const ids = r.item.case === "ack" ? r.item.value.deliveryIds : [];
            yield {
              ref: r.ref,
              result: {
                case: "ack" as const,
                value: {
                  results: ids.map((deliveryId) => ({ deliveryId, status: SettleStatus.OK })),
                },
              },
            };
            items++;
            if (what === "fail-after" && items === Number(n)) throw failure();
            if (what === "wait") await untilAborted(ctx.signal);
          }
          ctx.responseTrailer.set("x-handler-trailer", `${items} items`);
        } catch (err) {
          error = err;
          throw err;
        } finally {
          stub.end(id, ctx, error);
        }
      },
    };
  }
}

/**
 * Refuses calls carrying x-refuse (PERMISSION_DENIED with a detail and metadata); on the others,
 * adds a response header naming what it saw of the request, a header set twice (Set-Cookie) and,
 * after the response stream, a trailer naming the types of the output messages it saw.
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
      // The two servers listen on different ports.
      req.url.replace(/:\d+\//, ":<port>/"),
      req.header.get("content-type"),
      req.header.get("x-call"),
      req.contextValues.get(peerKey) !== "" ? "peer" : "no peer",
    ].join(" "),
  );
  if (!res.stream) return res;
  const source = res.message;
  return {
    ...res,
    message: (async function* () {
      // Runs of one type as "type*count", so that a long stream's trailer stays small.
      const runs: [string, number][] = [];
      for await (const m of source) {
        const type = (m as { $typeName?: string }).$typeName ?? "plain object";
        const last = runs.at(-1);
        if (last?.[0] === type) last[1]++;
        else runs.push([type, 1]);
        yield m;
      }
      res.trailer.set("x-output", runs.map(([type, n]) => `${type}*${n}`).join(","));
    })(),
  };
};

interface Server {
  stub: Stub;
  listener: Listener;
  session: http2.ClientHttp2Session;
}

/** How a pair of servers differs from the hub's setup. */
interface Variant {
  /** The service's options; by default as the hub registers it (hub.ts): no compression. */
  service?: ConnectRouterOptions | undefined;
  adapter?: Partial<NodeAdapterOptions>;
}

const HUB_LIKE: Variant = { service: { acceptCompression: [] } };

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
      stub.gate.push(
        `${context.protocolName} ${context.method.name} ${context.requestHeader.get("x-call")}`,
      );
    },
    ...variant.adapter,
    ...(direct && { direct: DIRECT }),
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

function receiveRequest(init: MessageInitShape<typeof ReceiveRequestSchema> = {}): Buffer {
  return envelope(0, toBinary(ReceiveRequestSchema, create(ReceiveRequestSchema, init)));
}

function ackItem(ref: number, ...ids: string[]): Buffer {
  return envelope(
    0,
    toBinary(
      SendStreamRequestSchema,
      create(SendStreamRequestSchema, {
        ref: BigInt(ref),
        item: { case: "ack", value: { deliveryIds: ids.length > 0 ? ids : [`d${ref}`] } },
      }),
    ),
  );
}

/** Bytes that are not protobuf: field 0 is never valid. */
const MALFORMED = Buffer.from([0x00, 0x01, 0xff, 0xff]);
/** A valid ReceiveRequest over READ_MAX_BYTES: an unknown length-delimited field 15. */
const OVERSIZED = Buffer.concat([Buffer.from([0x7a, 100]), Buffer.alloc(100, 0x61)]);

describe("direct-streams: the direct path answers as the protocol library does", () => {
  let pair: { library: Server; direct: Server };

  beforeAll(async () => {
    pair = await startPair(HUB_LIKE);
  });
  afterAll(async () => {
    await stopServer(pair?.library);
    await stopServer(pair?.direct);
    expect(pair.library.stub.handlerErrors).toEqual([]);
    expect(pair.direct.stub.handlerErrors).toEqual([]);
  });

  describe.each(protocols)("%s", (protocol) => {
    it("Receive: several messages, headers and trailers from the handler and an interceptor, a clean end", async () => {
      const r = await compare(
        pair,
        {
          protocol,
          path: RECEIVE,
          scenario: "messages:3",
          body: [receiveRequest({ maxInFlight: 7 })],
        },
        true,
      );
      expect(outcome(r.ex)).toEqual({ code: "ok", message: "" });
      expect(messageCount(r.ex)).toBe(4);
      expect(r.ex.headers["x-handler"]).toBe("receive");
      expect(String(r.ex.headers["x-seen"])).toContain("Receive POST http://");
      expect(r.handler).toEqual({});
      expect(r.gate).toEqual([`${protocol} Receive <call>`]);
      const trailers = protocol === "connect" ? r.ex.envelopes.at(-1)?.data : r.ex.trailers;
      expect(JSON.stringify(trailers)).toContain("receive done");
      expect(JSON.stringify(trailers)).toContain("acb.v1.ReceiveResponse*4");
    });

    it("Receive: a handler error with details and metadata before the first message", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "fail-before", body: [receiveRequest()] },
        true,
      );
      expect(outcome(r.ex)).toEqual({
        code: protocol === "connect" ? "unavailable" : "Unavailable",
        message: "the stub's backend is unavailable",
      });
      expect(messageCount(r.ex)).toBe(0);
      expect(JSON.stringify(r.ex)).toContain("from the handler");
      if (protocol === "grpc") expect(r.ex.trailers["grpc-status-details-bin"]).toBeDefined();
    });

    it("Receive: a handler error after some messages", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "fail-after:2", body: [receiveRequest()] },
        true,
      );
      expect(messageCount(r.ex)).toBe(3);
      expect(outcome(r.ex).message).toBe("the stub's backend is unavailable");
    });

    it("Receive: a handler that throws something other than a ConnectError", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "crash-after:1", body: [receiveRequest()] },
        true,
      );
      expect(outcome(r.ex).message).toBe("internal error");
    });

    it("Receive: a message that cannot be serialized", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "unserializable", body: [receiveRequest()] },
        true,
      );
      expect(messageCount(r.ex)).toBe(1);
      expect(outcome(r.ex).message).toMatch(/^serialize binary: /);
    });

    it("Receive and SendStream: an interceptor's refusal", async () => {
      for (const path of [RECEIVE, SEND_STREAM]) {
        const r = await compare(
          pair,
          {
            protocol,
            path,
            headers: { "x-refuse": "1" },
            body: [path === RECEIVE ? receiveRequest() : ackItem(1)],
          },
          true,
        );
        expect(outcome(r.ex).code).toMatch(/^permission.?denied$/i);
        expect(r.handler).toBe("not run");
        expect(JSON.stringify(r.ex)).toContain("observer");
      }
    });

    it("Receive: a request the validation interceptor refuses", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, body: [receiveRequest({ maxInFlight: 20_000 })] },
        true,
      );
      expect(outcome(r.ex).code).toMatch(/^invalid.?argument$/i);
      expect(outcome(r.ex).message).toContain("max_in_flight");
    });

    it("SendStream: items echoed as they arrive, split across odd chunk boundaries", async () => {
      const items = [1, 2, 3, 4, 5].map((i) => ackItem(i, `delivery-${i}`));
      const all = Buffer.concat(items);
      const first = items[0]?.length ?? 0;
      const r = await compare(
        pair,
        {
          protocol,
          path: SEND_STREAM,
          // Item 1 and three bytes of item 2's header; the response to item 1 shows the server
          // read that much and no more. Then four more bytes, then the rest of item 2 with items
          // 3 and 4 and a part of item 5, then the end of item 5.
          drive: afterResponses(
            { write: all.subarray(0, first + 3), wait: 1 },
            { write: all.subarray(first + 3, first + 7) },
            { write: all.subarray(first + 7, all.length - 6), wait: 4 },
            { write: all.subarray(all.length - 6) },
          ),
        },
        true,
      );
      expect(outcome(r.ex)).toEqual({ code: "ok", message: "" });
      expect(messageCount(r.ex)).toBe(5);
      expect(JSON.stringify(r.ex)).toContain("5 items");
    });

    it("SendStream: a handler error after some items, and before any", async () => {
      for (const scenario of ["fail-after:2", "fail-before"]) {
        const r = await compare(
          pair,
          {
            protocol,
            path: SEND_STREAM,
            scenario,
            body: [Buffer.concat([ackItem(1), ackItem(2), ackItem(3)])],
          },
          true,
        );
        expect(messageCount(r.ex)).toBe(scenario === "fail-before" ? 0 : 2);
        expect(outcome(r.ex).message).toBe("the stub's backend is unavailable");
      }
    });

    it("SendStream: a malformed message after a good one", async () => {
      for (const body of [
        [ackItem(1), envelope(0, MALFORMED)],
        [Buffer.concat([ackItem(1), envelope(0, MALFORMED)])],
      ]) {
        const r = await compare(pair, { protocol, path: SEND_STREAM, body }, true);
        expect(messageCount(r.ex)).toBe(1);
        expect(outcome(r.ex).code).toMatch(/^invalid.?argument$/i);
        expect(outcome(r.ex).message).toMatch(
          /^request stream carries an invalid acb.v1.SendStreamRequest: parse binary/,
        );
      }
    });

    it("SendStream: an envelope over readMaxBytes, alone in its chunk and behind a good one", async () => {
      const big = envelope(0, Buffer.alloc(10), READ_MAX_BYTES + 1);
      for (const drive of [
        afterResponses({ write: ackItem(1), wait: 1 }, { write: big }),
        afterResponses({ write: Buffer.concat([ackItem(1), big]) }),
        // A client that goes on sending after the refusal has ended the response.
        async (stream: http2.ClientHttp2Stream, read: BodyReader) => {
          stream.write(big.subarray(0, 8));
          await read.ended();
          stream.write(Buffer.alloc(200));
          stream.end();
        },
      ]) {
        const r = await compare(pair, { protocol, path: SEND_STREAM, drive }, true);
        expect(outcome(r.ex).code).toMatch(/^resource.?exhausted$/i);
        expect(outcome(r.ex).message).toContain(
          `${READ_MAX_BYTES + 1} bytes is larger than the hub accepts`,
        );
      }
    });

    it("SendStream: the compressed flag without an encoding", async () => {
      const r = await compare(
        pair,
        {
          protocol,
          path: SEND_STREAM,
          body: [ackItem(1), envelope(1, Buffer.from(ackItem(2).subarray(5)))],
        },
        true,
      );
      expect(messageCount(r.ex)).toBe(1);
      expect(outcome(r.ex).message).toBe(
        "received compressed envelope, but do not know how to decompress",
      );
    });

    it("SendStream: an envelope with the end-of-stream flag from the client", async () => {
      const r = await compare(
        pair,
        {
          protocol,
          path: SEND_STREAM,
          body: [
            ackItem(1),
            // Connect's end-of-stream envelope; gRPC has no such flag (the bit is not the
            // compressed one): its data is a message.
            envelope(2, protocol === "connect" ? Buffer.from("{}") : ackItem(2).subarray(5)),
            ackItem(3),
          ],
        },
        true,
      );
      expect(outcome(r.ex).code).toBe("ok");
      expect(messageCount(r.ex)).toBe(protocol === "connect" ? 2 : 3);
    });

    it("SendStream: a body that ends in the middle of an envelope", async () => {
      for (const cut of [3, 7]) {
        const r = await compare(
          pair,
          { protocol, path: SEND_STREAM, body: [ackItem(1), ackItem(2).subarray(0, cut)] },
          true,
        );
        expect(messageCount(r.ex)).toBe(1);
        expect(outcome(r.ex)).toEqual({
          code: protocol === "connect" ? "invalid_argument" : "InvalidArgument",
          message: "protocol error: incomplete envelope",
        });
      }
    });

    it("Receive bodies that are not one clean message take the library's path", async () => {
      const bodies: [string, Buffer[]][] = [
        ["no message", []],
        ["two messages", [receiveRequest(), receiveRequest({ maxInFlight: 2 })]],
        ["a malformed message", [envelope(0, MALFORMED)]],
        ["an oversized message", [envelope(0, OVERSIZED)]],
        ["a message with the compressed flag", [envelope(1, Buffer.alloc(0))]],
        ["half a message", [receiveRequest({ maxInFlight: 5 }).subarray(0, 6)]],
      ];
      for (const [what, body] of bodies) {
        const r = await compare(pair, { protocol, path: RECEIVE, body }, false);
        expect(outcome(r.ex).code, what).not.toBe("ok");
        expect(r.handler, what).toBe("not run");
      }
    });

    it("Receive and SendStream in JSON take the library's path", async () => {
      for (const [path, json] of [
        [RECEIVE, "{}"],
        [SEND_STREAM, '{"ref":"1","ack":{"deliveryIds":["d1"]}}'],
      ] as const) {
        const r = await compare(
          pair,
          {
            protocol,
            path,
            headers: {
              "content-type":
                protocol === "connect" ? "application/connect+json" : "application/grpc+json",
            },
            body: [envelope(0, Buffer.from(json))],
          },
          false,
        );
        expect(outcome(r.ex).code).toBe("ok");
        expect(messageCount(r.ex)).toBe(1);
      }
    });

    it("compressed requests and timeouts the library refuses take the library's path", async () => {
      const variants: Record<string, string>[] =
        protocol === "connect"
          ? [{ "connect-content-encoding": "gzip" }, { "connect-timeout-ms": "12345678901" }]
          : [
              { "grpc-encoding": "gzip" },
              { "grpc-timeout": "1x" },
              { "grpc-timeout": "123456789S" },
            ];
      for (const path of [RECEIVE, SEND_STREAM]) {
        for (const headers of variants) {
          const what = `${path} ${JSON.stringify(headers)}`;
          const r = await compare(
            pair,
            { protocol, path, headers, body: [path === RECEIVE ? receiveRequest() : ackItem(1)] },
            false,
          );
          expect(outcome(r.ex).code, what).not.toBe("ok");
        }
      }
    });

    it("a deadline that passes while the stream waits", async () => {
      const timeout =
        protocol === "connect" ? { "connect-timeout-ms": "50" } : { "grpc-timeout": "50m" };
      const receive = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "wait", headers: timeout, body: [receiveRequest()] },
        true,
      );
      expect(messageCount(receive.ex)).toBe(1);
      expect(outcome(receive.ex)).toEqual({
        code: protocol === "connect" ? "deadline_exceeded" : "DeadlineExceeded",
        message: "the operation timed out",
      });
      const send = await compare(
        pair,
        {
          protocol,
          path: SEND_STREAM,
          scenario: "wait",
          headers: timeout,
          // The request stays open until the answer has ended.
          drive: async (stream, read) => {
            stream.write(ackItem(1));
            await read.ended();
            stream.end();
          },
        },
        true,
      );
      expect(outcome(send.ex).message).toBe("the operation timed out");
    });

    it("Receive: many messages, more than the flow-control windows hold", async () => {
      const r = await compare(
        pair,
        { protocol, path: RECEIVE, scenario: "messages:20000", body: [receiveRequest()] },
        true,
      );
      expect(messageCount(r.ex)).toBe(20_001);
      expect(outcome(r.ex).code).toBe("ok");
      expect(JSON.stringify(r.ex)).toContain("acb.v1.ReceiveResponse*20001");
    });

    it("a client that resets the stream while the handler waits at a yield", async () => {
      const r = await compare(
        pair,
        {
          protocol,
          path: RECEIVE,
          scenario: "flood",
          drive: async (stream, read) => {
            stream.end(receiveRequest());
            await read.envelopes(100);
            stream.pause();
            stream.close(http2.constants.NGHTTP2_CANCEL);
          },
        },
        true,
      );
      expect(r.ex.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(r.handler).toEqual({
        signal: "Canceled: http/2 stream closed with error code CANCEL (0x8)",
      });
    });

    it("a client that resets the stream: the handler's finally runs, seeing the same", async () => {
      for (const path of [RECEIVE, SEND_STREAM]) {
        const r = await compare(
          pair,
          {
            protocol,
            path,
            scenario: "wait",
            drive: async (stream, read) => {
              stream.write(path === RECEIVE ? receiveRequest() : ackItem(1));
              if (path === RECEIVE) stream.end();
              await read.envelopes(1);
              stream.close(http2.constants.NGHTTP2_CANCEL);
            },
          },
          true,
        );
        expect(r.ex.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
        expect(r.handler).not.toBe("not run");
        expect((r.handler as HandlerRecord).signal).toMatch(/^Canceled: /);
      }
    });
  });
});

describe("direct-streams: a service that accepts compressed messages", () => {
  let pair: { library: Server; direct: Server };

  beforeAll(async () => {
    // The router's default: gzip and brotli.
    pair = await startPair({ service: undefined });
  });
  afterAll(async () => {
    await stopServer(pair?.library);
    await stopServer(pair?.direct);
    expect(pair.library.stub.handlerErrors).toEqual([]);
    expect(pair.direct.stub.handlerErrors).toEqual([]);
  });

  it.each(protocols)(
    "%s: a client accepting a compressed response gets it from the library's path",
    async (protocol) => {
      for (const path of [RECEIVE, SEND_STREAM]) {
        const r = await compare(
          pair,
          { protocol, path, body: [path === RECEIVE ? receiveRequest() : ackItem(1)] },
          false,
        );
        expect(
          r.ex.headers[protocol === "connect" ? "connect-content-encoding" : "grpc-encoding"],
        ).toBe("gzip");
      }
    },
  );

  it.each(protocols)("%s: a client accepting none is served directly", async (protocol) => {
    for (const path of [RECEIVE, SEND_STREAM]) {
      const r = await compare(
        pair,
        {
          protocol,
          path,
          noAcceptEncoding: true,
          body: [path === RECEIVE ? receiveRequest() : ackItem(1)],
        },
        true,
      );
      expect(outcome(r.ex).code).toBe("ok");
      expect(messageCount(r.ex)).toBe(1);
    }
  });
});

describe("direct-streams: options the direct path does not reproduce keep the library's path", () => {
  const pairs: { library: Server; direct: Server }[] = [];
  afterAll(async () => {
    for (const pair of pairs) {
      await stopServer(pair.library);
      await stopServer(pair.direct);
    }
  });

  it("the Connect protocol header required by the adapter", async () => {
    const pair = await startPair({ ...HUB_LIKE, adapter: { requireConnectProtocolHeader: true } });
    pairs.push(pair);
    const r = await compare(
      pair,
      {
        protocol: "connect",
        path: SEND_STREAM,
        headers: { "connect-protocol-version": "" },
        body: [ackItem(1)],
      },
      false,
    );
    expect(outcome(r.ex).message).toMatch(/connect-protocol-version/i);
  });

  it("interceptors of the service's own", async () => {
    const refuseAll: Interceptor = () => async () => {
      throw new ConnectError("refused by the service's interceptor", Code.FailedPrecondition);
    };
    const pair = await startPair({
      service: { acceptCompression: [], interceptors: [refuseAll] },
    });
    pairs.push(pair);
    for (const protocol of protocols) {
      const r = await compare(pair, { protocol, path: RECEIVE, body: [receiveRequest()] }, false);
      expect(outcome(r.ex).message).toBe("refused by the service's interceptor");
    }
  });
});
