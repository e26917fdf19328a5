// `acb context put --file` of a large file resumes after the hub RESTARTS: `acb-hub dev --data DIR`
// (PGlite in DIR, with the signing key, so state and tokens outlive the process) runs in a process
// of its own; once the progress passes 30 % it is killed (SIGKILL: no drain). While it is down the
// test holds its port and drops every connection, and only after the CLI has tried
// `attemptsWhileDown` times (more than the SDK's default 8 retries: the CLI must keep trying
// longer) starts the hub again on the same port and data. The upload session and its verified
// chunks are in the database, so the CLI reaches the new process, asks GetUploadStatus and goes on
// from the verified offset.
// ACB_CLI_PUT_BYTES sets the file size (default 32 MiB; the 1 GiB case runs the same way).

import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  type HubProcess,
  removeBundle,
  startHubProcess,
} from "../../../reference-server/test/hub-process.js";
import { fileSha256, writeBigFile } from "./big-file.js";
import { acb } from "./io.js";

const size = Number(process.env["ACB_CLI_PUT_BYTES"] ?? 32 * 1024 * 1024);
const attemptsWhileDown = 12;
// Ten minutes, or two seconds per MiB for the large runs (a 1 GiB run on a busy 2-core machine).
const timeoutMs = Math.max(600_000, (size / 2 ** 20) * 2_000);
const running = new Set<HubProcess>();
let dir: string | undefined;

afterAll(async () => {
  for (const hub of running) await hub.kill();
  await removeBundle();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Listens on `port` (the dead hub's), dropping every connection; `reached` resolves after `n`
 * of them, or rejects when closed before.
 */
async function holdPort(port: number, n: number) {
  let seen = 0;
  let settle: { resolve(): void; reject(err: Error): void } | undefined;
  const reached = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const server: Server = createServer((socket) => {
    socket.destroy();
    if (++seen === n) settle?.resolve();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    reached,
    close: () =>
      new Promise<void>((resolve) => {
        settle?.reject(
          new Error(`the client gave up after ${seen} connections to a hub that was down`),
        );
        server.close(() => resolve());
      }),
  };
}

async function startHub(args: string[]): Promise<HubProcess> {
  const hub = await startHubProcess(args);
  running.add(hub);
  return hub;
}

it(
  "resumes after the hub is killed and restarted on the same data mid-upload",
  async () => {
    dir = await mkdtemp(join(tmpdir(), "acb-cli-put-restart-"));
    const file = join(dir, "upload.bin");
    const sha256 = await writeBigFile(file, size);
    const data = join(dir, "hub");
    const first = await startHub(["--data", data]);
    const port = new URL(first.url).port;
    const admin = ["--url", first.url, "--token", first.adminToken];
    expect((await acb(["tenant", "create", "cli-test", ...admin])).code).toBe(0);
    const issued = await acb(["token", "issue", "uploader", "--tenant", "cli-test", ...admin]);
    expect(issued.code).toBe(0);
    const token = issued.stdout.trim();

    let restarted: Promise<HubProcess> | undefined;
    let held: Awaited<ReturnType<typeof holdPort>> | undefined;
    const put = await acb(
      ["context", "put", "dataset", "--file", file, "--url", first.url, "--token", token, "--json"],
      {
        onStderr(text) {
          // The first progress line past 30 %: kill the hub, then start it again where it was.
          const pct = Number(/\] (\d+)%/.exec(text)?.[1] ?? 0);
          if (restarted === undefined && pct >= 30 && pct < 100) {
            restarted = (async () => {
              await first.kill();
              running.delete(first);
              held = await holdPort(Number(port), attemptsWhileDown);
              try {
                await held.reached;
              } finally {
                await held.close();
              }
              return startHub(["--data", data, "--port", port]);
            })();
          }
        },
      },
    );
    await held?.close(); // the client gave up while the port was held: fail below, do not wait
    expect(restarted, "the upload ended before it passed 30 %").toBeDefined();
    const second = await (restarted as Promise<HubProcess>);
    expect(second.url).toBe(first.url);
    expect(second.epoch).toBe(first.epoch);
    expect(put.code, put.stderr).toBe(0);
    const result = JSON.parse(put.stdout) as {
      id: string;
      size: number;
      sha256: string;
      resumes: number;
    };
    expect(result).toMatchObject({ size, sha256 });
    expect(result.resumes).toBeGreaterThanOrEqual(1);
    expect(put.stderr).toMatch(/100% .*resumed \d+×/);

    // Read back from the restarted hub, to a file, and compare.
    const out = join(dir, "download.bin");
    const get = await acb([
      "context",
      "get",
      result.id,
      "--out",
      out,
      "--url",
      second.url,
      "--token",
      token,
    ]);
    expect(get.code, get.stderr).toBe(0);
    expect(await fileSha256(out)).toBe(sha256);
  },
  timeoutMs,
);
