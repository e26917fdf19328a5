// `acb context put --file` of a large file: a progress bar on standard error, and a transfer that
// survives a dropped connection, resuming at the hub's verified offset (the SDK asks
// GetUploadStatus) instead of starting over. The connection is cut by a TCP proxy between the CLI
// and a hub that keeps running (an in-memory hub loses its upload sessions when it restarts).
// ACB_CLI_PUT_BYTES sets the file size (default 32 MiB; the 1 GiB case runs the same way).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHub, type Hub, type Listener, silentLogger } from "@acb/hub";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "../../sdk/test/tcp-proxy.js";
import { fileSha256, writeBigFile } from "./big-file.js";
import { acb } from "./io.js";

const size = Number(process.env["ACB_CLI_PUT_BYTES"] ?? 32 * 1024 * 1024);
let hub: Hub;
let listener: Listener;
let proxy: TcpProxy;
let dir: string;
let file: string;
let sha256: string;
let token: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "acb-cli-put-"));
  file = join(dir, "upload.bin");
  sha256 = await writeBigFile(file, size);
  hub = await createHub({ mode: "dev", logger: silentLogger });
  listener = await hub.listen({ host: "127.0.0.1", port: 0 });
  proxy = await startTcpProxy(listener.port);
  const admin = ["--url", listener.url, "--token", await hub.issueAdminToken()];
  expect((await acb(["tenant", "create", "cli-test", ...admin])).code).toBe(0);
  const issued = await acb(["token", "issue", "uploader", "--tenant", "cli-test", ...admin]);
  expect(issued.code).toBe(0);
  token = issued.stdout.trim();
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("shows progress and resumes after the connection drops mid-upload", async () => {
  let cut = false;
  const put = await acb(
    ["context", "put", "dataset", "--file", file, "--url", proxy.url, "--token", token, "--json"],
    {
      onStderr(text) {
        // The first progress line past 30 %: drop every connection, then let new ones through
        // (the client reconnects after its backoff).
        const pct = Number(/\] (\d+)%/.exec(text)?.[1] ?? 0);
        if (!cut && pct >= 30 && pct < 100) {
          cut = true;
          proxy.cut();
          proxy.restore();
        }
      },
    },
  );
  expect(put.code, put.stderr).toBe(0);
  expect(cut).toBe(true);
  const result = JSON.parse(put.stdout) as {
    id: string;
    size: number;
    sha256: string;
    resumes: number;
  };
  expect(result).toMatchObject({ size, sha256 });
  expect(result.resumes).toBeGreaterThanOrEqual(1);
  // The progress bar: lines on standard error (not a terminal), up to 100 %, saying it resumed.
  expect(put.stderr).toMatch(/^put \[#+-*\] \d+% /m);
  expect(put.stderr).toMatch(/100% .*resumed \d+×/);

  // Read back through the CLI, to a file, and compare.
  const out = join(dir, "download.bin");
  const get = await acb([
    "context",
    "get",
    result.id,
    "--out",
    out,
    "--url",
    listener.url,
    "--token",
    token,
  ]);
  expect(get.code).toBe(0);
  expect(get.stderr).toMatch(/get \[#+\] 100%/);
  expect(await fileSha256(out)).toBe(sha256);
}, 600_000);
