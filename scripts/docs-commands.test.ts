// Every command the docs tell a reader to run must run as written, on a fresh machine, in a fresh
// shell whose `node` may be older than 22 (the project's tools are then only reachable through
// ./dev). This test reads the shell blocks of README.md and docs/**/*.md, and their inline
// commands, and checks that each names something that exists: a ./dev task the dev script accepts
// (with an acb-hub command and options the hub accepts, an example or benchmark that exists), an
// npm script, an installed bin, a file, or a command on PATH.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findCommand, optionsOf } from "../packages/cli/src/commands.js";
import { commands as hubCommands } from "../reference-server/src/cli-commands.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The tasks `./dev` accepts, as it lists them itself (without installing anything). */
const devTasks = spawnSync("bash", [join(root, "dev"), "tasks"], { encoding: "utf8" })
  .stdout.split("\n")
  .filter(Boolean);
const devScript = readFileSync(join(root, "dev"), "utf8");
const npmScripts = (
  JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts;
const installedBins = new Set(readdirSync(join(root, "node_modules/.bin")));
/** Bins of the project that a fresh shell does not have on PATH (they live in node_modules). */
const projectBins = new Set([...installedBins, "acb-hub", "acb-conformance", "acb"]);

/** The workspace packages that have a bin (npx runs them by package name). */
const workspaceBins = new Set(
  ["reference-server", "conformance", "packages/sdk", "packages/cli", "gen"].flatMap((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as {
      name: string;
      bin?: Record<string, string>;
    };
    return pkg.bin ? [pkg.name] : [];
  }),
);
/**
 * Runtimes the SDK supports that a reader brings along; the docs show `deno add` for installing
 * the SDK with one. They are not needed to work on the repository, so they need not be on PATH.
 */
const readersRuntimes = ["deno", "bun"];
/**
 * Deployment tools a reader brings along (docs/deploy.md): a container engine and a cluster's
 * client. They are not needed to work on the repository, so they need not be on PATH; the deploy/
 * files they are given must exist.
 */
const deploymentTools = ["docker", "kubectl"];

function onPath(command: string): boolean {
  // The project's node_modules/.bin (present when tests run from npm) is not a fresh shell's PATH.
  const dirs = (process.env["PATH"] ?? "")
    .split(delimiter)
    .filter((d) => d && !d.includes("node_modules") && !d.startsWith(join(root, ".tools")));
  return dirs.some((d) => existsSync(join(d, command)));
}

/** Splits a command line into words, keeping quoted strings whole (quotes removed). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? "");
  return out;
}

/**
 * The simple commands of a shell snippet: continuation lines joined, comments dropped, split on
 * ;, &&, || and |, command substitutions $(…) checked as commands of their own.
 */
function commandsOf(snippet: string): string[] {
  const joined = snippet.replace(/\\\n\s*/g, " ");
  const out: string[] = [];
  for (let line of joined.split("\n")) {
    line = line.replace(/(^|\s)#.*$/, "");
    line = line.replace(/\$\(([^()]*)\)/g, (_, inner: string) => {
      out.push(...commandsOf(inner));
      return "SUBSTITUTED";
    });
    // A | between words is a pipe; inside a word ([--protocol connect|grpc]) it is usage notation.
    for (const part of line.split(/&&|\|\||;|\s\|\s/)) {
      const command = part.trim().replace(/&$/, "").trim();
      if (command) out.push(command);
    }
  }
  return out;
}

/** Options (--name) among `args`, with [optional] brackets and =values removed. */
const optionsIn = (args: string[]) =>
  args.flatMap((a) => {
    const m = /^\[?(--[a-z0-9-]+)/.exec(a);
    return m?.[1] ? [m[1]] : [];
  });

function checkHubCommand(args: string[]): string | undefined {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "help") return undefined;
  if (command.startsWith("<")) return undefined; // a placeholder: `acb-hub <command> --help`
  if (!Object.hasOwn(hubCommands, command)) return `acb-hub has no command "${command}"`;
  const known = Object.keys(hubCommands[command as keyof typeof hubCommands].options);
  const unknown = optionsIn(rest).filter((o) => o !== "--help" && !known.includes(o.slice(2)));
  return unknown.length > 0 ? `acb-hub ${command} has no option ${unknown.join(", ")}` : undefined;
}

function checkAcbCommand(args: string[]): string | undefined {
  if (args[0] === undefined || args[0] === "--help" || args[0].startsWith("<")) return undefined;
  const found = findCommand(args);
  if (!found) return `acb has no command "${args.slice(0, 2).join(" ")}"`;
  if (found.name === "hub") return checkHubCommand(["dev", ...found.rest]);
  if (found.name === "conformance") return undefined;
  const known = Object.keys(optionsOf(found.name));
  const unknown = optionsIn(found.rest).filter(
    (o) => o !== "--help" && !known.includes(o.slice(2)),
  );
  return unknown.length > 0 ? `acb ${found.name} has no option ${unknown.join(", ")}` : undefined;
}

const needsNewNode = (script: string) => /\bnode\s+\S+\.ts\b|\bvitest\b/.test(script);

/**
 * Why `command` cannot run as written in a fresh shell, or undefined when it can. `shell` is false
 * for inline commands in prose, where a bare tool name (acb-hub dev) names the tool.
 */
function problemOf(command: string, shell = true): string | undefined {
  const all = words(command);
  while (all[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(all[0])) all.shift(); // VAR=value prefixes
  const [first, ...args] = all;
  if (first === undefined) return undefined;
  if (first === "./dev") {
    const [task, ...rest] = args;
    if (task === undefined || task.startsWith("<")) return undefined;
    if (!devTasks.includes(task)) return `./dev has no task "${task}" (./dev help lists them)`;
    if (!new RegExp(`^\\s*(?:[\\w:-]+ \\| )*${task}(?: \\| [\\w:-]+)*\\)`, "m").test(devScript))
      return `./dev lists task "${task}" but its case statement does not run it`;
    if (task === "acb-hub") return checkHubCommand(rest);
    if (task === "acb") return checkAcbCommand(rest);
    if (task === "hub") return checkHubCommand(["dev", ...rest]);
    if (task === "exec") {
      if (rest.length === 0) return shell ? "./dev exec needs a command" : undefined;
      return problemOfTool(rest, false);
    }
    if (task === "example" && rest[0] && !rest[0].startsWith("<")) {
      if (!existsSync(join(root, "examples/src", `${rest[0]}.ts`)))
        return `there is no example examples/src/${rest[0]}.ts`;
    }
    if (task === "bench" && rest[0] && !rest[0].startsWith("<")) {
      const file = join(root, "bench", `${rest[0]}.ts`);
      if (!existsSync(file) || !/export default/.test(readFileSync(file, "utf8")))
        return `bench/${rest[0]}.ts is not a benchmark ./dev bench can run`;
    }
    return undefined;
  }
  if (first === "npm" && args[0] === "run") {
    const script = args[1] ?? "";
    if (!Object.hasOwn(npmScripts, script)) return `package.json has no script "${script}"`;
    if (needsNewNode(npmScripts[script] ?? ""))
      return `npm run ${script} needs Node >= 22 on PATH: write ./dev ${script}`;
    return undefined;
  }
  if (first === "npm") return undefined; // npm ci, npm install: npm itself
  if (first === "npx") {
    const bin = args.find((a) => !a.startsWith("-"));
    if (bin && workspaceBins.has(bin)) return undefined; // npx @acb/hub: a package of ours
    return bin && installedBins.has(bin) ? undefined : `npx ${bin}: no such installed bin`;
  }
  if (first !== undefined && readersRuntimes.includes(first) && args[0] === "add") return undefined;
  if (first !== undefined && deploymentTools.includes(first)) {
    const missing = args.filter((a) => /^deploy\//.test(a) && !existsSync(join(root, a)));
    return missing.length > 0 ? `${first}: no such file ${missing.join(", ")}` : undefined;
  }
  if (first === "acb-hub" && !shell) return checkHubCommand(args);
  if (first === "acb-conformance" && !shell) return undefined;
  if (first === "acb" && !shell) return checkAcbCommand(args);
  if (first === "export" || first === "eval") return undefined; // shell builtins (eval's $(…) is checked)
  if (first === "buf" && !shell) return undefined; // prose naming the tool
  return problemOfTool(all, true);
}

/**
 * A command run from the reader's shell (`fresh`: its node may be 20, the project's bins are not
 * on PATH) or through ./dev exec (Node >= 22 and node_modules/.bin on PATH): a file, a project
 * bin, or a command on PATH.
 */
function problemOfTool(all: string[], fresh: boolean): string | undefined {
  const [first, ...args] = all;
  if (first === undefined || first.startsWith("<")) return undefined; // a placeholder
  if (first === "node" || first === "bash") {
    const file = args.find((a) => !a.startsWith("-"));
    if (file === undefined) return undefined;
    if (!existsSync(join(root, file))) return `${first} ${file}: no such file`;
    if (fresh && first === "node" && file.endsWith(".ts"))
      return `node ${file} needs Node >= 22: write ./dev exec node ${file}`;
    return undefined;
  }
  if (first.startsWith("./") || first.startsWith(".ci/")) {
    return existsSync(join(root, first)) ? undefined : `${first}: no such file`;
  }
  if (projectBins.has(first)) {
    if (fresh) return `${first} is not on PATH in a fresh shell: write ./dev exec ${first} …`;
    return installedBins.has(first) ? undefined : `${first} is not installed in node_modules/.bin`;
  }
  return onPath(first) ? undefined : `${first}: command not found on PATH`;
}

/** Checks a command run as the first word of a shell line: tools must be reachable as written. */
function problemOfShellLine(command: string): string | undefined {
  const all = words(command);
  while (all[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(all[0])) all.shift();
  const first = all[0];
  if (first === undefined) return undefined;
  return problemOf(command, true);
}

interface Found {
  where: string;
  command: string;
  shell: boolean;
}

function markdownFiles(): string[] {
  const out = [join(root, "README.md")];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".md")) out.push(path);
    }
  };
  walk(join(root, "docs"));
  return out;
}

/** The commands of one markdown text: its shell blocks, and inline code that is a command. */
function commandsInMarkdown(text: string, file: string): Found[] {
  const found: Found[] = [];
  const lines = text.split("\n");
  let block: { lang: string; start: number; body: string[] } | undefined;
  for (const [i, line] of lines.entries()) {
    const fence = /^\s*```(\w*)/.exec(line);
    if (fence) {
      if (block) {
        if (["sh", "bash", "shell", "console"].includes(block.lang)) {
          const body = block.body.map((l) => l.replace(/^\$ /, "")).join("\n");
          for (const command of commandsOf(body))
            found.push({ where: `${file}:${block.start + 1}`, command, shell: true });
        }
        block = undefined;
      } else {
        block = { lang: fence[1] ?? "", start: i, body: [] };
      }
      continue;
    }
    if (block) {
      block.body.push(line);
      continue;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) {
      const code = m[1] ?? "";
      if (/^(\.\/dev|npm run|npx|acb-hub) /.test(code) || code === "./dev")
        for (const command of commandsOf(code))
          found.push({ where: `${file}:${i + 1}`, command, shell: false });
    }
  }
  return found;
}

describe("the commands in README.md and docs/", () => {
  const found = markdownFiles().flatMap((path) =>
    commandsInMarkdown(readFileSync(path, "utf8"), path.slice(root.length)),
  );

  it("finds the shell blocks and inline commands, and ./dev's tasks", () => {
    expect(devTasks).toEqual(expect.arrayContaining(["demo", "test", "hub", "acb-hub", "exec"]));
    const readme = found.filter((f) => f.where.startsWith("README.md") && f.shell);
    expect(readme.map((f) => f.command)).toEqual(["./dev demo", "./dev test"]);
    expect(found.filter((f) => f.shell).length).toBeGreaterThan(10);
  });

  it("each names something that exists and runs as written in a fresh shell", () => {
    const problems = found.flatMap((f) => {
      const problem = f.shell ? problemOfShellLine(f.command) : problemOf(f.command, false);
      return problem ? [`${f.where}: ${f.command}\n    ${problem}`] : [];
    });
    expect(problems).toEqual([]);
  });

  it("flags the commands that failed in a fresh shell before the docs used ./dev", () => {
    const bad = [
      "npm run bench -- streaming --quick",
      "npm run api",
      "node bench/run.ts messaging",
      'buf curl --schema . --data \'{"tenantId":"demo"}\' http://127.0.0.1:7443/x',
      "acb-hub serve --signing-key key.pem",
      "./dev bench nope",
      "./dev launch",
      "./dev acb-hub serve --signing-key k.pem --colour",
      "./dev acb-hub frobnicate",
      "npx no-such-bin",
      "node no/such/file.js",
      "kubectl apply -k deploy/no-such-folder",
    ];
    for (const command of bad) expect(problemOfShellLine(command), command).toBeDefined();
    // node bench/run.ts runs a .ts file: fine under Node >= 22, so only through ./dev.
    expect(problemOfShellLine("./dev exec node bench/sdk-bundle-size.ts")).toBeUndefined();
    expect(problemOf("npm run bench -- streaming --quick", false)).toBeDefined();
    expect(problemOf("acb-hub dev --fault NAME", false)).toBeUndefined();
    expect(problemOf("acb-hub dev --no-such-option", false)).toBeDefined();
  });
});
