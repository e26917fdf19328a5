// docs/sdk.md shows the SDK in `ts` blocks: each is type-checked here against the SDK's sources,
// so an example that no longer compiles fails the suite. A block runs inside an async function
// (top-level await, `await using`); the names blocks use without defining are declared below.
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");
// Inside the repository (under node_modules, which git ignores), so imports resolve as in an app.
const dir = join(root, "node_modules/.cache/acb-docs-examples");

/** What the page's blocks take as given (a script: global names); a block may shadow any. */
const given = `
declare const client: import("@acb/sdk/node").AcbClient;
declare const baseUrl: string;
declare const accessToken: string;
declare const refreshToken: string;
declare const ui: { setBadge(state: string): void };
declare const store: { save(refreshToken: string): void; load(): Promise<string> };
declare const log: { warn(message: string, fields?: Record<string, unknown>): void };
declare const id: string;
declare const value: unknown;
declare const expectedRevision: number;
declare function retryFrom(revision: number): Promise<void>;
declare function sleep(ms: number): Promise<void>;
declare function onTask(m: import("@acb/sdk/node").ReceivedMessage): Promise<void>;
declare function onBoardChange(c: import("@acb/sdk/node").ContextChange): void;
declare function ship(sku: string, qty: number): Promise<void>;
`;

/** The `ts` blocks of a Markdown page, with their line numbers. */
function blocks(markdown: string): { line: number; code: string }[] {
  const found: { line: number; code: string }[] = [];
  const re = /^( *)```ts\n([\s\S]*?)^\1```$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    const indent = m[1] ?? "";
    const code = (m[2] ?? "")
      .split("\n")
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join("\n");
    found.push({ line: markdown.slice(0, m.index).split("\n").length, code });
  }
  return found;
}

/** A block as a module: its imports at the top, the rest in an async function. */
function asModule(code: string): string {
  const imports: string[] = [];
  const body: string[] = [];
  for (const line of code.split("\n")) (/^import\s/.test(line) ? imports : body).push(line);
  return `${imports.join("\n")}\nexport async function example() {\n${body.join("\n")}\n}\n`;
}

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("compiles every ts example of docs/sdk.md", async () => {
  const page = await readFile(join(root, "docs/sdk.md"), "utf8");
  const examples = blocks(page);
  expect(examples.length).toBeGreaterThanOrEqual(8);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const files = ["given.d.ts"];
  await writeFile(join(dir, "given.d.ts"), given);
  for (const { line, code } of examples) {
    const name = `sdk-md-line-${line}.ts`;
    files.push(name);
    await writeFile(join(dir, name), asModule(code));
  }
  const tsconfig = {
    extends: join(root, "tsconfig.base.json"),
    compilerOptions: {
      noEmit: true,
      lib: ["es2023", "esnext.disposable", "dom", "dom.iterable"],
      types: ["node"],
      typeRoots: [join(root, "node_modules/@types")],
      customConditions: ["source"],
    },
    files,
  };
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  const tsc = join(root, "node_modules/.bin/tsc");
  const result = await promisify(execFile)(tsc, ["-p", join(dir, "tsconfig.json")]).then(
    () => "",
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ""}${err.stderr ?? ""}`,
  );
  // Each error names the file, and so the line of docs/sdk.md where its block starts.
  expect(result).toBe("");
}, 120_000);
