// What each mutant of the hub must survive: the conformance suite, over the wire, against an
// in-process reference hub built from the (mutated) sources. A mutant is killed when a MUST case
// fails.
//
// One vitest test per conformance case: with `coverageAnalysis: "perTest"` StrykerJS records which
// cases reach each mutant and runs only those (a mutant no case reaches is not run at all), which
// is what makes the full run affordable. ACB_MUTATION_PROFILES (e.g. "delivery,security") and
// ACB_MUTATION_ONLY (e.g. "registry.,admin.") narrow the cases further, for quick experiments;
// ACB_MUTATION_SKIP leaves out the cases whose ids start with its prefixes.
//
// ACB_MUTATION_BACKEND=pglite runs the hub on the SQL backend (PGlite, in memory) instead of the
// embedded memory one. Its store claims deliveries as it writes them and its notifier is not
// "reliable", so the delivery engine's handoff to live streams and its periodic re-reads, which
// the memory backend never reaches, are tested too.
import { createHub, createPgliteBackend, type Hub, silentLogger } from "@acb/hub";
import { afterAll, beforeAll, expect, it } from "vitest";
import { catalogue, isProfile, runConformance } from "../src/index.js";

const profiles = (process.env.ACB_MUTATION_PROFILES ?? "")
  .split(",")
  .map((p) => p.trim())
  .filter(Boolean);
for (const p of profiles) if (!isProfile(p)) throw new Error(`unknown profile "${p}"`);
const backend = process.env.ACB_MUTATION_BACKEND ?? "memory";
if (backend !== "memory" && backend !== "pglite") {
  throw new Error(`ACB_MUTATION_BACKEND is "memory" or "pglite", not "${backend}"`);
}
const prefixes = (name: string) =>
  (process.env[name] ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
const only = prefixes("ACB_MUTATION_ONLY");
// Cases left out (by id prefix), e.g. to measure what new cases add: the same mutants with and
// without them.
const skip = prefixes("ACB_MUTATION_SKIP");

// Cases that cannot run against one in-process hub (durability needs a restart command, cluster
// a second node) and the latency profile (SHOULD only, so it never kills a mutant) are left out.
const left = new Set(["durability", "cluster", "latency"]);
const cases = catalogue.filter(
  (c) =>
    !left.has(c.profile) &&
    (profiles.length === 0 || profiles.includes(c.profile)) &&
    (only.length === 0 || only.some((prefix) => c.id.startsWith(prefix))) &&
    !skip.some((prefix) => c.id.startsWith(prefix)),
);

let hub: Hub;
let url: string;
let adminToken: string;

beforeAll(async () => {
  hub = await createHub({
    logger: silentLogger,
    ...(backend === "pglite" && { backend: await createPgliteBackend() }),
  });
  url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

for (const c of cases) {
  it(c.id, async () => {
    const report = await runConformance({
      url,
      adminToken,
      cases: [c],
      // A mutant that hangs a case fails it quickly instead of holding the run.
      waitMs: 2_000,
      caseTimeoutMs: 20_000,
    });
    const result = report.cases[0];
    expect(result?.status === "failed" ? `${c.id}: ${result.detail}` : "ok").toBe("ok");
  });
}
