import { fromBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { peerKey } from "../audit/early-refusals.js";
import type { NodeHandlerFn } from "./listener.js";

/** Options of {@link createNodeAdapter}. */
export interface NodeAdapterOptions extends ConnectRouterOptions {
  /** Registers the services. */
  routes: (router: ConnectRouter) => void;
  /** Largest request body read; the pre-parse check below reads at most this much. */
  readMaxBytes: number;
  /** Reports handler failures that could not be written to the client. */
  onHandlerError: (procedure: string, reason: unknown) => void;
  /** Sees every call first, before its body is read (the early-refusal auditor watches it). */
  onCall?: (context: HandlerContext) => void;
}

/** Set when the request body is not valid protobuf binary for the method's input. */
const malformedBodyKey = createContextKey<string | undefined>(undefined, {
  description: "why the request body does not decode",
});

const binaryContentTypes =
  /^application\/(proto|connect\+proto|grpc|grpc\+proto|grpc-web|grpc-web\+proto)(;|$)/i;

/**
 * Serves the routes to node:http and node:http2 like connect-node's adapter, with one addition:
 * a request body that is not valid protobuf binary is answered INVALID_ARGUMENT (in the caller's
 * protocol) instead of the INTERNAL "parse binary" the protocol library would give, because it
 * parses the body before any interceptor can see it. For methods with one request message
 * (unary, server-streaming), the body is read here first (bounded by readMaxBytes), each message
 * is decoded once to check it, and the bytes are then handed on unchanged; a request gate turns a
 * failed check into the error before the library parses anything.
 */
export function createNodeAdapter(options: NodeAdapterOptions): NodeHandlerFn {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...options,
    requestGate(context) {
      options.onCall?.(context);
      const reason = context.values.get(malformedBodyKey);
      if (reason !== undefined) {
        throw new ConnectError(
          `request body is not a valid ${context.method.input.typeName}: ${reason}`,
          Code.InvalidArgument,
        );
      }
    },
  });
  options.routes(router);
  const handlers = new Map<string, UniversalHandler>();
  for (const h of router.handlers) handlers.set(h.requestPath, h);

  return (req, res) => {
    const handler = handlers.get((req.url ?? "").split("?", 1)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const contextValues = createContextValues();
    contextValues.set(peerKey, req.socket?.remoteAddress ?? "");
    const uReq = universalRequestFromNodeRequest(req, res, undefined, contextValues);
    const single =
      handler.method.methodKind === "unary" || handler.method.methodKind === "server_streaming";
    const contentType = uReq.header.get("content-type") ?? "";
    const serve = async () => {
      const body = uReq.body;
      if (single && isByteStream(body) && binaryContentTypes.test(contentType)) {
        const enveloped = !/^application\/proto/i.test(contentType);
        const compressed = !enveloped && uReq.header.has("content-encoding");
        const { chunks, rest } = await readUpTo(body, options.readMaxBytes);
        uReq.body = replay(chunks, rest);
        if (!compressed && rest === undefined) {
          const reason = checkBody(Buffer.concat(chunks), enveloped, handler);
          if (reason !== undefined) contextValues.set(malformedBodyKey, reason);
        }
      }
      await universalResponseToNodeResponse(await handler(uReq), res);
    };
    serve().catch((reason: unknown) => {
      if (ConnectError.from(reason).code === Code.Aborted) return;
      options.onHandlerError(`${handler.service.typeName}/${handler.method.name}`, reason);
    });
  };
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/** Reads chunks until the stream ends or `limit` bytes are exceeded (then `rest` continues it). */
async function readUpTo(
  body: AsyncIterable<Uint8Array>,
  limit: number,
): Promise<{ chunks: Uint8Array[]; rest: AsyncIterator<Uint8Array> | undefined }> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { chunks, rest: undefined };
    chunks.push(r.value);
    size += r.value.length;
    if (size > limit) return { chunks, rest: it };
  }
}

async function* replay(chunks: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined) {
  yield* chunks;
  if (!rest) return;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/** Why the body does not decode as the method's input, or undefined when it does (or cannot tell). */
function checkBody(
  body: Buffer,
  enveloped: boolean,
  handler: UniversalHandler,
): string | undefined {
  const decode = (bytes: Uint8Array) => {
    try {
      fromBinary(handler.method.input, bytes);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
  if (!enveloped) return decode(body);
  // Enveloped bodies: [flags:1][length:4][message]...; compressed or malformed framing is left to
  // the protocol library, which reports those precisely already.
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body[at] ?? 0;
    const length = body.readUInt32BE(at + 1);
    if (flags !== 0 || at + 5 + length > body.length) return undefined;
    const reason = decode(body.subarray(at + 5, at + 5 + length));
    if (reason !== undefined) return reason;
    at += 5 + length;
  }
  return undefined;
}
