// The small agent the package check runs in Node, Deno, Bun and Chromium, from the packages as
// users install them: it registers, puts a context and reads it back, sends itself a message and
// receives it, and reports each step through `log`. Any failure rejects.
import { type AcbClient, ContextScope, Role, Tier } from "@acb/sdk";

/** What a runtime's entry passes in: its client, this agent's id, and where to report. */
export interface AgentRun {
  client: AcbClient;
  agentId: string;
  runtime: string;
  log: (line: string) => void;
}

export async function runAgent({ client, agentId, runtime, log }: AgentRun): Promise<void> {
  // The protocol's enums come from @acb/sdk too (no @acb/gen subpath imports).
  log(
    `${runtime}: @acb/sdk exports Role.AGENT_FULL=${Role.AGENT_FULL}, Tier.FREE=${Tier.FREE}, ContextScope.SHARED=${ContextScope.SHARED}`,
  );

  const session = await client.register({ id: agentId, type: "package-check" });
  log(`${runtime}: registered as "${session.agent.id}"`);

  const shared = await client.shareContext("package-check", { runtime, from: agentId });
  const read = await client.getContext<{ runtime: string; from: string }>(shared.id);
  if (read.value.runtime !== runtime || read.revision !== shared.revision) {
    throw new Error(`context ${shared.id} read back as ${JSON.stringify(read.value)}`);
  }
  log(`${runtime}: put context ${shared.id} (revision ${shared.revision}) and read it back`);

  const received = new Promise<string>((resolve) => {
    client.handle<{ text: string }>("note", (m) => resolve(`${m.value.text} (from ${m.senderId})`));
  });
  const receiver = client.receive();
  await receiver.ready;
  const sent = await client.sendTo(agentId, "note", { text: `hello from ${runtime}` });
  log(`${runtime}: sent itself message ${sent.messageId}`);
  log(`${runtime}: received "${await received}"`);

  await session.unregister();
  await client.close();
  log(`${runtime}: unregistered and closed`);
}
