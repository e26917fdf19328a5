// A third-party client against the hub: `buf curl` (from the @bufbuild/buf package) calls Register
// and GetContext using nothing but the .proto files, over HTTP/1.1 (Connect) and h2c (gRPC), and
// then with no schema at all, learning it from the hub's server reflection (v1 and v1alpha).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHub, type Hub, type Listener, silentLogger } from "../src/index.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

async function bufCurl(
  url: string,
  token: string,
  data: unknown,
  extra: string[] = [],
  schema: string[] = ["--schema", root],
): Promise<unknown> {
  const { stdout } = await run(
    buf,
    [
      "curl",
      ...schema,
      "-H",
      `Authorization: Bearer ${token}`,
      "--data",
      JSON.stringify(data),
      ...extra,
      url,
    ],
    { cwd: root, timeout: 20_000 },
  );
  return JSON.parse(stdout);
}

describe("buf curl as a third-party client", () => {
  let hub: Hub;
  let listener: Listener;
  let agentToken: string;

  beforeAll(async () => {
    hub = await createHub({ logger: silentLogger });
    listener = await hub.listen({ host: "127.0.0.1", port: 0 });
    const admin = createConnectTransport({
      baseUrl: listener.url,
      httpVersion: "1.1",
      interceptors: [bearer(await hub.issueAdminToken())],
    });
    await createClient(AdminService, admin).createTenant({ tenantId: "curl" });
    const issued = await createClient(AuthService, admin).issueToken({
      tenantId: "curl",
      agentId: "curl-agent",
      roles: [Role.AGENT_FULL],
    });
    agentToken = issued.tokens?.accessToken ?? "";
  });
  afterAll(async () => {
    await hub.close();
  });

  it("registers an agent and reads back a context", async () => {
    const registered = (await bufCurl(
      `${listener.url}/acb.v1.RegistryService/Register`,
      agentToken,
      {
        agentId: "curl-agent",
        type: "cli",
        capabilities: ["curl"],
      },
    )) as { agent: { id: string; status: string } };
    expect(registered.agent.id).toBe("curl-agent");
    expect(registered.agent.status).toBe("AGENT_STATUS_ONLINE");

    const created = (await bufCurl(
      `${listener.url}/acb.v1.ContextService/CreateContext`,
      agentToken,
      {
        type: "note",
        payload: {
          contentType: "application/json",
          data: Buffer.from('{"hello":"curl"}').toString("base64"),
        },
      },
    )) as { context: { id: string } };

    // gRPC over h2c on the same port.
    const read = (await bufCurl(
      `${listener.url}/acb.v1.ContextService/GetContext`,
      agentToken,
      { contextId: created.context.id },
      ["--protocol", "grpc", "--http2-prior-knowledge"],
    )) as { context: { id: string; revision: string; payload: { data: string } } };
    expect(read.context.id).toBe(created.context.id);
    expect(read.context.revision).toBe("1");
    expect(Buffer.from(read.context.payload.data, "base64").toString()).toBe('{"hello":"curl"}');
  });

  it("sees the documented error codes", async () => {
    await expect(
      bufCurl(`${listener.url}/acb.v1.ContextService/GetContext`, agentToken, {
        contextId: "missing",
      }),
    ).rejects.toThrow(/not_found/);
    await expect(
      bufCurl(`${listener.url}/acb.v1.RegistryService/Register`, "not-a-token", {
        agentId: "x",
        type: "t",
      }),
    ).rejects.toThrow(/unauthenticated/);
  });

  for (const reflectProtocol of ["grpc-v1", "grpc-v1alpha"]) {
    describe(`without --schema, through server reflection ${reflectProtocol}`, () => {
      const reflect = ["--reflect-protocol", reflectProtocol];

      it("lists the hub's services and their methods", async () => {
        const services = await run(buf, ["curl", ...reflect, "--list-services", listener.url], {
          cwd: root,
          timeout: 20_000,
        });
        const names = services.stdout.trim().split("\n");
        for (const name of [
          "acb.v1.MessagingService",
          "acb.v1.ContextService",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ]) {
          expect(names).toContain(name);
        }
        const methods = await run(buf, ["curl", ...reflect, "--list-methods", listener.url], {
          cwd: root,
          timeout: 20_000,
        });
        expect(methods.stdout).toContain("acb.v1.MessagingService/Ack");
      });

      it("calls RPCs whose requests use buf.validate rules and well-known types", async () => {
        // The token goes to the RPC only: reflection itself is called without a credential.
        const created = (await bufCurl(
          `${listener.url}/acb.v1.ContextService/CreateContext`,
          agentToken,
          { type: "note", ttl: "60s", payload: { contentType: "text/plain", data: "aGk=" } },
          [],
          reflect,
        )) as { context: { id: string; expiresAt: string } };
        expect(created.context.id).toMatch(/\S/);
        expect(created.context.expiresAt).toMatch(/Z$/);
        await expect(
          bufCurl(
            `${listener.url}/acb.v1.ContextService/GetContext`,
            agentToken,
            { contextId: "" },
            [],
            reflect,
          ),
        ).rejects.toThrow(/invalid_argument/);
      });
    });
  }
});
