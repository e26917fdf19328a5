// The page of the browser streaming benchmark (bundled with esbuild from the SDK's web entry
// point, as an application's bundler would): uploads `size` bytes with streamContext (one
// AppendChunk call per chunk, since fetch cannot stream a request body) and downloads them with
// receiveContextStream, each chunk checked (SHA-256 per chunk through WebCrypto, and the whole
// object's SHA-256 for the download). Reports the wall time of each direction.
import { createClient } from "../../packages/sdk/src/web.ts";

export interface BrowserRun {
  uploadMs: number;
  downloadMs: number;
  downloaded: number;
  sha256: string;
}

async function run(hubUrl: string, token: string, size: number): Promise<BrowserRun> {
  const client = createClient({ baseUrl: hubUrl, token, timeoutMs: 120_000 });
  // 16 random 1 MiB blocks repeated: generating the bytes is not what is measured.
  const bytes = new Uint8Array(size);
  const block = new Uint8Array(1024 * 1024);
  for (let i = 0; i < block.length; i += 65536)
    crypto.getRandomValues(block.subarray(i, i + 65536));
  for (let at = 0; at < size; at += block.length) bytes.set(block.subarray(0, size - at), at);
  const t0 = performance.now();
  const ctx = await client.streamContext("bench-browser").fromReader(bytes).send();
  const t1 = performance.now();
  let downloaded = 0;
  const reader = client.receiveContextStream(ctx.id).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) downloaded += r.value.length;
  const t2 = performance.now();
  await client.close();
  return { uploadMs: t1 - t0, downloadMs: t2 - t1, downloaded, sha256: ctx.sha256 };
}

(globalThis as unknown as { runBench: typeof run }).runBench = run;
