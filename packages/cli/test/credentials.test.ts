// Where acb finds its hub and credential, and the errors for a missing or expired one: given
// before any call goes out, saying where it looked and what to do.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { resolveConnection } from "../src/credentials.js";
import { acb } from "./io.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "acb-cli-cred-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (exp: number) => `${b64({ alg: "EdDSA" })}.${b64({ sub: "a-1", exp })}.c2ln`;

it("refuses to run without a credential, naming where it looked", async () => {
  const r = await acb(["agents", "list"], { env: { HOME: dir } });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("acb agents list: no credential: set ACB_TOKEN, pass --token");
  expect(r.stderr).toContain(join(dir, ".config/acb/config.json"));
});

it("refuses an expired token before calling the hub", async () => {
  const expired = jwt(Math.floor(Date.parse("2020-01-01T00:00:00Z") / 1000));
  const r = await acb(["agents", "list"], { env: { ACB_TOKEN: expired } });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("the token from ACB_TOKEN expired at 2020-01-01T00:00:00.000Z");
});

it("takes flags over the environment over the config file", async () => {
  const config = join(dir, "config.json");
  await writeFile(config, JSON.stringify({ url: "http://hub.example:1", token: "from-file" }));
  expect(resolveConnection({ config }, {})).toMatchObject({
    url: "http://hub.example:1",
    token: "from-file",
  });
  expect(
    resolveConnection({ config }, { ACB_URL: "http://env:2", ACB_TOKEN: "from-env" }),
  ).toMatchObject({ url: "http://env:2", token: "from-env", tokenSource: "ACB_TOKEN" });
  expect(
    resolveConnection({ config, url: "http://flag:3", token: "from-flag" }, { ACB_TOKEN: "x" }),
  ).toMatchObject({ url: "http://flag:3", token: "from-flag" });
  expect(resolveConnection({}, { ACB_CONFIG: config, ACB_TOKEN: "t" }).url).toBe(
    "http://hub.example:1",
  );
  expect(resolveConnection({}, { HOME: dir, ACB_TOKEN: "t" }).url).toBe("http://127.0.0.1:7443");
});

it("reports a bad config file as a usage error", async () => {
  const missing = await acb(["agents", "list", "--config", join(dir, "nope.json")]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain(`config file "${join(dir, "nope.json")}" does not exist`);
  const broken = join(dir, "broken.json");
  await writeFile(broken, "{");
  const bad = await acb(["agents", "list", "--config", broken]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("is not JSON");
});

it("says the hub refused a credential it does not accept", async () => {
  const { createHub, silentLogger } = await import("@acb/hub");
  const hub = await createHub({ mode: "dev", logger: silentLogger });
  try {
    const listener = await hub.listen({ host: "127.0.0.1", port: 0 });
    const r = await acb(["agents", "list", "--url", listener.url, "--token", "not-a-token"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the hub refused the credential from --token");
  } finally {
    await hub.close();
  }
});
