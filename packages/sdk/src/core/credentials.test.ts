import { describe, expect, it } from "vitest";
import { jwtExpiry, refreshingTokenSource } from "./credentials.js";

const jwt = (claims: object) =>
  `h.${btoa(JSON.stringify(claims)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}.s`;

describe("refreshing credentials", () => {
  it("reads a JWT's exp and ignores tokens that are not JWTs", () => {
    expect(jwtExpiry(jwt({ exp: 1_900_000_000 }))?.getTime()).toBe(1_900_000_000_000);
    expect(jwtExpiry("acb_apikey_0123")).toBeUndefined();
    expect(jwtExpiry("a.not-base64!.c")).toBeUndefined();
  });

  it("refreshes once inside the margin, shares the refresh, and rotates the refresh token", async () => {
    let now = 1_000_000;
    const calls: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const auth = {
      async refreshToken(req: { refreshToken: string }) {
        calls.push(req.refreshToken);
        await gate;
        const n = calls.length;
        return {
          tokens: {
            accessToken: `access-${n}`,
            refreshToken: `refresh-${n}`,
            accessTokenExpiresAt: { seconds: BigInt(now / 1000 + 3600), nanos: 0 },
          },
        };
      },
    };
    const seen: string[] = [];
    const source = refreshingTokenSource(
      {
        accessToken: "access-0",
        refreshToken: "refresh-0",
        expiresAt: new Date(now + 120_000),
        onRefresh: (t) => seen.push(t.refreshToken),
      },
      auth as never,
      () => now,
    );
    expect(await source()).toBe("access-0"); // two minutes left: no refresh yet
    now += 61_000; // inside the default 60 s margin
    const [a, b] = [source(), source()];
    release();
    expect([await a, await b]).toEqual(["access-1", "access-1"]);
    expect(calls).toEqual(["refresh-0"]);
    expect(seen).toEqual(["refresh-1"]);
    expect(await source()).toBe("access-1"); // valid for an hour now
    now += 3600_000;
    expect(await source()).toBe("access-2");
    expect(calls).toEqual(["refresh-0", "refresh-1"]);
  });
});
