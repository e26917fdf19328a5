// Mutation testing of the conformance suite (StrykerJS): mutates the reference hub's rules,
// auth and memory backend, and runs the conformance suite against an in-process hub for each
// mutant. Run: npm run mutation -- [files or globs]; with no argument, every file that
// stryker.config.json names. ACB_MUTATION_PROFILES=a,b narrows the suite to some profiles;
// ACB_MUTATION_BACKEND=pglite runs it against the SQL backend (see conformance.suite.ts).
// Reports: reports/mutation/ (HTML, JSON, and an incremental file that makes reruns cheap).
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const files = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("-"));
const args = ["stryker", "run", "stryker.config.json", ...flags];
// Results on one backend say nothing of the other: each keeps its own incremental file.
const backend = process.env.ACB_MUTATION_BACKEND;
if (backend && backend !== "memory") {
  args.push("--incrementalFile", `reports/mutation/stryker-incremental-${backend}.json`);
}
if (files.length > 0) args.push("--mutate", [...files, "!**/*.test.ts"].join(","));
const run = spawnSync("npx", ["--no-install", ...args], { cwd: root, stdio: "inherit" });
process.exitCode = run.status ?? 1;
