// Checks the packages as users get them (npm run check:packages; CI runs it):
//   1. packs every package users install (@acb/gen, @acb/sdk, @acb/hub, @acb/conformance) with
//      `npm pack`, whose prepack builds it, and lints each tarball with publint and attw;
//   2. `deno publish --dry-run` of the SDK's JSR manifest (packages/sdk/jsr.json);
//   3. installs the tarballs into a fresh project in a temp dir, outside the workspace (their
//      third-party dependencies come from the npm registry), type-checks a consumer against the
//      shipped declarations, starts the installed `acb-hub dev`, and runs the small agent of
//      scripts/package-check/ in Node, Deno and Bun and, bundled with esbuild, in headless Chromium.
// Deno, Bun and Chromium are found like the SDK's runtime tests find them (ACB_DENO, ACB_BUN,
// ACB_CHROMIUM, else .tools/ and /usr/bin/chromium); a missing one fails the check.
// `--keep` leaves the temp dir in place for inspection.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const root = resolve(import.meta.dirname, "..");
const fixture = resolve(import.meta.dirname, "package-check");
/** The workspaces published to npm, in dependency order. */
const workspaces = ["gen", "packages/sdk", "reference-server", "conformance"];
const keep = process.argv.includes("--keep");

function findBinary(name: string, candidates: (string | undefined)[]): string {
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) throw new Error(`${name} not found (tried ${candidates.filter(Boolean).join(", ")})`);
  return found;
}
const deno = findBinary("deno", [
  process.env.ACB_DENO,
  resolve(root, ".tools/deno/node_modules/@deno/linux-x64-glibc/deno"),
]);
const bun = findBinary("bun", [
  process.env.ACB_BUN,
  resolve(root, ".tools/bun/node_modules/@oven/bun-linux-x64/bin/bun"),
]);
const chromiumPath = findBinary("chromium", [
  process.env.ACB_CHROMIUM,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
]);

const t0 = performance.now();
const since = (start: number) => `${((performance.now() - start) / 1000).toFixed(1)} s`;
const step = (title: string) => console.log(`\n-- ${title} [at ${since(t0)}]`);

interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Print the output as it comes (indented) instead of only on failure. */
  echo?: boolean;
}

/** Runs a command to completion and resolves with its stdout; rejects with all its output when it
 * fails or times out. */
function run(command: string, args: string[], options: RunOptions): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let stdout = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (options.echo) process.stdout.write(chunk.toString().replace(/^(?=.)/gm, "   "));
    };
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      collect(chunk);
    });
    child.stderr.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(stdout);
      else {
        const how = signal ? `was killed (${signal}; timeout?)` : `exited with ${code}`;
        reject(new Error(`${command} ${args.join(" ")} ${how}:\n${output}`));
      }
    });
  });
}

interface PackedPackage {
  name: string;
  version: string;
  filename: string;
  size: number;
  entryCount: number;
  files: { path: string }[];
}

async function packAll(dest: string): Promise<PackedPackage[]> {
  // With --json, npm prints the lifecycle scripts' banners to stderr and only the JSON to stdout.
  const out = await run(
    "npm",
    ["pack", "--json", "--pack-destination", dest, ...workspaces.flatMap((w) => ["-w", w])],
    { cwd: root },
  );
  return JSON.parse(out) as PackedPackage[];
}

/** The packages are released together: each must pin the others at exactly the packed version,
 * or installing it would fetch another version from the registry. */
async function checkVersions(packed: PackedPackage[]): Promise<void> {
  const problems: string[] = [];
  const versions = new Map(packed.map((p) => [p.name, p.version]));
  for (const workspace of workspaces) {
    const p = JSON.parse(await readFile(resolve(root, workspace, "package.json"), "utf8")) as {
      name: string;
      dependencies?: Record<string, string>;
    };
    for (const [dep, range] of Object.entries(p.dependencies ?? {})) {
      const own = versions.get(dep);
      if (own !== undefined && range !== own) {
        problems.push(`${p.name}: depends on ${dep}@${range}, but ${dep} is ${own}`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`version problems:\n${problems.join("\n")}`);
}

async function lint(packed: PackedPackage[], dir: string): Promise<string[]> {
  const start = performance.now();
  const problems: string[] = [];
  for (const p of packed) {
    const tarball = await readFile(join(dir, p.filename));
    for (const required of ["package.json", "README.md", "LICENSE"]) {
      if (!p.files.some((f) => f.path === required)) problems.push(`${p.name}: no ${required}`);
    }
    const { messages, pkg } = await publint({
      pack: { tarball: new Uint8Array(tarball).buffer },
      strict: true,
    });
    for (const m of messages)
      problems.push(`${p.name}: publint ${m.type}: ${formatMessage(m, pkg)}`);
    // @acb/gen exports a wildcard ("./*"), which attw cannot enumerate: name every file.
    const entrypoints = p.files
      .map((f) => f.path.match(/^dist\/(.+_pb)\.js$/)?.[1])
      .filter((e): e is string => e !== undefined)
      .map((e) => `./${e}`);
    const attwArgs = [join(dir, p.filename), "--profile", "esm-only", "--format", "ascii"];
    if (entrypoints.length > 0) attwArgs.push("--include-entrypoints", ...entrypoints);
    try {
      await run(resolve(root, "node_modules/.bin/attw"), attwArgs, { cwd: dir });
    } catch (e) {
      problems.push(`${p.name}: attw: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`package problems:\n${problems.join("\n")}`);
  return [
    ...packed.map((p) => `${p.name}: publint --strict and attw --profile esm-only: no problems`),
    `(publint and attw took ${since(start)})`,
  ];
}

/** Starts the installed `acb-hub dev` and reads its first line: URL and admin token. */
/** The hub's log (JSON lines on stderr), shown when the check fails. */
let hubLog = "";

async function startHub(app: string): Promise<{ hub: ChildProcess; url: string; admin: string }> {
  const hub = spawn(
    process.execPath,
    [join(app, "node_modules/@acb/hub/bin/acb-hub.js"), "dev", "--port", "0"],
    { cwd: app, stdio: ["ignore", "pipe", "pipe"] },
  );
  hub.stderr?.on("data", (chunk: Buffer) => {
    hubLog += chunk.toString();
  });
  const line = await new Promise<string>((resolveLine, reject) => {
    let buffered = "";
    hub.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const end = buffered.indexOf("\n");
      if (end >= 0) resolveLine(buffered.slice(0, end));
    });
    hub.on("exit", (code) => reject(new Error(`acb-hub dev exited with ${code} before listening`)));
  });
  const { url, adminToken } = JSON.parse(line) as { url: string; adminToken: string };
  return { hub, url, admin: adminToken };
}

/** One Connect unary call with the JSON codec: provisioning needs nothing but fetch. */
async function call(url: string, method: string, token: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/acb.v1.${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as unknown;
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function servePage(script: string): Promise<{ server: Server; url: string }> {
  const html = `<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>`;
  const server = createServer((req, res) => {
    const isScript = req.url === "/page.js";
    res
      .writeHead(200, { "content-type": isScript ? "text/javascript" : "text/html" })
      .end(isScript ? script : html);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://localhost:${(server.address() as AddressInfo).port}/` };
}

async function runInChromium(app: string, query: URLSearchParams): Promise<void> {
  const bundle = await build({
    absWorkingDir: app,
    entryPoints: ["page.ts"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
  });
  const script = bundle.outputFiles[0]?.text ?? "";
  console.log(
    `   page.ts bundled from the installed @acb/sdk/web: ${(script.length / 1024).toFixed(0)} KiB`,
  );
  const page = await servePage(script);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (e) => errors.push(String(e)));
    tab.on("console", (m) => console.log(`   ${m.text()}`));
    await tab.goto(`${page.url}?${query}`);
    await tab.waitForFunction(
      () => (globalThis as { acbCheck?: { done: boolean } }).acbCheck?.done === true,
      undefined,
      { timeout: 30_000 },
    );
    const report = await tab.evaluate(
      () => (globalThis as { acbCheck?: { error?: string } }).acbCheck,
    );
    if (report?.error || errors.length > 0) {
      throw new Error(`the page failed: ${report?.error ?? ""} ${errors.join("; ")}`);
    }
  } finally {
    await browser.close();
    page.server.close();
  }
}

/** Runs `deno publish --dry-run` on the SDK's JSR manifest. */
async function denoDryRun(): Promise<string> {
  const start = performance.now();
  const readJson = async (file: string) =>
    JSON.parse(await readFile(resolve(root, "packages/sdk", file), "utf8")) as {
      name: string;
      version: string;
    };
  const [jsr, npm] = await Promise.all([readJson("jsr.json"), readJson("package.json")]);
  if (jsr.name !== npm.name || jsr.version !== npm.version) {
    throw new Error(
      `packages/sdk/jsr.json (${jsr.name}@${jsr.version}) must match its package.json (${npm.name}@${npm.version})`,
    );
  }
  await run(deno, ["publish", "--dry-run", "--allow-dirty", "--sloppy-imports"], {
    cwd: resolve(root, "packages/sdk"),
  });
  return `deno publish --dry-run: the JSR package of @acb/sdk (packages/sdk/jsr.json) passes (${since(start)})`;
}

/** A fresh project with the tarballs installed, type-checked as a strict TypeScript consumer. */
async function installFresh(app: string, tarballs: string[]): Promise<string[]> {
  const start = performance.now();
  await mkdir(app);
  await writeFile(
    join(app, "package.json"),
    `${JSON.stringify({ name: "acb-install-check", private: true, type: "module" }, null, 2)}\n`,
  );
  for (const file of ["agent.ts", "settings.ts", "node.ts", "deno.ts", "bun.ts", "page.ts"]) {
    await cp(join(fixture, file), join(app, file));
  }
  // @types/node (the version the workspace uses) for the consumer of @acb/sdk/node.
  const typesNode = JSON.parse(
    await readFile(resolve(root, "node_modules/@types/node/package.json"), "utf8"),
  ) as { version: string };
  await run(
    "npm",
    ["install", "--no-audit", "--no-fund", ...tarballs, `@types/node@${typesNode.version}`],
    { cwd: app, timeoutMs: 180_000 },
  );
  const installed = since(start);
  // The shipped declarations as a strict consumer with Node16 resolution sees them (no skipLibCheck).
  await writeFile(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "es2023",
        lib: ["es2023", "dom", "dom.iterable"],
        module: "nodenext",
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        skipLibCheck: false,
        types: ["node"],
      },
      include: ["*.ts"],
    }),
  );
  await run(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "."], {
    cwd: app,
  });
  await run(join(app, "node_modules/.bin/acb-conformance"), ["--list"], { cwd: app });
  return [
    `installed the tarballs into ${app} (third-party dependencies from the registry; ${installed})`,
    `tsc type-checks the agent against the installed declarations (done at ${since(start)})`,
    "the installed acb-conformance lists its cases",
  ];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "acb-packages-"));
  const tarballs = join(work, "tarballs");
  const app = join(work, "app");
  let hub: ChildProcess | undefined;
  try {
    step("npm pack (prepack builds each package)");
    await mkdir(tarballs);
    const packed = await packAll(tarballs);
    await checkVersions(packed);
    for (const p of packed) {
      console.log(
        `   ${p.filename.padEnd(28)} ${(p.size / 1024).toFixed(0).padStart(5)} KiB, ${p.entryCount} files`,
      );
    }

    step("publint + attw, deno publish --dry-run, and a fresh install outside the workspace");
    // Independent of each other: the install waits on the network, the checks on the CPU.
    // allSettled: a failure reports only after the others stopped (no process outlives the check).
    const results = await Promise.allSettled([
      lint(packed, tarballs),
      denoDryRun(),
      installFresh(
        app,
        packed.map((p) => join(tarballs, p.filename)),
      ),
    ]);
    const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    if (failures.length > 0) {
      throw new Error(failures.map((f) => (f instanceof Error ? f.message : String(f))).join("\n"));
    }
    for (const r of results)
      if (r.status === "fulfilled") console.log(`   ${[r.value].flat().join("\n   ")}`);

    step("the installed acb-hub dev, a tenant and one token per runtime");
    const running = await startHub(app);
    hub = running.hub;
    const { url, admin } = running;
    await call(url, "AdminService/CreateTenant", admin, { tenantId: "package-check" });
    const tokenFor = async (agentId: string) => {
      const res = (await call(url, "AuthService/IssueToken", admin, {
        tenantId: "package-check",
        agentId,
        roles: ["ROLE_AGENT_FULL"],
      })) as { tokens: { accessToken: string } };
      return res.tokens.accessToken;
    };
    console.log(`   hub at ${url}`);

    // Bun runs the agent twice: from the installed package as is, and bundled with esbuild's
    // `--conditions=source`, which resolves the packages' shipped TypeScript sources instead.
    await build({
      absWorkingDir: app,
      entryPoints: ["bun.ts"],
      outfile: join(app, "bun-source-bundle.mjs"),
      bundle: true,
      format: "esm",
      platform: "node",
      conditions: ["source"],
      logLevel: "error",
    });
    const agents = [
      { title: "Node", id: "node-agent", command: process.execPath, args: ["node.ts"] },
      {
        title: "Deno",
        id: "deno-agent",
        command: deno,
        args: ["run", "--allow-net", "--allow-env", "deno.ts"],
      },
      { title: "Bun", id: "bun-agent", command: bun, args: ["bun.ts"] },
      {
        title: "Bun, bundled with --conditions=source",
        id: "bun-source-agent",
        command: bun,
        args: ["bun-source-bundle.mjs"],
      },
    ];
    for (const agent of agents) {
      step(`the agent in ${agent.title}`);
      await run(agent.command, agent.args, {
        cwd: app,
        env: { ACB_URL: url, ACB_TOKEN: await tokenFor(agent.id), ACB_AGENT_ID: agent.id },
        timeoutMs: 60_000,
        echo: true,
      });
    }

    step("the agent in headless Chromium (esbuild bundle, page on another origin)");
    await runInChromium(
      app,
      new URLSearchParams({
        hub: url.replace("127.0.0.1", "localhost"),
        token: await tokenFor("browser-agent"),
        agent: "browser-agent",
      }),
    );

    console.log(
      `\npackages OK: packed, linted, installed and run in Node, Deno, Bun and Chromium (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
  } finally {
    if (hub && hub.exitCode === null) {
      const exited = new Promise((r) => hub?.once("exit", r));
      hub.kill("SIGTERM");
      await exited;
    }
    if (keep) console.log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(
    `\npackage check FAILED: ${error instanceof Error ? error.message : String(error)}`,
  );
  if (hubLog)
    console.error(`\nthe hub's log, last lines:\n${hubLog.split("\n").slice(-40).join("\n")}`);
  process.exitCode = 1;
}
