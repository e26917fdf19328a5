// Fuzzing over the wire: at least 10,000 malformed or random requests — binary and JSON, Connect,
// Connect streaming and gRPC framing — at every RPC of every generated service, over HTTP/2 with
// many requests in flight. The hub must stay up, answer each with a client-error code (never
// INTERNAL or UNKNOWN, never a 5xx), and keep every piece of data acknowledged before the run.

import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  expectHubUpWithContexts,
  type FuzzTarget,
  generatedServices,
  startFuzzTarget,
} from "./fuzz-target.js";

const REQUESTS = 10_000;
const IN_FLIGHT = 64;
/** A request that decoded into something valid may open a live stream; give it this long. */
const STREAM_GRACE_MS = 1_000;

const CONTEXTS = 20;
const MESSAGES = 10;
let target: FuzzTarget;

beforeAll(async () => {
  target = await startFuzzTarget({ contexts: CONTEXTS, messages: MESSAGES });
});

afterAll(async () => {
  await target?.t.close();
});

/** Random JSON-ish bodies: truncated, wrongly typed, unknown fields, deep nesting, garbage. */
function malformedJson(): Buffer {
  const pick = Math.floor(Math.random() * 7);
  const junk = randomBytes(8).toString("hex");
  switch (pick) {
    case 0:
      return Buffer.from(`{"contextId": "${junk}"`); // truncated
    case 1:
      return Buffer.from(`{"${junk}": 1}`); // unknown field
    case 2:
      return Buffer.from(`{"agentId": ${Math.random()}, "pageSize": "x"}`); // wrong types
    case 3:
      return Buffer.from(`${"[".repeat(2000)}`); // deep nesting
    case 4:
      return Buffer.from("null");
    case 5:
      return randomBytes(1 + Math.floor(Math.random() * 64));
    default:
      return Buffer.from(`{"tenantId": "${"A".repeat(5000)}", "roles": ["ROLE_NOPE"]}`);
  }
}

/** An envelope (flags, 4-byte length, payload) with a random or lying length. */
function envelope(payload: Buffer, lie: boolean): Buffer {
  const head = Buffer.alloc(5);
  head[0] = lie ? Math.floor(Math.random() * 256) : 0;
  head.writeUInt32BE(lie ? Math.floor(Math.random() * 2 ** 32) : payload.length, 1);
  return Buffer.concat([head, payload]);
}

type Outcome =
  | { kind: "code"; code: string; message: string }
  | { kind: "ok" }
  | { kind: "open-stream" };

const clientCodes = new Set([
  "invalid_argument",
  "unauthenticated",
  "permission_denied",
  "not_found",
  "resource_exhausted",
  "unimplemented",
  "out_of_range",
  "failed_precondition",
  "already_exists",
  "aborted",
  "data_loss",
  "canceled",
]);
const grpcNames = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** The code in a Connect streaming body's end-of-stream frame, if there is one. */
function endStreamCode(body: Buffer): { code: string; message: string } | undefined {
  let at = 0;
  let code: { code: string; message: string } | undefined;
  while (at + 5 <= body.length) {
    const flags = body[at] ?? 0;
    const len = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + len);
    if (flags & 0x02) {
      const end = JSON.parse(payload.toString() || "{}") as {
        error?: { code?: string; message?: string };
      };
      code = { code: end.error?.code ?? "ok", message: end.error?.message ?? "" };
    }
    at += 5 + len;
  }
  return code;
}

function fire(
  session: http2.ClientHttp2Session,
  method: DescMethod,
  token: string | undefined,
): Promise<Outcome> {
  const streaming = method.methodKind !== "unary";
  const style = Math.floor(Math.random() * 3); // 0 Connect, 1 Connect JSON, 2 gRPC
  const binary = randomBytes(Math.floor(Math.random() * 200));
  let contentType: string;
  let body: Buffer;
  if (style === 2) {
    contentType = Math.random() < 0.5 ? "application/grpc" : "application/grpc+json";
    body = envelope(contentType.endsWith("json") ? malformedJson() : binary, Math.random() < 0.3);
  } else if (streaming) {
    contentType = style === 1 ? "application/connect+json" : "application/connect+proto";
    body = envelope(style === 1 ? malformedJson() : binary, Math.random() < 0.3);
  } else {
    contentType = style === 1 ? "application/json" : "application/proto";
    body = style === 1 ? malformedJson() : binary;
  }
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": `/${method.parent.typeName}/${method.name}`,
    "content-type": contentType,
    ...(style === 2 && { te: "trailers" }),
    ...(token !== undefined && { authorization: `Bearer ${token}` }),
  };
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks: Buffer[] = [];
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    const grpcMessageOf = (v: unknown) => {
      try {
        return decodeURIComponent(String(v));
      } catch {
        return String(v);
      }
    };
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      resolve({ kind: "open-stream" });
    }, STREAM_GRACE_MS);
    req.on("response", (h) => {
      status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) grpcMessage = grpcMessageOf(h["grpc-message"]);
    });
    req.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) grpcMessage = grpcMessageOf(h["grpc-message"]);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("end", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      if (grpcStatus !== undefined) {
        const code = grpcNames[Number(grpcStatus)] ?? `grpc-${grpcStatus}`;
        resolve(code === "ok" ? { kind: "ok" } : { kind: "code", code, message: grpcMessage });
      } else if (status >= 400) {
        let code = `http-${status}`;
        let message = "";
        try {
          const err = JSON.parse(all.toString()) as { code?: string; message?: string };
          code = err.code ?? code;
          message = err.message ?? "";
        } catch {
          // an HTTP-level refusal (e.g. 415 for a content type no protocol accepts)
        }
        resolve({ kind: "code", code, message });
      } else if (streaming || contentType.startsWith("application/connect+")) {
        const end = endStreamCode(all);
        resolve(
          end === undefined || end.code === "ok"
            ? { kind: "ok" }
            : { kind: "code", code: end.code, message: end.message },
        );
      } else {
        resolve({ kind: "ok" });
      }
    });
    req.end(body);
  });
}

it(`answers ${REQUESTS} malformed requests to every RPC with client errors and loses nothing`, async () => {
  const { t, owner, backend, tenantId } = target;
  const methods = (await generatedServices()).flatMap((s) => s.methods);
  expect(methods.length).toBeGreaterThan(50);
  const admin = t.adminToken;
  const tokens = [undefined, owner.token, admin, "not-a-token", "acbk_0000000000000000_x"];
  const sessions = [http2.connect(t.url), http2.connect(t.url)];
  const counts = new Map<string, number>();
  const bad: string[] = [];
  let next = 0;
  const worker = async (w: number) => {
    for (let i = next++; i < REQUESTS; i = next++) {
      const method = methods[i % methods.length] as DescMethod;
      const token = tokens[Math.floor(i / methods.length) % tokens.length];
      const outcome = await fire(sessions[w % 2] as http2.ClientHttp2Session, method, token);
      const key = outcome.kind === "code" ? outcome.code : outcome.kind;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const clientError =
        outcome.kind !== "code" || clientCodes.has(outcome.code) || /^http-4/.test(outcome.code);
      if (!clientError && bad.length < 20)
        bad.push(`${method.parent.typeName}/${method.name}: ${key}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  } finally {
    for (const s of sessions) s.close();
  }
  expect(bad, JSON.stringify(Object.fromEntries(counts))).toEqual([]);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  expect(total).toBe(REQUESTS);
  // Almost everything is refused; a random body that happens to decode may be accepted.
  expect((counts.get("ok") ?? 0) + (counts.get("open-stream") ?? 0)).toBeLessThan(REQUESTS / 10);

  // The hub is up and every acknowledged piece of data is as it was.
  await expectHubUpWithContexts(target, CONTEXTS);
  expect(await backend.messages.backlog(tenantId, "victim")).toBe(MESSAGES);
  expect(await backend.registry.count(tenantId)).toBe(2);
}, 120_000);
