// The package check's agent under Deno, through @acb/sdk/deno.
import { createClient } from "@acb/sdk/deno";
import { runAgent } from "./agent.ts";
import { settings } from "./settings.ts";

const { baseUrl, token, agentId } = settings();
const runtime = `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
await runAgent({ client: createClient({ baseUrl, token }), agentId, runtime, log: console.log });
