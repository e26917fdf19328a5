// The package check's agent under Node, through @acb/sdk/node (HTTP/2).
import { createClient } from "@acb/sdk/node";
import { runAgent } from "./agent.ts";
import { settings } from "./settings.ts";

const { baseUrl, token, agentId } = settings();
const runtime = `node ${(globalThis as { process?: { version?: string } }).process?.version}`;
await runAgent({ client: createClient({ baseUrl, token }), agentId, runtime, log: console.log });
