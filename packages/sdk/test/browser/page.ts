// The page the browser test loads (bundled with esbuild from the web entry point): one agent in
// the browser registers, subscribes, receives a message (by handler and by async iteration),
// uploads a 5 MB context and joins a meeting, all over fetch against a live hub on another origin
// (CORS).
import { createClient } from "../../src/web.js";

/** What the Node side hands the page. */
export interface ScenarioConfig {
  hubUrl: string;
  browserToken: string;
  peerToken: string;
  meetingId: string;
}

/** What the page reports back. */
export interface ScenarioResult {
  registered: string;
  change: { kind: string; value: unknown };
  message: { kind: string; value: unknown; senderId: string };
  iterated: unknown[];
  upload: { size: number; checksumMatches: boolean; readBack: number };
  meeting: { joined: string[]; state: string };
  connection: string;
}

async function runScenario(config: ScenarioConfig): Promise<ScenarioResult> {
  const me = createClient({
    baseUrl: config.hubUrl,
    token: config.browserToken,
    timeoutMs: 30_000,
  });
  const peer = createClient({ baseUrl: config.hubUrl, token: config.peerToken });
  const session = await me.register({ id: "browser", type: "web", heartbeat: false });

  // Subscribe, then let the peer write: the change arrives over a server stream.
  let resolveChange: (c: { kind: string; value: unknown }) => void = () => {};
  const changed = new Promise<{ kind: string; value: unknown }>((r) => {
    resolveChange = r;
  });
  const sub = me.subscribe("note", (c) => resolveChange({ kind: c.kind, value: c.context.value }));
  await sub.ready;
  await peer.shareContext("note", { text: "hello from the peer" });
  const change = await changed;

  // Receive a message.
  let resolveMessage: (m: ScenarioResult["message"]) => void = () => {};
  const received = new Promise<ScenarioResult["message"]>((r) => {
    resolveMessage = r;
  });
  me.handle("greet", (m) => resolveMessage({ kind: m.kind, value: m.value, senderId: m.senderId }));
  const receiver = me.receive();
  await receiver.ready;
  await peer.sendTo("browser", "greet", { hi: "browser" });
  const message = await received;

  // The same delivery stream as an async iterable, opened by the loop and closed by leaving it.
  // The peer sends once it is live (deliveries made to the closed receiver's stream before the
  // hub saw it go would only come back after their ack deadline).
  await receiver.close();
  const iterated: unknown[] = [];
  let sent: Promise<unknown> | undefined;
  const sendTwo = () =>
    peer.sendTo("browser", "count", { n: 1 }).then(() => peer.sendTo("browser", "count", { n: 2 }));
  const onStateChange = (state: string) => {
    if (state === "live") sent ??= sendTwo();
  };
  for await (const m of me.messages({ onStateChange })) {
    iterated.push(m.value);
    if (iterated.length === 2) break;
  }
  await sent;

  // Upload 5 MB (unary chunk calls: fetch cannot stream a request body), then read it back.
  const bytes = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 65536)
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const ctx = await me.streamContext("dataset").fromReader(bytes).send();
  let readBack = 0;
  const reader = me.receiveContextStream(ctx.id).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) readBack += r.value.length;

  // Join the meeting the Node side created and watch the hub confirm it.
  const meeting = me.meetings.open(config.meetingId);
  const info = await meeting.join();

  await sub.close();
  await session.unregister();
  const connection = me.state;
  await me.close();
  await peer.close();
  return {
    registered: session.agent.id,
    change,
    message,
    iterated,
    upload: {
      size: ctx.size,
      checksumMatches: ctx.sha256 === hex(digest),
      readBack,
    },
    meeting: {
      joined: info.participants.filter((p) => p.status === "joined").map((p) => p.agentId),
      state: info.state,
    },
    connection,
  };
}

(globalThis as unknown as { runScenario: typeof runScenario }).runScenario = runScenario;
document.title = "acb-ready";
