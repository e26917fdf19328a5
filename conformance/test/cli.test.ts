// The CLI end to end against an in-process reference hub: profile selection, report files, the
// closing line, exit codes, expected failures (and stale ones), --list.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHub, type Hub, silentLogger } from "@acb/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.js";
import { catalogue, parseExpectedFailures } from "../src/index.js";

let hub: Hub;
let url: string;
let adminToken: string;
let dir: string;

beforeAll(async () => {
  hub = await createHub({ logger: silentLogger, faults: ["cross-tenant-leak"] });
  url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
  dir = mkdtempSync(join(tmpdir(), "acb-conformance-"));
});

afterAll(async () => {
  await hub?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (l) => out.push(...l.split("\n")),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

describe("acb-conformance", () => {
  it("fails the run on a MUST failure and writes JSON and JUnit reports", async () => {
    const json = join(dir, "report.json");
    const junit = join(dir, "report.xml");
    const r = await cli([
      "--url",
      url,
      "--admin-token",
      adminToken,
      "--profile",
      "security",
      "--only",
      "security.",
      "--report-json",
      json,
      "--report-junit",
      junit,
    ]);
    expect(r.code).toBe(1);
    expect(r.out.at(-1)).toBe("12 passed, 1 failed, 0 skipped");
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.summary).toMatchObject({ passed: 12, failed: 1, warnings: 0, skipped: 0 });
    const leak = report.cases.find(
      (c: { id: string }) => c.id === "security.cross-tenant-not-found",
    );
    expect(leak).toMatchObject({
      level: "MUST",
      status: "failed",
      spec: "acb.v1.ContextService.GetContext",
    });
    expect(leak.detail).toMatch(/expected NotFound/);
    expect(typeof leak.durationMs).toBe("number");
    const xml = readFileSync(junit, "utf8");
    expect(xml).toContain('<testsuite name="security" tests="13" failures="1" skipped="0"');
    expect(xml).toMatch(
      /<testcase [^>]*name="security.cross-tenant-not-found \[MUST\]"[^>]*>\s*<failure/,
    );
  });

  it("puts the latency profile (load, size, percentiles) into the JSON report", async () => {
    const json = join(dir, "latency.json");
    const r = await cli([
      "--url",
      url,
      "--admin-token",
      adminToken,
      "--profile",
      "latency",
      "--latency-messages",
      "20",
      "--latency-rate",
      "200",
      "--latency-size",
      "128",
      "--report-json",
      json,
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.latency).toMatchObject({
      offeredRatePerSecond: 200,
      messages: 20,
      samples: 20,
      messageBytes: 128,
      senders: 4,
      thresholdsMs: { p50: 10, p95: 30, p99: 50 },
    });
    const p = report.latency.percentilesMs;
    expect(p.p50).toBeLessThanOrEqual(p.p90);
    expect(p.p90).toBeLessThanOrEqual(p.p95);
    expect(p.p95).toBeLessThanOrEqual(p.p99);
    expect(p.p99).toBeLessThanOrEqual(p.max);
    expect(report.cases[0].latency).toEqual(report.latency);
  });

  it("accepts a listed expected failure, and fails on a stale one", async () => {
    const file = join(dir, "expected.yaml");
    writeFileSync(
      file,
      "# known gaps\n- id: security.cross-tenant-not-found\n  reason: injected leak\n",
    );
    const ok = await cli([
      "--url",
      url,
      "--admin-token",
      adminToken,
      "--only",
      "security.cross",
      "--expected-failures",
      file,
    ]);
    expect(ok.code).toBe(0);
    expect(ok.out.at(-1)).toBe("0 passed, 0 failed, 0 skipped");
    writeFileSync(file, JSON.stringify([{ id: "security.bad-input", reason: "was broken once" }]));
    const stale = await cli([
      "--url",
      url,
      "--admin-token",
      adminToken,
      "--only",
      "security.bad-input",
      "--expected-failures",
      file,
    ]);
    expect(stale.code).toBe(1);
    expect(stale.out.join("\n")).toMatch(/stale/);
    expect(stale.out.at(-1)).toBe("1 passed, 1 failed, 0 skipped");
  });

  it("lists the catalogue with levels and spec references", async () => {
    const r = await cli(["--list"]);
    expect(r.code).toBe(0);
    for (const c of catalogue) {
      expect(
        r.out.some((l) => l.startsWith(c.id) && l.includes(c.level) && l.includes(c.spec)),
      ).toBe(true);
    }
  });

  it("refuses bad usage with exit code 2", async () => {
    expect((await cli(["--url", url])).code).toBe(2);
    expect((await cli(["--url", url, "--admin-token", "x", "--profile", "nope"])).code).toBe(2);
    expect((await cli(["--bogus"])).code).toBe(2);
  });
});

describe("parseExpectedFailures", () => {
  it("reads JSON and YAML-style lists", () => {
    expect(parseExpectedFailures('{"expectedFailures":[{"id":"a.b","reason":"r"}]}')).toEqual([
      { id: "a.b", reason: "r" },
    ]);
    expect(
      parseExpectedFailures('- id: a.b\n  reason: "why: because"\n- id: c.d\n  reason: x\n'),
    ).toEqual([
      { id: "a.b", reason: "why: because" },
      { id: "c.d", reason: "x" },
    ]);
  });

  it("refuses an entry without a reason", () => {
    expect(() => parseExpectedFailures("- id: a.b\n")).toThrow(/no reason/);
    expect(() => parseExpectedFailures('[{"id":"a.b"}]')).toThrow(/no "reason"/);
  });
});
