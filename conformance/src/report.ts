// Report formats: the console summary, JSON and JUnit XML.

import type { CaseResult, ConformanceReport } from "./runner.js";

const marks: Record<CaseResult["status"], string> = {
  passed: "PASS",
  failed: "FAIL",
  warning: "WARN",
  skipped: "SKIP",
  "expected-failure": "XFAIL",
};

/** One console line per case. */
export function formatCaseLine(r: CaseResult): string {
  const head = `${marks[r.status].padEnd(5)} ${r.id} [${r.level}] (${r.durationMs} ms)`;
  return r.detail && r.status !== "passed" ? `${head}\n        ${r.detail}` : head;
}

/** The closing summary; its last line is exactly "N passed, N failed, N skipped". */
export function formatSummary(report: ConformanceReport): string {
  const s = report.summary;
  const lines = [
    "",
    `hub: ${report.hub.implementation || "(unnamed)"} ${report.hub.implementationVersion} ` +
      `(protocol ${report.hub.protocolVersion}; capabilities: ${report.hub.capabilities.join(", ")})`,
  ];
  const failed = report.cases.filter((r) => r.status === "failed");
  if (failed.length > 0) {
    lines.push("failed:");
    for (const r of failed) lines.push(`  ${r.id} [${r.level}] ${r.spec}: ${r.detail ?? ""}`);
  }
  const warned = report.cases.filter((r) => r.status === "warning");
  if (warned.length > 0) {
    lines.push("warnings (SHOULD):");
    for (const r of warned) lines.push(`  ${r.id} ${r.spec}: ${r.detail ?? ""}`);
  }
  lines.push(
    `${s.warnings} warnings, ${s.expectedFailures} expected failures, run ${report.runId} in ${report.durationMs} ms`,
  );
  lines.push(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return lines.join("\n");
}

/** The report as JSON: `summary` plus every case with its id, level, status, duration and spec. */
export function toJson(report: ConformanceReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function xml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .split("")
    .filter((ch) => {
      // XML 1.0 allows tab, newline, carriage return and everything from space up.
      const c = ch.charCodeAt(0);
      return c === 9 || c === 10 || c === 13 || c >= 32;
    })
    .join("");
}

/** JUnit XML: one testsuite per profile; warnings and expected failures pass with a note. */
export function toJunit(report: ConformanceReport): string {
  const byProfile = new Map<string, CaseResult[]>();
  for (const r of report.cases) byProfile.set(r.profile, [...(byProfile.get(r.profile) ?? []), r]);
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="acb-conformance" tests="${report.cases.length}" failures="${report.summary.failed}" skipped="${report.summary.skipped}" time="${(report.durationMs / 1000).toFixed(3)}">`,
  ];
  for (const [profile, cases] of byProfile) {
    const failures = cases.filter((c) => c.status === "failed").length;
    const skipped = cases.filter((c) => c.status === "skipped").length;
    const time = cases.reduce((sum, c) => sum + c.durationMs, 0) / 1000;
    out.push(
      `  <testsuite name="${xml(profile)}" tests="${cases.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}">`,
    );
    for (const c of cases) {
      const open = `    <testcase classname="acb.conformance.${xml(profile)}" name="${xml(c.id)} [${c.level}]" time="${(c.durationMs / 1000).toFixed(3)}"`;
      const detail = xml(c.detail ?? "");
      switch (c.status) {
        case "passed":
          out.push(`${open}/>`);
          break;
        case "failed":
          out.push(
            `${open}>`,
            `      <failure message="${xml(c.spec)}: ${detail}">${xml(c.description)}</failure>`,
            "    </testcase>",
          );
          break;
        case "skipped":
          out.push(`${open}>`, `      <skipped message="${detail}"/>`, "    </testcase>");
          break;
        default:
          out.push(
            `${open}>`,
            `      <system-out>${c.status.toUpperCase()}: ${xml(c.spec)}: ${detail}</system-out>`,
            "    </testcase>",
          );
      }
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>", "");
  return out.join("\n");
}

/** The catalogue as --list prints it. */
export function formatCatalogue(
  cases: readonly {
    id: string;
    level: string;
    profile: string;
    spec: string;
    description: string;
  }[],
): string {
  const width = Math.max(...cases.map((c) => c.id.length));
  return cases
    .map(
      (c) =>
        `${c.id.padEnd(width)}  ${c.level.padEnd(6)} ${c.profile.padEnd(13)} ${c.spec}\n${" ".repeat(width + 2)}${c.description}`,
    )
    .join("\n");
}
