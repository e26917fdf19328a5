// Runs the catalogue against a hub: reads its capabilities, runs the cases of the chosen profiles
// one at a time (each bounded in time, with its own tenants), applies the expected failures and
// returns the report.

import type { GetServerInfoResponse } from "@acb/gen/acb/v1/server_info_pb";
import { ConnectError } from "@connectrpc/connect";
import {
  CaseFailure,
  CaseSkipped,
  type ConformanceCase,
  type Level,
  type Profile,
} from "./case.js";
import { catalogue } from "./catalogue.js";
import type { ExpectedFailure } from "./expected-failures.js";
import {
  type CaseContext,
  type CaseSettings,
  type Clients,
  type LatencyProfile,
  Provisioner,
  Wire,
  type WireProtocol,
} from "./harness.js";
import { StreamReader } from "./wire.js";

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** The hub's base URL, e.g. "http://127.0.0.1:7443". */
  url: string;
  /**
   * The base URLs of further nodes of the same hub (the cluster profile sends through one node and
   * checks on another). Default: none; the cluster cases then skip.
   */
  otherNodes?: readonly string[];
  /** A platform-admin access token (tenant "*"): provisions and deletes the run's tenants. */
  adminToken: string;
  /** Profiles to run. Default: every profile. */
  profiles?: readonly Profile[];
  /** Only cases whose id starts with one of these. Default: all. */
  only?: readonly string[];
  /** Cases known to fail, with why; one that passes fails the run as stale. Default: none. */
  expectedFailures?: readonly ExpectedFailure[];
  /** Latency thresholds in ms. Default p50 10, p95 30, p99 50. */
  thresholds?: Partial<CaseSettings["thresholds"]>;
  /** Latency load. Default 500 messages of 64 payload bytes at 250 msg/s. */
  latencyLoad?: Partial<CaseSettings["latencyLoad"]>;
  /** Time limit of one case, in ms. Default 30,000. */
  caseTimeoutMs?: number;
  /** Bound of each wait for an event the hub owes, in ms. Default 5,000. */
  waitMs?: number;
  /** Shell command that restarts the hub (durability profile). Default: none (skipped). */
  restartCmd?: string;
  /** Treat SHOULD failures as failures (not warnings). Default false. */
  strict?: boolean;
  /** Wire protocol. Default "connect" (over HTTP/2). */
  protocol?: WireProtocol;
  /** The cases to choose from. Default: {@link catalogue}. */
  cases?: readonly ConformanceCase[];
  /** Called after each case, e.g. to print progress. */
  onResult?: (result: CaseResult) => void;
}

/**
 * A case's outcome. "failed": a MUST or MAY case broke its rule, or an expected failure passed
 * (stale); "warning": a SHOULD case broke its rule; "expected-failure": it failed as listed.
 */
export type CaseStatus = "passed" | "failed" | "warning" | "skipped" | "expected-failure";

export interface CaseResult {
  id: string;
  level: Level;
  profile: Profile;
  description: string;
  spec: string;
  status: CaseStatus;
  durationMs: number;
  /** Why it failed, warned or was skipped. */
  detail?: string;
  /** What the case measured (the latency profile). */
  latency?: LatencyProfile;
}

export interface ConformanceSummary {
  passed: number;
  failed: number;
  warnings: number;
  skipped: number;
  expectedFailures: number;
}

export interface ConformanceReport {
  /** True when no case failed: every applicable MUST (and declared MAY) held. */
  ok: boolean;
  runId: string;
  url: string;
  /** Every node's base URL, `url` first. */
  nodes: string[];
  hub: {
    implementation: string;
    implementationVersion: string;
    protocolVersion: string;
    capabilities: string[];
    durable: boolean;
  };
  startedAt: string;
  durationMs: number;
  summary: ConformanceSummary;
  /** The latency profile of latency.send-deliver, when it ran: offered load, size, percentiles. */
  latency?: LatencyProfile;
  cases: CaseResult[];
}

const defaults = {
  thresholds: { p50: 10, p95: 30, p99: 50 },
  latencyLoad: { messages: 500, ratePerSecond: 250, messageBytes: 64 },
  caseTimeoutMs: 30_000,
  waitMs: 5_000,
};

/** Runs the conformance cases against the hub at `options.url`. */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const urls = [options.url, ...(options.otherNodes ?? [])];
  const wires = urls.map((url) => new Wire(url, options.protocol ?? "connect"));
  const admin = (wires[0] as Wire).clients(`Bearer ${options.adminToken}`);
  const provisioner = new Provisioner(wires, admin);
  const settings: CaseSettings = {
    waitMs: options.waitMs ?? defaults.waitMs,
    thresholds: { ...defaults.thresholds, ...options.thresholds },
    latencyLoad: { ...defaults.latencyLoad, ...options.latencyLoad },
    restartCmd: options.restartCmd,
  };
  const expected = new Map((options.expectedFailures ?? []).map((e) => [e.id, e.reason]));
  const chosen = (options.cases ?? catalogue).filter(
    (c) =>
      (!options.profiles || options.profiles.includes(c.profile)) &&
      (!options.only || options.only.some((prefix) => c.id.startsWith(prefix))),
  );
  const results: CaseResult[] = [];
  try {
    const info = await admin.info.getServerInfo({});
    for (const c of chosen) {
      const result = applyExpectation(
        await runCase(c, info, settings, wires, admin, provisioner, options),
        expected.get(c.id),
      );
      results.push(result);
      options.onResult?.(result);
    }
    const summary = summarise(results);
    const latency = results.find((r) => r.latency)?.latency;
    return {
      ok: summary.failed === 0,
      runId: provisioner.runId,
      url: options.url,
      nodes: urls,
      hub: {
        implementation: info.implementation,
        implementationVersion: info.implementationVersion,
        protocolVersion: info.protocolVersion,
        capabilities: [...info.capabilities],
        durable: info.durable,
      },
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      summary,
      ...(latency && { latency }),
      cases: results,
    };
  } finally {
    // Leave nothing behind, even when a case could not clean up.
    await Promise.allSettled(provisioner.remaining.map((id) => provisioner.deleteTenant(id)));
    for (const wire of wires) wire.close();
  }
}

async function runCase(
  c: ConformanceCase,
  info: GetServerInfoResponse,
  settings: CaseSettings,
  wires: readonly Wire[],
  admin: Clients,
  provisioner: Provisioner,
  options: ConformanceOptions,
): Promise<CaseResult> {
  const base = {
    id: c.id,
    level: c.level,
    profile: c.profile,
    description: c.description,
    spec: c.spec,
  };
  const missing = (c.requires ?? []).filter((cap) => !info.capabilities.includes(cap));
  if (missing.length > 0) {
    return {
      ...base,
      status: "skipped",
      durationMs: 0,
      detail: `the hub does not declare ${missing.map((m) => `"${m}"`).join(", ")}`,
    };
  }
  const started = Date.now();
  const abort = new AbortController();
  const tenants: string[] = [];
  const deferred: (() => Promise<unknown> | unknown)[] = [];
  let latency: LatencyProfile | undefined;
  const connections = new Map<string, NonNullable<ReturnType<Wire["connectionFrom"]>>>();
  const t: CaseContext = {
    signal: abort.signal,
    settings,
    info,
    admin,
    clientsWith: (authorization, node = 0) =>
      (wires[node % wires.length] as Wire).clients(authorization),
    transportWith: (authorization, node = 0) =>
      (wires[node % wires.length] as Wire).transportFor(authorization),
    clientsFrom: (localAddress, authorization) => {
      let own = connections.get(localAddress);
      if (!own) {
        own = (wires[0] as Wire).connectionFrom(localAddress);
        if (!own) return undefined;
        connections.set(localAddress, own);
        deferred.push(own.close);
      }
      return own.clients(authorization);
    },
    nodes: wires.length,
    async tenant(tenantSettings) {
      const tenant = await provisioner.createTenant(tenantSettings);
      tenants.push(tenant.id);
      return tenant;
    },
    agentIn: (tenantId, name, agentOptions) => provisioner.agent(tenantId, name, agentOptions),
    stream: (open) => new StreamReader(open, abort.signal),
    defer: (fn) => deferred.push(fn),
    measured: (m) => {
      latency = m;
    },
  };
  const timeoutMs = c.timeoutMs ?? options.caseTimeoutMs ?? defaults.caseTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CaseFailure(`the case did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let status: CaseStatus = "passed";
  let detail: string | undefined;
  try {
    await Promise.race([c.run(t), timeout]);
  } catch (err) {
    if (err instanceof CaseSkipped) {
      status = "skipped";
    } else {
      status = c.level === "SHOULD" && !options.strict ? "warning" : "failed";
    }
    detail = describe(err);
  } finally {
    clearTimeout(timer);
    abort.abort();
    for (const fn of deferred.reverse()) await Promise.resolve(fn()).catch(() => {});
    for (const id of tenants) await provisioner.deleteTenant(id).catch(() => {});
  }
  return {
    ...base,
    status,
    durationMs: Date.now() - started,
    ...(detail !== undefined && { detail }),
    ...(latency && { latency }),
  };
}

function describe(err: unknown): string {
  if (err instanceof CaseFailure || err instanceof CaseSkipped) return err.message;
  if (err instanceof ConnectError) return `unexpected error: ${err.message}`;
  return `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

function applyExpectation(result: CaseResult, reason: string | undefined): CaseResult {
  if (reason === undefined || result.status === "skipped") return result;
  if (result.status === "passed") {
    return {
      ...result,
      status: "failed",
      detail: `listed as an expected failure ("${reason}") but it passed: remove the stale entry`,
    };
  }
  return {
    ...result,
    status: "expected-failure",
    detail: `${result.detail ?? ""} (expected: ${reason})`,
  };
}

function summarise(results: CaseResult[]): ConformanceSummary {
  const count = (s: CaseStatus) => results.filter((r) => r.status === s).length;
  return {
    passed: count("passed"),
    failed: count("failed"),
    warnings: count("warning"),
    skipped: count("skipped"),
    expectedFailures: count("expected-failure"),
  };
}
