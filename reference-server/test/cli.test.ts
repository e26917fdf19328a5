// acb-hub as an operator runs it: the built bin (vitest's global setup builds dist/ first) in a
// child process, its help, its key-writing commands, and the production bootstrap: a token signed
// with `acb-hub token` works against `acb-hub serve` started with the same signing key.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService, Role } from "@acb/gen/acb/v1/auth_pb";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commands } from "../src/cli-commands.js";
import { hubFaults } from "../src/faults.js";

const bin = fileURLToPath(new URL("../bin/acb-hub.js", import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "acb-cli-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the bin to completion (for the commands that end). */
function acbHub(args: string[], cwd = dir) {
  const run = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: "utf8" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("acb-hub --help", () => {
  it("lists every command and every option, and exits 0", () => {
    for (const flag of ["--help", "-h", "help"]) {
      const { status, stdout } = acbHub([flag]);
      expect(status).toBe(0);
      for (const [name, spec] of Object.entries(commands)) {
        expect(stdout).toContain(`acb-hub ${name} `);
        for (const option of Object.keys(spec.options)) expect(stdout).toContain(`--${option}`);
      }
    }
    // The ones the first usage text left out, and the commands added since, by name.
    const { stdout } = acbHub(["--help"]);
    for (const word of ["--cors", "--log-level", "--fault", "token", "keygen", "cert", "--force"])
      expect(stdout).toContain(word);
  });

  it("prints one command's options with acb-hub <command> --help", () => {
    for (const [name, spec] of Object.entries(commands)) {
      const { status, stdout } = acbHub([name, "--help"]);
      expect(status, name).toBe(0);
      expect(stdout.startsWith(`acb-hub ${name} `)).toBe(true);
      for (const option of Object.keys(spec.options)) expect(stdout).toContain(`--${option}`);
      const usageLines = stdout.split("\n").filter((l) => l.startsWith("acb-hub "));
      expect(usageLines).toHaveLength(1);
    }
  });

  it("answers an unknown command, an unknown option and an unknown fault with what is valid", () => {
    const unknown = acbHub(["launch"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "launch"');
    for (const name of Object.keys(commands)) expect(unknown.stderr).toContain(`  ${name} `);

    const option = acbHub(["dev", "--colour"]);
    expect(option.status).toBe(2);
    expect(option.stderr).toMatch(/--colour/);
    expect(option.stderr).toContain("acb-hub dev --help");

    const fault = acbHub(["dev", "--fault", "nope"]);
    expect(fault.status).toBe(2);
    expect(fault.stderr).toContain('unknown --fault "nope"');
    for (const name of hubFaults) expect(fault.stderr).toContain(name);
  });
});

describe("acb-hub cert and keygen", () => {
  it("creates the --out folder, and never overwrites a file without --force", () => {
    const out = join(dir, "certs", "dev");
    const first = acbHub(["cert", "--out", out]);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      certFile: join(out, "cert.pem"),
      keyFile: join(out, "key.pem"),
    });
    const key = readFileSync(join(out, "key.pem"), "utf8");
    expect(statSync(join(out, "key.pem")).mode & 0o777).toBe(0o600);

    const again = acbHub(["cert", "--out", out]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain("exist already; nothing was written (give --force");
    expect(readFileSync(join(out, "key.pem"), "utf8")).toBe(key);

    const forced = acbHub(["cert", "--out", out, "--force"]);
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(join(out, "key.pem"), "utf8")).not.toBe(key);
  });

  it("does not replace a signing key named key.pem in the current folder", () => {
    writeFileSync(join(dir, "key.pem"), "the operator's signing key");
    const { status, stderr } = acbHub(["cert"]);
    expect(status).toBe(2);
    expect(stderr).toContain("key.pem exists already; nothing was written");
    expect(readFileSync(join(dir, "key.pem"), "utf8")).toBe("the operator's signing key");
    expect(() => statSync(join(dir, "cert.pem"))).toThrow();
  });

  it("keygen writes an Ed25519 signing key once", () => {
    const first = acbHub(["keygen", "--out", "keys/signing-key.pem"]);
    expect(first.status, first.stderr).toBe(0);
    const pem = readFileSync(join(dir, "keys", "signing-key.pem"), "utf8");
    expect(pem).toMatch(/BEGIN PRIVATE KEY/);
    expect(statSync(join(dir, "keys", "signing-key.pem")).mode & 0o777).toBe(0o600);
    const again = acbHub(["keygen", "--out", "keys/signing-key.pem"]);
    expect(again.status).toBe(2);
    expect(readFileSync(join(dir, "keys", "signing-key.pem"), "utf8")).toBe(pem);
  });
});

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };

/** Starts `acb-hub serve` and resolves with its URL once it prints its "listening" line. */
async function startServe(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [bin, "serve", "--port", "0", "--log-level", "warn", "--memory", ...args],
    {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`acb-hub serve exited with code ${code} before listening`);
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listening = (async () => {
    for await (const line of lines) {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === "listening") return event.url;
    }
    throw new Error("acb-hub serve closed its output before listening");
  })();
  return { url: await Promise.race([listening, exited]), child };
}

describe("acb-hub token", () => {
  let serve: ChildProcess | undefined;
  afterEach(async () => {
    if (serve && serve.exitCode === null) {
      const exited = once(serve, "exit");
      serve.kill("SIGTERM");
      await exited;
    }
    serve = undefined;
  });

  it("mints a platform-admin token that a production hub with the same key accepts", async () => {
    expect(acbHub(["keygen"]).status).toBe(0);
    const minted = acbHub([
      "token",
      "--signing-key",
      "signing-key.pem",
      "--tenant",
      "*",
      "--role",
      "admin",
      "--role",
      "ROLE_OBSERVER",
      "--ttl",
      "10m",
      "--subject",
      "ops",
    ]);
    expect(minted.status, minted.stderr).toBe(0);
    const adminToken = minted.stdout.trim();
    expect(adminToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    // (Every synchronous run of the bin comes before the hub starts: while one runs, the test's
    // event loop is blocked.)
    expect(acbHub(["keygen", "--out", "other.pem"]).status).toBe(0);
    const forged = acbHub(["token", "--signing-key", "other.pem"]).stdout.trim();

    const started = await startServe(["--signing-key", "signing-key.pem"]);
    serve = started.child;
    const admin = createConnectTransport({
      baseUrl: started.url,
      httpVersion: "1.1",
      interceptors: [bearer(adminToken)],
    });
    const me = await createClient(AuthService, admin).whoAmI({});
    expect(me).toMatchObject({
      tenantId: "*",
      agentId: "ops",
      roles: [Role.ADMIN, Role.OBSERVER],
    });
    // The bootstrap the docs describe: a tenant, then an agent token issued by the hub.
    await createClient(AdminService, admin).createTenant({ tenantId: "acme" });
    const issued = await createClient(AuthService, admin).issueToken({
      tenantId: "acme",
      agentId: "a-1",
      roles: [Role.AGENT_FULL],
    });
    const agent = createConnectTransport({
      baseUrl: started.url,
      httpVersion: "1.1",
      interceptors: [bearer(issued.tokens?.accessToken ?? "")],
    });
    expect((await createClient(AuthService, agent).whoAmI({})).tenantId).toBe("acme");

    // A token signed with another key is refused.
    const refused = await createClient(
      AuthService,
      createConnectTransport({
        baseUrl: started.url,
        httpVersion: "1.1",
        interceptors: [bearer(forged)],
      }),
    )
      .whoAmI({})
      .then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
    expect(refused?.code, refused?.message).toBe(Code.Unauthenticated);
  });

  it("refuses what it cannot sign correctly, with the reason", () => {
    expect(acbHub(["keygen"]).status).toBe(0);
    const cases: [string[], RegExp][] = [
      [[], /needs --signing-key FILE/],
      [["--signing-key", "missing.pem"], /cannot read --signing-key "missing.pem"/],
      [
        ["--signing-key", "signing-key.pem", "--tenant", "acme"],
        /platform tokens \(--tenant '\*'\) only/,
      ],
      [
        ["--signing-key", "signing-key.pem", "--role", "root"],
        /--role "root" is not a role \(admin, /,
      ],
      [["--signing-key", "signing-key.pem", "--ttl", "8d"], /longer than the 7d maximum/],
      [["--signing-key", "signing-key.pem", "--ttl", "soon"], /not a duration like 90s/],
    ];
    for (const [args, message] of cases) {
      const { status, stdout, stderr } = acbHub(["token", ...args]);
      expect(status, args.join(" ")).toBe(2);
      expect(stderr).toMatch(message);
      expect(stdout).toBe("");
    }
    writeFileSync(join(dir, "not-a-key.pem"), "hello");
    const bad = acbHub(["token", "--signing-key", "not-a-key.pem"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--signing-key "not-a-key.pem" is not a PEM private key');
  });
});

describe("the acb-hub bin before a build", () => {
  it("says how to build instead of a module-not-found stack trace", () => {
    mkdirSync(join(dir, "bin"));
    copyFileSync(bin, join(dir, "bin", "acb-hub.js"));
    const run = spawnSync(process.execPath, [join(dir, "bin", "acb-hub.js"), "dev"], {
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("acb-hub is not built yet");
    expect(run.stderr).toContain("npm run build");
    expect(run.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
  });
});
