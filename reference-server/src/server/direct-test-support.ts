// What the comparison tests of the direct paths share (direct-streams.test.ts,
// direct-transfers.test.ts, direct-unary.test.ts): how a reason reads, a handler that waits for
// its signal, a handler failure with details and metadata, and for the streams, hand-made HTTP/2
// calls whose answers are compared between an adapter serving them directly and one that does not.

import type * as http2 from "node:http2";
import { expect, vi } from "vitest";
import { Code, ConnectError, hubError } from "../errors.js";
import { serveDirect } from "./direct-streams.js";

export type Protocol = "connect" | "grpc";

export const protocols: Protocol[] = ["connect", "grpc"];

/** What a comparison needs of a server: its client session and what its stub recorded. */
export interface DirectTestServer {
  readonly session: http2.ClientHttp2Session;
  readonly stub: {
    /** What the request gate saw, one line per call. */
    readonly gate: string[];
    /** Whether the handler of the call (by its x-call header) started. */
    ran(id: string): boolean;
    /** Resolves with the handler's record once its finally block has run. */
    ended(id: string): Promise<HandlerRecord>;
  };
}

/** A reason as the tests compare it: code and message, or the error's name, code and message. */
export function describeReason(reason: unknown): string {
  if (reason instanceof ConnectError) return `${Code[reason.code]}: ${reason.rawMessage}`;
  if (reason instanceof Error) {
    const code = (reason as { code?: unknown }).code;
    return `${reason.name}${code === undefined ? "" : ` (${String(code)})`}: ${reason.message}`;
  }
  return String(reason);
}

/** Waits for the signal, then throws its reason, as the hub's handlers do. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** A handler failure with details (ErrorInfo, RetryInfo) and metadata. */
export function failure(): ConnectError {
  const e = hubError(Code.Unavailable, "the stub's backend is unavailable", {
    reason: "BACKEND_UNAVAILABLE",
    metadata: { backend: "stub" },
    retryAfterMs: 1500,
    limit: "stub",
  });
  e.metadata.set("x-error-metadata", "from the handler");
  return e;
}

/** What the handler saw of one call, by the call's x-call header. */
export interface HandlerRecord {
  error?: string;
  signal?: string;
}

/** An envelope: [flags:1][length:4][data]. */
export function envelope(flags: number, data: Uint8Array, announced = data.length): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(announced, 1);
  out.set(data, 5);
  return out;
}

export interface Envelope {
  flags: number;
  data: string;
}

/** A response as the client sees it. */
export interface Exchange {
  headers: Record<string, unknown>;
  envelopes: Envelope[];
  rest: string;
  trailers: Record<string, unknown>;
  rstCode: number | undefined;
}

/** Reads the response body as it arrives; `envelopes(n)` waits until n envelopes have arrived. */
export class BodyReader {
  /** The bytes of the envelopes complete so far, each whole. */
  private readonly complete: Buffer[] = [];
  /** The bytes after them: an envelope still arriving. */
  private pending: Buffer[] = [];
  private pendingSize = 0;
  /** The size of the envelope arriving, once its header has. */
  private need: number | undefined;
  private readonly shown: Envelope[] = [];
  private waiting: { n: number; resolve: () => void }[] = [];
  private endSeen = false;
  private onEnd: (() => void)[] = [];

  end(): void {
    this.endSeen = true;
    for (const f of this.onEnd) f();
  }

  /** Resolves once the response has ended (its trailers, if any, have arrived). */
  ended(): Promise<void> {
    if (this.endSeen) return Promise.resolve();
    return new Promise((resolve) => this.onEnd.push(resolve));
  }

  /** How many envelopes have arrived whole. */
  get count(): number {
    return this.complete.length;
  }

  /** The bytes of envelope `i` (its 5-byte prefix included). */
  envelopeBytes(i: number): Buffer | undefined {
    return this.complete[i];
  }

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingSize += chunk.length;
    // Each byte is joined about once, when its envelope completes, however many pieces it came in.
    for (;;) {
      if (this.need === undefined) {
        if (this.pendingSize < 5) break;
        this.need = 5 + Buffer.concat(this.pending, this.pendingSize).readUInt32BE(1);
      }
      if (this.pendingSize < this.need) break;
      const all = Buffer.concat(this.pending, this.pendingSize);
      this.complete.push(all.subarray(0, this.need));
      this.pending = this.need < all.length ? [all.subarray(this.need)] : [];
      this.pendingSize -= this.need;
      this.need = undefined;
    }
    const have = this.complete.length;
    this.waiting = this.waiting.filter((w) => {
      if (have < w.n) return true;
      w.resolve();
      return false;
    });
  }

  envelopes(n: number): Promise<void> {
    if (this.complete.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }

  split(): { envelopes: Envelope[]; rest: string } {
    for (let i = this.shown.length; i < this.complete.length; i++) {
      const bytes = this.complete[i] as Buffer;
      const flags = bytes[0] ?? 0;
      const data = bytes.subarray(5);
      // Connect's end-of-stream envelope is JSON: shown as text, so differences read well.
      this.shown.push({ flags, data: flags & 2 ? data.toString("utf8") : data.toString("hex") });
    }
    return {
      envelopes: [...this.shown],
      rest: Buffer.concat(this.pending, this.pendingSize).toString("hex"),
    };
  }
}

export interface Call {
  protocol: Protocol;
  path: string;
  scenario?: string;
  headers?: Record<string, string>;
  /** Leaves out the accept-encoding header clients send by default. */
  noAcceptEncoding?: boolean;
  /** Writes the request body; by default the body is `body`'s chunks, each written on its own. */
  body?: Buffer[];
  drive?: Drive;
}

export type Drive = (stream: http2.ClientHttp2Stream, read: BodyReader) => Promise<void>;

let calls = 0;

export async function exchange(
  server: DirectTestServer,
  call: Call,
  id: string,
): Promise<Exchange> {
  const stream = server.session.request({
    ":method": "POST",
    ":path": call.path,
    ...(call.protocol === "connect"
      ? {
          "content-type": "application/connect+proto",
          "connect-protocol-version": "1",
          ...(!call.noAcceptEncoding && { "connect-accept-encoding": "gzip" }),
        }
      : {
          "content-type": "application/grpc",
          te: "trailers",
          ...(!call.noAcceptEncoding && { "grpc-accept-encoding": "identity,deflate,gzip" }),
        }),
    "x-call": id,
    ...(call.scenario !== undefined && { "x-scenario": call.scenario }),
    ...call.headers,
  });
  const reader = new BodyReader();
  let headers: Record<string, unknown> = {};
  let trailers: Record<string, unknown> = {};
  stream.on("response", (h) => {
    headers = { ...h };
  });
  stream.on("trailers", (t) => {
    trailers = { ...t };
  });
  stream.on("data", (chunk: Buffer) => reader.push(chunk));
  stream.on("end", () => reader.end());
  const closed = new Promise<void>((resolve) => {
    stream.on("close", () => resolve());
    // A reset stream reports an error; its code is compared below.
    stream.on("error", () => {});
  });
  if (call.drive) {
    await call.drive(stream, reader);
  } else {
    for (const chunk of call.body ?? []) stream.write(chunk);
    stream.end();
  }
  await closed;
  delete headers.date;
  const { envelopes, rest } = reader.split();
  return { headers, envelopes, rest, trailers, rstCode: stream.rstCode };
}

/** What the handler and the gate saw of a call, and where the direct adapter served it. */
export interface Observed {
  ex: Exchange;
  handler: HandlerRecord | "not run";
  gate: string[];
  directCalls: number;
}

export async function observe(server: DirectTestServer, call: Call, id: string): Promise<Observed> {
  const before = vi.mocked(serveDirect).mock.calls.length;
  const gateBefore = server.stub.gate.length;
  const ex = await exchange(server, call, id);
  // A handler whose finally block never runs keeps this waiting: the case times out.
  const handler = server.stub.ran(id) ? await server.stub.ended(id) : "not run";
  return {
    ex,
    handler,
    gate: server.stub.gate.slice(gateBefore).map((g) => g.replace(id, "<call>")),
    directCalls: vi.mocked(serveDirect).mock.calls.length - before,
  };
}

/** The status a response ends with: Connect's end-of-stream JSON, or gRPC's trailers. */
export function outcome(ex: Exchange): { code: string; message: string } {
  const end = ex.envelopes.find((e) => e.flags & 2);
  if (end) {
    const json = JSON.parse(end.data) as { error?: { code: string; message: string } };
    return { code: json.error?.code ?? "ok", message: json.error?.message ?? "" };
  }
  const status = ex.trailers["grpc-status"] ?? ex.headers["grpc-status"];
  const message = ex.trailers["grpc-message"] ?? ex.headers["grpc-message"] ?? "";
  return {
    code: status === "0" ? "ok" : String(Code[Number(status)] ?? status),
    message: decodeURIComponent(String(message)),
  };
}

export function messageCount(ex: Exchange): number {
  return ex.envelopes.filter((e) => (e.flags & 2) === 0).length;
}

/**
 * Runs the call on both servers and expects the same answer; returns the library's, for the
 * case's own expectations. `direct` is whether the direct adapter must serve it directly.
 */
export async function compare(
  pair: { library: DirectTestServer; direct: DirectTestServer },
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

/** Ends the request body after the response's nth envelope has arrived. */
export function afterResponses(...steps: { write: Buffer; wait?: number }[]): Drive {
  return async (stream, read) => {
    for (const step of steps) {
      stream.write(step.write);
      if (step.wait !== undefined) await read.envelopes(step.wait);
    }
    stream.end();
  };
}
