// What a third-party client sees on the wire when it gets things wrong, or retries: settling a
// delivery twice, JSON with typos, role names as the docs spell them, unknown methods, wrong HTTP
// verbs and content types, oversized messages. Each answer is a code and a message in the caller's
// protocol (Connect JSON and proto, gRPC, gRPC-Web), and a bad request changes nothing.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import {
  MessageType,
  MessagingService,
  ReceiveResponse_Kind as ReceiveKind,
  SettleStatus,
} from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { Health } from "@acb/gen/grpc/health/v1/health_pb";
import {
  create,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { type Client, Code, createClient, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { expectCode } from "./security-harness.js";
import { type WireProtocol, wireProtocols, wireTransport } from "./wire-clients.js";

/** The hub's request limit in this file: small, so oversized requests stay cheap to build. */
const LIMIT = 256 * 1024;

let clock: ManualClock;
let hub: Hub;
let baseUrl: string;
let adminToken: string;

beforeAll(async () => {
  clock = new ManualClock();
  hub = await createHub({ clock, logger: silentLogger, limits: { maxRequestBytes: LIMIT } });
  baseUrl = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

const transport = (protocol: WireProtocol, token?: string): Transport =>
  wireTransport(baseUrl, protocol, { token });

async function newTenant(): Promise<string> {
  const tenantId = `t-${randomUUID().slice(0, 8)}`;
  await createClient(AdminService, transport("connect-json", adminToken)).createTenant({
    tenantId,
    tier: Tier.ENTERPRISE,
  });
  return tenantId;
}

async function tokenFor(tenantId: string, agentId: string): Promise<string> {
  const res = await createClient(AuthService, transport("connect-json", adminToken)).issueToken({
    tenantId,
    agentId,
    roles: [Role.AGENT_FULL],
  });
  return res.tokens?.accessToken ?? "";
}

/** A registered agent with clients over Connect JSON. */
async function agentIn(tenantId: string, agentId: string) {
  const token = await tokenFor(tenantId, agentId);
  const t = transport("connect-json", token);
  const registry = createClient(RegistryService, t);
  await registry.register({ agentId, type: "test" });
  return {
    token,
    messaging: createClient(MessagingService, t),
    contexts: createClient(ContextService, t),
  };
}

/** Opens bob's Receive stream and returns a reader of its deliveries (after READY). */
async function receiver(messaging: Client<typeof MessagingService>) {
  const ac = new AbortController();
  onTestFinished(() => ac.abort());
  const it = messaging.receive({}, { signal: ac.signal })[Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.value?.kind).toBe(ReceiveKind.READY);
  return async () => {
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error("stream ended");
      if (r.value.kind === ReceiveKind.DELIVERY && r.value.delivery) return r.value.delivery;
    }
  };
}

/** POSTs raw bytes over HTTP/1.1 and returns status, headers and the body text. */
async function post(path: string, contentType: string, body: BodyInit, token?: string) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
    },
    body,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("Ack and Nack are safe to retry", () => {
  it("a repeated Ack answers OK, a Nack after it STALE, and the message is not redelivered", async () => {
    const tenantId = await newTenant();
    const alice = await agentIn(tenantId, "alice");
    const bob = await agentIn(tenantId, "bob");
    const next = await receiver(bob.messaging);
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "greeting",
      payload: {},
    });
    const first = await next();
    const ids = [first.deliveryId];

    const acked = await bob.messaging.ack({ deliveryIds: ids });
    expect(acked.results.map((r) => r.status)).toEqual([SettleStatus.OK]);
    const again = await bob.messaging.ack({ deliveryIds: ids });
    expect(again.results.map((r) => r.status)).toEqual([SettleStatus.OK]);
    const nacked = await bob.messaging.nack({ deliveryIds: ids });
    expect(nacked.results.map((r) => r.status)).toEqual([SettleStatus.STALE]);

    // The stale Nack changed nothing: the next delivery is the next message, not a redelivery.
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "second",
      payload: {},
    });
    const second = await next();
    expect(second.message?.kind).toBe("second");
    expect(second.attempt).toBe(1);
  });

  it("a repeated Nack answers OK and an Ack after it STALE; the message comes back once", async () => {
    const tenantId = await newTenant();
    const alice = await agentIn(tenantId, "alice");
    const bob = await agentIn(tenantId, "bob");
    const next = await receiver(bob.messaging);
    await alice.messaging.send({
      target: { case: "recipientId", value: "bob" },
      kind: "job",
      payload: {},
    });
    const ids = [(await next()).deliveryId];

    expect((await bob.messaging.nack({ deliveryIds: ids })).results[0]?.status).toBe(
      SettleStatus.OK,
    );
    expect((await bob.messaging.nack({ deliveryIds: ids })).results[0]?.status).toBe(
      SettleStatus.OK,
    );
    expect((await bob.messaging.ack({ deliveryIds: ids })).results[0]?.status).toBe(
      SettleStatus.STALE,
    );
    const redelivered = await next();
    expect(redelivered.message?.kind).toBe("job");
    expect(redelivered.attempt).toBe(2);
  });
});

describe("Connect JSON is strict", () => {
  it("refuses an enum value that is not the enum's JSON name, naming the field, and sends nothing", async () => {
    const tenantId = await newTenant();
    const alice = await agentIn(tenantId, "alice");
    const bob = await agentIn(tenantId, "bob");
    const res = await post(
      "/acb.v1.MessagingService/Send",
      "application/json",
      JSON.stringify({ recipientId: "bob", kind: "answer", type: "RESPONSE", correlationId: "c" }),
      alice.token,
    );
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toBe(
      'request body is not a valid acb.v1.SendRequest: field "type": "RESPONSE" is not a value of ' +
        "acb.v1.MessageType (expected one of MESSAGE_TYPE_UNSPECIFIED, MESSAGE_TYPE_EVENT, " +
        "MESSAGE_TYPE_COMMAND, MESSAGE_TYPE_QUERY, MESSAGE_TYPE_RESPONSE)",
    );
    // The JSON name is accepted.
    const ok = await post(
      "/acb.v1.MessagingService/Send",
      "application/json",
      JSON.stringify({ recipientId: "bob", kind: "event", type: "MESSAGE_TYPE_EVENT" }),
      alice.token,
    );
    expect(ok.status, ok.text).toBe(200);
    // Only the accepted message is waiting for bob.
    const next = await receiver(bob.messaging);
    const d = await next();
    expect(d.message?.kind).toBe("event");
    expect(d.message?.type).toBe(MessageType.EVENT);
  });

  it("refuses a misspelled field in a server-streaming request over Connect streaming JSON", async () => {
    const tenantId = await newTenant();
    const alice = await agentIn(tenantId, "alice");
    const json = new TextEncoder().encode(JSON.stringify({ cursr: "" }));
    const envelope = new Uint8Array(5 + json.length);
    new DataView(envelope.buffer).setUint32(1, json.length);
    envelope.set(json, 5);
    const res = await fetch(`${baseUrl}/acb.v1.RegistryService/WatchAgents`, {
      method: "POST",
      headers: {
        "content-type": "application/connect+json",
        authorization: `Bearer ${alice.token}`,
      },
      body: envelope,
    });
    const body = new Uint8Array(await res.arrayBuffer());
    // One end-of-stream envelope (flag 2) carrying the error.
    expect(body[0]).toBe(2);
    const end = JSON.parse(new TextDecoder().decode(body.subarray(5))) as {
      error: { code: string; message: string };
    };
    expect(end.error.code).toBe("invalid_argument");
    expect(end.error.message).toContain('unknown field "cursr"');
  });

  it("refuses a misspelled field, naming it", async () => {
    const tenantId = await newTenant();
    const alice = await agentIn(tenantId, "alice");
    const res = await post(
      "/acb.v1.ContextService/CreateContext",
      "application/json",
      JSON.stringify({ type: "note", payload: {}, metadta: { a: "b" } }),
      alice.token,
    );
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toBe(
      'request body is not a valid acb.v1.CreateContextRequest: unknown field "metadta" ' +
        '(acb.v1.CreateContextRequest has no field "metadta")',
    );
    const listed = await alice.contexts.listContexts({});
    expect(listed.contexts).toEqual([]);
  });
});

describe("role names", () => {
  /** The role columns of the access table in docs/security.md, as the docs spell them. */
  function documentedRoles(): string[] {
    const doc = readFileSync(new URL("../../docs/security.md", import.meta.url), "utf8");
    const head = doc.split("\n").find((l) => l.startsWith("| RPC |")) ?? "";
    return head
      .split("|")
      .map((c) => c.trim())
      .filter((c) => c !== "" && c !== "RPC");
  }

  it("IssueToken over Connect JSON accepts each role exactly as docs/security.md spells it", async () => {
    const roles = documentedRoles();
    expect(roles).toHaveLength(5);
    const tenantId = await newTenant();
    for (const role of roles) {
      const res = await post(
        "/acb.v1.AuthService/IssueToken",
        "application/json",
        JSON.stringify({ tenantId, agentId: "a-1", roles: [role] }),
        adminToken,
      );
      expect(res.status, `${role}: ${res.text}`).toBe(200);
    }
  });

  it("docs/protocol.md and docs/security.md name only the roles the wire accepts", () => {
    const wire = new Set(documentedRoles());
    for (const file of ["protocol.md", "security.md"]) {
      const doc = readFileSync(new URL(`../../docs/${file}`, import.meta.url), "utf8");
      for (const m of doc.matchAll(/`(ROLE_[A-Z_]+|admin|agent-[a-z]+|observer)`/g)) {
        expect(wire.has(m[1] ?? ""), `${file} names role ${m[1]}`).toBe(true);
      }
    }
  });

  it("refuses another spelling with INVALID_ARGUMENT naming roles", async () => {
    const res = await post(
      "/acb.v1.AuthService/IssueToken",
      "application/json",
      JSON.stringify({ tenantId: "x", agentId: "a-1", roles: ["agent-full"] }),
      adminToken,
    );
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain('field "roles[0]": "agent-full" is not a value of acb.v1.Role');
  });
});

/** A method descriptor the hub does not serve: `name` of an existing or invented service. */
function missingMethod(serviceName: string, name: string): DescMethodUnary {
  const check = Health.method.check;
  const parent = { ...Health, typeName: serviceName } as DescService;
  return { ...check, name, parent } as DescMethodUnary;
}

describe("errors before a method runs, in the caller's protocol", () => {
  for (const protocol of wireProtocols) {
    it(`${protocol}: an unknown method or service is UNIMPLEMENTED naming it`, async () => {
      const t = transport(protocol);
      for (const [service, method, expected] of [
        [
          "acb.v1.MessagingService",
          "Sendd",
          /unknown method "Sendd" of service acb\.v1\.MessagingService/,
        ],
        ["acb.v1.Nope", "Call", /unknown service "acb\.v1\.Nope"/],
      ] as const) {
        const m = missingMethod(service, method);
        const err = await expectCode(
          t.unary(m, undefined, undefined, undefined, create(m.input)),
          Code.Unimplemented,
        );
        expect(err.rawMessage).toMatch(expected);
      }
    });
  }

  it("Connect: the unknown-method answer is HTTP 404 with a JSON error body", async () => {
    const res = await post("/acb.v1.Nope/Call", "application/json", "{}");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(res.text)).toEqual({
      code: "unimplemented",
      message:
        'unknown service "acb.v1.Nope" (request path "/acb.v1.Nope/Call"): this hub serves no such service',
    });
  });

  it("gRPC over HTTP/2: the unknown-method answer carries grpc-status 12", async () => {
    const session = http2.connect(baseUrl);
    onTestFinished(() => session.close());
    const stream = session.request({
      ":method": "POST",
      ":path": "/acb.v1.MessagingService/Sendd",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) =>
      stream.once("response", resolve),
    );
    stream.resume();
    expect(headers[":status"]).toBe(200);
    expect(headers["grpc-status"]).toBe(String(Code.Unimplemented));
    expect(decodeURIComponent(String(headers["grpc-message"]))).toContain('"Sendd"');
  });

  it("Connect: GET of a method that takes POST is 405 with a JSON error naming the method", async () => {
    const res = await fetch(`${baseUrl}/acb.v1.MessagingService/Send`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("unimplemented");
    expect(body.message).toBe("acb.v1.MessagingService/Send does not accept HTTP GET: use POST");
  });

  it("Connect: a content type no protocol speaks is 415 with a JSON error naming the method", async () => {
    const res = await post("/acb.v1.MessagingService/Send", "text/plain", "hello");
    expect(res.status).toBe(415);
    const body = JSON.parse(res.text) as { code: string; message: string };
    expect(body.code).toBe("unimplemented");
    expect(body.message).toMatch(
      /^acb\.v1\.MessagingService\/Send does not accept content type "text\/plain": use application\/json/,
    );
  });

  it("gRPC-Web: a codec no protocol speaks answers grpc-status 12 naming the method", async () => {
    const res = await post(
      "/acb.v1.MessagingService/Send",
      "application/grpc-web+xml",
      new Uint8Array([0, 0, 0, 0, 0]),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("grpc-status")).toBe(String(Code.Unimplemented));
    expect(decodeURIComponent(res.headers.get("grpc-message") ?? "")).toMatch(
      /^acb\.v1\.MessagingService\/Send does not accept content type "application\/grpc-web\+xml"/,
    );
  });

  it("Connect: a bidirectional stream over HTTP/1.1 is 505 with a JSON error naming the method", async () => {
    const res = await post(
      "/acb.v1.MessagingService/SendStream",
      "application/connect+json",
      new Uint8Array([0, 0, 0, 0, 2, 123, 125]),
    );
    expect(res.status).toBe(505);
    const body = JSON.parse(res.text) as { code: string; message: string };
    expect(body.message).toBe(
      "acb.v1.MessagingService/SendStream streams in both directions: call it over HTTP/2",
    );
  });

  for (const protocol of wireProtocols) {
    it(`${protocol}: a message over the limit is RESOURCE_EXHAUSTED stating the limit, and nothing is stored`, async () => {
      const tenantId = await newTenant();
      const token = await tokenFor(tenantId, "alice");
      const contexts = createClient(ContextService, transport(protocol, token));
      const big: MessageInitShape<typeof ContextService.method.createContext.input> = {
        type: "note",
        payload: { contentType: "text/plain", data: new Uint8Array(LIMIT + 1) },
      };
      const err = await expectCode(contexts.createContext(big), Code.ResourceExhausted);
      expect(err.rawMessage).toMatch(/larger than the hub accepts \(256 KiB per message\)/);
      expect(err.rawMessage).not.toContain("readMaxBytes");
      const listed = await createClient(
        ContextService,
        transport("connect-json", token),
      ).listContexts({});
      expect(listed.contexts).toEqual([]);
    });
  }
});
