// CI runs the whole suite against the reference hub (embedded backend, system clock, over a real
// port): every MUST and declared MAY case must pass, and the run must leave no tenant behind.
// The hub logs at debug level meanwhile (a line per RPC), and no token used shows in its logs.

import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { createHub, createJsonLogger, type Hub } from "@acb/hub";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConformanceReport, catalogue, runConformance } from "../src/index.js";

let hub: Hub;
let url: string;
let adminToken: string;
const logLines: string[] = [];

beforeAll(async () => {
  hub = await createHub({
    logger: createJsonLogger({ level: "debug", write: (line) => logLines.push(line) }),
  });
  url = (await hub.listen({ host: "127.0.0.1", port: 0 })).url;
  adminToken = await hub.issueAdminToken();
});

afterAll(async () => {
  await hub?.close();
});

describe("the reference hub", () => {
  let report: ConformanceReport;

  it("passes every MUST case of every profile", { timeout: 180_000 }, async () => {
    report = await runConformance({ url, adminToken });
    const failed = report.cases.filter((c) => c.status === "failed");
    expect(failed.map((c) => `${c.id}: ${c.detail}`)).toEqual([]);
    expect(report.ok).toBe(true);
    // Every case ran (durability skips without --restart-cmd; the in-memory hub is not durable;
    // the cluster cases need the URLs of several nodes).
    const skipped = report.cases.filter((c) => c.status === "skipped").map((c) => c.id);
    expect(skipped).toEqual([
      "durability.restart-no-loss",
      ...catalogue.filter((c) => c.profile === "cluster").map((c) => c.id),
    ]);
    expect(report.cases).toHaveLength(catalogue.length);
  });

  it("logs no token it used: no JWT (access, refresh, admin), no API key secret", () => {
    expect(logLines.length).toBeGreaterThan(report.cases.length);
    const logs = logLines.join("\n");
    expect(logs).not.toContain(adminToken);
    expect(logs.match(/eyJ[\w-]+\.eyJ[\w-]+/g) ?? []).toEqual([]);
    expect(logs.match(/acbk_[0-9a-f]{16}_[\w-]{20,}/g) ?? []).toEqual([]);
    // The hub's own hint "send Authorization: Bearer <token>" is fine; a real credential is not.
    expect(logs.match(/Bearer\s+(?!<token>)\S+/gi) ?? []).toEqual([]);
  });

  it("leaves no tenant behind", async () => {
    const admin = createClient(
      AdminService,
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("Authorization", `Bearer ${adminToken}`);
            return next(req);
          },
        ],
      }),
    );
    const { tenants } = await admin.listTenants({ pageSize: 1000 });
    expect(tenants.filter((t) => t.id.startsWith(`acbc-${report.runId}`))).toEqual([]);
  });
});
