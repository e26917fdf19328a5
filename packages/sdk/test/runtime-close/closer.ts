// The runtime side of stream-close.test.ts, for any fetch runtime (Node, Deno, Bun; bundled with
// esbuild): opens this agent's Receive stream, waits until it is live, collects garbage over a few
// turns of the event loop while the stream's read waits for the hub, then closes the receiver and
// the client. Prints JSON lines: "live", then "closed" once close() resolved.
import { createClient } from "../../src/index.js";

declare const process:
  | { env: Record<string, string | undefined>; exit(code: number): never }
  | undefined;
declare const Deno: { env: { get(name: string): string | undefined }; exit(code: number): never };
declare const Bun: { gc(force: boolean): void } | undefined;

const env = (name: string): string => {
  const v =
    typeof Deno !== "undefined"
      ? Deno.env.get(name)
      : (process as NonNullable<typeof process>).env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const say = (event: string) => console.log(JSON.stringify({ event }));

/** A full collection: Bun.gc, or the gc() of V8's --expose-gc (Node, Deno). */
const collect = (): void => {
  if (typeof Bun !== "undefined") Bun.gc(true);
  else (globalThis as unknown as { gc(): void }).gc();
};

const client = createClient({ baseUrl: env("ACB_URL"), token: env("ACB_TOKEN") });
await client.register({ id: env("ACB_AGENT_ID"), type: "closer", heartbeat: false });
const receiver = client.receive();
await receiver.ready;
say("live");
// What fetch built for the stream's request is unreachable now; a collection in each of a few
// turns of the event loop frees whatever only weak references still hold.
for (let turn = 0; turn < 3; turn++) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  collect();
}
await receiver.close();
say("closed");
await client.close();
if (typeof Deno !== "undefined") Deno.exit(0);
else (process as NonNullable<typeof process>).exit(0);
