// One side of the cross-runtime end-to-end encryption test, for any fetch runtime (Node, Deno,
// Bun; bundled with esbuild). ACB_MODE=write: encrypts a context, a message and a large context
// (ACB_LARGE_BYTES of deterministic bytes) to ACB_PEER. ACB_MODE=read: decrypts them (ids in
// ACB_IDS). Reports progress and results as JSON lines on stdout.
import { createClient, type ExportedAgentKey, importAgentKey } from "../../src/index.js";

declare const process:
  | { env: Record<string, string | undefined>; exit(code: number): never }
  | undefined;
declare const Deno: {
  env: { get(name: string): string | undefined };
  version: { deno: string };
  exit(code: number): never;
};
declare const Bun: { version: string } | undefined;

const env = (name: string): string => {
  const v =
    typeof Deno !== "undefined"
      ? Deno.env.get(name)
      : (process as NonNullable<typeof process>).env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const runtime =
  typeof Deno !== "undefined"
    ? `deno ${Deno.version.deno}`
    : typeof Bun !== "undefined"
      ? `bun ${Bun.version}`
      : "node";
const say = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, runtime, ...fields }));

/** The same bytes on both sides: xorshift32 from a seed, in 256 KiB pieces. */
async function* generated(size: number, seed: number): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let at = 0; at < size; at += 256 * 1024) {
    const piece = new Uint8Array(Math.min(256 * 1024, size - at));
    for (let i = 0; i < piece.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      piece[i] = x & 0xff;
    }
    yield piece;
  }
}

const agentId = env("ACB_AGENT_ID");
const key = await importAgentKey(JSON.parse(env("ACB_KEY")) as ExportedAgentKey);
const client = createClient({
  baseUrl: env("ACB_URL"),
  token: env("ACB_TOKEN"),
  e2e: { keys: [key] },
});
await client.register({ id: agentId, type: "e2e-peer", heartbeat: false, takeOver: true });
const secret = env("ACB_SECRET");
const size = Number(env("ACB_LARGE_BYTES"));

if (env("ACB_MODE") === "write") {
  const to = { to: [env("ACB_PEER")] };
  const context = await client.shareContext("note", { text: secret }, { encrypt: to });
  await client.sendTo(env("ACB_PEER"), "secret", { text: secret }, { encrypt: to });
  let resumes = 0;
  let half = false;
  const large = await client
    .streamContext("blob", { encrypt: to, backoff: { initialDelayMs: 1, maxDelayMs: 20 } })
    .fromReader(generated(size, 42), size)
    .onProgress((p) => {
      resumes = p.resumes;
      if (!half && p.fraction >= 0.5) {
        half = true;
        say("half");
      }
    })
    .send();
  say("written", { contextId: context.id, largeId: large.id, resumes });
} else {
  const ids = JSON.parse(env("ACB_IDS")) as { contextId: string; largeId: string };
  const message = new Promise<string>((resolve) => {
    client.handle<{ text: string }>("secret", (m) => resolve(m.value.text));
  });
  const receiver = client.receive();
  const context = await client.getContext<{ text: string }>(ids.contextId);
  // Compare the decrypted large context with the expected bytes as both stream.
  const expected = generated(size, 42);
  let pending = new Uint8Array(0);
  let matched = 0;
  let same = true;
  for await (const piece of client.receiveContextStream(ids.largeId)) {
    let at = 0;
    while (at < piece.length) {
      if (pending.length === 0) pending = (await expected.next()).value ?? new Uint8Array(0);
      if (pending.length === 0) {
        same = false;
        break;
      }
      const n = Math.min(pending.length, piece.length - at);
      for (let i = 0; i < n; i++) if (piece[at + i] !== pending[i]) same = false;
      pending = pending.subarray(n);
      at += n;
      matched += n;
    }
  }
  say("read", {
    context: context.value.text,
    message: await message,
    largeOk: same && matched === size,
  });
  // The Receive stream was open all along; closing it must end it (Deno once waited forever).
  await receiver.close();
  say("closed");
}
await client.close();
// Done: end now rather than when every runtime has let go of its idle connections.
if (typeof Deno !== "undefined") Deno.exit(0);
else (process as NonNullable<typeof process>).exit(0);
