// The hub over the wire: a real hub on a real port, real Connect, gRPC and gRPC-Web clients.
// Time moves only through the hub's ManualClock; streams are synchronised on their READY event,
// never on sleeps. Every test provisions its own tenant, so tests do not see each other's data.

import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { crc32 } from "node:zlib";
import { AdminService, Tier } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { ErrorInfoSchema } from "@acb/gen/acb/v1/common_pb";
import {
  SubscribeContextsResponse_Kind as ContextKind,
  ContextScope,
  ContextService,
} from "@acb/gen/acb/v1/contexts_pb";
import { ChunkCheck, LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import {
  WatchAgentsResponse_Kind as AgentKind,
  AgentStatus,
  RegistryService,
} from "@acb/gen/acb/v1/registry_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { ViolationsSchema } from "@acb/gen/buf/validate/validate_pb";
import {
  file_grpc_health_v1_health,
  Health,
  HealthCheckResponse_ServingStatus as Serving,
} from "@acb/gen/grpc/health/v1/health_pb";
import { file_grpc_reflection_v1_reflection } from "@acb/gen/grpc/reflection/v1/reflection_pb";
import { file_grpc_reflection_v1alpha_reflection } from "@acb/gen/grpc/reflection/v1alpha/reflection_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  create,
  type DescFile,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type DescService,
} from "@bufbuild/protobuf";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { accessTable } from "../src/auth/rbac-table.js";
import { ManualClock } from "../src/clock.js";
import { createHub, type Hub } from "../src/hub.js";
import { silentLogger } from "../src/logger.js";
import { expectCode } from "./security-harness.js";
import { type HttpVersion, wireTransport } from "./wire-clients.js";

/**
 * acb.v1 services the hub does not serve yet. Each must answer UNIMPLEMENTED for every method.
 * When one is implemented, move it out of this list (the RBAC test then requires its methods in
 * the access table).
 */
/** Services declared in proto/acb/v1 that the hub does not serve yet (every one is served now). */
const EXPECTED_UNIMPLEMENTED: string[] = [];

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const MiB = 1024 * 1024;

let clock: ManualClock;
let hub: Hub;
let baseUrl: string;
let adminToken: string;

beforeAll(async () => {
  clock = new ManualClock();
  hub = await createHub({ clock, logger: silentLogger });
  baseUrl = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

// ---------------------------------------------------------------------------------------------
// Harness

function headerInterceptor(value: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", value);
    return next(req);
  };
}

const connect = (token?: string, httpVersion: HttpVersion = "1.1", url = baseUrl): Transport =>
  wireTransport(url, "connect-json", { token, httpVersion });

interface Clients {
  registry: Client<typeof RegistryService>;
  contexts: Client<typeof ContextService>;
  auth: Client<typeof AuthService>;
  admin: Client<typeof AdminService>;
  info: Client<typeof ServerInfoService>;
  health: Client<typeof Health>;
}

function clientsOf(transport: Transport): Clients {
  return {
    registry: createClient(RegistryService, transport),
    contexts: createClient(ContextService, transport),
    auth: createClient(AuthService, transport),
    admin: createClient(AdminService, transport),
    info: createClient(ServerInfoService, transport),
    health: createClient(Health, transport),
  };
}

const clientsWith = (token?: string, httpVersion: HttpVersion = "1.1") =>
  clientsOf(connect(token, httpVersion));

const freshTenantId = () => `t-${randomUUID().slice(0, 8)}`;

/** Provisions a tenant (ENTERPRISE: no agent quota) through AdminService. */
async function newTenant(
  settings?: MessageInitShape<typeof AdminService.method.createTenant.input>["settings"],
) {
  const tenantId = freshTenantId();
  const res = await clientsWith(adminToken).admin.createTenant({
    tenantId,
    tier: Tier.ENTERPRISE,
    ...(settings && { settings }),
  });
  expect(res.tenant?.id).toBe(tenantId);
  return tenantId;
}

interface Agent extends Clients {
  id: string;
  token: string;
  refreshToken: string;
}

/** Issues tokens for `agentId` in `tenantId` and returns clients that use them. */
async function agentIn(
  tenantId: string,
  agentId: string,
  roles: Role[] = [Role.AGENT_FULL],
  httpVersion: HttpVersion = "1.1",
  groups: string[] = [],
): Promise<Agent> {
  const res = await clientsWith(adminToken).auth.issueToken({ tenantId, agentId, roles, groups });
  const token = res.tokens?.accessToken ?? "";
  expect(token).not.toBe("");
  return {
    id: agentId,
    token,
    refreshToken: res.tokens?.refreshToken ?? "",
    ...clientsWith(token, httpVersion),
  };
}

const text = (s: string) => new TextEncoder().encode(s);
const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
const payload = (s: string) => ({ contentType: "text/plain", data: text(s) });

interface Stream<T> {
  /** The READY event the stream opened with. */
  ready: T;
  /** The next event (the test timeout bounds the wait). */
  next(): Promise<T>;
  close(): void;
}

/**
 * Opens a server stream, waits for its first event and checks it is READY: from then on the
 * subscription is live, so changes the test causes afterwards are guaranteed to be delivered.
 */
async function openStream<T extends { kind: number }>(
  start: (signal: AbortSignal) => AsyncIterable<T>,
  readyKind: number,
): Promise<Stream<T>> {
  const ac = new AbortController();
  const iterator = start(ac.signal)[Symbol.asyncIterator]();
  let pending: Promise<unknown> | undefined;
  const close = () => {
    // A read still pending when the stream is cancelled rejects; that is expected then.
    pending?.catch(() => {});
    ac.abort();
  };
  onTestFinished(close);
  const next = async () => {
    const p = iterator.next();
    pending = p;
    const r = await p;
    pending = undefined;
    if (r.done) throw new Error("stream ended");
    return r.value;
  };
  const ready = await next();
  expect(ready.kind).toBe(readyKind);
  return { ready, next, close };
}

const watchAgents = (c: Clients, cursor = "") =>
  openStream((signal) => c.registry.watchAgents({ cursor }, { signal }), AgentKind.READY);

const subscribeContexts = (
  c: Clients,
  req: MessageInitShape<typeof ContextService.method.subscribeContexts.input> = {},
) => openStream((signal) => c.contexts.subscribeContexts(req, { signal }), ContextKind.READY);

// ---------------------------------------------------------------------------------------------
// Service inventory: what gen describes, what the proto files declare, what the hub serves.

/** Every service in the generated acb.v1 files (found by listing gen/src/acb/v1). */
async function generatedServices(): Promise<DescService[]> {
  const dir = join(repoRoot, "gen/src/acb/v1");
  const services: DescService[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith("_pb.ts"))) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (name.startsWith("file_acb_v1_")) services.push(...(value as DescFile).services);
    }
  }
  return services;
}

/** Services and their RPC names as declared in proto/acb/v1 (the source of truth for gen). */
function protoServices(): Map<string, string[]> {
  const dir = join(repoRoot, "proto/acb/v1");
  const out = new Map<string, string[]>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".proto"))) {
    const source = readFileSync(join(dir, file), "utf8");
    for (const m of source.matchAll(/^service\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
      const rpcs = [...(m[2] ?? "").matchAll(/^\s*rpc\s+(\w+)\s*\(/gm)].map((r) => r[1] ?? "");
      out.set(`acb.v1.${m[1]}`, rpcs);
    }
  }
  return out;
}

/** Services the hub serves, as it reports them through grpc.health.v1.Health/List. */
async function servedServices(): Promise<Set<string>> {
  const { statuses } = await clientsWith().health.list({});
  const served = new Set(Object.keys(statuses).filter((s) => s !== ""));
  served.add(Health.typeName);
  return served;
}

async function* once<T>(value: T): AsyncIterable<T> {
  yield value;
}

/**
 * Calls any method with an empty request. Returns undefined on success (for server streams: once
 * the first response arrived, then the stream is cancelled), or the error.
 */
async function callEmpty(
  transport: Transport,
  method: DescMethod,
): Promise<ConnectError | undefined> {
  const ac = new AbortController();
  try {
    if (method.methodKind === "unary") {
      // DescMethod's methodKind is not a discriminant TypeScript narrows on: assert the kind.
      const unary = method as DescMethodUnary;
      await transport.unary(unary, ac.signal, undefined, undefined, create(unary.input));
      return undefined;
    }
    const streaming = method as DescMethodStreaming;
    const input = once(create(streaming.input));
    const res = await transport.stream(streaming, ac.signal, undefined, undefined, input);
    for await (const _ of res.message) break;
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  } finally {
    ac.abort();
  }
}

const allRoles = [
  Role.ADMIN,
  Role.AGENT_PRODUCER,
  Role.AGENT_CONSUMER,
  Role.AGENT_FULL,
  Role.OBSERVER,
];

/** Generated descriptors of every service the hub routes: served ones and expected-unimplemented. */
async function routedServices(): Promise<{ services: DescService[]; served: Set<string> }> {
  const served = await servedServices();
  const all = [
    ...(await generatedServices()),
    ...file_grpc_health_v1_health.services,
    ...file_grpc_reflection_v1_reflection.services,
    ...file_grpc_reflection_v1alpha_reflection.services,
  ];
  const services = all.filter(
    (s) => served.has(s.typeName) || EXPECTED_UNIMPLEMENTED.includes(s.typeName),
  );
  return { services, served };
}

describe("service inventory and the RBAC access table", () => {
  it("lists every method of every routed service, and nothing else", async () => {
    const { services, served } = await routedServices();
    // The hub serves registry, contexts, auth, admin, server info and health today.
    for (const name of [
      "acb.v1.RegistryService",
      "acb.v1.ContextService",
      "acb.v1.AuthService",
      "acb.v1.AdminService",
      "acb.v1.ServerInfoService",
      "grpc.health.v1.Health",
    ]) {
      expect(served, name).toContain(name);
    }
    const routed = new Set(services.map((s) => s.typeName));
    for (const name of served)
      expect(routed, `served service ${name} has generated code`).toContain(name);
    const methods = services.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`));
    expect(methods.length).toBeGreaterThan(50);
    expect(
      methods.filter((key) => accessTable[key] === undefined),
      "RPCs missing from the access table",
    ).toEqual([]);
    // Every entry names a real RPC (a typo would leave the real one unlisted, hence refused).
    const known = new Set(methods);
    expect(Object.keys(accessTable).filter((k) => !known.has(k))).toEqual([]);
  });

  it("accounts for every acb.v1 service: generated from proto, and served or expected-unimplemented", async () => {
    const served = await servedServices();
    const declared = protoServices();
    const generated = await generatedServices();
    expect(declared.size).toBeGreaterThan(0);
    // gen is in step with proto/acb/v1: the same services with the same RPCs.
    expect(generated.map((s) => s.typeName).sort()).toEqual([...declared.keys()].sort());
    for (const s of generated) {
      expect(
        s.methods.map((m) => m.name),
        s.typeName,
      ).toEqual(declared.get(s.typeName));
    }
    for (const name of EXPECTED_UNIMPLEMENTED) {
      expect(declared.has(name), `${name} is declared in proto/acb/v1`).toBe(true);
      expect(served.has(name), `${name} is served now: remove it from EXPECTED_UNIMPLEMENTED`).toBe(
        false,
      );
    }
    const unaccounted = generated
      .map((s) => s.typeName)
      .filter((name) => !served.has(name) && !EXPECTED_UNIMPLEMENTED.includes(name));
    expect(unaccounted).toEqual([]);
  });

  it("enforces the table for every routed RPC and every role", async () => {
    const tenantId = await newTenant();
    const { services } = await routedServices();
    const anonymous = connect();
    const byRole = new Map<Role, Transport>();
    // Bidirectional streams need HTTP/2; everything else is called over HTTP/1.1.
    const byRoleH2 = new Map<Role, Transport>();
    const anonymousH2 = connect(undefined, "2");
    for (const role of allRoles) {
      const { token } = await agentIn(tenantId, `role-${role}`, [role]);
      byRole.set(role, connect(token));
      byRoleH2.set(role, connect(token, "2"));
    }

    const wrong: string[] = [];
    for (const service of services) {
      const unimplemented = EXPECTED_UNIMPLEMENTED.includes(service.typeName);
      for (const method of service.methods) {
        const key = `${service.typeName}/${method.name}`;
        const access = accessTable[key];
        const bidi = method.methodKind === "bidi_streaming";
        const anon = await callEmpty(bidi ? anonymousH2 : anonymous, method);
        if (access === "anonymous") {
          if (anon?.code === Code.Unauthenticated) wrong.push(`${key}: anonymous refused`);
        } else if (anon?.code !== Code.Unauthenticated) {
          wrong.push(`${key}: anonymous got ${anon ? Code[anon.code] : "OK"}`);
        }
        for (const role of allRoles) {
          const err = await callEmpty((bidi ? byRoleH2 : byRole).get(role) as Transport, method);
          const got = err ? Code[err.code] : "OK";
          const allowed =
            access === "anonymous" || access === "authenticated" || access?.includes(role);
          if (!allowed) {
            if (err?.code !== Code.PermissionDenied) wrong.push(`${key}: ${Role[role]} got ${got}`);
            continue;
          }
          if (unimplemented) {
            if (err?.code !== Code.Unimplemented) wrong.push(`${key}: ${Role[role]} got ${got}`);
            continue;
          }
          // A role refusal comes from the interceptor; handlers may refuse for their own reasons.
          if (err?.code === Code.Unauthenticated)
            wrong.push(`${key}: ${Role[role]} unauthenticated`);
          if (err?.code === Code.PermissionDenied && /needs one of the roles/.test(err.message)) {
            wrong.push(`${key}: ${Role[role]} refused by the table`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("authentication", () => {
  it("refuses a call without a credential", async () => {
    const err = await expectCode(clientsWith().auth.whoAmI({}), Code.Unauthenticated);
    expect(err.message).toMatch(/missing credential/);
    await expectCode(clientsWith().registry.listAgents({}), Code.Unauthenticated);
  });

  it("refuses malformed Authorization headers and tokens that are not JWTs", async () => {
    for (const header of ["Bearer", "Basic dXNlcjpwdw==", "Bearer a b", "token-without-scheme"]) {
      const c = clientsOf(
        wireTransport(baseUrl, "connect-json", { interceptors: [headerInterceptor(header)] }),
      );
      await expectCode(c.auth.whoAmI({}), Code.Unauthenticated);
    }
    await expectCode(clientsWith("not-a-jwt").auth.whoAmI({}), Code.Unauthenticated);
    // A real token with its signature altered.
    const forged = `${adminToken.slice(0, -4)}AAAA`;
    await expectCode(clientsWith(forged).auth.whoAmI({}), Code.Unauthenticated);
  });

  it("refuses tokens signed by another hub, even for a tenant with the same id", async () => {
    const tenantId = await newTenant();
    const other = await createHub({ clock: new ManualClock(), logger: silentLogger });
    onTestFinished(() => other.close());
    const otherUrl = (await other.listen({ host: "127.0.0.1", port: 0 })).url;
    const otherAdmin = await other.issueAdminToken();
    const otherAdminClients = clientsOf(connect(otherAdmin, "1.1", otherUrl));
    await otherAdminClients.admin.createTenant({ tenantId });
    const issued = await otherAdminClients.auth.issueToken({
      tenantId,
      agentId: "a-1",
      roles: [Role.AGENT_FULL],
    });
    const foreign = issued.tokens?.accessToken ?? "";
    // The token works where it was issued...
    expect((await clientsOf(connect(foreign, "1.1", otherUrl)).auth.whoAmI({})).agentId).toBe(
      "a-1",
    );
    // ...and nowhere else.
    await expectCode(clientsWith(foreign).auth.whoAmI({}), Code.Unauthenticated);
    await expectCode(clientsWith(foreign).registry.listAgents({}), Code.Unauthenticated);
    await expectCode(clientsWith(otherAdmin).admin.listTenants({}), Code.Unauthenticated);
  });

  it("refuses an expired access token", async () => {
    const tenantId = await newTenant();
    const res = await clientsWith(adminToken).auth.issueToken({
      tenantId,
      agentId: "short-lived",
      roles: [Role.AGENT_FULL],
      accessTokenTtl: { seconds: 60n },
    });
    const c = clientsWith(res.tokens?.accessToken);
    expect((await c.auth.whoAmI({})).agentId).toBe("short-lived");
    clock.advance(61_000);
    const err = await expectCode(c.auth.whoAmI({}), Code.Unauthenticated);
    expect(err.message).toMatch(/expired/);
  });

  it("WhoAmI describes the credential", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "who", [Role.AGENT_PRODUCER, Role.OBSERVER]);
    const me = await a.auth.whoAmI({});
    expect(me.tenantId).toBe(tenantId);
    expect(me.agentId).toBe("who");
    expect([...me.roles].sort()).toEqual([Role.AGENT_PRODUCER, Role.OBSERVER]);
    expect(me.credentialKind).toBe("jwt");
    expect(me.expiresAt).toBeDefined();
  });

  it("rotates refresh tokens; reusing one revokes the whole family", async () => {
    const tenantId = await newTenant();
    const first = await agentIn(tenantId, "rotator");
    const anon = clientsWith();
    const rotated = await anon.auth.refreshToken({ refreshToken: first.refreshToken });
    const second = rotated.tokens;
    expect(second?.refreshToken).toBeTruthy();
    expect(second?.refreshToken).not.toBe(first.refreshToken);
    expect((await clientsWith(second?.accessToken).auth.whoAmI({})).agentId).toBe("rotator");

    // The used token presented again: refused, and the family (including the rotated token) dies.
    const reuse = await expectCode(
      anon.auth.refreshToken({ refreshToken: first.refreshToken }),
      Code.Unauthenticated,
    );
    expect(reuse.message).toMatch(/already used/);
    await expectCode(
      anon.auth.refreshToken({ refreshToken: second?.refreshToken ?? "" }),
      Code.Unauthenticated,
    );
    await expectCode(
      anon.auth.refreshToken({ refreshToken: "acbr_unknown" }),
      Code.Unauthenticated,
    );
  });

  it("RevokeToken kills the family of a refresh token", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "revoker");
    await a.auth.revokeToken({ refreshToken: a.refreshToken });
    await expectCode(
      clientsWith().auth.refreshToken({ refreshToken: a.refreshToken }),
      Code.Unauthenticated,
    );
  });
});

describe("authorization", () => {
  it("refuses CreateContext to consumers and observers", async () => {
    const tenantId = await newTenant();
    for (const role of [Role.AGENT_CONSUMER, Role.OBSERVER]) {
      const a = await agentIn(tenantId, `reader-${role}`, [role]);
      await expectCode(
        a.contexts.createContext({ type: "note", payload: payload("x") }),
        Code.PermissionDenied,
      );
    }
    // A producer may.
    const p = await agentIn(tenantId, "producer", [Role.AGENT_PRODUCER]);
    const created = await p.contexts.createContext({ type: "note", payload: payload("x") });
    expect(created.context?.revision).toBe(1n);
  });

  it("refuses registering another agent's id", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "alice");
    const err = await expectCode(
      a.registry.register({ agentId: "bob", type: "ml" }),
      Code.PermissionDenied,
    );
    expect(err.message).toMatch(/alice/);
    await expectCode(a.registry.getAgent({ agentId: "bob" }), Code.NotFound);
    // A tenant admin may register on an agent's behalf.
    const admin = await agentIn(tenantId, "ops", [Role.ADMIN]);
    expect((await admin.registry.register({ agentId: "bob", type: "ml" })).agent?.id).toBe("bob");
  });

  it("keeps a platform admin out of tenant-scoped RPCs", async () => {
    await expectCode(clientsWith(adminToken).registry.listAgents({}), Code.PermissionDenied);
    await expectCode(clientsWith(adminToken).contexts.listContexts({}), Code.PermissionDenied);
  });
});

describe("registry", () => {
  it("publishes an agent's end-to-end public keys, replaced by the next registration", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "keyed");
    const x = { keyId: "k1", kemId: 32, publicKey: new Uint8Array(32).fill(1) };
    const p = { keyId: "k0", kemId: 16, publicKey: new Uint8Array(65).fill(4) };
    const reg = await a.registry.register({ agentId: "keyed", type: "ml", publicKeys: [x, p] });
    expect(reg.agent?.publicKeys.map((k) => k.keyId)).toEqual(["k1", "k0"]);
    const got = await a.registry.getAgent({ agentId: "keyed" });
    expect(got.agent?.publicKeys[0]?.publicKey).toEqual(x.publicKey);
    expect(got.agent?.publicKeys[1]?.kemId).toBe(16);
    // Bad keys are refused and change nothing.
    for (const publicKeys of [
      [x, x],
      [{ ...x, publicKey: new Uint8Array(33) }],
      [{ ...x, kemId: 17 }],
    ]) {
      await expectCode(
        a.registry.register({ agentId: "keyed", type: "ml", takeOver: true, publicKeys }),
        Code.InvalidArgument,
      );
    }
    expect((await a.registry.getAgent({ agentId: "keyed" })).agent?.publicKeys).toHaveLength(2);
    const again = await a.registry.register({ agentId: "keyed", type: "ml", takeOver: true });
    expect(again.agent?.publicKeys).toEqual([]);
  });

  it("refuses a second online registration unless take_over is set", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "dup");
    const first = await a.registry.register({ agentId: "dup", type: "ml" });
    expect(first.agent?.status).toBe(AgentStatus.ONLINE);
    const err = await expectCode(
      a.registry.register({ agentId: "dup", type: "ml" }),
      Code.AlreadyExists,
    );
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("AGENT_ONLINE");
    const second = await a.registry.register({ agentId: "dup", type: "ml", takeOver: true });
    expect(second.agent?.sessionId).toBeTruthy();
    expect(second.agent?.sessionId).not.toBe(first.agent?.sessionId);
    expect(second.agent?.createdAt).toEqual(first.agent?.createdAt);
  });

  it("refuses a heartbeat from a replaced session", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "hb");
    const old = await a.registry.register({ agentId: "hb", type: "ml" });
    const current = await a.registry.register({ agentId: "hb", type: "ml", takeOver: true });
    const ok = await a.registry.heartbeat({
      agentId: "hb",
      sessionId: current.agent?.sessionId ?? "",
    });
    expect(ok.status).toBe(AgentStatus.ONLINE);
    const err = await expectCode(
      a.registry.heartbeat({ agentId: "hb", sessionId: old.agent?.sessionId ?? "" }),
      Code.FailedPrecondition,
    );
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("SESSION_REPLACED");
    await expectCode(a.registry.heartbeat({ agentId: "hb-unknown" }), Code.PermissionDenied);
  });

  it("answers INVALID_ARGUMENT with a Violations detail naming agent_id for an empty id", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "v");
    const err = await expectCode(
      a.registry.register({ agentId: "", type: "ml" }),
      Code.InvalidArgument,
    );
    const [violations] = err.findDetails(ViolationsSchema);
    const fields = violations?.violations.map((v) =>
      v.field?.elements.map((e) => e.fieldName).join("."),
    );
    expect(fields).toContain("agent_id");
    expect(err.message).toMatch(/agent_id/);
  });

  it("reports an agent OFFLINE after its presence timeout, and WatchAgents tells", async () => {
    const tenantId = await newTenant({
      presenceTimeout: { seconds: 5n },
      heartbeatInterval: { seconds: 1n },
    });
    const a = await agentIn(tenantId, "sleepy");
    const watcher = await agentIn(tenantId, "watcher", [Role.OBSERVER]);
    const watch = await watchAgents(watcher);

    const reg = await a.registry.register({ agentId: "sleepy", type: "ml" });
    expect(reg.presenceTimeout?.seconds).toBe(5n);
    const registered = await watch.next();
    expect(registered.kind).toBe(AgentKind.REGISTERED);
    expect(registered.agent?.id).toBe("sleepy");
    expect(registered.agent?.status).toBe(AgentStatus.ONLINE);

    clock.advance(4_999);
    expect((await watcher.registry.getAgent({ agentId: "sleepy" })).agent?.status).toBe(
      AgentStatus.ONLINE,
    );
    clock.advance(1);
    expect((await watcher.registry.getAgent({ agentId: "sleepy" })).agent?.status).toBe(
      AgentStatus.OFFLINE,
    );
    const offline = await watch.next();
    expect(offline.kind).toBe(AgentKind.STATUS_CHANGED);
    expect(offline.agent?.id).toBe("sleepy");
    expect(offline.agent?.status).toBe(AgentStatus.OFFLINE);

    // Listing by status agrees, and a heartbeat brings it back (and is announced).
    const offlineList = await watcher.registry.listAgents({ status: AgentStatus.OFFLINE });
    expect(offlineList.agents.map((x) => x.id)).toEqual(["sleepy"]);
    await a.registry.heartbeat({ agentId: "sleepy", sessionId: reg.agent?.sessionId ?? "" });
    const online = await watch.next();
    expect(online.kind).toBe(AgentKind.STATUS_CHANGED);
    expect(online.agent?.status).toBe(AgentStatus.ONLINE);

    await a.registry.unregister({ agentId: "sleepy" });
    expect((await watch.next()).kind).toBe(AgentKind.UNREGISTERED);
    await expectCode(watcher.registry.getAgent({ agentId: "sleepy" }), Code.NotFound);
  });

  it("resumes WatchAgents from a cursor without losing events", async () => {
    const tenantId = await newTenant();
    const admin = await agentIn(tenantId, "ops", [Role.ADMIN]);
    const first = await watchAgents(admin);
    await admin.registry.register({ agentId: "w1", type: "ml" });
    const e1 = await first.next();
    first.close();
    // Changes while nobody watches...
    await admin.registry.register({ agentId: "w2", type: "ml" });
    await admin.registry.register({ agentId: "w3", type: "ml" });
    // ...are replayed before READY to a watcher resuming from the last cursor it saw.
    const ac = new AbortController();
    onTestFinished(() => ac.abort());
    const seen: string[] = [];
    for await (const e of admin.registry.watchAgents(
      { cursor: e1.cursor },
      { signal: ac.signal },
    )) {
      if (e.kind === AgentKind.READY) break;
      seen.push(e.agent?.id ?? "");
    }
    expect(seen).toEqual(["w2", "w3"]);
    ac.abort();
    await expectCode(
      (async () => {
        for await (const _ of admin.registry.watchAgents({ cursor: "c1.other-epoch.1" })) break;
      })(),
      Code.FailedPrecondition,
    );
  });

  it("discovers agents by capability, type, location prefix and metadata", async () => {
    const tenantId = await newTenant();
    const admin = await agentIn(tenantId, "ops", [Role.ADMIN]);
    const agents = [
      {
        agentId: "cam-1",
        type: "vision",
        location: "eu/west/plant-1",
        capabilities: ["detect", "track"],
        metadata: { line: "a" },
      },
      {
        agentId: "cam-2",
        type: "vision",
        location: "eu/north",
        capabilities: ["detect"],
        metadata: { line: "b" },
      },
      {
        agentId: "bot-1",
        type: "chatbot",
        location: "us/east",
        capabilities: ["chat"],
        metadata: { line: "a" },
      },
      {
        agentId: "rpa-1",
        type: "rpa",
        location: "europe/x",
        capabilities: ["detect"],
        metadata: {},
      },
    ];
    for (const a of agents) await admin.registry.register(a);
    const ids = async (req: MessageInitShape<typeof RegistryService.method.discover.input>) =>
      (await admin.registry.discover(req)).agents.map((a) => a.id);

    expect(await ids({ capabilities: ["detect"] })).toEqual(["cam-1", "cam-2", "rpa-1"]);
    expect(await ids({ capabilities: ["detect", "track"] })).toEqual(["cam-1"]);
    expect(await ids({ type: "vision" })).toEqual(["cam-1", "cam-2"]);
    expect(await ids({ location: "eu/" })).toEqual(["cam-1", "cam-2"]);
    expect(await ids({ location: "eu/north" })).toEqual(["cam-2"]);
    expect(await ids({ metadata: { line: "a" } })).toEqual(["bot-1", "cam-1"]);
    expect(
      await ids({ capabilities: ["detect"], metadata: { line: "a" }, location: "eu/" }),
    ).toEqual(["cam-1"]);
    expect(await ids({ type: "vision", status: AgentStatus.OFFLINE })).toEqual([]);
    expect(await ids({ type: "vision", status: AgentStatus.ONLINE })).toEqual(["cam-1", "cam-2"]);
    const found = (await admin.registry.discover({ type: "chatbot" })).agents[0];
    expect(found?.location).toBe("us/east");
    expect(found?.tenantId).toBe(tenantId);
  });

  it("pages ListAgents across three pages", async () => {
    const tenantId = await newTenant();
    const admin = await agentIn(tenantId, "ops", [Role.ADMIN]);
    const ids = ["a-7", "a-3", "a-1", "a-5", "a-2", "a-6", "a-4"];
    for (const agentId of ids) await admin.registry.register({ agentId, type: "ml" });
    const pages: string[][] = [];
    let token = "";
    do {
      const res = await admin.registry.listAgents({ pageSize: 3, pageToken: token });
      pages.push(res.agents.map((a) => a.id));
      token = res.nextPageToken;
    } while (token !== "" && pages.length < 10);
    expect(pages).toEqual([["a-1", "a-2", "a-3"], ["a-4", "a-5", "a-6"], ["a-7"]]);
    await expectCode(admin.registry.listAgents({ pageToken: "garbage!" }), Code.InvalidArgument);
  });
});

describe("contexts", () => {
  it("creates, reads, updates with compare-and-set and deletes", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "writer");
    const created = await a.contexts.createContext({
      contextId: "plan",
      type: "plan",
      payload: payload("v1"),
      metadata: { env: "prod" },
    });
    expect(created.context?.revision).toBe(1n);
    expect(created.context?.ownerId).toBe("writer");
    expect(created.context?.sha256).toEqual(sha256(text("v1")));
    expect(created.context?.access?.scope).toBe(ContextScope.PUBLIC);
    await expectCode(
      a.contexts.createContext({ contextId: "plan", type: "plan", payload: payload("x") }),
      Code.AlreadyExists,
    );

    const updated = await a.contexts.updateContext({
      contextId: "plan",
      expectedRevision: 1n,
      payload: payload("v2"),
    });
    expect(updated.context?.revision).toBe(2n);
    expect(new TextDecoder().decode(updated.context?.payload?.data)).toBe("v2");
    expect(updated.context?.metadata).toEqual({ env: "prod" });

    const stale = await expectCode(
      a.contexts.updateContext({
        contextId: "plan",
        expectedRevision: 1n,
        payload: payload("lost"),
      }),
      Code.Aborted,
    );
    const [info] = stale.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("REVISION_MISMATCH");
    expect(info?.metadata["current_revision"]).toBe("2");
    expect(
      new TextDecoder().decode(
        (await a.contexts.getContext({ contextId: "plan" })).context?.payload?.data,
      ),
    ).toBe("v2");

    // Unconditional update (expected_revision 0) always applies.
    expect(
      (await a.contexts.updateContext({ contextId: "plan", payload: payload("v3") })).context
        ?.revision,
    ).toBe(3n);

    const staleDelete = await expectCode(
      a.contexts.deleteContext({ contextId: "plan", expectedRevision: 2n }),
      Code.Aborted,
    );
    expect(staleDelete.findDetails(ErrorInfoSchema)[0]?.reason).toBe("REVISION_MISMATCH");
    await a.contexts.deleteContext({ contextId: "plan", expectedRevision: 3n });
    await expectCode(a.contexts.getContext({ contextId: "plan" }), Code.NotFound);
  });

  it("answers NOT_FOUND for an unknown context", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "reader");
    await expectCode(a.contexts.getContext({ contextId: "nope" }), Code.NotFound);
    await expectCode(
      a.contexts.updateContext({ contextId: "nope", payload: payload("x") }),
      Code.NotFound,
    );
    await expectCode(a.contexts.deleteContext({ contextId: "nope" }), Code.NotFound);
  });

  it("refuses a payload of 1 MiB + 1 byte as INVALID_ARGUMENT, and accepts exactly 1 MiB", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "big");
    const err = await expectCode(
      a.contexts.createContext({ type: "blob", payload: { data: new Uint8Array(MiB + 1) } }),
      Code.InvalidArgument,
    );
    expect(err.findDetails(ViolationsSchema)).toHaveLength(1);
    const ok = await a.contexts.createContext({
      type: "blob",
      payload: { data: new Uint8Array(MiB) },
    });
    expect(ok.context?.size).toBe(BigInt(MiB));
  });

  it("refuses a request over 8 MiB as RESOURCE_EXHAUSTED, over HTTP/1.1 and HTTP/2", async () => {
    const tenantId = await newTenant();
    for (const version of ["1.1", "2"] as const) {
      const a = await agentIn(
        tenantId,
        `huge-${version.replace(".", "")}`,
        [Role.AGENT_FULL],
        version,
      );
      await expectCode(
        a.contexts.createContext({ type: "blob", payload: { data: new Uint8Array(8 * MiB + 1) } }),
        Code.ResourceExhausted,
      );
      // The connection (or a new one) still serves the next call.
      expect((await a.auth.whoAmI({})).agentId).toBe(a.id);
    }
    const list = await (await agentIn(tenantId, "lister")).contexts.listContexts({});
    expect(list.contexts).toEqual([]);
  });

  it("answers DATA_LOSS for a wrong sha256 and stores nothing", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "checker");
    const err = await expectCode(
      a.contexts.createContext({
        contextId: "c",
        type: "note",
        payload: payload("real"),
        sha256: sha256(text("other")),
      }),
      Code.DataLoss,
    );
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("CHECKSUM_MISMATCH");
    await expectCode(a.contexts.getContext({ contextId: "c" }), Code.NotFound);
    // The right checksum is accepted, and an update is checked the same way.
    await a.contexts.createContext({
      contextId: "c",
      type: "note",
      payload: payload("real"),
      sha256: sha256(text("real")),
    });
    await expectCode(
      a.contexts.updateContext({
        contextId: "c",
        payload: payload("new"),
        sha256: sha256(text("old")),
      }),
      Code.DataLoss,
    );
    expect((await a.contexts.getContext({ contextId: "c" })).context?.revision).toBe(1n);
  });

  it("hides a PRIVATE context from other agents for get, update, delete, list and subscribe", async () => {
    const tenantId = await newTenant();
    const owner = await agentIn(tenantId, "owner");
    const other = await agentIn(tenantId, "other");
    const sub = await subscribeContexts(other);
    await owner.contexts.createContext({
      contextId: "secret",
      type: "note",
      payload: payload("s"),
      access: { scope: ContextScope.PRIVATE },
    });
    expect((await owner.contexts.getContext({ contextId: "secret" })).context?.id).toBe("secret");
    await expectCode(other.contexts.getContext({ contextId: "secret" }), Code.NotFound);
    await expectCode(
      other.contexts.updateContext({ contextId: "secret", payload: payload("x") }),
      Code.NotFound,
    );
    await expectCode(other.contexts.deleteContext({ contextId: "secret" }), Code.NotFound);
    expect((await other.contexts.listContexts({})).contexts).toEqual([]);
    expect((await owner.contexts.listContexts({})).contexts.map((c) => c.id)).toEqual(["secret"]);
    // The subscriber's next event is the public marker, not the private context.
    await owner.contexts.createContext({
      contextId: "marker",
      type: "note",
      payload: payload("m"),
    });
    const e = await sub.next();
    expect(e.kind).toBe(ContextKind.CREATED);
    expect(e.context?.id).toBe("marker");
  });

  it("shows SHARED and GROUP contexts only to the listed agents and groups", async () => {
    const tenantId = await newTenant();
    const owner = await agentIn(tenantId, "owner");
    const friend = await agentIn(tenantId, "friend");
    // Group membership is granted by the credential.
    const member = await agentIn(tenantId, "member", undefined, undefined, ["team-a"]);
    const stranger = await agentIn(tenantId, "stranger", undefined, undefined, ["team-b"]);
    await member.registry.register({ agentId: "member", type: "ml", groups: ["team-a"] });
    await stranger.registry.register({ agentId: "stranger", type: "ml", groups: ["team-b"] });
    await owner.contexts.createContext({
      contextId: "shared",
      type: "note",
      payload: payload("s"),
      access: { scope: ContextScope.SHARED, allowedIds: ["friend"] },
    });
    await owner.contexts.createContext({
      contextId: "group",
      type: "note",
      payload: payload("g"),
      access: { scope: ContextScope.GROUP, allowedIds: ["team-a"] },
    });
    const visible = async (a: Agent) =>
      (await a.contexts.listContexts({})).contexts.map((c) => c.id);
    expect(await visible(owner)).toEqual(["group", "shared"]);
    expect(await visible(friend)).toEqual(["shared"]);
    expect(await visible(member)).toEqual(["group"]);
    expect(await visible(stranger)).toEqual([]);

    expect((await friend.contexts.getContext({ contextId: "shared" })).context?.id).toBe("shared");
    await expectCode(friend.contexts.getContext({ contextId: "group" }), Code.NotFound);
    expect((await member.contexts.getContext({ contextId: "group" })).context?.id).toBe("group");
    await expectCode(member.contexts.getContext({ contextId: "shared" }), Code.NotFound);
    await expectCode(stranger.contexts.getContext({ contextId: "shared" }), Code.NotFound);
    await expectCode(stranger.contexts.getContext({ contextId: "group" }), Code.NotFound);
    await expectCode(
      stranger.contexts.updateContext({ contextId: "group", payload: payload("x") }),
      Code.NotFound,
    );

    // A reader that is not the owner may update the value, but not delete or change access.
    expect(
      (await friend.contexts.updateContext({ contextId: "shared", payload: payload("s2") })).context
        ?.revision,
    ).toBe(2n);
    await expectCode(friend.contexts.deleteContext({ contextId: "shared" }), Code.PermissionDenied);
    await expectCode(
      friend.contexts.updateContext({
        contextId: "shared",
        access: { scope: ContextScope.PUBLIC },
      }),
      Code.PermissionDenied,
    );
    // allowed_ids must fit the scope.
    await expectCode(
      owner.contexts.createContext({
        type: "note",
        payload: payload("x"),
        access: { scope: ContextScope.SHARED },
      }),
      Code.InvalidArgument,
    );
    await expectCode(
      owner.contexts.createContext({
        type: "note",
        payload: payload("x"),
        access: { scope: ContextScope.PRIVATE, allowedIds: ["friend"] },
      }),
      Code.InvalidArgument,
    );
  });

  it("lists with filters and pages", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "a");
    const b = await agentIn(tenantId, "b");
    for (const [who, id, type, env] of [
      [a, "c1", "note", "prod"],
      [b, "c2", "note", "dev"],
      [a, "c3", "plan", "prod"],
      [b, "c4", "plan", "prod"],
      [a, "c5", "note", "prod"],
    ] as const) {
      await who.contexts.createContext({
        contextId: id,
        type,
        payload: payload(id),
        metadata: { env },
      });
    }
    const ids = async (req: MessageInitShape<typeof ContextService.method.listContexts.input>) =>
      (await a.contexts.listContexts(req)).contexts.map((c) => c.id);
    expect(await ids({ type: "note" })).toEqual(["c1", "c2", "c5"]);
    expect(await ids({ ownerId: "b" })).toEqual(["c2", "c4"]);
    expect(await ids({ metadata: { env: "prod" }, type: "plan" })).toEqual(["c3", "c4"]);
    const first = await a.contexts.listContexts({ pageSize: 2, omitPayloads: true });
    expect(first.contexts.map((c) => c.id)).toEqual(["c1", "c2"]);
    expect(first.contexts[0]?.payload?.data).toHaveLength(0);
    expect(first.contexts[0]?.size).toBe(2n);
    const second = await a.contexts.listContexts({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.contexts.map((c) => c.id)).toEqual(["c3", "c4"]);
    const third = await a.contexts.listContexts({ pageSize: 2, pageToken: second.nextPageToken });
    expect(third.contexts.map((c) => c.id)).toEqual(["c5"]);
    expect(third.nextPageToken).toBe("");
  });

  it("expires a context at its TTL: NOT_FOUND and an EXPIRED event", async () => {
    const tenantId = await newTenant();
    const owner = await agentIn(tenantId, "owner");
    const reader = await agentIn(tenantId, "reader", [Role.AGENT_CONSUMER]);
    const sub = await subscribeContexts(reader, { types: ["session"] });
    const created = await owner.contexts.createContext({
      contextId: "ephemeral",
      type: "session",
      payload: payload("e"),
      ttl: { seconds: 10n },
    });
    expect(created.context?.expiresAt).toBeDefined();
    const onCreate = await sub.next();
    expect(onCreate.kind).toBe(ContextKind.CREATED);
    expect(onCreate.context?.id).toBe("ephemeral");

    clock.advance(9_999);
    expect((await reader.contexts.getContext({ contextId: "ephemeral" })).context?.id).toBe(
      "ephemeral",
    );
    clock.advance(1);
    await expectCode(reader.contexts.getContext({ contextId: "ephemeral" }), Code.NotFound);
    const expired = await sub.next();
    expect(expired.kind).toBe(ContextKind.EXPIRED);
    expect(expired.context?.id).toBe("ephemeral");
    expect((await owner.contexts.listContexts({})).contexts).toEqual([]);
    // The id is free again.
    const again = await owner.contexts.createContext({
      contextId: "ephemeral",
      type: "session",
      payload: payload("2"),
    });
    expect(again.context?.revision).toBe(1n);
  });

  it("filters subscriptions by type and metadata and resumes from a cursor", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "a");
    const sub = await subscribeContexts(a, { types: ["plan"], metadata: { env: "prod" } });
    await a.contexts.createContext({
      contextId: "n1",
      type: "note",
      payload: payload("x"),
      metadata: { env: "prod" },
    });
    await a.contexts.createContext({
      contextId: "p-dev",
      type: "plan",
      payload: payload("x"),
      metadata: { env: "dev" },
    });
    await a.contexts.createContext({
      contextId: "p1",
      type: "plan",
      payload: payload("x"),
      metadata: { env: "prod" },
    });
    const e1 = await sub.next();
    expect([e1.kind, e1.context?.id]).toEqual([ContextKind.CREATED, "p1"]);
    await a.contexts.updateContext({ contextId: "p1", payload: payload("y") });
    const e2 = await sub.next();
    expect([e2.kind, e2.context?.id, e2.context?.revision]).toEqual([
      ContextKind.UPDATED,
      "p1",
      2n,
    ]);
    sub.close();
    await a.contexts.deleteContext({ contextId: "p1" });
    // A subscriber resuming from the last cursor it saw gets the missed change, then READY.
    const ac = new AbortController();
    onTestFinished(() => ac.abort());
    const replayed: [number, string][] = [];
    const req = { types: ["plan"], cursor: e2.cursor };
    for await (const e of a.contexts.subscribeContexts(req, { signal: ac.signal })) {
      if (e.kind === ContextKind.READY) break;
      replayed.push([e.kind, e.context?.id ?? ""]);
    }
    expect(replayed).toEqual([[ContextKind.DELETED, "p1"]]);
  });
});

describe("tenant isolation over the wire", () => {
  it("never lets tenant A's agent read, change or hear about tenant B's contexts", async () => {
    const tenantA = await newTenant();
    const tenantB = await newTenant();
    const a = await agentIn(tenantA, "agent");
    const b = await agentIn(tenantB, "agent");
    const subA = await subscribeContexts(a);

    await b.contexts.createContext({ contextId: "doc", type: "note", payload: payload("b's") });
    await b.contexts.updateContext({ contextId: "doc", payload: payload("b's v2") });
    await expectCode(a.contexts.getContext({ contextId: "doc" }), Code.NotFound);
    await expectCode(
      a.contexts.updateContext({ contextId: "doc", payload: payload("a") }),
      Code.NotFound,
    );
    await expectCode(a.contexts.deleteContext({ contextId: "doc" }), Code.NotFound);
    expect((await a.contexts.listContexts({})).contexts).toEqual([]);
    await b.registry.register({ agentId: "agent", type: "ml" });
    await expectCode(a.registry.getAgent({ agentId: "agent" }), Code.NotFound);
    expect((await a.registry.listAgents({})).agents).toEqual([]);

    // Tenant A's own context with the same id is a different object.
    await a.contexts.createContext({ contextId: "doc", type: "note", payload: payload("a's") });
    const e = await subA.next();
    expect(e.kind).toBe(ContextKind.CREATED);
    expect(e.context?.tenantId).toBe(tenantA);
    expect(new TextDecoder().decode(e.context?.payload?.data)).toBe("a's");
    const bDoc = await b.contexts.getContext({ contextId: "doc" });
    expect(bDoc.context?.revision).toBe(2n);
    expect(new TextDecoder().decode(bDoc.context?.payload?.data)).toBe("b's v2");
  });

  it("lets a tenant admin see its own tenant only", async () => {
    const tenantA = await newTenant();
    const tenantB = await newTenant();
    const adminA = await agentIn(tenantA, "ops", [Role.ADMIN]);
    expect((await adminA.admin.getTenant({ tenantId: tenantA })).tenant?.id).toBe(tenantA);
    await expectCode(adminA.admin.getTenant({ tenantId: tenantB }), Code.NotFound);
    await expectCode(adminA.admin.getTenant({ tenantId: "no-such-tenant" }), Code.NotFound);
    await expectCode(
      adminA.admin.updateTenant({ tenantId: tenantB, displayName: "pwned" }),
      Code.NotFound,
    );
    await expectCode(
      adminA.auth.issueToken({ tenantId: tenantB, agentId: "x", roles: [Role.ADMIN] }),
      Code.NotFound,
    );
    await expectCode(adminA.admin.listTenants({}), Code.PermissionDenied);
    await expectCode(
      adminA.admin.createTenant({ tenantId: freshTenantId() }),
      Code.PermissionDenied,
    );
    await expectCode(adminA.admin.deleteTenant({ tenantId: tenantB }), Code.PermissionDenied);
    expect(
      (await clientsWith(adminToken).admin.getTenant({ tenantId: tenantB })).tenant?.displayName,
    ).toBe(tenantB);
    // An observer may read its own tenant.
    const observer = await agentIn(tenantA, "eye", [Role.OBSERVER]);
    expect((await observer.admin.getTenant({ tenantId: tenantA })).tenant?.id).toBe(tenantA);
    await expectCode(observer.admin.getTenant({ tenantId: tenantB }), Code.NotFound);
  });
});

describe("admin", () => {
  it("refuses a duplicate CreateTenant", async () => {
    const tenantId = await newTenant();
    await expectCode(clientsWith(adminToken).admin.createTenant({ tenantId }), Code.AlreadyExists);
  });

  it("applies tenant settings and tiers", async () => {
    const settings: MessageInitShape<typeof AdminService.method.createTenant.input>["settings"] = {
      presenceTimeout: { seconds: 7n },
    };
    const tenantId = freshTenantId();
    const res = await clientsWith(adminToken).admin.createTenant({ tenantId, settings });
    const tenant = res.tenant;
    expect(tenant?.tier).toBe(Tier.FREE);
    expect(tenant?.quotas?.maxAgents).toBe(3);
    expect(tenant?.settings?.presenceTimeout?.seconds).toBe(7n);
    expect(tenant?.settings?.heartbeatInterval?.seconds).toBe(10n);
    // The FREE tier's agent quota is enforced.
    const ops = await agentIn(tenantId, "ops", [Role.ADMIN]);
    for (const agentId of ["q1", "q2", "q3"]) await ops.registry.register({ agentId, type: "ml" });
    await expectCode(ops.registry.register({ agentId: "q4", type: "ml" }), Code.ResourceExhausted);
  });

  it("deletes a tenant with everything it owns; its credentials stop working", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "doomed");
    await a.contexts.createContext({ contextId: "c", type: "note", payload: payload("x") });
    await clientsWith(adminToken).admin.deleteTenant({ tenantId });
    await expectCode(a.contexts.getContext({ contextId: "c" }), Code.Unauthenticated);
    await expectCode(
      clientsWith().auth.refreshToken({ refreshToken: a.refreshToken }),
      Code.Unauthenticated,
    );
    await expectCode(clientsWith(adminToken).admin.getTenant({ tenantId }), Code.NotFound);
    await expectCode(clientsWith(adminToken).admin.deleteTenant({ tenantId }), Code.NotFound);
  });
});

describe("health and server info", () => {
  it("answers grpc.health.v1 Check anonymously", async () => {
    const health = clientsWith().health;
    expect((await health.check({})).status).toBe(Serving.SERVING);
    expect((await health.check({ service: "acb.v1.ContextService" })).status).toBe(Serving.SERVING);
    await expectCode(health.check({ service: "acb.v1.NoSuchService" }), Code.NotFound);
  });

  it("describes the hub in GetServerInfo", async () => {
    const tenantId = await newTenant();
    const a = await agentIn(tenantId, "curious", [Role.OBSERVER]);
    const info = await a.info.getServerInfo({});
    expect(info.protocolVersion).toMatch(/^acb\.v1\.\d+$/);
    expect(info.hubEpoch).not.toBe("");
    expect(info.hubEpoch).toBe(hub.epoch);
    expect(info.durable).toBe(false);
    expect(info.capabilities).toEqual(
      expect.arrayContaining(["registry", "contexts", "auth", "admin"]),
    );
    expect(info.limits?.maxInlinePayloadBytes).toBe(BigInt(MiB));
    expect(info.limits?.maxRequestBytes).toBe(BigInt(8 * MiB));
    // The node id names a host and a process: admins only.
    expect(info.nodeId).toBe("");
    // Anyone may read it (a client whose credential went stale still needs the epoch), but an
    // anonymous caller, or one whose credential the hub refuses, learns no node id and no limits.
    for (const anonymous of [clientsWith(), clientsWith("not-a-valid-token")]) {
      const seen = await anonymous.info.getServerInfo({});
      expect(seen.hubEpoch).toBe(hub.epoch);
      expect(seen.protocolVersion).toBe(info.protocolVersion);
      expect(seen.nodeId).toBe("");
      expect(seen.limits).toBeUndefined();
    }
  });
});

describe("protocols on one port", () => {
  it("serves Connect over HTTP/1.1 and h2c, gRPC and gRPC-Web on the same port", async () => {
    const tenantId = await newTenant();
    const { token } = await agentIn(tenantId, "polyglot");
    const transports: [string, Transport][] = [
      ["connect http/1.1", connect(token, "1.1")],
      ["connect h2c", connect(token, "2")],
      ["grpc h2c", wireTransport(baseUrl, "grpc", { token })],
      ["grpc-web http/1.1", wireTransport(baseUrl, "grpc-web", { token, httpVersion: "1.1" })],
      ["grpc-web h2c", wireTransport(baseUrl, "grpc-web", { token, httpVersion: "2" })],
    ];
    for (const [name, transport] of transports) {
      const c = clientsOf(transport);
      const me = await c.auth.whoAmI({});
      expect(me.agentId, name).toBe("polyglot");
      expect((await c.info.getServerInfo({})).hubEpoch, name).toBe(hub.epoch);
      // Errors and their details survive every protocol.
      const err = await expectCode(
        c.contexts.updateContext({
          contextId: `ctx-${name.replace(/\W/g, "-")}`,
          payload: payload("x"),
        }),
        Code.NotFound,
      );
      expect(err.message, name).toMatch(/not found/);
      const created = await c.contexts.createContext({ type: "note", payload: payload(name) });
      const stale = await expectCode(
        c.contexts.updateContext({ contextId: created.context?.id ?? "", expectedRevision: 9n }),
        Code.Aborted,
      );
      expect(stale.findDetails(ErrorInfoSchema)[0]?.reason, name).toBe("REVISION_MISMATCH");
      // Server streams work too.
      const sub = await subscribeContexts(c);
      await c.contexts.updateContext({
        contextId: created.context?.id ?? "",
        payload: payload("v2"),
      });
      expect((await sub.next()).kind, name).toBe(ContextKind.UPDATED);
      sub.close();
    }
    // Anonymous health over gRPC as a load balancer would call it.
    const grpcHealth = createClient(Health, wireTransport(baseUrl, "grpc"));
    expect((await grpcHealth.check({})).status).toBe(Serving.SERVING);
  });
});

describe("large contexts in every encoding", () => {
  it("downloads the same chunks in JSON and binary, whichever check they carry", async () => {
    const tenantId = await newTenant();
    const { token } = await agentIn(tenantId, "bulk");
    // 200 KiB in 64 KiB chunks: three whole chunks and a short last one.
    const data = new Uint8Array(200 * 1024).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
    const chunkSize = 64 * 1024;
    const json = createClient(LargeContextService, connect(token));
    const begun = await json.beginUpload({
      type: "blob",
      totalSize: BigInt(data.length),
      sha256: sha256(data),
      chunkSize,
    });
    const uploadId = begun.upload?.id ?? "";
    for (let at = 0; at < data.length; at += chunkSize) {
      const piece = data.subarray(at, at + chunkSize);
      await json.appendChunk({
        uploadId,
        chunk: { offset: BigInt(at), data: piece, sha256: sha256(piece) },
      });
    }
    const contextId =
      (await json.commitUpload({ uploadId, sha256: sha256(data) })).context?.id ?? "";
    const clients: [string, Client<typeof LargeContextService>][] = [
      ["connect-json", json],
      [
        "connect-proto",
        createClient(LargeContextService, wireTransport(baseUrl, "connect-proto", { token })),
      ],
      ["grpc", createClient(LargeContextService, wireTransport(baseUrl, "grpc", { token }))],
    ];
    for (const [name, client] of clients) {
      for (const chunkCheck of [ChunkCheck.SHA256, ChunkCheck.CRC32]) {
        const received = new Uint8Array(data.length);
        let chunks = 0;
        // From offset 0 (an offset field left out) and from the middle of the object.
        for (const offset of [0, 70_000]) {
          for await (const res of client.downloadContext({
            contextId,
            offset: BigInt(offset),
            chunkSize,
            chunkCheck,
          })) {
            if (res.item.case !== "chunk") continue;
            const c = res.item.value;
            expect(c.data.length, name).toBeGreaterThan(0);
            if (chunkCheck === ChunkCheck.SHA256) expect(c.sha256, name).toEqual(sha256(c.data));
            else expect(c.crc32, name).toBe(crc32(c.data));
            if (offset === 0) received.set(c.data, Number(c.offset));
            else
              expect(c.data, name).toEqual(
                data.subarray(Number(c.offset), Number(c.offset) + c.data.length),
              );
            chunks++;
          }
        }
        expect(received, name).toEqual(data);
        expect(chunks, name).toBe(4 + 3);
      }
    }
  });
});
