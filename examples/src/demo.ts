// The ACB demo: an embedded hub (in-memory, no external services) and two agents that register,
// discover each other and share context. Run it with `npm run demo`.

import { createHub, silentLogger } from "@acb/hub";
import { AdminService, AuthService, createClient, Role } from "@acb/sdk/node";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

const say = (who: string, what: string) => process.stdout.write(`${who.padEnd(10)} ${what}\n`);

async function main(): Promise<void> {
  // 1. Start a hub on loopback with the embedded backend.
  const hub = await createHub({ logger: silentLogger });
  const listener = await hub.listen({ host: "127.0.0.1", port: 0 });
  say("hub", `listening on ${listener.url} (epoch ${hub.epoch})`);

  // 2. As the development admin: provision a tenant and issue one token per agent.
  const admin = createConnectTransport({
    baseUrl: listener.url,
    httpVersion: "2",
    interceptors: [
      (next) => async (req) => {
        req.header.set("Authorization", `Bearer ${await hub.issueAdminToken()}`);
        return next(req);
      },
    ],
  });
  await createConnectClient(AdminService, admin).createTenant({
    tenantId: "demo",
    displayName: "Demo tenant",
  });
  const auth = createConnectClient(AuthService, admin);
  const tokenFor = async (agentId: string) =>
    (await auth.issueToken({ tenantId: "demo", agentId, roles: [Role.AGENT_FULL] })).tokens
      ?.accessToken ?? "";
  say("admin", 'created tenant "demo" and tokens for "planner" and "researcher"');

  // 3. Two agents, each with its own client, register and keep themselves online.
  const planner = createClient({ baseUrl: listener.url, token: await tokenFor("planner") });
  const researcher = createClient({ baseUrl: listener.url, token: await tokenFor("researcher") });
  const plannerSession = await planner.register({
    id: "planner",
    type: "llm",
    capabilities: ["plan"],
    location: "eu/paris",
  });
  const researcherSession = await researcher.register({
    id: "researcher",
    type: "llm",
    capabilities: ["search", "summarise"],
    location: "us/nyc",
  });
  say("planner", "registered with capability plan");
  say("researcher", "registered with capabilities search, summarise");

  // 4. The planner looks for someone who can search.
  const found = await planner.discover({ capabilities: ["search"] });
  say(
    "planner",
    `discovered ${found.map((a) => `${a.id} (${a.status}, ${a.location})`).join(", ")}`,
  );

  // 5. The researcher subscribes to research tasks; the planner shares one and updates it.
  const done = new Promise<void>((resolve) => {
    const sub = researcher.subscribe<{ topic: string; status: string }>(
      "research-task",
      async (change) => {
        const task = change.context.value;
        say(
          "researcher",
          `saw ${change.kind} of ${change.context.id} r${change.context.revision}: ${task.topic} [${task.status}]`,
        );
        if (change.kind === "created") {
          // Claim the task with compare-and-set, so two researchers could never both claim it.
          await researcher.updateContext(
            change.context.id,
            { ...task, status: "claimed by researcher" },
            {
              expectedRevision: change.context.revision,
            },
          );
        } else if (change.kind === "updated" && task.status.startsWith("claimed")) {
          await sub.close();
          resolve();
        }
      },
    );
    sub.ready.then(async () => {
      const task = await planner.shareContext(
        "research-task",
        { topic: "agent protocols", status: "open" },
        { metadata: { priority: "high" }, ttlMs: 3_600_000 },
      );
      say(
        "planner",
        `shared context ${task.id} (revision ${task.revision}, sha256 ${task.sha256.slice(0, 12)}…)`,
      );
    });
  });
  await done;

  const final = await planner
    .listContexts({ type: "research-task" })
    [Symbol.asyncIterator]()
    .next();
  if (!final.done)
    say("planner", `now reads r${final.value.revision}: ${JSON.stringify(final.value.value)}`);

  // 6. Clean up.
  await plannerSession.unregister();
  await researcherSession.unregister();
  await hub.close();
  say("hub", "closed");
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
