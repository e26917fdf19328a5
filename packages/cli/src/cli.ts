// The acb bin's entry: runs the CLI on the process's arguments and streams; Ctrl-C ends a watch.
import { runCli } from "./main.js";

const abort = new AbortController();
for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => abort.abort());
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: abort.signal,
});
// Streams closed by the abort may leave nothing else to wait for; exit with the code.
process.exit();
