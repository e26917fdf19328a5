import { describe, expect, it } from "vitest";
import { createJsonLogger } from "./logger.js";

describe("createJsonLogger", () => {
  it("writes one JSON object per line with time, level, msg and the fields", () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ level: "info", write: (l) => lines.push(l) });
    logger.log("debug", "dropped");
    logger.log("warn", "agent registered", { tenant_id: "t-1", agent_id: "a-1" });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    expect(line).toMatchObject({
      level: "warn",
      msg: "agent registered",
      tenant_id: "t-1",
      agent_id: "a-1",
    });
    expect(new Date(String(line["time"])).toISOString()).toBe(line["time"]);
  });

  it("never writes credentials or payloads, at the top level or one level down", () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ level: "debug", write: (l) => lines.push(l) });
    logger.log("info", "issued", {
      token: "secret-1",
      refreshToken: "secret-2",
      request: { authorization: "Bearer secret-3", payload: "secret-4", apiKey: "secret-5" },
      agent_id: "a-1",
    });
    expect(lines[0]).not.toMatch(/secret-/);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      token: "[redacted]",
      request: { authorization: "[redacted]" },
      agent_id: "a-1",
    });
  });

  it("logs an error by name and message only", () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (l) => lines.push(l) });
    logger.log("error", "failed", { err: new TypeError("boom") });
    const line = JSON.parse(lines[0] ?? "") as { err: Record<string, unknown> };
    expect(line.err["message"]).toBe("boom");
    expect(line.err["name"]).toBe("TypeError");
    expect(JSON.stringify(line)).not.toContain("logger.test.ts");
  });
});
