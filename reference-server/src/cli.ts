// The acb-hub bin's entry point (bin/acb-hub.js imports the built copy): see cli-main.ts.
import { runCli } from "./cli-main.js";

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
