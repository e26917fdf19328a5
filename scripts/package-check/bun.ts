// The package check's agent under Bun, through @acb/sdk/bun.
import { createClient } from "@acb/sdk/bun";
import { runAgent } from "./agent.ts";
import { settings } from "./settings.ts";

const { baseUrl, token, agentId } = settings();
const runtime = `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`;
await runAgent({ client: createClient({ baseUrl, token }), agentId, runtime, log: console.log });
