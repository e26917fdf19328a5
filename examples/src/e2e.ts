// End-to-end encryption: an embedded hub keeps its state in a directory, and two agents share an
// encrypted context and an encrypted message through it. The hub stores and routes ciphertext
// only; Bob decrypts with his private key, which never leaves this process.
//
//   ./dev example e2e                         (a temporary data directory, a sample text)
//   ACB_E2E_DATA_DIR=/tmp/acb ACB_E2E_PLAINTEXT="meet at noon" ./dev example e2e
// (`npm run example:e2e` runs the same.) examples/test/e2e-example.test.ts checks both.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHub, createPgliteBackend, silentLogger } from "@acb/hub";
import {
  AdminService,
  AuthService,
  createClient,
  E2E_CONTENT_TYPE,
  generateAgentKey,
  keyFingerprint,
  Role,
} from "@acb/sdk/node";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

const dataDir = process.env.ACB_E2E_DATA_DIR || mkdtempSync(join(tmpdir(), "acb-e2e-"));
const plaintext = process.env.ACB_E2E_PLAINTEXT || "the vault code is 4-8-15-16-23-42";

// The durable embedded backend: PGlite, its database in dataDir (kept across runs).
const backend = await createPgliteBackend({ dataDir: join(dataDir, "db") });
console.log(`hub: PGlite backend, data in ${dataDir}`);

const hub = await createHub({ logger: silentLogger, backend });
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
const tenantId = `e2e-${Date.now().toString(36)}`;
await createConnectClient(AdminService, admin).createTenant({ tenantId });
const auth = createConnectClient(AuthService, admin);
const tokenFor = async (agentId: string) =>
  (await auth.issueToken({ tenantId, agentId, roles: [Role.AGENT_FULL] })).tokens?.accessToken ??
  "";

// Each agent makes a key pair; registering publishes the public half.
const aliceKey = await generateAgentKey();
const bobKey = await generateAgentKey();
const alice = createClient({
  baseUrl: url,
  token: await tokenFor("alice"),
  e2e: { keys: [aliceKey] },
});
// Alice pins Bob's key: she compared its fingerprint with Bob out of band.
const bobFingerprint = await keyFingerprint(bobKey);
const pinnedAlice = createClient({
  baseUrl: url,
  token: await tokenFor("alice"),
  e2e: { keys: [aliceKey], pins: { bob: [bobFingerprint] } },
});
const bob = createClient({ baseUrl: url, token: await tokenFor("bob"), e2e: { keys: [bobKey] } });
await alice.register({ id: "alice", type: "demo", heartbeat: false });
await bob.register({ id: "bob", type: "demo", heartbeat: false });
console.log(`bob's key ${bobKey.keyId}, fingerprint ${bobFingerprint}`);

// An encrypted context and an encrypted message, to Bob.
const shared = await pinnedAlice.shareContext(
  "secret-note",
  { text: plaintext },
  { encrypt: { to: ["bob"] } },
);
let gotMessage: (text: string) => void = () => {};
const message = new Promise<string>((resolve) => {
  gotMessage = resolve;
});
bob.handle<{ text: string }>("secret", (m) => gotMessage(m.value.text));
const receiver = bob.receive();
await receiver.ready;
await pinnedAlice.sendTo("bob", "secret", { text: plaintext }, { encrypt: { to: ["bob"] } });

// What the hub holds: ciphertext under the registered content type.
const stored = await alice.services.contexts.getContext({ contextId: shared.id });
const storedBytes = stored.context?.payload?.data ?? new Uint8Array();
const leaked = Buffer.from(storedBytes).includes(Buffer.from(plaintext));
console.log(
  `hub stores ${stored.context?.payload?.contentType} (${storedBytes.length} bytes), plaintext visible: ${leaked}`,
);

const context = await bob.getContext<{ text: string }>(shared.id);
console.log(`bob decrypted context: ${context.value.text}`);
console.log(`bob decrypted message: ${await message}`);

const ok =
  !leaked &&
  stored.context?.payload?.contentType === E2E_CONTENT_TYPE &&
  context.value.text === plaintext &&
  (await message) === plaintext;
await receiver.close();
await Promise.all([alice.close(), pinnedAlice.close(), bob.close()]);
await hub.close();
process.exit(ok ? 0 : 1);
