import { describe, expect, it } from "vitest";
import { createHub } from "../hub.js";
import { silentLogger } from "../logger.js";
import { originAllowed } from "./cors.js";

describe("CORS", () => {
  it("allows loopback origins in 'loopback' mode and exact origins otherwise", () => {
    const dev = { allowedOrigins: ["loopback"] };
    expect(originAllowed("http://127.0.0.1:5173", dev)).toBe(true);
    expect(originAllowed("http://localhost:3000", dev)).toBe(true);
    expect(originAllowed("http://[::1]:8080", dev)).toBe(true);
    expect(originAllowed("http://127.0.0.1.evil.example", dev)).toBe(false);
    expect(originAllowed("https://app.example.com", dev)).toBe(false);
    expect(
      originAllowed("https://app.example.com", { allowedOrigins: ["https://app.example.com"] }),
    ).toBe(true);
  });

  it("answers a browser's preflight for an allowed origin and stays silent for others", async () => {
    const hub = await createHub({ logger: silentLogger });
    try {
      const listener = await hub.listen({ cors: { allowedOrigins: ["http://localhost:9999"] } });
      const url = `${listener.url}/acb.v1.ServerInfoService/GetServerInfo`;
      const preflight = (origin: string) =>
        fetch(url, {
          method: "OPTIONS",
          headers: {
            Origin: origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,connect-protocol-version",
          },
        });
      const ok = await preflight("http://localhost:9999");
      expect(ok.status).toBe(204);
      expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:9999");
      expect(ok.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
      const other = await preflight("http://localhost:1234");
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const call = await fetch(url, {
        method: "POST",
        headers: { Origin: "http://localhost:9999", "Content-Type": "application/json" },
        body: "{}",
      });
      // Answers, refusals included, carry the header, so the page can read the error.
      expect(call.headers.get("access-control-allow-origin")).toBe("http://localhost:9999");
    } finally {
      await hub.close();
    }
  });
});
