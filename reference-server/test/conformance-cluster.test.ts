// `acb-conformance --profile cluster --url A --url B --url C` against three `acb-hub` processes on
// the production preset (PostgreSQL + Redis + Kafka): every cross-node case runs (none skipped)
// and passes. Without the services the test skips visibly; ACB_REQUIRE_SERVICES=1 makes that fail.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../conformance/src/cli.js";
import type { ConformanceReport } from "../../conformance/src/index.js";
import { testServices } from "../src/storage/production-test-services.js";
import { type Cluster, startCluster } from "./cluster-nodes.js";
import { removeBundle } from "./hub-process.js";

const services = testServices();
let cluster: Cluster | undefined;
const dir = mkdtempSync(join(tmpdir(), "acb-cluster-conformance-"));
afterAll(async () => {
  await cluster?.stop();
  await removeBundle();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!services)("the cluster conformance profile", () => {
  it("passes against three production-preset nodes", { timeout: 180_000 }, async () => {
    if (!services) return;
    cluster = await startCluster(services, 3);
    const report = join(dir, "report.json");
    const lines: string[] = [];
    const code = await main(
      [
        "--profile",
        "cluster",
        ...cluster.urls.flatMap((u) => ["--url", u]),
        "--admin-token",
        cluster.nodes[0]?.adminToken ?? "",
        "--report-json",
        report,
      ],
      { out: (l) => lines.push(l), err: (l) => lines.push(l) },
    );
    console.log(lines.join("\n"));
    expect(code).toBe(0);
    const parsed = JSON.parse(readFileSync(report, "utf8")) as ConformanceReport;
    expect(parsed.nodes).toEqual(cluster.urls);
    expect(parsed.cases.map((c) => [c.id, c.status])).toEqual([
      ["cluster.one-hub", "passed"],
      ["cluster.cross-node-delivery", "passed"],
      ["cluster.cross-node-subscription", "passed"],
      ["cluster.cross-node-meeting", "passed"],
      ["cluster.shared-quotas", "passed"],
    ]);
  });
});

if (!services) {
  it.skip("the cluster conformance profile (services not configured)", () => {});
}
