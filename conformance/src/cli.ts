// acb-conformance: runs the conformance suite against a hub over the wire.

import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isProfile, type Profile } from "./case.js";
import { catalogue } from "./catalogue.js";
import { parseExpectedFailures } from "./expected-failures.js";
import type { WireProtocol } from "./harness.js";
import { formatCaseLine, formatCatalogue, formatSummary, toJson, toJunit } from "./report.js";
import { runConformance } from "./runner.js";

export const usage = `usage: acb-conformance --url URL --admin-token TOKEN [options]
       acb-conformance --url A --url B … --admin-token TOKEN --profile cluster
       acb-conformance --list

  --url URL                 the hub's base URL (http://… or https://…); repeat it with the URL
                            of each node of a hub that runs on several (the cluster profile
                            works through one node and checks through another)
  --admin-token TOKEN       a platform-admin access token (or env ACB_ADMIN_TOKEN)
  --profile a,b             profiles to run (default: all): registry, contexts, delivery,
                            request-reply, streaming, meetings, security, latency, durability,
                            cluster
  --only PREFIX,…           only cases whose id starts with a prefix
  --expected-failures FILE  JSON or YAML-style list of {id, reason}; a listed case that passes
                            fails the run as stale
  --report-json FILE        write the JSON report
  --report-junit FILE       write a JUnit XML report
  --p50 MS --p95 MS --p99 MS  latency thresholds (default 10, 30, 50)
  --latency-messages N      messages in the latency run (default 500)
  --latency-rate N          their rate in msg/s (default 250)
  --latency-size BYTES      payload bytes of each (default 64)
  --case-timeout MS         time limit of one case (default 30000)
  --wait MS                 bound of each wait for an event the hub owes (default 5000)
  --restart-cmd CMD         shell command that restarts the hub (enables durability)
  --strict                  SHOULD failures fail the run too (default: warnings)
  --protocol P              connect (default), grpc or grpc-web
  --list                    print the catalogue and exit

Exit code 0 when every MUST (and every declared MAY) case passes, 1 otherwise, 2 on bad usage.`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, not "${value}"`);
  return n;
}

const options = {
  url: { type: "string", multiple: true },
  "admin-token": { type: "string" },
  profile: { type: "string" },
  only: { type: "string" },
  "expected-failures": { type: "string" },
  "report-json": { type: "string" },
  "report-junit": { type: "string" },
  p50: { type: "string" },
  p95: { type: "string" },
  p99: { type: "string" },
  "latency-messages": { type: "string" },
  "latency-rate": { type: "string" },
  "latency-size": { type: "string" },
  "case-timeout": { type: "string" },
  wait: { type: "string" },
  "restart-cmd": { type: "string" },
  protocol: { type: "string", default: "connect" },
  strict: { type: "boolean", default: false },
  list: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

function parse(argv: string[]) {
  return parseArgs({ args: argv, options, strict: true }).values;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse(argv);
  } catch (err) {
    io.err(`acb-conformance: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return 2;
  }
  if (values.help) {
    io.out(usage);
    return 0;
  }
  if (values.list) {
    io.out(formatCatalogue(catalogue));
    return 0;
  }
  try {
    const [url, ...otherNodes] = values.url ?? [];
    const adminToken = values["admin-token"] ?? process.env.ACB_ADMIN_TOKEN;
    if (!url || !adminToken) throw new Error("--url and --admin-token are required");
    const profiles = values.profile
      ?.split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const unknown = profiles?.filter((p) => !isProfile(p)) ?? [];
    if (unknown.length > 0) throw new Error(`unknown profile ${unknown.join(", ")}`);
    const protocol = values.protocol;
    if (protocol !== "connect" && protocol !== "grpc" && protocol !== "grpc-web") {
      throw new Error(`--protocol must be connect, grpc or grpc-web, not "${protocol}"`);
    }
    const file = values["expected-failures"];
    const expectedFailures = file ? parseExpectedFailures(readFileSync(file, "utf8")) : [];
    const known = new Set(catalogue.map((c) => c.id));
    for (const e of expectedFailures) {
      if (!known.has(e.id)) throw new Error(`--expected-failures names unknown case "${e.id}"`);
    }
    const thresholds = {
      ...(values.p50 !== undefined && { p50: positive("p50", values.p50) as number }),
      ...(values.p95 !== undefined && { p95: positive("p95", values.p95) as number }),
      ...(values.p99 !== undefined && { p99: positive("p99", values.p99) as number }),
    };
    const messages = positive("latency-messages", values["latency-messages"]);
    const rate = positive("latency-rate", values["latency-rate"]);
    const size = positive("latency-size", values["latency-size"]);
    const caseTimeoutMs = positive("case-timeout", values["case-timeout"]);
    const waitMs = positive("wait", values.wait);
    const only = values.only
      ?.split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    io.out(`acb-conformance against ${[url, ...otherNodes].join(", ")}`);
    const report = await runConformance({
      url,
      ...(otherNodes.length > 0 && { otherNodes }),
      adminToken,
      protocol: protocol as WireProtocol,
      strict: values.strict,
      expectedFailures,
      thresholds,
      latencyLoad: {
        ...(messages !== undefined && { messages }),
        ...(rate !== undefined && { ratePerSecond: rate }),
        ...(size !== undefined && { messageBytes: size }),
      },
      ...(profiles && { profiles: profiles as Profile[] }),
      ...(only && { only }),
      ...(caseTimeoutMs !== undefined && { caseTimeoutMs }),
      ...(waitMs !== undefined && { waitMs }),
      ...(values["restart-cmd"] !== undefined && { restartCmd: values["restart-cmd"] }),
      onResult: (r) => io.out(formatCaseLine(r)),
    });
    if (values["report-json"]) writeFileSync(values["report-json"], toJson(report));
    if (values["report-junit"]) writeFileSync(values["report-junit"], toJunit(report));
    io.out(formatSummary(report));
    return report.ok ? 0 : 1;
  } catch (err) {
    io.err(`acb-conformance: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
}
