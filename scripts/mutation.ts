// Mutation testing of the conformance suite (StrykerJS): mutates the reference hub's rules,
// auth and memory backend, and runs the conformance suite against an in-process hub for each
// mutant. Run: npm run mutation -- [files or globs]; with no argument, every file that
// stryker.config.json names. ACB_MUTATION_PROFILES=a,b narrows the suite to some profiles;
// ACB_MUTATION_BACKEND=pglite runs it against the SQL backend (see conformance.suite.ts).
//
// Each run starts from the results the repository keeps for its backend
// (conformance/mutation/results.json.gz, results-pglite.json.gz; see mutation-results.ts):
// StrykerJS tests only the mutants whose code or cases changed, and the run's results are merged
// back into that file, so the full run is made a few files at a time. `./dev mutation --score` prints the score of
// every file measured so far and lists those never measured. Reports: reports/mutation/ (HTML,
// JSON, the run's incremental file).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  encodeResults,
  formatScores,
  mergeReports,
  mutatedFiles,
  type Report,
  readResults,
  resultsOf,
  scoreReport,
} from "./mutation-results.ts";

const root = resolve(import.meta.dirname, "..");
// Results on one backend say nothing of the other: each keeps its own file, the memory
// backend's (results.json.gz) and the SQL backend's (results-pglite.json.gz), and the score
// counts a mutant killed when either backend's run killed it (mutation-results.ts, scoreReport).
const backend = process.env.ACB_MUTATION_BACKEND ?? "memory";
if (backend !== "memory" && backend !== "pglite") {
  throw new Error(`ACB_MUTATION_BACKEND must be memory or pglite, not "${backend}"`);
}
const memoryResults = resolve(root, "conformance/mutation/results.json.gz");
const sqlResults = resolve(root, "conformance/mutation/results-pglite.json.gz");
const resultsPath = backend === "memory" ? memoryResults : sqlResults;
const runFile = resolve(root, "reports/mutation/stryker-incremental.json");
const config = JSON.parse(readFileSync(resolve(root, "stryker.config.json"), "utf8")) as {
  mutate: string[];
};

const args = process.argv.slice(2);
if (args.includes("--score")) {
  const s = scoreReport(
    readResults(memoryResults),
    mutatedFiles(config.mutate, root),
    readResults(sqlResults),
    (file) => {
      try {
        return readFileSync(resolve(root, file), "utf8");
      } catch {
        return undefined;
      }
    },
  );
  console.log(formatScores(s));
  process.exit(0);
}
// --merge FILE...: merges StrykerJS incremental files made elsewhere (another checkout) into the
// kept results of ACB_MUTATION_BACKEND (memory unless set), in the order given (a later file's
// result for a file replaces an earlier one's).
if (args.includes("--merge")) {
  let results = readResults(resultsPath);
  for (const f of args.filter((a) => !a.startsWith("-"))) {
    results = mergeReports(results, JSON.parse(readFileSync(f, "utf8")) as Report);
  }
  if (results) writeFileSync(resultsPath, encodeResults(results));
  process.exit(0);
}

const files = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
const strykerArgs = ["stryker", "run", "stryker.config.json", ...flags];
// The run starts from this backend's kept results, never from another backend's last run.
mkdirSync(resolve(root, "reports/mutation"), { recursive: true });
if (existsSync(resultsPath)) writeFileSync(runFile, gunzipSync(readFileSync(resultsPath)));
else rmSync(runFile, { force: true });
if (files.length > 0) strykerArgs.push("--mutate", [...files, "!**/*.test.ts"].join(","));
const run = spawnSync("npx", ["--no-install", ...strykerArgs], { cwd: root, stdio: "inherit" });
// A run narrowed to some cases may leave survivors that the other cases kill: its results are
// not merged unless asked (--merge reports/mutation/last-run-incremental.json).
const narrowed = ["ACB_MUTATION_ONLY", "ACB_MUTATION_PROFILES", "ACB_MUTATION_SKIP"].filter(
  (v) => process.env[v],
);
if (narrowed.length > 0) {
  console.log(`mutation: ${narrowed.join(", ")} narrowed the cases: results not merged`);
}
if (run.status === 0 && existsSync(runFile)) {
  copyFileSync(runFile, resolve(root, "reports/mutation/last-run-incremental.json"));
}
if (narrowed.length === 0 && run.status === 0 && existsSync(runFile)) {
  // StrykerJS's incremental file also carries the kept results of the files it did not mutate,
  // remapped to their current source: only the mutated files' results are this run's.
  const merged = mergeReports(
    readResults(resultsPath),
    resultsOf(
      JSON.parse(readFileSync(runFile, "utf8")) as Report,
      new Set(mutatedFiles(files.length > 0 ? files : config.mutate, root)),
    ),
  );
  writeFileSync(resultsPath, encodeResults(merged));
  console.log(
    `mutation: results merged into ${resultsPath}; ./dev mutation --score prints the score`,
  );
}
process.exitCode = run.status ?? 1;
