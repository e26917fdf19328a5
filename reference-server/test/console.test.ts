// The web console: its files served by the hub under /console/ (only when enabled; right content
// types; nothing outside the built files reachable), `acb-hub dev --console` printing consoleUrl,
// and the page itself in headless Chromium against a live hub: two agents online, the message
// counter rising, a meeting's current speaker changing. The test saves a screenshot (in a temp
// folder it keeps; its path is printed).

import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createClient, Role } from "@acb/sdk/node";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireRuntime, runtimes } from "../../packages/sdk/test/runtimes.js";
import { createHub, type Hub, type Listener, silentLogger } from "../src/index.js";

const root = resolve(import.meta.dirname, "../..");
let dir: string;
let hub: Hub;
let listener: Listener;

/** A raw HTTP/1.1 request, so paths reach the hub exactly as written (no URL normalisation). */
function get(
  url: string,
  path: string,
  method = "GET",
): Promise<{ status: number; type: string; location: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(`${url}${path}`, { method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () =>
        resolvePromise({
          status: res.statusCode ?? 0,
          type: String(res.headers["content-type"] ?? ""),
          location: String(res.headers.location ?? ""),
          body,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "acb-console-"));
  // The real build script, into a folder of this test's own.
  const built = spawnSync(
    process.execPath,
    [join(root, "reference-server/console/build.js"), join(dir, "console")],
    {
      encoding: "utf8",
    },
  );
  expect(built.status, built.stderr).toBe(0);
  hub = await createHub({ mode: "dev", logger: silentLogger });
  listener = await hub.listen({
    host: "127.0.0.1",
    port: 0,
    console: { dir: join(dir, "console") },
  });
}, 120_000);

afterAll(async () => {
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the console's files", () => {
  it("are served under /console/ with their content types", async () => {
    const bare = await get(listener.url, "/console");
    expect(bare.status).toBe(308);
    expect(bare.location).toBe("/console/");
    const index = await get(listener.url, "/console/");
    expect(index.status).toBe(200);
    expect(index.type).toBe("text/html; charset=utf-8");
    expect(index.body).toContain('<script type="module" src="console.js">');
    expect((await get(listener.url, "/console/index.html?x=1")).status).toBe(200);
    const js = await get(listener.url, "/console/console.js");
    expect(js.type).toBe("text/javascript; charset=utf-8");
    expect((await get(listener.url, "/console/console.css")).type).toBe("text/css; charset=utf-8");
    expect((await get(listener.url, "/console/", "HEAD")).body).toBe("");
    expect((await get(listener.url, "/console/", "POST")).status).toBe(405);
  });

  it("never reach outside the built files", async () => {
    for (const path of [
      "/console/../package.json",
      "/console/..%2f..%2fpackage.json",
      "/console/%2e%2e/%2e%2e/package.json",
      "/console//etc/passwd",
      "/console/%2Fetc%2Fpasswd",
      "/console/..\\..\\package.json",
      "/console/build.js",
      "/console/console.ts",
      "/console/nope.html",
    ]) {
      const res = await get(listener.url, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).toBe("not found\n");
    }
  });

  it("leave every other path to the RPC router, and are absent unless enabled", async () => {
    const other = await createHub({ mode: "dev", logger: silentLogger });
    try {
      const plain = await other.listen({ host: "127.0.0.1", port: 0 });
      expect((await get(plain.url, "/console/")).status).toBe(404);
      expect((await get(plain.url, "/console/")).type).not.toContain("text/html");
    } finally {
      await other.close();
    }
    const info = await createClient({ baseUrl: listener.url }).serverInfo();
    expect(info.hubEpoch).toBe(hub.epoch);
  });
});

it("acb-hub dev --console prints consoleUrl in its listening line", async () => {
  const child = spawn(
    process.execPath,
    [join(root, "reference-server/bin/acb-hub.js"), "dev", "--port", "0", "--console"],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), "line")) as [string];
    const listening = JSON.parse(line) as { url: string; consoleUrl: string };
    expect(listening.consoleUrl).toBe(`${listening.url}/console/`);
    const page = await get(listening.url, "/console/");
    expect(page.status).toBe(200);
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}, 60_000);

describe.runIf(requireRuntime("chromium", "apt-get install chromium, or set ACB_CHROMIUM"))(
  "the console in headless Chromium",
  () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: runtimes.chromium ?? "chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    it("shows agents online, a rising message count and the meeting's current speaker", async () => {
      const admin = createClient({ baseUrl: listener.url, token: await hub.issueAdminToken() });
      await admin.services.admin.createTenant({ tenantId: "console" });
      const tokenFor = async (agentId: string, roles: Role[]) =>
        (await admin.services.auth.issueToken({ tenantId: "console", agentId, roles })).tokens
          ?.accessToken ?? "";
      const operator = await tokenFor("operator", [Role.ADMIN]);
      const alice = createClient({
        baseUrl: listener.url,
        token: await tokenFor("alice", [Role.AGENT_FULL]),
      });
      const bob = createClient({
        baseUrl: listener.url,
        token: await tokenFor("bob", [Role.AGENT_FULL]),
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${listener.url}/console/?refresh=200`);
        await page.fill("#token", operator);
        await page.click("button[type=submit]");
        await page.waitForSelector("#dashboard", { state: "visible" });
        await page.waitForSelector("#login", { state: "hidden" });
        // The token stays in the tab's sessionStorage: a reload needs no new login.
        await page.reload();
        await page.waitForSelector("#dashboard", { state: "visible" });
        await page.waitForSelector("#login", { state: "hidden" });

        await alice.register({ type: "worker" });
        await bob.register({ type: "worker" });
        await page.waitForFunction(
          () =>
            document.querySelector("[data-testid=agents-online]")?.textContent === "2 online of 2",
        );

        const count = async () => Number(await page.textContent("[data-testid=message-count]"));
        const before = await count();
        for (let i = 0; i < 3; i++) await alice.sendTo("bob", "note", { i });
        await page.waitForFunction(
          (n) => Number(document.querySelector("[data-testid=message-count]")?.textContent) >= n,
          before + 3,
        );
        expect(await count()).toBeGreaterThan(before);

        const meeting = await alice.meetings.create({
          title: "standup",
          participants: ["alice", "bob"],
        });
        await meeting.join();
        await bob.meetings.open(meeting.id).join();
        const started = await meeting.start();
        const speaker = (holder: string) =>
          page.waitForFunction(
            ([id, who]) =>
              document.querySelector(`[data-testid="speaker-${id}"]`)?.textContent === who,
            [meeting.id, holder] as const,
          );
        await speaker(started.turnHolderId);
        const passed = await (started.turnHolderId === "alice"
          ? meeting
          : bob.meetings.open(meeting.id)
        ).pass();
        expect(passed.turnHolderId).not.toBe(started.turnHolderId);
        await speaker(passed.turnHolderId);

        // Kept after the test (the other temp files are removed), for a person to look at.
        const shot = join(await mkdtemp(join(tmpdir(), "acb-console-shot-")), "console.png");
        await page.screenshot({ path: shot, fullPage: true });
        expect((await stat(shot)).size).toBeGreaterThan(1000);
        console.log(`console screenshot: ${shot}`);
        await page.close();
      } finally {
        await alice.close();
        await bob.close();
        await admin.close();
      }
    }, 120_000);
  },
);
