// A minimal client of the Connect protocol (binary protobuf over one node:http2 session) for the
// load benchmarks' background agents: unary calls, server and bidirectional streams, nothing else
// (no interceptors, retries, deadlines or abort signals). Thousands of agents in one load thread
// share that thread's heap; with the full client stack (Connect's per-call pipeline of async
// generators, fetch-style headers and signals) the thread's young-generation collections took
// ~50 ms each at 1,250 agents a thread (up to 230 ms), and a probe delivered to one of its agents
// waited for them: the load generator's pauses, not the hub's, in the hub's latency figures.
// Agents that would run on machines of their own run on this instead; the SDK's own cost per
// message is measured by the messaging benchmark's other phases.
import http2 from "node:http2";
import {
  type Delivery,
  MessagingService,
  type ReceiveRequestSchema,
  ReceiveResponse_Kind,
} from "@acb/gen/acb/v1/messaging_pb";
import {
  create,
  type DescMessage,
  type DescMethodBiDiStreaming,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";

const pathOf = (m: { parent: { typeName: string }; name: string }) =>
  `/${m.parent.typeName}/${m.name}`;

/** A Connect error answered by the hub (HTTP status not 200, or an end-of-stream error). */
export class LeanCallError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

function errorOf(status: number, body: Buffer): LeanCallError {
  try {
    const e = JSON.parse(body.toString("utf8")) as { code?: string; message?: string };
    return new LeanCallError(e.code ?? `http ${status}`, e.message ?? "");
  } catch {
    return new LeanCallError(`http ${status}`, body.toString("utf8").slice(0, 200));
  }
}

/** One HTTP/2 connection to a hub, speaking the Connect protocol with binary protobuf. */
export class LeanConnection {
  private readonly session: http2.ClientHttp2Session;

  constructor(url: string) {
    this.session = http2.connect(url);
    this.session.on("error", () => {});
  }

  /** A unary call of `method` (e.g. `RegistryService.method.heartbeat`) with a bearer token. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    token: string,
  ): Promise<MessageShape<O>> {
    const body = toBinary(method.input, create(method.input, request));
    return new Promise((resolve, reject) => {
      const stream = this.open(pathOf(method), token, "application/proto");
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        if (status === 200) resolve(fromBinary(method.output, all));
        else reject(errorOf(status, all));
      });
      stream.on("error", reject);
      stream.end(body);
    });
  }

  /**
   * A server stream of `method`: each response message is handed to `onMessage` as it arrives.
   * The promise settles when the stream ends (rejected with the hub's error, if it sent one);
   * `close()` ends it from this side.
   */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
    token: string,
    onMessage: (message: MessageShape<O>) => void,
  ): { done: Promise<void>; close(): void } {
    const stream = this.open(pathOf(method), token, "application/connect+proto");
    const done = readEnvelopes(stream, (body) => onMessage(fromBinary(method.output, body)));
    stream.end(envelope(toBinary(method.input, create(method.input, request))));
    return { done, close: () => stream.close(http2.constants.NGHTTP2_CANCEL) };
  }

  /**
   * A bidirectional stream of `method`: `send` writes a request message, each response message is
   * handed to `onMessage`; `done` and `close()` as for {@link serverStream}.
   */
  bidiStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodBiDiStreaming<I, O>,
    token: string,
    onMessage: (message: MessageShape<O>) => void,
  ): { send(request: MessageInitShape<I>): void; done: Promise<void>; close(): void } {
    const stream = this.open(pathOf(method), token, "application/connect+proto");
    const done = readEnvelopes(stream, (body) => onMessage(fromBinary(method.output, body)));
    return {
      send: (request) => {
        if (!stream.closed)
          stream.write(envelope(toBinary(method.input, create(method.input, request))));
      },
      done,
      close: () => stream.close(http2.constants.NGHTTP2_CANCEL),
    };
  }

  /** A call's HTTP/2 stream: "application/proto" for unary calls, the "connect+" type for streams. */
  private open(path: string, token: string, contentType: string): http2.ClientHttp2Stream {
    return this.session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      "connect-protocol-version": "1",
      authorization: `Bearer ${token}`,
    });
  }

  close(): void {
    this.session.close();
  }
}

/** A message in the Connect protocol's stream envelope (no flags, its length, the message). */
function envelope(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * Reads a stream's response envelopes, handing each message's bytes to `onMessage`. Settles when
 * the stream ends: rejected with the hub's error (an HTTP status not 200, or the end-of-stream
 * envelope's error), resolved otherwise, and resolved when this side closed it.
 */
function readEnvelopes(
  stream: http2.ClientHttp2Stream,
  onMessage: (body: Buffer) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let status = 0;
    let pending: Buffer = Buffer.alloc(0);
    let failure: LeanCallError | undefined;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (status !== 200) return;
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        const flags = pending[0] ?? 0;
        const body = pending.subarray(5, 5 + length);
        pending = pending.subarray(5 + length);
        if (flags & 0x02) {
          // End of stream: JSON, with an error if the stream failed.
          const end = JSON.parse(body.toString("utf8")) as {
            error?: { code?: string; message?: string };
          };
          if (end.error) failure = new LeanCallError(end.error.code ?? "", end.error.message ?? "");
        } else onMessage(body);
      }
    });
    stream.on("end", () => {
      if (status !== 200) reject(errorOf(status, pending));
      else if (failure) reject(failure);
      else resolve();
    });
    stream.on("close", () => resolve());
    stream.on("error", reject);
  });
}

/**
 * Opens an agent's Receive stream and resolves once the hub says READY (rejects if the stream ends
 * before); the deliveries of each DELIVERY response go to `onDeliveries`. The stream ends when it
 * is closed or the hub stops.
 */
export async function openReceive(
  c: LeanConnection,
  token: string,
  request: MessageInitShape<typeof ReceiveRequestSchema>,
  onDeliveries: (deliveries: Delivery[]) => void,
): Promise<{ close(): void }> {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const stream = c.serverStream(MessagingService.method.receive, request, token, (res) => {
    if (res.kind === ReceiveResponse_Kind.READY) ready();
    if (res.kind !== ReceiveResponse_Kind.DELIVERY) return;
    onDeliveries(res.delivery ? [res.delivery] : res.deliveries);
  });
  const ended = stream.done.then(() => {
    throw new Error("the Receive stream ended before READY");
  });
  ended.catch(() => {});
  await Promise.race([isReady, ended]);
  return stream;
}
