// The page of the browser end-to-end encryption test (bundled with esbuild from the web entry
// point). e2eWrite encrypts a context, a message and a large context to a peer, calling the
// test's acbHalf() once half the upload is verified; e2eRead decrypts what a peer encrypted to
// this page.
import { createClient, type ExportedAgentKey, importAgentKey } from "../../src/web.js";
import { generated, sameAsGenerated } from "./bytes.js";

/** What the Node side hands the page. */
export interface E2ePageConfig {
  hubUrl: string;
  token: string;
  agentId: string;
  key: ExportedAgentKey;
  secret: string;
  size: number;
  /** write: the recipient; read: the ids of what to read. */
  peer?: string;
  ids?: { contextId: string; largeId: string };
}

declare const acbHalf: () => Promise<void>;

async function connect(config: E2ePageConfig) {
  const key = await importAgentKey(config.key);
  const client = createClient({
    baseUrl: config.hubUrl,
    token: config.token,
    timeoutMs: 30_000,
    e2e: { keys: [key] },
  });
  await client.register({ id: config.agentId, type: "web", heartbeat: false, takeOver: true });
  return client;
}

async function e2eWrite(
  config: E2ePageConfig,
): Promise<{ contextId: string; largeId: string; resumes: number }> {
  const client = await connect(config);
  const to = { to: [config.peer ?? ""] };
  const context = await client.shareContext("note", { text: config.secret }, { encrypt: to });
  await client.sendTo(config.peer ?? "", "secret", { text: config.secret }, { encrypt: to });
  let resumes = 0;
  let half = false;
  const large = await client
    .streamContext("blob", { encrypt: to, backoff: { initialDelayMs: 1, maxDelayMs: 20 } })
    .fromReader(generated(config.size, 42), config.size)
    .onProgress((p) => {
      resumes = p.resumes;
      if (!half && p.fraction >= 0.5) {
        half = true;
        void acbHalf();
      }
    })
    .send();
  await client.close();
  return { contextId: context.id, largeId: large.id, resumes };
}

async function e2eRead(
  config: E2ePageConfig,
): Promise<{ context: string; message: string; largeOk: boolean }> {
  const client = await connect(config);
  const ids = config.ids ?? { contextId: "", largeId: "" };
  const message = new Promise<string>((resolve) => {
    client.handle<{ text: string }>("secret", (m) => resolve(m.value.text));
  });
  const receiver = client.receive();
  const context = await client.getContext<{ text: string }>(ids.contextId);
  const largeOk = await sameAsGenerated(client.receiveContextStream(ids.largeId), config.size, 7);
  const result = { context: context.value.text, message: await message, largeOk };
  await receiver.close();
  await client.close();
  return result;
}

Object.assign(globalThis, { e2eWrite, e2eRead });
document.title = "acb-ready";
