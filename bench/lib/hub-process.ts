// Starts `acb-hub dev` in its own process, as a deployment would run it, so client and hub do not
// share a CPU's event loop; reads the URL and admin token from its first stdout line.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

export interface HubProcess {
  url: string;
  adminToken: string;
  pid: number;
  /** Current resident set size of the hub process, in MiB (from /proc). */
  rssMB(): number;
  /** Peak resident set size so far, in MiB (VmHWM). */
  peakRssMB(): number;
  stop(): Promise<void>;
}

function procStatusMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  const kb = Number(line?.split(/\s+/)[1]);
  return kb / 1024;
}

export async function startHubProcess(extraArgs: string[] = []): Promise<HubProcess> {
  const bin = new URL("../../reference-server/bin/acb-hub.js", import.meta.url).pathname;
  // ACB_BENCH_HUB_NODE_ARGS passes Node flags to the hub only, e.g. "--cpu-prof" to profile it.
  const nodeArgs = (process.env["ACB_BENCH_HUB_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, bin, "dev", "--port", "0", "--log-level", "warn", ...extraArgs],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const first = await new Promise<string>((resolve, reject) => {
    if (!child.stdout) return reject(new Error("hub has no stdout"));
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolve);
    child.once("exit", (code) =>
      reject(new Error(`hub exited with code ${code} before listening`)),
    );
  });
  const info = JSON.parse(first) as { url: string; adminToken: string };
  const pid = child.pid ?? 0;
  return {
    url: info.url,
    adminToken: info.adminToken,
    pid,
    rssMB: () => procStatusMB(pid, "VmRSS"),
    peakRssMB: () => procStatusMB(pid, "VmHWM"),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
