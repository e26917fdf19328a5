// The SDK in a real browser: headless Chromium loads a page bundled from the web entry point
// (esbuild), served from its own origin, and runs a scenario against a live hub that answers CORS.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../src/node.js";
import type { ScenarioConfig, ScenarioResult } from "./browser/page.js";
import { startTestBed, type TestBed } from "./harness.js";
import { requireRuntime, runtimes } from "./runtimes.js";

const enabled = requireRuntime("chromium", "apt-get install chromium, or set ACB_CHROMIUM");

/** Bundles the page for the browser: what an application's bundler would do with @acb/sdk/web. */
async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [resolve(import.meta.dirname, "browser/page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source"],
    write: false,
  });
  return out.outputFiles[0]?.text ?? "";
}

/** Serves the page from an origin of its own (another port than the hub's). */
async function servePage(script: string): Promise<{ server: Server; url: string }> {
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

describe.runIf(enabled)("the SDK in headless Chromium", () => {
  let bed: TestBed;
  let browser: Browser;
  let page: { server: Server; url: string };

  beforeAll(async () => {
    bed = await startTestBed();
    page = await servePage(await bundlePage());
    browser = await chromium.launch({
      executablePath: runtimes.chromium ?? "chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    page?.server.close();
    await bed?.close();
  });

  it("registers, subscribes, receives, uploads 5 MB and joins a meeting over fetch", async () => {
    // The page is on another origin: the hub must allow it (dev mode allows loopback origins).
    const hub = await bed.hub.listen({ cors: { allowedOrigins: ["loopback"] } });
    const peerNode = createClient({ baseUrl: bed.listener.url, token: await bed.tokenFor("peer") });
    const meeting = await peerNode.meetings.create({
      title: "browser sync",
      participants: ["peer", "browser"],
    });
    const config: ScenarioConfig = {
      hubUrl: hub.url.replace("127.0.0.1", "localhost"),
      browserToken: await bed.tokenFor("browser"),
      peerToken: await bed.tokenFor("peer"),
      meetingId: meeting.id,
    };
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (e) => errors.push(String(e)));
    await tab.goto(page.url);
    await tab.waitForFunction(() => document.title === "acb-ready");
    const result = (await tab.evaluate(
      (c) =>
        (globalThis as unknown as { runScenario(c: unknown): Promise<unknown> }).runScenario(c),
      config,
    )) as ScenarioResult;

    expect(errors).toEqual([]);
    expect(result.registered).toBe("browser");
    expect(result.change).toEqual({ kind: "created", value: { text: "hello from the peer" } });
    expect(result.message).toEqual({ kind: "greet", value: { hi: "browser" }, senderId: "peer" });
    expect(result.iterated).toEqual([{ n: 1 }, { n: 2 }]);
    expect(result.upload).toEqual({
      size: 5 * 1024 * 1024,
      checksumMatches: true,
      readBack: 5 * 1024 * 1024,
    });
    expect(result.meeting.joined).toContain("browser");
    expect(result.connection).toBe("connected");
    await peerNode.close();
  }, 60_000);
});
