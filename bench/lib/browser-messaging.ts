// The messaging benchmark's browser phase: send→deliver latency from the SDK's web entry point in
// headless Chromium (playwright-core; ACB_CHROMIUM or /usr/bin/chromium). A page bundled with
// esbuild from bench/lib/browser-messaging-page.ts, served from an origin of its own (the dev hub
// allows loopback origins), runs web clients of `agents` agents and an open-loop sender at `rate`
// msg/s to random other agents of the page for `seconds` (the first 2 s are warm-up).
//
// Chromium speaks HTTP/1.1 to a plaintext hub and opens at most six connections per host, while
// each agent's Receive stream holds one for as long as it runs: with one host name, six agents'
// streams take every connection and the seventh agent's calls time out waiting for one. So each
// agent reaches the hub under a host name of its own (agent-N.localhost, which Chromium resolves
// to loopback itself), as agents in separate browsers would.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { HubNodes } from "./backends.ts";
import type {
  BrowserAgent,
  BrowserLatencyRun,
  BrowserMessagingPage,
} from "./browser-messaging-page.ts";
import { provision } from "./hub-process.ts";
import { log, type Percentiles, percentiles } from "./report.ts";

type Page = { messaging: BrowserMessagingPage };

export type BrowserLatency =
  | (Percentiles & {
      sent: number;
      received: number;
      errors: number;
      /** Chromium's CPU (all its processes) while sending and delivering, in cores. */
      chromiumCores: number;
    })
  | { unavailable: string };

/**
 * CPU seconds (user + system) so far of the Chromium processes this benchmark started (its
 * descendants named chromium), from /proc: while the page runs they do nothing else.
 */
function chromiumCpuSeconds(): number {
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      procs.set(Number(pid), { ppid: Number(fields[1] ?? 0), comm, ticks });
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid ?? 0, depth = 0; p > 1 && depth < 10; depth++) {
      if (p === process.pid) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, p] of procs) if (p.comm === "chromium" && ours(pid)) ticks += p.ticks;
  return ticks / 100;
}

export async function browserLatency(
  hub: HubNodes,
  agentCount: number,
  rate: number,
  seconds: number,
): Promise<BrowserLatency> {
  const executablePath = process.env["ACB_CHROMIUM"] ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    return {
      unavailable: `no Chromium at ${executablePath} (Debian package chromium, or set ACB_CHROMIUM)`,
    };
  }
  const out = await build({
    entryPoints: [new URL("./browser-messaging-page.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
  });
  const script = out.outputFiles[0]?.text ?? "";
  const server = createServer((req, res) => {
    if (req.url === "/page.js")
      res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else
      res
        .writeHead(200, { "content-type": "text/html" })
        .end(`<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const pageUrl = `http://localhost:${(server.address() as AddressInfo).port}/`;
  let browser: Awaited<ReturnType<typeof chromium.launch>>;
  try {
    browser = await chromium.launch({
      executablePath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  } catch (err) {
    server.close();
    return {
      unavailable: `Chromium at ${executablePath} did not start: ${(err as Error).message}`,
    };
  }
  try {
    const ids = Array.from({ length: agentCount }, (_, i) => `web-${i}`);
    const tokens = await provision(hub, ids);
    const agents: BrowserAgent[] = ids.map((id, i) => ({
      id,
      token: tokens.get(id) ?? "",
      baseUrl: hub.urlsFrom(i).map((u) => {
        const url = new URL(u);
        url.hostname = `agent-${i}.localhost`;
        return url.href.replace(/\/$/, "");
      }),
    }));
    const tab = await browser.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => "messaging" in globalThis);
    await tab.evaluate((a) => (globalThis as unknown as Page).messaging.setup(a), agents);
    const cpu0 = chromiumCpuSeconds();
    const t0 = performance.now();
    const res: BrowserLatencyRun = await tab.evaluate(
      ([r, s]) => (globalThis as unknown as Page).messaging.run(r, s, 2),
      [rate, seconds] as const,
    );
    const chromiumCores = (chromiumCpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
    await tab.evaluate(() => (globalThis as unknown as Page).messaging.teardown());
    if (res.firstError !== undefined)
      log(`browser: ${res.errors} sends failed, the first with: ${res.firstError}`);
    return {
      ...percentiles(res.samples),
      sent: res.sent,
      received: res.received,
      errors: res.errors,
      chromiumCores,
    };
  } finally {
    await browser.close();
    server.close();
  }
}
