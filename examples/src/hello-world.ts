// Hello world: an embedded hub and two agents. Alice asks Bob a question and Bob answers.
// Run it with `./dev example hello-world`.

import { createHub, silentLogger } from "@acb/hub";
import { AdminService, AuthService, createClient, Role } from "@acb/sdk/node";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

const hub = await createHub({ logger: silentLogger });
const { url } = await hub.listen({ port: 0 });

// As the development admin: a tenant and a token per agent.
const admin = createConnectTransport({
  baseUrl: url,
  httpVersion: "2",
  interceptors: [
    (next) => async (req) => {
      req.header.set("Authorization", `Bearer ${await hub.issueAdminToken()}`);
      return next(req);
    },
  ],
});
await createConnectClient(AdminService, admin).createTenant({ tenantId: "hello" });
const auth = createConnectClient(AuthService, admin);
const tokenFor = async (agentId: string) =>
  (await auth.issueToken({ tenantId: "hello", agentId, roles: [Role.AGENT_FULL] })).tokens
    ?.accessToken ?? "";

const alice = createClient({ baseUrl: url, token: await tokenFor("alice") });
const bob = createClient({ baseUrl: url, token: await tokenFor("bob") });
await alice.register({ id: "alice", type: "demo" });
await bob.register({ id: "bob", type: "demo" });

// Bob answers "greet" queries: a handler's return value is the reply.
bob.handle<{ name: string }>("greet", (m) => ({ text: `Hello, ${m.value.name}! — bob` }));
await bob.receive().ready;

const reply = await alice.request<{ text: string }>(
  "bob",
  "greet",
  { name: "Alice" },
  { timeoutMs: 5_000 },
);
console.log(`alice asked bob, bob said: ${reply.value.text}`);

await alice.close();
await bob.close();
await hub.close();
process.exit(0);
