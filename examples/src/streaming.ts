// Streaming: upload a 32 MiB value in verified chunks with progress, then read it back as a stream.
// Run it with `npm run build && node examples/dist/streaming.js`.
import { createHash } from "node:crypto";
import { createHub, silentLogger } from "@acb/hub";
import { AdminService, AuthService, createClient, Role } from "@acb/sdk/node";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

const hub = await createHub({ logger: silentLogger });
const { url } = await hub.listen({ port: 0 });
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
await createConnectClient(AdminService, admin).createTenant({ tenantId: "streaming" });
const issued = await createConnectClient(AuthService, admin).issueToken({
  tenantId: "streaming",
  agentId: "uploader",
  roles: [Role.AGENT_FULL],
});
// Refreshable credentials: the client renews the access token before it expires.
const client = createClient({
  baseUrl: url,
  token: {
    accessToken: issued.tokens?.accessToken ?? "",
    refreshToken: issued.tokens?.refreshToken ?? "",
  },
});

const size = 32 * 1024 * 1024;
const data = new Uint8Array(size).map((_, i) => (i * 31) % 251);
let lastReported = 0;
const ctx = await client
  .streamContext("dataset", { metadata: { name: "example" } })
  .fromReader(data)
  .onProgress((p) => {
    const pct = Math.floor((p.bytes / size) * 100);
    if (pct >= lastReported + 25) {
      lastReported = pct;
      console.log(`uploaded ${pct}%`);
    }
  })
  .send();
console.log(`committed ${ctx.id}: ${ctx.size} bytes, sha256 ${ctx.sha256.slice(0, 16)}…`);

const hash = createHash("sha256");
let received = 0;
for await (const chunk of client.receiveContextStream(ctx.id)) {
  hash.update(chunk);
  received += chunk.length;
}
console.log(
  `read back ${received} bytes; checksum ${hash.digest("hex") === ctx.sha256 ? "matches" : "DIFFERS"}`,
);
await client.close();
await hub.close();
