// One agent for every fetch runtime: Deno, Bun, browsers' workers and Node alike. It uses only the
// fetch entry point and web primitives, reads its settings from the environment, answers "ping"
// queries, shares a context saying which runtime it runs on, and stops on a "stop" command.
//
//   deno run --allow-net --allow-env runtime-agent.js     (bundled: see docs/sdk.md)
//   bun runtime-agent.ts
//
// Environment: ACB_URL (hub), ACB_TOKEN (this agent's token), ACB_AGENT_ID.
import { createClient } from "@acb/sdk/web";

type Env = (name: string) => string | undefined;
const runtimeGlobals = globalThis as unknown as {
  Deno?: { env: { get: Env }; version: { deno: string } };
  Bun?: { version: string };
  process?: { env: Record<string, string | undefined>; versions?: { node?: string } };
};
const env: Env = (name) => runtimeGlobals.Deno?.env.get(name) ?? runtimeGlobals.process?.env[name];
const runtime = runtimeGlobals.Deno
  ? `deno ${runtimeGlobals.Deno.version.deno}`
  : runtimeGlobals.Bun
    ? `bun ${runtimeGlobals.Bun.version}`
    : `node ${runtimeGlobals.process?.versions?.node ?? "?"}`;
const log = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, ...fields }));

const baseUrl = env("ACB_URL") ?? "http://127.0.0.1:7443";
const id = env("ACB_AGENT_ID") ?? "runtime-agent";
const client = createClient({ baseUrl, token: env("ACB_TOKEN") ?? "", timeoutMs: 10_000 });
client.on("state", (state) => log("state", { state }));
client.on("epoch-changed", (e) => log("epoch-changed", { ...e }));

const session = await client.register({ id, type: "runtime-agent", capabilities: [runtime] });
let stop: () => void = () => {};
const stopped = new Promise<void>((resolve) => {
  stop = resolve;
});
client.handle<{ n: number }>("ping", (m) => ({ pong: m.value.n, runtime }));
client.handle("stop", () => {
  stop();
  return { stopping: true };
});
const receiver = client.receive({ onError: (e) => log("error", { error: String(e) }) });
await receiver.ready;
const ctx = await client.shareContext("runtime-report", { runtime, agent: id });
log("ready", { runtime, contextId: ctx.id });

await stopped;
await session.unregister();
await client.close();
log("stopped");
