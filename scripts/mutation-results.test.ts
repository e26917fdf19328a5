import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  encodeResults,
  formatScores,
  mergeReports,
  mutatedFiles,
  type Report,
  readResults,
  resultsOf,
  scoreOf,
  scoreReport,
} from "./mutation-results.ts";

const SUITE = "conformance/mutation/conformance.suite.ts";

/** A report of `files` (path → mutant statuses, each killed by or covering `cases`). */
function report(
  cases: string[],
  files: Record<string, { status: string; by?: string[] }[]>,
): Report {
  const id = (name: string) => String(cases.indexOf(name));
  return {
    schemaVersion: "1.0",
    projectRoot: "/somewhere/else",
    files: Object.fromEntries(
      Object.entries(files).map(([path, mutants]) => [
        path,
        {
          language: "typescript",
          source: `// ${path}`,
          mutants: mutants.map((m, i) => ({
            id: String(i),
            mutatorName: "ConditionalExpression",
            status: m.status,
            coveredBy: (m.by ?? []).map(id),
            ...(m.status === "Killed" && { killedBy: (m.by ?? []).slice(0, 1).map(id) }),
          })),
        },
      ]),
    ),
    testFiles: { [SUITE]: { tests: cases.map((name, i) => ({ id: String(i), name })) } },
  };
}

/** Each mutant's covering and killing cases, by name. */
function byName(r: Report, file: string) {
  const names = new Map((r.testFiles?.[SUITE]?.tests ?? []).map((t) => [t.id, t.name]));
  return r.files[file]?.mutants.map((m) => ({
    status: m.status,
    coveredBy: m.coveredBy?.map((id) => names.get(id)),
    killedBy: m.killedBy?.map((id) => names.get(id)),
  }));
}

describe("mutation results: merging runs", () => {
  const a = report(["registry.a", "delivery.b"], {
    "x.ts": [
      { status: "Killed", by: ["delivery.b"] },
      { status: "Survived", by: ["registry.a"] },
    ],
    "y.ts": [{ status: "NoCoverage" }],
  });
  // Another run numbers the cases its own way, with a case the first did not have.
  const b = report(["auth.c", "delivery.b", "registry.a"], {
    "y.ts": [{ status: "Killed", by: ["auth.c", "registry.a"] }],
  });

  it("keeps each case's name with the mutants that name it, whatever each run numbered", () => {
    const merged = mergeReports(a, b);
    expect(merged.testFiles?.[SUITE]?.tests.map((t) => t.name).sort()).toEqual([
      "auth.c",
      "delivery.b",
      "registry.a",
    ]);
    expect(byName(merged, "x.ts")).toEqual(byName(a, "x.ts"));
    expect(byName(merged, "y.ts")).toEqual([
      { status: "Killed", coveredBy: ["auth.c", "registry.a"], killedBy: ["auth.c"] },
    ]);
    const ids = merged.testFiles?.[SUITE]?.tests.map((t) => t.id) ?? [];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("replaces a file's whole result with the run's, and keeps the files the run did not touch", () => {
    const merged = mergeReports(a, b);
    expect(Object.keys(merged.files).sort()).toEqual(["x.ts", "y.ts"]);
    expect(merged.files["y.ts"]?.mutants).toHaveLength(1);
    expect(mergeReports(undefined, a)).toBe(a);
  });

  it("keeps of a run only the files it mutated, so the others' kept results stay", () => {
    const run = report(["delivery.b"], {
      "x.ts": [{ status: "Survived", by: ["delivery.b"] }],
      "y.ts": [{ status: "Killed", by: ["delivery.b"] }],
    });
    const merged = mergeReports(a, resultsOf(run, new Set(["y.ts"])));
    expect(byName(merged, "x.ts")).toEqual(byName(a, "x.ts"));
    expect(byName(merged, "y.ts")).toEqual(byName(run, "y.ts"));
  });

  it("refuses a run whose mutants name a case it does not define", () => {
    const broken = report(["auth.c"], { "z.ts": [{ status: "Killed", by: ["auth.c"] }] });
    (broken.files["z.ts"]?.mutants[0] as { killedBy: string[] }).killedBy = ["7"];
    expect(() => mergeReports(a, broken)).toThrow(/no test with id 7/);
  });
});

describe("mutation results: the score", () => {
  it("counts timeouts as killed, leaves equivalents and errors out, and lists unmeasured files", () => {
    const r = report(["c"], {
      "b.ts": [
        { status: "Killed" },
        { status: "Timeout" },
        { status: "Survived" },
        { status: "NoCoverage" },
        { status: "Ignored" },
        { status: "RuntimeError" },
        { status: "CompileError" },
      ],
      "a.ts": [{ status: "Killed" }],
    });
    const s = scoreReport(r, ["a.ts", "b.ts", "c.ts"]);
    expect(s.files.map((f) => f.file)).toEqual(["a.ts", "b.ts"]);
    expect(s.files[1]).toEqual({
      file: "b.ts",
      mutants: 7,
      killed: 2,
      killedOnSql: 0,
      survived: 1,
      noCoverage: 1,
      ignored: 1,
      errors: 2,
    });
    expect(s.total).toMatchObject({ mutants: 8, killed: 3, survived: 1, noCoverage: 1 });
    expect(scoreOf(s.total)).toBeCloseTo(3 / 5);
    expect(s.unmeasured).toEqual(["c.ts"]);
    expect(scoreOf({ killed: 0, survived: 0, noCoverage: 0 })).toBeNaN();
  });
});

describe("mutation results: the score with the SQL backend's runs", () => {
  const memory = report(["c"], {
    "a.ts": [{ status: "Killed" }, { status: "Survived" }, { status: "NoCoverage" }],
    "b.ts": [{ status: "NoCoverage" }, { status: "NoCoverage" }, { status: "NoCoverage" }],
  });
  const sql = report(["c"], {
    "a.ts": [{ status: "Survived" }, { status: "Killed" }, { status: "Timeout" }],
    "b.ts": [{ status: "Killed" }, { status: "Survived" }, { status: "NoCoverage" }],
    "s.ts": [{ status: "Killed" }, { status: "NoCoverage" }],
  });

  it("counts a mutant the memory run missed as killed when the SQL run of the same source killed it", () => {
    const s = scoreReport(memory, ["a.ts", "b.ts", "s.ts"], sql);
    expect(s.files.find((f) => f.file === "a.ts")).toMatchObject({
      killed: 3,
      killedOnSql: 2,
      survived: 0,
      noCoverage: 0,
    });
    // Reached by a case on the SQL backend only, and not killed there: survived, not uncovered.
    expect(s.files.find((f) => f.file === "b.ts")).toMatchObject({
      killed: 1,
      killedOnSql: 1,
      survived: 1,
      noCoverage: 1,
    });
  });

  it("takes a file only the SQL run measured as that run left it", () => {
    const s = scoreReport(memory, ["a.ts", "b.ts", "s.ts"], sql);
    expect(s.files.map((f) => f.file)).toEqual(["a.ts", "b.ts", "s.ts"]);
    expect(s.files.find((f) => f.file === "s.ts")).toMatchObject({
      killed: 1,
      killedOnSql: 1,
      noCoverage: 1,
    });
    expect(s.total).toMatchObject({ killed: 5, killedOnSql: 4, noCoverage: 2, survived: 1 });
    expect(s.unmeasured).toEqual([]);
  });

  it("ignores the SQL run of a file whose source has changed since", () => {
    const stale = structuredClone(sql);
    (stale.files["a.ts"] as { source: string }).source = "// a.ts, edited";
    const s = scoreReport(memory, ["a.ts"], stale);
    expect(s.files.find((f) => f.file === "a.ts")).toMatchObject({
      killed: 1,
      killedOnSql: 0,
      survived: 1,
      noCoverage: 1,
    });
  });

  it("lists the files whose source changed since their kept result", () => {
    const now: Record<string, string> = { "a.ts": "// a.ts", "b.ts": "// b.ts, edited" };
    const s = scoreReport(memory, ["a.ts", "b.ts", "s.ts"], sql, (f) => now[f]);
    expect(s.stale).toEqual(["b.ts", "s.ts"]);
    expect(formatScores(s)).toContain(
      "Changed since their results were kept (2 files; rerun them):",
    );
    expect(scoreReport(memory, ["a.ts"]).stale).toEqual([]);
  });

  it("prints the memory backend's own score beside the combined one", () => {
    const out = formatScores(scoreReport(memory, ["a.ts", "b.ts", "s.ts"], sql));
    expect(out).toContain("| **all measured files** | 8 | 5 | 4 | 1 | 2 | 0 | 0 | 62.5 % |");
    expect(out).toContain("memory backend alone: 12.5 %");
  });
});

describe("mutation results: files", () => {
  const dir = mkdtempSync(join(tmpdir(), "acb-mutation-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads back what it writes, without the checkout's path", () => {
    const path = join(dir, "results.json.gz");
    const r = report(["c"], { "a.ts": [{ status: "Killed", by: ["c"] }] });
    writeFileSync(path, encodeResults(r));
    const back = readResults(path);
    expect(back?.projectRoot).toBeUndefined();
    expect(back?.files).toEqual(r.files);
    expect(readResults(join(dir, "none.json.gz"))).toBeUndefined();
  });

  it("names the files the mutate patterns name, less the ! patterns", () => {
    mkdirSync(join(dir, "src/domain/sub"), { recursive: true });
    for (const f of ["src/domain/a.ts", "src/domain/sub/b.ts", "src/domain/a.test.ts", "src/c.ts"])
      writeFileSync(join(dir, f), "");
    expect(mutatedFiles(["src/domain/**/*.ts", "!**/*.test.ts"], dir)).toEqual([
      "src/domain/a.ts",
      "src/domain/sub/b.ts",
    ]);
  });

  it("names the file of a pattern narrowed to lines", () => {
    mkdirSync(join(dir, "lines"), { recursive: true });
    for (const f of ["lines/a.ts", "lines/b.ts"]) writeFileSync(join(dir, f), "");
    expect(mutatedFiles(["lines/a.ts:10-20", "lines/a.ts:30:0-40:5", "lines/b.ts"], dir)).toEqual([
      "lines/a.ts",
      "lines/b.ts",
    ]);
  });
});
