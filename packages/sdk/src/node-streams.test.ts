// Streams through withLeanStreams against the same calls through Connect's transport: a recording
// HTTP/2 server must receive the same request (headers, every body byte) from both, and the
// caller must get the same messages, headers, trailers and errors from both, whatever the server
// answers: messages cut anywhere across writes, an error after messages, a bare HTTP status, a
// compressed stream, and the protocol errors Connect words (a missing or repeated end of stream,
// a message after it, an incomplete envelope, a compressed envelope without an encoding, bytes
// that do not parse).
import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import {
  MessagingService,
  ReceiveResponse_Kind,
  ReceiveResponseSchema,
  type SendStreamRequest,
  SendStreamRequestSchema,
} from "@acb/gen/acb/v1/messaging_pb";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, plainAndLean } from "../test/lean-wire.js";

const answers = [
  "messages",
  "one-write",
  "byte-by-byte",
  "error-after-messages",
  "status",
  "gzip",
  "missing-end",
  "extra-end",
  "message-after-end",
  "incomplete",
  "compressed-flag",
  "unparsable",
] as const;
type Answer = (typeof answers)[number];

let server: http2.Http2Server;
let baseUrl: string;
const recorded: { answer: string; headers: Record<string, unknown>; body: string }[] = [];

const deliveries = Array.from({ length: 5 }, (_, i) =>
  envelope(
    0,
    toBinary(
      ReceiveResponseSchema,
      create(ReceiveResponseSchema, {
        kind: ReceiveResponse_Kind.DELIVERY,
        deliveries: Array.from({ length: i + 1 }, (_, k) => ({
          deliveryId: `dlv-${i}-${k}`,
          attempt: 1,
          message: { id: `msg-${i}-${k}`, payload: { data: new Uint8Array(k * 300).fill(i) } },
        })),
      }),
    ),
  ),
);
const endOk = envelope(2, Buffer.from(JSON.stringify({ metadata: { "x-t": ["done"] } })));
const endError = envelope(
  2,
  Buffer.from(
    JSON.stringify({
      error: {
        code: "unavailable",
        message: "draining",
        details: [{ type: "acb.v1.Example", value: "AAEC" }],
      },
      metadata: { "x-e": ["1"] },
    }),
  ),
);

function answer(stream: http2.ServerHttp2Stream, kind: Answer): void {
  if (kind === "status") {
    stream.respond({ ":status": 503 });
    stream.end();
    return;
  }
  const headers: http2.OutgoingHttpHeaders = {
    ":status": 200,
    "content-type": "application/connect+proto",
    "x-h": "1",
  };
  if (kind === "gzip") headers["connect-content-encoding"] = "gzip";
  stream.respond(headers);
  const all = Buffer.concat([...deliveries, endOk]);
  switch (kind) {
    case "messages":
      for (const d of deliveries) stream.write(d);
      stream.end(endOk);
      return;
    case "one-write":
      stream.end(all);
      return;
    case "byte-by-byte": {
      // Cut at every few bytes, envelope headers included.
      for (let at = 0; at < all.length; at += 7) stream.write(all.subarray(at, at + 7));
      stream.end();
      return;
    }
    case "error-after-messages":
      // The error arrives with the messages before it, in one write.
      stream.end(Buffer.concat([deliveries[0] as Buffer, deliveries[1] as Buffer, endError]));
      return;
    case "gzip":
      for (const d of deliveries) stream.write(envelope(1, gzipSync(d.subarray(5))));
      stream.end(endOk);
      return;
    case "missing-end":
      stream.end(Buffer.concat(deliveries));
      return;
    case "extra-end":
      stream.end(Buffer.concat([deliveries[0] as Buffer, endOk, endOk]));
      return;
    case "message-after-end":
      stream.end(Buffer.concat([deliveries[0] as Buffer, endOk, deliveries[1] as Buffer]));
      return;
    case "incomplete":
      stream.end(
        Buffer.concat([deliveries[0] as Buffer, (deliveries[1] as Buffer).subarray(0, 9)]),
      );
      return;
    case "compressed-flag":
      stream.end(Buffer.concat([deliveries[0] as Buffer, envelope(1, Buffer.from([1, 2, 3]))]));
      return;
    case "unparsable":
      stream.end(Buffer.concat([deliveries[0] as Buffer, envelope(0, Buffer.from([0xff, 0xff]))]));
      return;
  }
}

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    const pieces: Buffer[] = [];
    stream.on("data", (b: Buffer) => pieces.push(b));
    stream.on("end", () => {
      const { date: _, ...rest } = headers;
      const body = createHash("sha256").update(Buffer.concat(pieces)).digest("hex");
      const kind = String(headers["x-answer"]) as Answer;
      recorded.push({ answer: kind, headers: rest, body });
      answer(stream, kind);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const transports = () => plainAndLean(baseUrl);

type AnyTransport = ReturnType<typeof transports>["plain"];

/** What a caller sees of a stream: each message (as bytes), its header and trailer, its error. */
async function outcome(
  stream: AsyncIterable<unknown>,
  seen: { header?: string; trailer?: string },
) {
  const messages: string[] = [];
  try {
    for await (const m of stream) {
      messages.push(Buffer.from(toBinary(ReceiveResponseSchema, m as never)).toString("base64"));
    }
    return { messages, seen };
  } catch (err) {
    const e = ConnectError.from(err);
    return {
      messages,
      seen,
      code: Code[e.code],
      message: e.rawMessage,
      details: e.details.length,
      // The server's date header is left out: two calls may straddle a second.
      meta: [...e.metadata].filter(([key]) => key !== "date"),
    };
  }
}

function callOptions(kind: Answer, seen: { header?: string; trailer?: string }) {
  return {
    headers: { "x-answer": kind },
    timeoutMs: 30_000,
    onHeader: (h: Headers) => {
      seen.header = h.get("x-h") ?? "";
    },
    onTrailer: (t: Headers) => {
      seen.trailer = t.get("x-t") ?? "";
    },
  };
}

function receive(transport: AnyTransport, kind: Answer) {
  const seen = {};
  const client = createClient(MessagingService, transport);
  return outcome(
    client.receive({ maxInFlight: 7, batchDeliveries: true }, callOptions(kind, seen)),
    seen,
  );
}

const items: MessageInitShape<typeof SendStreamRequestSchema>[] = [
  { ref: 1n, item: { case: "send", value: { target: { case: "recipientId", value: "bob" } } } },
  { ref: 2n, item: { case: "ack", value: { deliveryIds: ["a", "b"] } } },
  {
    ref: 3n,
    item: {
      case: "send",
      value: { kind: "k", payload: { data: new Uint8Array(40_000).fill(7) } },
    },
  },
  { ref: 4n, item: { case: "nack", value: { deliveryIds: ["c"], error: "no" } } },
];

async function* requests(): AsyncGenerator<SendStreamRequest> {
  for (const i of items) yield create(SendStreamRequestSchema, i);
}

function sendStream(transport: AnyTransport, kind: Answer) {
  const seen = {};
  const client = createClient(MessagingService, transport);
  return outcome(client.sendStream(requests(), callOptions(kind, seen)), seen);
}

describe("node-streams: a lean stream is Connect's stream", () => {
  for (const call of [receive, sendStream]) {
    it(`${call.name}: sends the same request and reads every answer the same way`, async () => {
      const { plain, lean, close } = transports();
      try {
        for (const kind of answers) {
          recorded.length = 0;
          const expected = await call(plain, kind);
          const actual = await call(lean, kind);
          expect(actual, kind).toEqual(expected);
          expect(recorded).toHaveLength(2);
          expect(recorded[1], kind).toEqual(recorded[0]);
        }
      } finally {
        close();
      }
    });
  }

  it("reads the answers' messages, and fails where Connect fails", async () => {
    const { lean, close } = transports();
    try {
      const ok = await receive(lean, "byte-by-byte");
      expect(ok.messages).toHaveLength(5);
      expect(ok.seen).toEqual({ header: "1", trailer: "done" });
      const failed = await receive(lean, "error-after-messages");
      expect(failed).toMatchObject({ code: "Unavailable", message: "draining", details: 1 });
      expect(failed.messages).toHaveLength(2);
      expect((await receive(lean, "gzip")).messages).toHaveLength(5);
      for (const kind of ["missing-end", "extra-end", "message-after-end", "incomplete"] as const) {
        expect(await receive(lean, kind), kind).toMatchObject({ code: "InvalidArgument" });
      }
      expect(await receive(lean, "compressed-flag")).toMatchObject({ code: "Internal" });
      expect(await receive(lean, "status")).toMatchObject({ code: "Unavailable" });
    } finally {
      close();
    }
  });
});
