// Where the agent finds its hub and credential: ACB_URL, ACB_TOKEN and ACB_AGENT_ID, read through
// `process.env`, which Node, Deno (with --allow-env) and Bun all provide.
export function settings(): { baseUrl: string; token: string; agentId: string } {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process
    ?.env;
  const get = (name: string): string => {
    const value = env?.[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  return { baseUrl: get("ACB_URL"), token: get("ACB_TOKEN"), agentId: get("ACB_AGENT_ID") };
}
