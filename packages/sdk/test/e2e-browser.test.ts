// End-to-end encryption between headless Chromium and Node: the page (bundled with esbuild from
// the web entry point, served from an origin of its own) encrypts a context, a message and a
// 50 MiB large context to a Node agent, whose upload — one unary AppendChunk call per chunk over
// fetch — loses a chunk's answer halfway and resumes; Node decrypts all three. Then Node encrypts
// the same three to the page, which decrypts them.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, exportAgentKey, generateAgentKey } from "../src/node.js";
import { generated, sameAsGenerated } from "./e2e-browser/bytes.js";
import type { E2ePageConfig } from "./e2e-browser/page.js";
import { startTestBed, type TestBed } from "./harness.js";
import { requireRuntime, runtimes } from "./runtimes.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const enabled = requireRuntime("chromium", "apt-get install chromium, or set ACB_CHROMIUM");
const LARGE = 50 * 1024 * 1024;

async function servePage(): Promise<{ server: Server; url: string }> {
  const out = await build({
    entryPoints: [resolve(import.meta.dirname, "e2e-browser/page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source"],
    write: false,
  });
  const script = out.outputFiles[0]?.text ?? "";
  const html = `<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`;
  const server = createServer((req, res) => {
    if (req.url === "/page.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end(html);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://localhost:${(server.address() as AddressInfo).port}/` };
}

describe.runIf(enabled)("end-to-end encryption between Chromium and Node", () => {
  let bed: TestBed;
  let browser: Browser;
  let served: { server: Server; url: string };
  let proxy: TcpProxy;
  let tab: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    bed = await startTestBed();
    // The page is on another origin: the hub must allow it (dev mode allows loopback origins).
    const hub = await bed.hub.listen({ cors: { allowedOrigins: ["loopback"] } });
    proxy = await startTcpProxy(Number(new URL(hub.url).port));
    served = await servePage();
    browser = await chromium.launch({
      executablePath: runtimes.chromium ?? "chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    tab = await browser.newPage();
    tab.on("pageerror", (e) => errors.push(String(e)));
    // The page calls this once half its upload is verified: the next request's answer is lost.
    await tab.exposeFunction("acbHalf", () => proxy.cutOnNextRequest());
    await tab.goto(served.url);
    await tab.waitForFunction(() => document.title === "acb-ready");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    served?.server.close();
    await proxy?.close();
    await bed?.close();
  });

  const hubUrl = () => proxy.url.replace("127.0.0.1", "localhost");
  const call = <T>(fn: "e2eWrite" | "e2eRead", config: E2ePageConfig): Promise<T> =>
    tab.evaluate(
      ([f, c]) =>
        (globalThis as unknown as Record<string, (c: unknown) => Promise<unknown>>)[f]?.(c),
      [fn, config] as const,
    ) as Promise<T>;

  it("Chromium encrypts (upload cut and resumed), Node decrypts", async () => {
    const rKey = await generateAgentKey();
    // The reader's key is in the registry before the page looks it up.
    const reader = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("node-reader"),
      e2e: { keys: [rKey] },
    });
    await reader.register({ id: "node-reader", type: "e2e-peer", heartbeat: false });
    const secret = `browser-to-node-${randomBytes(6).toString("hex")}`;
    const written = await call<{ contextId: string; largeId: string; resumes: number }>(
      "e2eWrite",
      {
        hubUrl: hubUrl(),
        token: await bed.tokenFor("browser-writer"),
        agentId: "browser-writer",
        key: await exportAgentKey(await generateAgentKey()),
        secret,
        size: LARGE,
        peer: "node-reader",
      },
    );
    expect(errors).toEqual([]);
    expect(written.resumes).toBeGreaterThanOrEqual(1);

    const message = new Promise<string>((r) => {
      reader.handle<{ text: string }>("secret", (m) => r(m.value.text));
    });
    const receiver = reader.receive();
    const context = await reader.getContext<{ text: string }>(written.contextId);
    expect(context.value.text).toBe(secret);
    expect(await message).toBe(secret);
    expect(await sameAsGenerated(reader.receiveContextStream(written.largeId), LARGE, 42)).toBe(
      true,
    );
    await receiver.close();
    await reader.close();
  }, 240_000);

  it("Node encrypts, Chromium decrypts", async () => {
    const pageKey = await generateAgentKey();
    // The page's key is in the registry before Node looks it up.
    const pre = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("browser-reader"),
      e2e: { keys: [pageKey] },
    });
    await pre.register({ id: "browser-reader", type: "web", heartbeat: false });
    await pre.close();
    const writer = createClient({
      baseUrl: bed.listener.url,
      token: await bed.tokenFor("node-writer"),
      e2e: { keys: [await generateAgentKey()] },
    });
    await writer.register({ id: "node-writer", type: "e2e-peer", heartbeat: false });
    const secret = `node-to-browser-${randomBytes(6).toString("hex")}`;
    const to = { to: ["browser-reader"] };
    const context = await writer.shareContext("note", { text: secret }, { encrypt: to });
    await writer.sendTo("browser-reader", "secret", { text: secret }, { encrypt: to });
    const large = await writer
      .streamContext("blob", { encrypt: to })
      .fromReader(generated(LARGE, 7), LARGE)
      .send();
    await writer.close();

    const read = await call<{ context: string; message: string; largeOk: boolean }>("e2eRead", {
      hubUrl: hubUrl(),
      token: await bed.tokenFor("browser-reader"),
      agentId: "browser-reader",
      key: await exportAgentKey(pageKey),
      secret,
      size: LARGE,
      ids: { contextId: context.id, largeId: large.id },
    });
    expect(errors).toEqual([]);
    expect(read).toEqual({ context: secret, message: secret, largeOk: true });
  }, 240_000);
});
