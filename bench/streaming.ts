// The streaming benchmark (`npm run bench -- streaming [--quick] [--json] [--runs N]`).
//
// Against a hub in its own process (embedded backend: blobs in a temporary directory), a Node SDK
// client uploads 1 GiB (256 MiB with --quick) with streamContext and downloads it with
// receiveContextStream; SHA-256 is verified on both sides (every chunk by the receiver, the whole
// object by the hub at commit and by the client after the download). As the reference, the same
// number of bytes goes over a plain node:http request and response with no protocol, to a
// server in its own process. Reports MB/s (10^6 bytes per second), the ratios to the reference
// and the hub's peak RSS growth during the transfers (sampled from /proc every 10 ms), and the CPU
// seconds per GiB each process spent (a figure that other load on the machine disturbs far less
// than MB/s), in all and on its main thread (the event loop, which bounds what one transfer
// reaches; the rest is V8's helper threads and libuv's file-system threads). Medians of `--runs` runs (default 3).
//
// A 32 MiB warm-up transfer comes first (`--no-warm-up` skips it), so run 1 measures the transfers
// rather than the hub's one-time heap growth and compilation.
//
// Then a slow reader: the object is downloaded at 10 MB/s (`--slow-MBps N`; `--no-slow-reader`
// skips it) while the hub's RSS is sampled, to show that the hub holds what flow control allows,
// not what the reader has yet to take (`slow_reader_peak_rss_growth_MB`).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { createClient } from "@acb/sdk/node";
import { provision, startHubProcess } from "./lib/hub-process.ts";
import { log, median } from "./lib/report.ts";

const MiB = 1024 * 1024;

/** Spawns `node <script> ...args` and reads the JSON of its first stdout line. */
async function spawnJson<T>(
  script: string,
  args: string[],
): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as T };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });

/** A source of `size` bytes cycling through 16 random 1 MiB blocks (no allocation per chunk). */
function source(size: number): AsyncIterable<Uint8Array> {
  const blocks = Array.from({ length: 16 }, () => new Uint8Array(randomBytes(MiB)));
  return (async function* () {
    for (let at = 0, i = 0; at < size; at += MiB, i++) {
      const b = blocks[i % blocks.length] as Uint8Array;
      yield size - at >= MiB ? b : b.subarray(0, size - at);
    }
  })();
}

async function rawUpload(url: string, size: number): Promise<number> {
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${url}/sink`,
      { method: "POST", headers: { "content-length": size } },
      (res) => {
        res.resume();
        res.on("end", resolve);
      },
    );
    req.on("error", reject);
    (async () => {
      for await (const piece of source(size)) {
        if (!req.write(piece)) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })().catch(reject);
  });
  return size / 1e6 / ((performance.now() - start) / 1000);
}

async function rawDownload(url: string, size: number): Promise<number> {
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    request(`${url}/source?bytes=${size}`, (res) => {
      let got = 0;
      res.on("data", (d: Buffer) => {
        got += d.length;
      });
      res.on("end", () => (got === size ? resolve() : reject(new Error(`got ${got} of ${size}`))));
    })
      .on("error", reject)
      .end();
  });
  return size / 1e6 / ((performance.now() - start) / 1000);
}

/** CPU seconds this process has used (user + system). */
const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * CPU seconds this process's main thread has used (process.threadCpuUsage, Node >= 23.9), or NaN
 * where Node has no such call.
 */
const ownMainThreadCpuSeconds = () => {
  const usage = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage;
  if (!usage) return Number.NaN;
  const u = usage.call(process);
  return (u.user + u.system) / 1e6;
};

/**
 * The hub's CPU seconds per GiB by thread since `before` (its threads' CPU seconds then), as
 * "name s, name s": a thread that ended is left out.
 */
function threadShares(
  hub: { threadsCpuSeconds(): Map<string, number> },
  before: Map<string, number>,
  GiB: number,
): string {
  return [...hub.threadsCpuSeconds()]
    .map(([name, s]) => `${name} ${((s - (before.get(name) ?? 0)) / GiB).toFixed(2)}`)
    .join(", ");
}

/** Samples the hub's RSS every 10 ms; `stop()` returns the peak growth over the starting RSS. */
function rssSampler(hub: { rssMB(): number }): { stop(): number } {
  const baseline = hub.rssMB();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, hub.rssMB());
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, hub.rssMB());
      return peak - baseline;
    },
  };
}

export default async function streaming(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const quick = args.includes("--quick");
  const runsAt = args.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const size = quick ? 256 * MiB : 1024 * MiB;
  const slowAt = args.indexOf("--slow-MBps");
  const slowMBps = slowAt >= 0 ? Number(args[slowAt + 1]) : 10;
  const slowReader = !args.includes("--no-slow-reader");
  const GiB = size / (1024 * MiB);

  const hub = await startHubProcess();
  const raw = await spawnJson<{ url: string }>(
    new URL("./lib/raw-http-server.ts", import.meta.url).pathname,
    [],
  );
  try {
    const tokens = await provision(hub, ["streamer"]);
    const client = createClient({ baseUrl: hub.url, token: tokens.get("streamer") ?? "" });

    const results = {
      upload: [] as number[],
      download: [] as number[],
      rawUp: [] as number[],
      rawDown: [] as number[],
      rss: [] as number[],
      hubCpuUp: [] as number[],
      hubCpuDown: [] as number[],
      clientCpuUp: [] as number[],
      clientCpuDown: [] as number[],
      hubMainUp: [] as number[],
      hubMainDown: [] as number[],
      clientMainUp: [] as number[],
      clientMainDown: [] as number[],
    };
    // A warm-up transfer, not measured: the hub's first large transfer grows its heap and compiles
    // its code once, which is not what the transfers hold (`--no-warm-up` measures it in run 1).
    if (!args.includes("--no-warm-up")) {
      const warm = await client
        .streamContext("bench")
        .fromReader(source(32 * MiB), 32 * MiB)
        .send();
      for await (const _ of client.receiveContextStream(warm.id));
      await client.deleteContext(warm.id);
    }
    for (let run = 1; run <= runs; run++) {
      results.rawUp.push(await rawUpload(raw.info.url, size));
      results.rawDown.push(await rawDownload(raw.info.url, size));

      const sampler = rssSampler(hub);
      let start = performance.now();
      let hubCpu = hub.cpuSeconds();
      let clientCpu = ownCpuSeconds();
      let hubMain = hub.mainThreadCpuSeconds();
      let clientMain = ownMainThreadCpuSeconds();
      const hubThreadsUp = hub.threadsCpuSeconds();
      const ctx = await client.streamContext("bench").fromReader(source(size), size).send();
      results.upload.push(size / 1e6 / ((performance.now() - start) / 1000));
      results.hubCpuUp.push((hub.cpuSeconds() - hubCpu) / GiB);
      results.clientCpuUp.push((ownCpuSeconds() - clientCpu) / GiB);
      results.hubMainUp.push((hub.mainThreadCpuSeconds() - hubMain) / GiB);
      results.clientMainUp.push((ownMainThreadCpuSeconds() - clientMain) / GiB);
      log(`run ${run}: hub CPU s per GiB up, by thread: ${threadShares(hub, hubThreadsUp, GiB)}`);
      start = performance.now();
      hubCpu = hub.cpuSeconds();
      clientCpu = ownCpuSeconds();
      hubMain = hub.mainThreadCpuSeconds();
      clientMain = ownMainThreadCpuSeconds();
      const hubThreads = hub.threadsCpuSeconds();
      let got = 0;
      for await (const chunk of client.receiveContextStream(ctx.id)) got += chunk.length;
      results.download.push(size / 1e6 / ((performance.now() - start) / 1000));
      results.hubCpuDown.push((hub.cpuSeconds() - hubCpu) / GiB);
      results.clientCpuDown.push((ownCpuSeconds() - clientCpu) / GiB);
      results.hubMainDown.push((hub.mainThreadCpuSeconds() - hubMain) / GiB);
      results.clientMainDown.push((ownMainThreadCpuSeconds() - clientMain) / GiB);
      log(`run ${run}: hub CPU s per GiB down, by thread: ${threadShares(hub, hubThreads, GiB)}`);
      results.rss.push(sampler.stop());
      if (got !== size) throw new Error(`downloaded ${got} of ${size} bytes`);
      await client.deleteContext(ctx.id);
      log(
        `run ${run}: upload ${results.upload.at(-1)?.toFixed(0)} MB/s, download ${results.download.at(-1)?.toFixed(0)} MB/s, raw up ${results.rawUp.at(-1)?.toFixed(0)} / down ${results.rawDown.at(-1)?.toFixed(0)} MB/s, hub RSS +${results.rss.at(-1)?.toFixed(1)} MB`,
      );
    }

    let slow: { MBps: number; rss: number } | undefined;
    if (slowReader) {
      const ctx = await client.streamContext("bench").fromReader(source(size), size).send();
      log(`slow reader: downloading ${size / MiB} MiB at ${slowMBps} MB/s`);
      const sampler = rssSampler(hub);
      const start = performance.now();
      let got = 0;
      for await (const chunk of client.receiveContextStream(ctx.id)) {
        got += chunk.length;
        // Paced: never ahead of slowMBps (a timer is the point here, not a synchronisation).
        const due = start + (got / (slowMBps * 1e6)) * 1000;
        const ahead = due - performance.now();
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      }
      const rss = sampler.stop();
      if (got !== size) throw new Error(`slow reader got ${got} of ${size} bytes`);
      slow = { MBps: size / 1e6 / ((performance.now() - start) / 1000), rss };
      log(`slow reader: ${slow.MBps.toFixed(1)} MB/s, hub RSS +${rss.toFixed(1)} MB`);
      await client.deleteContext(ctx.id);
    }

    const upload = median(results.upload);
    const download = median(results.download);
    const rawUp = median(results.rawUp);
    const rawDown = median(results.rawDown);
    const summary = {
      bytes: size,
      runs,
      upload_MBps: Math.round(upload),
      download_MBps: Math.round(download),
      raw_upload_MBps: Math.round(rawUp),
      raw_download_MBps: Math.round(rawDown),
      raw_MBps: Math.round((rawUp + rawDown) / 2),
      upload_ratio: Number((upload / rawUp).toFixed(2)),
      download_ratio: Number((download / rawDown).toFixed(2)),
      peak_rss_growth_MB: Number(Math.max(...results.rss).toFixed(1)),
      hub_cpu_s_per_GiB_up: Number(median(results.hubCpuUp).toFixed(2)),
      hub_cpu_s_per_GiB_down: Number(median(results.hubCpuDown).toFixed(2)),
      client_cpu_s_per_GiB_up: Number(median(results.clientCpuUp).toFixed(2)),
      client_cpu_s_per_GiB_down: Number(median(results.clientCpuDown).toFixed(2)),
      hub_main_thread_cpu_s_per_GiB_up: Number(median(results.hubMainUp).toFixed(2)),
      hub_main_thread_cpu_s_per_GiB_down: Number(median(results.hubMainDown).toFixed(2)),
      client_main_thread_cpu_s_per_GiB_up: Number(median(results.clientMainUp).toFixed(2)),
      client_main_thread_cpu_s_per_GiB_down: Number(median(results.clientMainDown).toFixed(2)),
      ...(slow && {
        slow_reader_MBps: Number(slow.MBps.toFixed(1)),
        slow_reader_peak_rss_growth_MB: Number(slow.rss.toFixed(1)),
      }),
    };
    process.stdout.write(
      `\nstreaming ${size / MiB} MiB through the hub (medians of ${runs}; SHA-256 verified both sides)\n`,
    );
    for (const [k, v] of Object.entries(summary)) process.stdout.write(`  ${k.padEnd(31)} ${v}\n`);
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await Promise.all([hub.stop(), stop(raw.child)]);
  }
}
