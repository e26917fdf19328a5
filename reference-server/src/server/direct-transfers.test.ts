// UploadChunks and DownloadContext served by direct-streams.ts (a download's chunks written in
// parts, chunk-envelopes.ts) against the same calls served by the protocol library: two adapters
// over the same stub LargeContextService, interceptors and limits, one of them serving both
// transfers directly, get the same hand-made HTTP/2 requests, and a client must not be able to
// tell them apart — status, headers (but the date), body bytes, trailers, the stream's reset code —
// nor may the handler or the request gate. The stub's download hands out its chunks from two
// reused buffers as the blob store does, so a chunk whose bytes were sent after the handler was
// asked for the next one would arrive damaged; each case also checks every chunk's bytes.

import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import { crc32 } from "node:zlib";
import {
  ChunkCheck,
  DownloadContextRequestSchema,
  type DownloadContextResponse,
  DownloadContextResponseSchema,
  LargeContextService,
  UploadChunksRequestSchema,
  UploadChunksResponseSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Code, hubError } from "../errors.js";
import { createValidationInterceptor } from "../validation-interceptor.js";
import {
  type BodyReader,
  compare,
  type DirectTestServer,
  describeReason,
  type Exchange,
  envelope,
  failure,
  type HandlerRecord,
  messageCount,
  outcome,
  protocols,
  untilAborted,
} from "./direct-test-support.js";
import { type Listener, listen } from "./listener.js";
import { createNodeAdapter } from "./node-adapter.js";

vi.mock("./direct-streams.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("./direct-streams.js")>();
  return { ...original, serveDirect: vi.fn(original.serveDirect) };
});

const READ_MAX_BYTES = 1024 * 1024;
const DOWNLOAD = "/acb.v1.LargeContextService/DownloadContext";
const UPLOAD = "/acb.v1.LargeContextService/UploadChunks";
const DIRECT = [
  "acb.v1.LargeContextService/DownloadContext",
  "acb.v1.LargeContextService/UploadChunks",
];

/** Chunks the download handler has handed out, by call (reset when a handler starts). */
const handedOut = new Map<string, number>();

/** The bytes of chunk `index` of a download whose chunks are `size` bytes. */
function fillChunk(into: Buffer, index: number): Buffer {
  for (let i = 0; i < into.length; i++) into[i] = (index * 131 + i * 7 + (i >> 9)) & 0xff;
  return into;
}

/** The stub service with what its handlers and the request gate saw. */
class Stub {
  readonly gate: string[] = [];
  readonly handlerErrors: string[] = [];
  private readonly records = new Map<string, HandlerRecord>();
  private readonly started = new Set<string>();
  private readonly waiters = new Map<string, (r: HandlerRecord) => void>();

  ran(id: string): boolean {
    return this.started.has(id);
  }

  ended(id: string): Promise<HandlerRecord> {
    const done = this.records.get(id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  private begin(ctx: HandlerContext): { id: string; what: string; n: number; size: number } {
    const id = ctx.requestHeader.get("x-call") ?? "";
    this.started.add(id);
    const [what = "", n = "0", size = "0"] = (ctx.requestHeader.get("x-scenario") ?? "").split(":");
    return { id, what, n: Number(n), size: Number(size) };
  }

  private end(id: string, ctx: HandlerContext, error: unknown): void {
    const record: HandlerRecord = {
      ...(error !== undefined && { error: describeReason(error) }),
      ...(ctx.signal.aborted && { signal: describeReason(ctx.signal.reason) }),
    };
    this.records.set(id, record);
    this.waiters.get(id)?.(record);
  }

  impl(): Partial<ServiceImpl<typeof LargeContextService>> {
    const stub = this;
    return {
      // Scenario "<what>:<chunks>:<chunk size>".
      async *downloadContext(req, ctx) {
        const { id, what, n, size } = stub.begin(ctx);
        handedOut.set(id, 0);
        let error: unknown;
        try {
          ctx.responseHeader.set("x-handler", "download");
          if (what === "fail-before") throw failure();
          yield {
            item: {
              case: "header" as const,
              value: { totalSize: BigInt(n * size), offset: req.offset, chunkSize: size },
            },
          };
          // Two buffers taking turns, as the blob store's reads with `reuse`: as soon as the
          // handler is asked for chunk i, the buffer of chunk i - 1 is filled with chunk i + 1.
          const pool = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
          if (n > 0) fillChunk(pool[0] as Buffer, 0);
          for (let i = 0; i < n; i++) {
            const data = pool[i % 2] as Buffer;
            if (i + 1 < n) fillChunk(pool[(i + 1) % 2] as Buffer, i + 1);
            const check =
              req.chunkCheck === ChunkCheck.CRC32
                ? { crc32: crc32(data) }
                : { sha256: createHash("sha256").update(data).digest() };
            handedOut.set(id, i + 1);
            yield {
              item: {
                case: "chunk" as const,
                value: { offset: req.offset + BigInt(i * size), data, ...check },
              },
            };
            if (what === "fail-after" && i + 1 === 3) {
              throw hubError(Code.DataLoss, "the stub's bytes no longer match", {
                reason: "DAMAGED",
              });
            }
            if (what === "wait" && i + 1 === 2) await untilAborted(ctx.signal);
          }
          ctx.responseTrailer.set("x-handler-trailer", `${n} chunks`);
        } catch (err) {
          error = err;
          throw err;
        } finally {
          stub.end(id, ctx, error);
        }
      },

      // Scenario "<what>:<after how many chunks>".
      async uploadChunks(requests, ctx) {
        const { id, what, n } = stub.begin(ctx);
        let error: unknown;
        const hash = createHash("sha256");
        let chunks = 0;
        let bytes = 0;
        let uploadId = "";
        try {
          ctx.responseHeader.set("x-handler", "upload");
          if (what === "fail-before") throw failure();
          for await (const r of requests) {
            uploadId ||= r.uploadId;
            const data = r.chunk?.data ?? new Uint8Array();
            if (BigInt(bytes) !== r.chunk?.offset) {
              throw hubError(Code.FailedPrecondition, `chunk at ${r.chunk?.offset}, not ${bytes}`);
            }
            hash.update(data);
            bytes += data.length;
            chunks++;
            if (what === "fail-after" && chunks === n) throw failure();
            if (what === "wait" && chunks === n) await untilAborted(ctx.signal);
          }
          ctx.responseTrailer.set("x-handler-trailer", `${chunks} chunks`);
          return {
            upload: { id: uploadId, bytesReceived: BigInt(bytes), sha256: hash.digest() },
          };
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
 * Refuses calls carrying x-refuse; on the others adds a response header and, after the response
 * stream, a trailer counting the messages it saw (so interceptors see every message on both paths).
 */
const observer: Interceptor = (next) => async (req) => {
  if (req.header.has("x-refuse")) {
    throw hubError(Code.PermissionDenied, `${req.method.name} is not allowed for this caller`, {
      reason: "DENIED",
    });
  }
  const res = await next(req);
  res.header.set("x-seen", `${req.method.name} ${req.header.get("x-call")}`);
  if (!res.stream) return res;
  const source = res.message;
  return {
    ...res,
    message: (async function* () {
      let count = 0;
      for await (const m of source) {
        count++;
        yield m;
      }
      res.trailer.set("x-output", String(count));
    })(),
  };
};

interface Server extends DirectTestServer {
  stub: Stub;
  listener: Listener;
}

async function startServer(direct: boolean): Promise<Server> {
  const stub = new Stub();
  const handler = createNodeAdapter({
    routes: (router: ConnectRouter) => {
      // As the hub registers the service (hub.ts): no compression.
      router.service(LargeContextService, stub.impl(), { acceptCompression: [] });
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

async function stopServer(s: Server | undefined): Promise<void> {
  if (!s) return;
  s.session.destroy();
  await s.listener.close();
}

function downloadRequest(init: MessageInitShape<typeof DownloadContextRequestSchema> = {}): Buffer {
  return envelope(
    0,
    toBinary(
      DownloadContextRequestSchema,
      create(DownloadContextRequestSchema, { contextId: "ctx-1", ...init }),
    ),
  );
}

/** An UploadChunks message carrying `data` at `offset`, checked by CRC-32 and/or SHA-256. */
function uploadItem(
  offset: number,
  data: Uint8Array,
  check: "crc32" | "sha256" | "both" | "none" = "crc32",
): Buffer {
  const sha256 = createHash("sha256").update(data).digest();
  return envelope(
    0,
    toBinary(
      UploadChunksRequestSchema,
      create(UploadChunksRequestSchema, {
        uploadId: offset === 0 ? "up-1" : "",
        chunk: {
          offset: BigInt(offset),
          data,
          ...(check !== "sha256" && check !== "none" && { crc32: crc32(data) }),
          ...((check === "sha256" || check === "both") && { sha256 }),
        },
      }),
    ),
  );
}

/** `count` upload messages of `size` bytes each, contiguous from offset 0, and their bytes. */
function uploadBody(count: number, size: number): { items: Buffer[]; content: Buffer } {
  const content = Buffer.alloc(count * size);
  for (let i = 0; i < count; i++) fillChunk(content.subarray(i * size, (i + 1) * size), i);
  const items = [];
  for (let i = 0; i < count; i++) {
    items.push(
      uploadItem(i * size, content.subarray(i * size, (i + 1) * size), i % 3 ? "crc32" : "both"),
    );
  }
  return { items, content };
}

/** Cuts `bytes` into pieces of the given sizes, in turn, the last one taking what is left. */
function cut(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? bytes.length;
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** The download's chunk messages, each checked: contiguous, its bytes those of its index. */
function checkedChunks(ex: Exchange, size: number, offset = 0n): DownloadContextResponse[] {
  const messages = ex.envelopes
    .filter((e) => (e.flags & 2) === 0)
    .map((e) => fromBinary(DownloadContextResponseSchema, Buffer.from(e.data, "hex")));
  const chunks = messages.filter((m) => m.item.case === "chunk");
  chunks.forEach((m, i) => {
    const chunk = m.item.value as { offset: bigint; data: Uint8Array };
    expect(chunk.offset).toBe(offset + BigInt(i * size));
    const expected = fillChunk(Buffer.alloc(size), i);
    if (!Buffer.from(chunk.data).equals(expected)) expect.fail(`chunk ${i} arrived damaged`);
  });
  return chunks;
}

/** The UploadChunks answer's message. */
function uploadAnswer(ex: Exchange) {
  const first = ex.envelopes.find((e) => (e.flags & 2) === 0);
  if (!first) return undefined;
  return fromBinary(UploadChunksResponseSchema, Buffer.from(first.data, "hex")).upload;
}

describe("direct-transfers: the large-context transfers answer as the protocol library does", () => {
  let pair: { library: Server; direct: Server };

  beforeAll(async () => {
    pair = { library: await startServer(false), direct: await startServer(true) };
  });
  afterAll(async () => {
    await stopServer(pair?.library);
    await stopServer(pair?.direct);
    expect(pair.library.stub.handlerErrors).toEqual([]);
    expect(pair.direct.stub.handlerErrors).toEqual([]);
  });

  describe.each(protocols)("%s", (protocol) => {
    it("DownloadContext: a header and chunks past the flow-control windows, each check, a clean end", async () => {
      for (const chunkCheck of [ChunkCheck.CRC32, ChunkCheck.SHA256]) {
        // 20 chunks of 192 KiB + 3: data lengths of three varint bytes, past 64 KiB windows.
        const size = 192 * 1024 + 3;
        const r = await compare(
          pair,
          {
            protocol,
            path: DOWNLOAD,
            scenario: `chunks:20:${size}`,
            body: [downloadRequest({ chunkCheck, offset: 1_000_000_007n })],
          },
          true,
        );
        expect(outcome(r.ex)).toEqual({ code: "ok", message: "" });
        expect(messageCount(r.ex)).toBe(21);
        expect(checkedChunks(r.ex, size, 1_000_000_007n)).toHaveLength(20);
        expect(r.ex.headers["x-handler"]).toBe("download");
        expect(r.gate).toEqual([`${protocol} DownloadContext <call>`]);
        const trailers =
          protocol === "connect"
            ? String(r.ex.envelopes.at(-1)?.data)
            : JSON.stringify(r.ex.trailers);
        expect(trailers).toContain("20 chunks");
        expect(trailers).toMatch(/"x-output":\[?"21"/);
      }
    });

    it("DownloadContext: small chunks (one-byte lengths) and a chunk at offset 0", async () => {
      const r = await compare(
        pair,
        { protocol, path: DOWNLOAD, scenario: "chunks:5:100", body: [downloadRequest()] },
        true,
      );
      expect(checkedChunks(r.ex, 100)).toHaveLength(5);
    });

    it("DownloadContext: a handler error before the header and after some chunks", async () => {
      const before = await compare(
        pair,
        { protocol, path: DOWNLOAD, scenario: "fail-before", body: [downloadRequest()] },
        true,
      );
      expect(outcome(before.ex).message).toBe("the stub's backend is unavailable");
      const after = await compare(
        pair,
        { protocol, path: DOWNLOAD, scenario: "fail-after:8:70000", body: [downloadRequest()] },
        true,
      );
      expect(checkedChunks(after.ex, 70_000)).toHaveLength(3);
      expect(outcome(after.ex)).toEqual({
        code: protocol === "connect" ? "data_loss" : "DataLoss",
        message: "the stub's bytes no longer match",
      });
    });

    it("DownloadContext and UploadChunks: an interceptor's refusal, a request validation refuses", async () => {
      for (const [path, body] of [
        [DOWNLOAD, downloadRequest()],
        [UPLOAD, uploadItem(0, Buffer.alloc(10, 1))],
      ] as const) {
        const r = await compare(
          pair,
          { protocol, path, headers: { "x-refuse": "1" }, body: [body] },
          true,
        );
        expect(outcome(r.ex).code).toMatch(/^permission.?denied$/i);
        expect(r.handler).toBe("not run");
      }
      const invalid = await compare(
        pair,
        { protocol, path: DOWNLOAD, body: [downloadRequest({ contextId: "", chunkSize: 5 })] },
        true,
      );
      expect(outcome(invalid.ex).code).toMatch(/^invalid.?argument$/i);
      expect(outcome(invalid.ex).message).toContain("context_id");
    });

    it("DownloadContext: a slow reader holds the handler back, and gets every byte", async () => {
      const size = 128 * 1024;
      let mostAhead = 0;
      const r = await compare(
        pair,
        {
          protocol,
          path: DOWNLOAD,
          scenario: `chunks:24:${size}`,
          drive: async (stream, read) => {
            const id = String(stream.sentHeaders["x-call"]);
            stream.end(downloadRequest());
            // One piece of the body at a time, each taken on a later turn of the event loop.
            stream.on("data", () => {
              stream.pause();
              // The envelopes counted include the header: chunks read = count - 1.
              mostAhead = Math.max(mostAhead, (handedOut.get(id) ?? 0) - (read.count - 1));
              setImmediate(() => stream.resume());
            });
          },
        },
        true,
      );
      expect(checkedChunks(r.ex, size)).toHaveLength(24);
      expect(outcome(r.ex).code).toBe("ok");
      // 128 KiB chunks against a 64 KiB stream window: a handler that ran ahead of the reader
      // (writes not waiting for the peer) would be up to 24 chunks ahead.
      expect(mostAhead).toBeGreaterThan(0);
      expect(mostAhead).toBeLessThanOrEqual(4);
    });

    it("DownloadContext: a client that resets the stream mid-transfer", async () => {
      const r = await compare(
        pair,
        {
          protocol,
          path: DOWNLOAD,
          scenario: `chunks:40:${100 * 1024}`,
          drive: async (stream, read) => {
            stream.end(downloadRequest());
            await read.envelopes(6);
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

    it("DownloadContext: a deadline that passes while the handler waits", async () => {
      const timeout =
        protocol === "connect" ? { "connect-timeout-ms": "50" } : { "grpc-timeout": "50m" };
      const r = await compare(
        pair,
        {
          protocol,
          path: DOWNLOAD,
          scenario: "wait:5:70000",
          headers: timeout,
          body: [downloadRequest()],
        },
        true,
      );
      expect(checkedChunks(r.ex, 70_000)).toHaveLength(2);
      expect(outcome(r.ex).message).toBe("the operation timed out");
    });

    it("UploadChunks: chunks split across odd piece boundaries, the bytes received intact", async () => {
      const { items, content } = uploadBody(12, 150_000);
      const r = await compare(
        pair,
        {
          protocol,
          path: UPLOAD,
          body: cut(Buffer.concat(items), [3, 70_001, 4, 150_000, 300_017, 1]),
        },
        true,
      );
      expect(outcome(r.ex)).toEqual({ code: "ok", message: "" });
      const upload = uploadAnswer(r.ex);
      expect(upload?.id).toBe("up-1");
      expect(upload?.bytesReceived).toBe(BigInt(content.length));
      expect(Buffer.from(upload?.sha256 ?? []).toString("hex")).toBe(
        createHash("sha256").update(content).digest("hex"),
      );
      expect(r.gate).toEqual([`${protocol} UploadChunks <call>`]);
      const trailers = JSON.stringify(
        protocol === "connect" ? r.ex.envelopes.at(-1)?.data : r.ex.trailers,
      );
      expect(trailers).toContain("12 chunks");
    });

    it("UploadChunks: a handler error after some chunks, and before any", async () => {
      const { items } = uploadBody(6, 40_000);
      for (const scenario of ["fail-after:3", "fail-before"]) {
        const r = await compare(
          pair,
          { protocol, path: UPLOAD, scenario, body: [Buffer.concat(items)] },
          true,
        );
        expect(outcome(r.ex).message).toBe("the stub's backend is unavailable");
        expect(messageCount(r.ex)).toBe(0);
      }
    });

    it("UploadChunks: refusals of the request stream's messages", async () => {
      const { items } = uploadBody(3, 40_000);
      const cases: [string, Buffer[]][] = [
        // A chunk with neither check: validation refuses it after two good ones.
        ["unchecked chunk", [...items.slice(0, 2), uploadItem(80_000, Buffer.alloc(10), "none")]],
        ["malformed message", [...items.slice(0, 1), envelope(0, Buffer.from([0, 1, 0xff]))]],
        [
          "over readMaxBytes",
          [...items.slice(0, 1), envelope(0, Buffer.alloc(8), READ_MAX_BYTES + 1)],
        ],
        ["compressed flag", [...items.slice(0, 1), envelope(1, Buffer.alloc(4))]],
        ["ends mid-envelope", [...items.slice(0, 2), (items[2] as Buffer).subarray(0, 30_000)]],
      ];
      for (const [what, body] of cases) {
        const r = await compare(pair, { protocol, path: UPLOAD, body }, true);
        expect(outcome(r.ex).code, what).not.toBe("ok");
      }
    });

    it("UploadChunks: a client that resets the stream mid-transfer", async () => {
      const { items } = uploadBody(8, 100_000);
      const r = await compare(
        pair,
        {
          protocol,
          path: UPLOAD,
          // The handler waits after its third chunk, so the reset finds it mid-transfer.
          scenario: "wait:3",
          drive: async (stream: http2.ClientHttp2Stream, _read: BodyReader) => {
            for (const item of items.slice(0, 5)) stream.write(item);
            // Half of the sixth chunk, then the client goes.
            stream.write((items[5] as Buffer).subarray(0, 50_000), () => {
              stream.close(http2.constants.NGHTTP2_CANCEL);
            });
          },
        },
        true,
      );
      expect(r.ex.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      const reason = "Canceled: http/2 stream closed with error code CANCEL (0x8)";
      expect(r.handler).toEqual({ error: reason, signal: reason });
    });

    it("DownloadContext in JSON takes the library's path", async () => {
      await compare(
        pair,
        {
          protocol,
          path: DOWNLOAD,
          scenario: "chunks:2:1000",
          headers: {
            "content-type":
              protocol === "connect" ? "application/connect+json" : "application/grpc+json",
          },
          body: [envelope(0, Buffer.from(JSON.stringify({ contextId: "ctx-1" })))],
        },
        false,
      );
    });
  });
});
