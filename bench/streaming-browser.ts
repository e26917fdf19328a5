// The browser streaming benchmark (`npm run bench -- streaming-browser [--quick] [--json]
// [--runs N]`): headless Chromium (playwright-core; ACB_CHROMIUM or /usr/bin/chromium) loads a
// page bundled from the SDK's web entry point and uploads, then downloads, 256 MiB (64 MiB with
// --quick) through a hub in its own process, over fetch: uploads as one AppendChunk call per
// chunk, chunks checked with WebCrypto's SHA-256, the whole object's SHA-256 checked on download.
// Prints MB/s (10^6 bytes/s) each way and the hub's CPU seconds per GiB each way (far less
// disturbed than MB/s when other work shares the machine); medians over the runs.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { BrowserRun } from "./lib/browser-streaming-page.ts";
import { provision, startHubProcess } from "./lib/hub-process.ts";
import { flags, log, median, printTable } from "./lib/report.ts";

const MiB = 1024 * 1024;

export default async function main(args: string[]): Promise<void> {
  const { quick, json } = flags(args);
  const runsAt = args.indexOf("--runs");
  const runs = runsAt === -1 ? 3 : Number(args[runsAt + 1]);
  const size = (quick ? 64 : 256) * MiB;
  const out = await build({
    entryPoints: [new URL("./lib/browser-streaming-page.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
  });
  const script = out.outputFiles[0]?.text ?? "";
  // The page comes from an origin of its own; the dev hub allows loopback origins (CORS).
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
  const hub = await startHubProcess();
  const browser = await chromium.launch({
    executablePath: process.env["ACB_CHROMIUM"] ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const token = (await provision(hub, ["browser"])).get("browser") ?? "";
    const tab = await browser.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => "runBench" in globalThis);
    const hubUrl = hub.url.replace("127.0.0.1", "localhost");
    const r = {
      up: [] as number[],
      down: [] as number[],
      hubUp: [] as number[],
      hubDown: [] as number[],
    };
    for (let i = 0; i < runs; i++) {
      const cpu0 = hub.cpuSeconds();
      const res: BrowserRun = await tab.evaluate(
        ([u, t, s]) =>
          (
            globalThis as unknown as {
              runBench(u: string, t: string, s: number): Promise<BrowserRun>;
            }
          ).runBench(u, t, s),
        [hubUrl, token, size] as const,
      );
      const cpu1 = hub.cpuSeconds();
      if (res.downloaded !== size) throw new Error(`downloaded ${res.downloaded} of ${size} bytes`);
      // The hub's CPU split by the page's timing of the two phases (they run back to back).
      const share = res.uploadMs / (res.uploadMs + res.downloadMs);
      r.up.push(size / 1e6 / (res.uploadMs / 1000));
      r.down.push(size / 1e6 / (res.downloadMs / 1000));
      r.hubUp.push(((cpu1 - cpu0) * share * 2 ** 30) / size);
      r.hubDown.push(((cpu1 - cpu0) * (1 - share) * 2 ** 30) / size);
      log(
        `run ${i + 1}: upload ${r.up.at(-1)?.toFixed(0)} MB/s, download ${r.down.at(-1)?.toFixed(0)} MB/s`,
      );
    }
    const result = {
      bytes: size,
      runs,
      upload_MBps: Math.round(median(r.up)),
      download_MBps: Math.round(median(r.down)),
      hub_cpu_s_per_GiB_up_approx: Number(median(r.hubUp).toFixed(2)),
      hub_cpu_s_per_GiB_down_approx: Number(median(r.hubDown).toFixed(2)),
    };
    printTable(
      `streaming ${size / MiB} MiB from headless Chromium (medians of ${runs}; SHA-256 verified)`,
      Object.entries(result),
    );
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await browser.close();
    server.close();
    await hub.stop();
  }
}
