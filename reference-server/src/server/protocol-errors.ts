// Errors the hub answers before a method's handler runs (no such method, wrong HTTP verb or
// content type, a message over the size limit), written in the caller's protocol: a Connect error
// body, or a gRPC / gRPC-Web status, so that every client reports a code and a message instead of
// a bare HTTP status.
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { codeToString } from "@connectrpc/connect/protocol-connect";

/** What is read of a node:http or node:http2 request. */
interface NodeRequest {
  readonly method?: string | undefined;
  readonly headers: { readonly [name: string]: string | string[] | undefined };
}

/** What is written to a node:http or node:http2 response (their writeHead overloads differ). */
export interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: string): unknown;
}

/**
 * Answers `code` and `message` in the caller's protocol, judged by the request's content type:
 * gRPC and gRPC-Web get HTTP 200 with grpc-status / grpc-message headers (a trailers-only
 * response); everything else gets `httpStatus` with a Connect error body.
 */
export function writeProtocolError(
  req: NodeRequest,
  res: NodeResponse,
  httpStatus: number,
  code: Code,
  message: string,
  header: Record<string, string> = {},
): void {
  const contentType = String(req.headers["content-type"] ?? "");
  if (/^application\/grpc/i.test(contentType)) {
    const web = /^application\/grpc-web/i.test(contentType);
    res.writeHead(200, {
      ...header,
      "content-type": web ? "application/grpc-web+proto" : "application/grpc",
      "grpc-status": String(code),
      "grpc-message": encodeURIComponent(message),
    });
    res.end();
    return;
  }
  const body = JSON.stringify({ code: codeToString(code), message });
  res.writeHead(httpStatus, {
    ...header,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** Why a request path matches no method the hub serves. */
export function unknownRoute(path: string, router: ConnectRouter): string {
  const [, service = "", method = ""] = /^\/([^/]*)\/?(.*)$/.exec(path) ?? [];
  if (router.handlers.some((h) => h.service.typeName === service)) {
    return `unknown method "${method}" of service ${service}`;
  }
  return `unknown service "${service}" (request path "${path}"): this hub serves no such service`;
}

/**
 * The message for an empty 405, 415 or 505 the protocol library answered (it writes no body), or
 * undefined for any other response.
 */
export function refusalOf(
  status: number,
  req: NodeRequest,
  handler: UniversalHandler,
): { message: string; header?: Record<string, string> } | undefined {
  const procedure = `${handler.service.typeName}/${handler.method.name}`;
  switch (status) {
    case 405: {
      const allowed = handler.allowedMethods.join(", ");
      return {
        message: `${procedure} does not accept HTTP ${req.method}: use ${allowed}`,
        header: { allow: allowed },
      };
    }
    case 415: {
      const connect =
        handler.method.methodKind === "unary"
          ? "application/json or application/proto"
          : "application/connect+json or application/connect+proto";
      const given = String(req.headers["content-type"] ?? "");
      return {
        message:
          `${procedure} does not accept content type "${given}": use ${connect} (Connect), ` +
          "application/grpc (gRPC) or application/grpc-web (gRPC-Web)",
      };
    }
    case 505:
      return {
        message: `${procedure} streams in both directions: call it over HTTP/2`,
        header: { connection: "close" },
      };
    default:
      return undefined;
  }
}

const MiB = 1024 * 1024;

/** A byte count as people say it: "8 MiB", "512 KiB", "100 bytes". */
function inUserTerms(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** The error for a request message over the hub's limit. */
export function tooLarge(limit: number, size?: number): ConnectError {
  const what = size === undefined ? "a request message" : `a request message of ${size} bytes`;
  return new ConnectError(
    `${what} is larger than the hub accepts (${inUserTerms(limit)} per message); ` +
      "send large payloads with LargeContextService",
    Code.ResourceExhausted,
  );
}

/**
 * Passes the request body through, throwing {@link tooLarge} as soon as one message is seen to
 * exceed `limit`: the whole body when it is not enveloped (Connect unary), else each envelope
 * ([flags:1][length:4][message]) by the length in its header, before its bytes arrive.
 */
export async function* limitMessages(
  body: AsyncIterable<Uint8Array>,
  enveloped: boolean,
  limit: number,
): AsyncGenerator<Uint8Array> {
  // Iterated by hand: ending a for-await early would destroy the request, and an HTTP/1.1 client
  // still sending its body would then see a reset connection instead of the error.
  const it = body[Symbol.asyncIterator]();
  const refuse = (size?: number) => {
    discard(it, 4 * limit);
    return tooLarge(limit, size);
  };
  const header = new Uint8Array(5);
  let headerFill = 0;
  let payloadLeft = 0;
  let total = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const chunk = r.value;
    total += chunk.byteLength;
    if (!enveloped && total > limit) throw refuse();
    let at = 0;
    while (enveloped && at < chunk.byteLength) {
      if (payloadLeft > 0) {
        const n = Math.min(payloadLeft, chunk.byteLength - at);
        payloadLeft -= n;
        at += n;
        continue;
      }
      header[headerFill++] = chunk[at++] ?? 0;
      if (headerFill === 5) {
        headerFill = 0;
        payloadLeft = new DataView(header.buffer).getUint32(1);
        if (payloadLeft > limit) throw refuse(payloadLeft);
      }
    }
    yield chunk;
  }
}

/**
 * Reads and drops what the client still sends of a refused body, so that it receives the error
 * rather than a reset connection; past `max` bytes the request is destroyed instead.
 */
function discard(it: AsyncIterator<Uint8Array>, max: number): void {
  void (async () => {
    let read = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      read += r.value.byteLength;
      if (read > max) {
        await it.return?.();
        return;
      }
    }
  })().catch(() => {
    // The client went away: nothing left to drain.
  });
}
