// Generates the SDK's API reference (docs/sdk-api.md) and its API report (packages/sdk/api-report.md)
// from the SDK's own exported types, with ts-morph. Run: npm run api. CI regenerates both and fails
// when git sees a difference, so a change to the public surface is always a reviewed diff.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  type ExportedDeclarations,
  type JSDocableNode,
  Node,
  Project,
  type SourceFile,
} from "ts-morph";

const root = resolve(import.meta.dirname, "..");
const sdk = resolve(root, "packages/sdk");
const entries = [
  { path: "@acb/sdk/web", file: "src/web.ts", note: "fetch: browsers, Deno, Bun, Node" },
  { path: "@acb/sdk", file: "src/index.ts", note: "the same as @acb/sdk/web" },
  { path: "@acb/sdk/deno", file: "src/deno.ts", note: "the same as @acb/sdk/web" },
  { path: "@acb/sdk/bun", file: "src/bun.ts", note: "the same as @acb/sdk/web" },
  { path: "@acb/sdk/node", file: "src/node.ts", note: "Node's HTTP/2 (or HTTP/1.1, gRPC)" },
];

const project = new Project({
  tsConfigFilePath: resolve(sdk, "tsconfig.json"),
  compilerOptions: { customConditions: ["source"] },
  skipAddingFilesFromTsConfig: true,
});

const squash = (s: string) =>
  s.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/,? \)/g, ")").replace(/,\)/g, ")");

/** The declaration's signature without bodies or comments, on as few lines as reads well. */
function signature(name: string, d: ExportedDeclarations): string {
  if (Node.isFunctionDeclaration(d)) {
    const overloads = d.getOverloads();
    const sigs = overloads.length > 0 ? overloads : [d];
    return sigs
      .map((f) => {
        const body = f.getBody();
        const text = body
          ? f.getText(false).slice(0, body.getStart() - f.getStart())
          : f.getText(false);
        return `${squash(text.replace(/^export\s+/, ""))
          .trim()
          .replace(/;$/, "")};`;
      })
      .join("\n");
  }
  if (Node.isInterfaceDeclaration(d) || Node.isClassDeclaration(d)) {
    const head = squash(
      d
        .getText(false)
        .slice(0, d.getText(false).indexOf("{"))
        .replace(/^export\s+/, ""),
    ).trim();
    const members = d
      .getMembers()
      .filter((m) => !m.getText(false).startsWith("private"))
      .map((m) => {
        const body = Node.isBodyable(m) ? m.getBody() : undefined;
        const text = body
          ? m.getText(false).slice(0, body.getStart() - m.getStart())
          : m.getText(false);
        return `  ${squash(text).trim().replace(/;$/, "")};`;
      });
    return `${head} {\n${members.join("\n")}\n}`;
  }
  if (Node.isTypeAliasDeclaration(d) || Node.isEnumDeclaration(d)) {
    return squash(d.getText(false).replace(/^export\s+/, "")).trim();
  }
  if (Node.isVariableDeclaration(d)) {
    return `const ${name}: ${squash(d.getType().getText(d))};`;
  }
  if (Node.isModuleDeclaration(d)) return `namespace ${name} { … }`;
  return squash(d.getText(false)).trim();
}

function docOf(d: ExportedDeclarations): string {
  const node = Node.isVariableDeclaration(d) ? d.getVariableStatement() : d;
  if (!node || !Node.isJSDocable(node)) return "";
  return (node as JSDocableNode)
    .getJsDocs()
    .map((j) => j.getDescription().trim())
    .join("\n")
    .trim();
}

function kindOf(d: ExportedDeclarations): string {
  if (Node.isFunctionDeclaration(d)) return "function";
  if (Node.isInterfaceDeclaration(d)) return "interface";
  if (Node.isClassDeclaration(d)) return "class";
  if (Node.isTypeAliasDeclaration(d)) return "type";
  if (Node.isEnumDeclaration(d)) return "enum";
  if (Node.isVariableDeclaration(d)) return "const";
  if (Node.isModuleDeclaration(d)) return "namespace";
  return d.getKindName();
}

interface Symbol {
  name: string;
  kind: string;
  signature: string;
  doc: string;
  members: { name: string; doc: string }[];
  from: string;
}

function symbolsOf(file: SourceFile): Symbol[] {
  const out: Symbol[] = [];
  for (const [name, decls] of [...file.getExportedDeclarations()].sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    // A name may be both a type and a namespace (StandardSchemaV1): list each declaration once.
    for (const d of decls) {
      const members =
        Node.isInterfaceDeclaration(d) || Node.isClassDeclaration(d)
          ? d
              .getMembers()
              .filter((m) => !m.getText(false).startsWith("private"))
              .map((m) => ({
                name: Node.hasName(m)
                  ? m.getName()
                  : Node.isConstructorDeclaration(m)
                    ? "constructor"
                    : "",
                doc: Node.isJSDocable(m)
                  ? m
                      .getJsDocs()
                      .map((j) => j.getDescription().trim())
                      .join(" ")
                  : "",
              }))
              .filter((m) => m.name !== "")
          : [];
      const from = d.getSourceFile().getFilePath().replace(`${root}/`, "");
      out.push({
        name,
        kind: kindOf(d),
        signature: signature(name, d),
        doc: docOf(d),
        members,
        from,
      });
    }
  }
  return out;
}

const surfaces = entries.map((e) => ({
  ...e,
  symbols: symbolsOf(project.addSourceFileAtPath(resolve(sdk, e.file))),
}));
const web = surfaces[0]?.symbols ?? [];

// The API report: every exported symbol of every entry point with its signature.
const report: string[] = [
  "# @acb/sdk API report",
  "",
  "<!-- Generated by scripts/sdk-api.ts (npm run api) from the SDK's exported types. Do not edit. -->",
  "",
  "CI fails when this file is stale: a change to the public surface shows up here as a diff.",
  "",
];
for (const s of surfaces) {
  report.push(`## \`${s.path}\` (${s.file}; ${s.note})`, "");
  const same =
    s !== surfaces[0] &&
    JSON.stringify(s.symbols.map((x) => [x.name, x.signature])) ===
      JSON.stringify(web.map((x) => [x.name, x.signature]));
  if (same) {
    report.push(`Exports exactly what \`@acb/sdk/web\` exports (${s.symbols.length} symbols).`, "");
    continue;
  }
  const extra = s.symbols.filter(
    (x) => !web.some((w) => w.name === x.name && w.signature === x.signature),
  );
  const shared = s.symbols.length - extra.length;
  if (s !== surfaces[0]) {
    report.push(`${shared} symbols as in \`@acb/sdk/web\`, plus:`, "");
  }
  for (const x of s === surfaces[0] ? s.symbols : extra) {
    report.push(`### ${x.name} (${x.kind})`, "", "```ts", x.signature, "```", "");
  }
}
writeFileSync(resolve(sdk, "api-report.md"), `${report.join("\n").trimEnd()}\n`);
// The report is linted like the code: let Biome format its TypeScript blocks.
execFileSync(
  resolve(root, "node_modules/.bin/biome"),
  ["format", "--write", "packages/sdk/api-report.md"],
  {
    cwd: root,
    stdio: "ignore",
  },
);

// The reference: one section per symbol of the web entry (plus Node's extras), with its docs.
const doc: string[] = [
  "# SDK API reference",
  "",
  "<!-- Generated by scripts/sdk-api.ts (npm run api) from the SDK's exported types and their",
  "     doc comments. Do not edit: change the comments in packages/sdk/src and regenerate. -->",
  "",
  "Every entry point exports the same API; they differ only in `createClient`'s options (the",
  "transport). See [sdk.md](sdk.md) for a guided tour.",
  "",
  "| Import | For |",
  "| --- | --- |",
  ...entries.map((e) => `| \`${e.path}\` | ${e.note} |`),
  "",
];
const node = surfaces.find((s) => s.path === "@acb/sdk/node")?.symbols ?? [];
const nodeExtras = node.filter(
  (x) => !web.some((w) => w.name === x.name && w.signature === x.signature),
);
const anchor = (n: string, k: string) => `${n}-${k}`.toLowerCase();
const toc = (list: Symbol[]) =>
  list.map((x) => `[\`${x.name}\`](#${anchor(x.name, x.kind)})`).join(" · ");
const section = (x: Symbol) => {
  doc.push(`### ${x.name} ${x.kind}`, "");
  if (x.doc) doc.push(x.doc, "");
  doc.push("```ts", x.signature, "```", "");
  const documented = x.members.filter((m) => m.doc !== "");
  if (documented.length > 0) {
    doc.push("| Member | Description |", "| --- | --- |");
    for (const m of documented)
      doc.push(`| \`${m.name}\` | ${m.doc.replace(/\n/g, " ").replace(/\|/g, "\\|")} |`);
    doc.push("");
  }
  doc.push(`<sub>Defined in \`${x.from}\`.</sub>`, "");
};
doc.push("## `@acb/sdk/web` (and `@acb/sdk`, `/deno`, `/bun`)", "", toc(web), "");
for (const x of web) section(x);
doc.push("## `@acb/sdk/node`: what differs", "", toc(nodeExtras), "");
for (const x of nodeExtras) section(x);
writeFileSync(resolve(root, "docs/sdk-api.md"), `${doc.join("\n").trimEnd()}\n`);
console.log(
  `api: ${web.length} symbols (web), ${nodeExtras.length} Node-specific; wrote docs/sdk-api.md and packages/sdk/api-report.md`,
);
