// The cluster profile's own checks, without a cluster: given one URL its cases skip, saying why;
// given two hubs that are not one (two in-memory hubs, each with its own state and keys) every
// case fails. reference-server/test/conformance-cluster.test.ts runs it against three nodes of
// one hub on the production preset, where it passes.

import { createHub, type Hub, silentLogger } from "@acb/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogue, runConformance } from "../src/index.js";

const hubs: Hub[] = [];
const urls: string[] = [];
let adminToken = "";
beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const hub = await createHub({ logger: silentLogger });
    hubs.push(hub);
    urls.push((await hub.listen({ host: "127.0.0.1", port: 0 })).url);
  }
  adminToken = await (hubs[0] as Hub).issueAdminToken();
});
afterAll(async () => {
  for (const hub of hubs) await hub.close();
});

const clusterIds = catalogue.filter((c) => c.profile === "cluster").map((c) => c.id);

describe("the cluster profile", () => {
  it("skips with one URL", async () => {
    const report = await runConformance({
      url: urls[0] as string,
      adminToken,
      profiles: ["cluster"],
    });
    expect(report.ok).toBe(true);
    expect(report.cases.map((c) => [c.id, c.status])).toEqual(
      clusterIds.map((id) => [id, "skipped"]),
    );
    expect(report.cases[0]?.detail).toContain("--url A --url B");
  });

  it("fails every case against two hubs that are not one", { timeout: 60_000 }, async () => {
    const report = await runConformance({
      url: urls[0] as string,
      otherNodes: [urls[1] as string],
      adminToken,
      profiles: ["cluster"],
      waitMs: 1_500,
    });
    expect(report.ok).toBe(false);
    expect(report.nodes).toEqual(urls);
    expect(report.cases.map((c) => [c.id, c.status])).toEqual(
      clusterIds.map((id) => [id, "failed"]),
    );
    expect(report.cases[0]?.detail).toContain("hub_epoch");
  });
});
