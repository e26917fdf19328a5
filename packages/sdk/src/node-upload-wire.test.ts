// UploadChunks through withLeanStreams against the same call through Connect's transport: a
// recording HTTP/2 server must receive the same request (headers, every body byte) from both, and
// the caller must get the same answer from both, whether the server answers with a message, with
// an error carrying details and metadata, or with a bare HTTP status.
import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  LargeContextService,
  UploadChunksRequestSchema,
  UploadChunksResponseSchema,
} from "@acb/gen/acb/v1/large_contexts_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, plainAndLean } from "../test/lean-wire.js";

interface Recorded {
  headers: Record<string, unknown>;
  body: string;
}

type Answer = "message" | "error" | "status";

let server: http2.Http2Server;
let baseUrl: string;
const recorded: Recorded[] = [];

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    const pieces: Buffer[] = [];
    stream.on("data", (b: Buffer) => pieces.push(b));
    stream.on("end", () => {
      const body = Buffer.concat(pieces);
      const { date: _, ...rest } = headers;
      recorded.push({ headers: rest, body: createHash("sha256").update(body).digest("hex") });
      const answer = String(headers["x-answer"]) as Answer;
      if (answer === "status") {
        stream.respond({ ":status": 503 });
        stream.end();
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/connect+proto", "x-h": "1" });
      if (answer === "message") {
        const message = create(UploadChunksResponseSchema, {
          upload: { id: "up-1", verifiedOffset: BigInt(body.length) },
        });
        stream.write(envelope(0, toBinary(UploadChunksResponseSchema, message)));
        stream.end(envelope(2, Buffer.from(JSON.stringify({ metadata: { "x-t": ["done"] } }))));
        return;
      }
      const error = {
        code: "data_loss",
        message: "chunk at 3 does not match its crc32",
        details: [{ type: "acb.v1.Example", value: "AAEC" }],
      };
      stream.end(envelope(2, Buffer.from(JSON.stringify({ error, metadata: { "x-e": ["1"] } }))));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const transports = () => plainAndLean(baseUrl);

async function* chunks() {
  const data = Buffer.alloc(300_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  for (let i = 0; i < 5; i++) {
    const piece = data.subarray(0, 1000 + i * 70_000);
    yield create(UploadChunksRequestSchema, {
      uploadId: i === 0 ? "up-1" : "",
      chunk: {
        offset: BigInt(i * 1_000_000),
        data: piece,
        ...(i % 2 ? { crc32: i } : {}),
        sha256: new Uint8Array(32).fill(i),
      },
    });
  }
}

async function call(transport: ReturnType<typeof transports>["plain"], answer: Answer) {
  const client = createClient(LargeContextService, transport);
  const seen: { header?: string; trailer?: string } = {};
  try {
    const res = await client.uploadChunks(chunks(), {
      headers: { "x-answer": answer },
      timeoutMs: 30_000,
      onHeader: (h) => {
        seen.header = h.get("x-h") ?? "";
      },
      onTrailer: (t) => {
        seen.trailer = t.get("x-t") ?? "";
      },
    });
    return { ok: res, seen };
  } catch (err) {
    const e = ConnectError.from(err);
    return {
      code: Code[e.code],
      message: e.rawMessage,
      details: e.details.length,
      // The server's date header is left out: two calls may straddle a second.
      meta: [...e.metadata].filter(([key]) => key !== "date"),
      seen,
    };
  }
}

describe("node-upload: the lean UploadChunks call is Connect's call", () => {
  it.each(["message", "error", "status"] as const)("answered with %s", async (answer) => {
    const { plain, lean, close } = transports();
    try {
      recorded.length = 0;
      const viaConnect = await call(plain, answer);
      const viaLean = await call(lean, answer);
      expect(recorded).toHaveLength(2);
      const [a, b] = recorded;
      // The deadline header counts down from 30 s: equal to the second.
      for (const r of recorded)
        r.headers["connect-timeout-ms"] = String(r.headers["connect-timeout-ms"]).slice(0, 2);
      expect(b).toEqual(a);
      expect(a?.headers["x-intercepted"]).toBe("UploadChunks");
      expect(viaLean).toEqual(viaConnect);
      if (answer === "message") expect(viaLean.ok?.upload?.id).toBe("up-1");
      else expect(viaLean.code).toBe(answer === "error" ? "DataLoss" : "Unavailable");
    } finally {
      close();
    }
  });
});
