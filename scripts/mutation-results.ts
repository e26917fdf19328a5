// The mutation results the repository keeps (conformance/mutation/results.json.gz): every file's
// latest result, on the memory backend, gathered run after run. A full run over the three folders
// takes hours on a small machine, so it is made a few files at a time; each run starts from these
// results (StrykerJS's incremental file, so it tests only what changed) and its own are merged
// back, file by file. `./dev mutation --score` prints the score they make.
//
// The results are a StrykerJS incremental report (the mutation-testing-report schema): `files`
// holds each mutated file's source and mutants, `testFiles` the conformance cases (one vitest test
// each), which the mutants name by id in `coveredBy` and `killedBy`. Two runs number the cases each
// in their own way, so a merge maps them by name.

import { globSync, readFileSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";

export interface Mutant {
  id: string;
  mutatorName: string;
  status: string;
  coveredBy?: string[];
  killedBy?: string[];
  [key: string]: unknown;
}

export interface TestDefinition {
  id: string;
  name: string;
  [key: string]: unknown;
}

export interface Report {
  files: Record<string, { mutants: Mutant[]; source: string; [key: string]: unknown }>;
  testFiles?: Record<string, { tests: TestDefinition[]; source?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** `run`'s files over `base`'s (a file the run mutated replaces its earlier result whole). */
export function mergeReports(base: Report | undefined, run: Report): Report {
  if (!base) return run;
  // One numbering of the cases: the base's, extended with the run's new names.
  const idByName = new Map<string, string>();
  const merged: Record<string, { tests: TestDefinition[]; [key: string]: unknown }> = {};
  let next = 0;
  for (const [path, file] of Object.entries(base.testFiles ?? {})) {
    merged[path] = { ...file, tests: [...file.tests] };
    for (const t of file.tests) {
      idByName.set(`${path}\u0000${t.name}`, t.id);
      next = Math.max(next, Number(t.id) + 1);
    }
  }
  const remap = new Map<string, string>();
  for (const [path, file] of Object.entries(run.testFiles ?? {})) {
    const into = merged[path] ?? { ...file, tests: [] };
    // The run's source of the suite is the newer one.
    merged[path] = { ...into, ...file, tests: into.tests };
    for (const t of file.tests) {
      const key = `${path}\u0000${t.name}`;
      let id = idByName.get(key);
      if (id === undefined) {
        id = String(next++);
        idByName.set(key, id);
        (merged[path] as { tests: TestDefinition[] }).tests.push({ ...t, id });
      }
      remap.set(t.id, id);
    }
  }
  const mapIds = (ids: string[] | undefined) =>
    ids?.map((id) => {
      const to = remap.get(id);
      if (to === undefined) throw new Error(`mutation results: no test with id ${id} in the run`);
      return to;
    });
  const files = { ...base.files };
  for (const [path, file] of Object.entries(run.files)) {
    files[path] = {
      ...file,
      mutants: file.mutants.map((m) => {
        const coveredBy = mapIds(m.coveredBy);
        const killedBy = mapIds(m.killedBy);
        return {
          ...m,
          ...(coveredBy && { coveredBy }),
          ...(killedBy && { killedBy }),
        };
      }),
    };
  }
  return { ...base, ...run, files, testFiles: merged };
}

/**
 * `run` with only the results of `mutated`: StrykerJS's incremental file also carries the kept
 * results of the files a run did not mutate (remapped to their current source), which must not
 * replace the kept ones.
 */
export function resultsOf(run: Report, mutated: ReadonlySet<string>): Report {
  return {
    ...run,
    files: Object.fromEntries(Object.entries(run.files).filter(([file]) => mutated.has(file))),
  };
}

/** How StrykerJS counts a status: detected, undetected, or left out of the score. */
const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

export interface FileScore {
  file: string;
  mutants: number;
  /** Detected: on the memory backend, or (see scoreReport's `sql`) on the SQL backend only. */
  killed: number;
  /** Of `killed`, those the suite detected only against the hub on the SQL backend. */
  killedOnSql: number;
  survived: number;
  noCoverage: number;
  /** Marked equivalent in the source (Stryker disable comments, each with its reason). */
  ignored: number;
  /** Runtime and compile errors: mutants that do not make a hub at all. */
  errors: number;
}

export const scoreOf = (s: { killed: number; survived: number; noCoverage: number }) =>
  s.killed + s.survived + s.noCoverage === 0
    ? Number.NaN
    : s.killed / (s.killed + s.survived + s.noCoverage);

/**
 * Each measured file's counts (in path order), their sum, and the files never measured.
 *
 * `sql` holds the results of runs against the hub on the SQL backend (PGlite): the memory store
 * never drives some paths of the shared rules (the SQL stores' claims and re-reads, the rate
 * reservations of a shared limiter), so a fault there can only be caught by the suite against a
 * hub on that backend. A mutant the memory run left undetected counts as killed when the SQL run
 * of the same source killed the same mutant (same place, mutator and replacement); a file only
 * the SQL run measured counts as that run left it. Each such kill is also counted in
 * `killedOnSql`, so the memory backend's own figure stays readable.
 */
export function scoreReport(
  report: Report | undefined,
  all: readonly string[],
  sql?: Report,
  /** The file's source now (for `stale`), or undefined when it is gone. */
  sourceOf?: (file: string) => string | undefined,
): { files: FileScore[]; total: FileScore; unmeasured: string[]; stale: string[] } {
  const files: FileScore[] = [];
  const empty = (file: string): FileScore => ({
    file,
    mutants: 0,
    killed: 0,
    killedOnSql: 0,
    survived: 0,
    noCoverage: 0,
    ignored: 0,
    errors: 0,
  });
  const total = empty("total");
  const paths = new Set([...Object.keys(report?.files ?? {}), ...Object.keys(sql?.files ?? {})]);
  for (const file of [...paths].sort((a, b) => a.localeCompare(b))) {
    const mine = report?.files[file];
    const theirs = sql?.files[file];
    const onSqlOnly = mine === undefined;
    const { mutants } = (mine ?? theirs) as { mutants: Mutant[] };
    // The SQL run's verdicts, when it mutated the same source.
    const sqlStatus = new Map(
      theirs && mine && theirs.source === mine.source
        ? theirs.mutants.map((m) => [m.id, m.status])
        : [],
    );
    const row = empty(file);
    row.mutants = mutants.length;
    for (const m of mutants) {
      if (DETECTED.has(m.status)) {
        row.killed++;
        if (onSqlOnly) row.killedOnSql++;
      } else if (UNDETECTED.has(m.status) && DETECTED.has(sqlStatus.get(m.id) ?? "")) {
        row.killed++;
        row.killedOnSql++;
      } else if (m.status === "NoCoverage" && sqlStatus.get(m.id) !== "Survived") {
        row.noCoverage++; // reached by no case on either backend
      } else if (m.status === "NoCoverage") row.survived++;
      else if (UNDETECTED.has(m.status)) row.survived++;
      else if (m.status === "Ignored") row.ignored++;
      else row.errors++;
    }
    files.push(row);
    for (const k of [
      "mutants",
      "killed",
      "killedOnSql",
      "survived",
      "noCoverage",
      "ignored",
      "errors",
    ] as const)
      total[k] += row[k];
  }
  const measured = new Set(files.map((f) => f.file));
  // A file changed since its kept result was made: the result is of other code (rerun it).
  const stale = sourceOf
    ? files
        .map((f) => f.file)
        .filter((f) => {
          const kept = report?.files[f]?.source ?? sql?.files[f]?.source;
          return kept !== sourceOf(f);
        })
    : [];
  return { files, total, unmeasured: all.filter((f) => !measured.has(f)), stale };
}

/** The files stryker.config.json's `mutate` patterns name (its `!` patterns left out). */
export function mutatedFiles(patterns: readonly string[], cwd: string): string[] {
  // A pattern may name lines of a file (StrykerJS's "file.ts:10-20", "file.ts:10:5-20:3"): the
  // file is mutated all the same, and StrykerJS carries its mutants outside the lines forward.
  const take = patterns
    .filter((p) => !p.startsWith("!"))
    .map((p) => p.replace(/:\d+(?::\d+)?-\d+(?::\d+)?$/, ""));
  const leave = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  const out = new Set(globSync(take, { cwd }));
  for (const f of globSync(leave, { cwd })) out.delete(f);
  return [...out].sort();
}

export function readResults(path: string): Report | undefined {
  try {
    return JSON.parse(gunzipSync(readFileSync(path)).toString("utf8")) as Report;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Compressed, and with the machine's path to the checkout left out. */
export function encodeResults(report: Report): Buffer {
  const { projectRoot: _root, ...rest } = report;
  return gzipSync(JSON.stringify(rest), { level: 9 });
}

export function formatScores(s: ReturnType<typeof scoreReport>): string {
  const pct = (r: FileScore) => {
    const v = scoreOf(r);
    return Number.isNaN(v) ? "–" : `${(v * 100).toFixed(1)} %`;
  };
  const lines = [
    "| File | Mutants | Killed | of which on SQL only | Survived | No coverage | Equivalent (ignored) | Errors | Score |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of [...s.files, s.total]) {
    lines.push(
      `| ${r.file === "total" ? "**all measured files**" : `\`${r.file}\``} | ${r.mutants} | ${r.killed} | ${r.killedOnSql} | ${r.survived} | ${r.noCoverage} | ${r.ignored} | ${r.errors} | ${pct(r)} |`,
    );
  }
  const t = s.total;
  if (t.killedOnSql > 0) {
    const memoryOnly = {
      ...t,
      killed: t.killed - t.killedOnSql,
      survived: t.survived + t.killedOnSql,
    };
    const v = scoreOf(memoryOnly);
    lines.push(
      "",
      `Against the hub on the memory backend alone: ${Number.isNaN(v) ? "–" : `${(v * 100).toFixed(1)} %`} (the ${t.killedOnSql} mutants killed on the SQL backend only counted as undetected).`,
    );
  }
  lines.push("", `Not measured yet (${s.unmeasured.length} files):`);
  for (const f of s.unmeasured) lines.push(`- \`${f}\``);
  if (s.stale.length > 0) {
    lines.push("", `Changed since their results were kept (${s.stale.length} files; rerun them):`);
    for (const f of s.stale) lines.push(`- \`${f}\``);
  }
  return lines.join("\n");
}
