// What each mutant of the hub must survive: the conformance suite, over the wire, against an
// in-process reference hub built from the (mutated) sources. A mutant is killed when a MUST case
// fails. ACB_MUTATION_PROFILES (e.g. "delivery,security") narrows the run to the profiles that
// reach the mutated file, and ACB_MUTATION_ONLY (e.g. "registry.,admin.") to cases whose id starts
// with a prefix, for quick per-file runs; the full run uses every case.
import { createHub, type Hub, silentLogger } from "@acb/hub";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isProfile, type Profile, runConformance } from "../src/index.js";

const profiles = (process.env.ACB_MUTATION_PROFILES ?? "")
  .split(",")
  .map((p) => p.trim())
  .filter(Boolean);
for (const p of profiles) if (!isProfile(p)) throw new Error(`unknown profile "${p}"`);
const only = (process.env.ACB_MUTATION_ONLY ?? "")
  .split(",")
  .map((p) => p.trim())
  .filter(Boolean);

let hub: Hub;
let url: string;
let adminToken: string;

beforeAll(async () => {
  hub = await createHub({ logger: silentLogger });
  url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

it("the hub passes every MUST case", async () => {
  const report = await runConformance({
    url,
    adminToken,
    // A mutant that hangs a case fails it quickly instead of holding the run.
    waitMs: 2_000,
    caseTimeoutMs: 20_000,
    ...(profiles.length > 0 && { profiles: profiles as Profile[] }),
    ...(only.length > 0 && { only }),
  });
  expect(report.cases.filter((c) => c.status === "failed").map((c) => c.id)).toEqual([]);
});
