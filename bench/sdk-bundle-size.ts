// How much the web entry point (@acb/sdk/web) weighs in a browser bundle: esbuild, minified,
// tree-shaken, then gzip. Run: ./dev exec node bench/sdk-bundle-size.ts. Prints a table and one JSON line.
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "..");

/** Bundles `contents` (an application's imports) and measures it. */
async function measure(name: string, contents: string) {
  const out = await build({
    stdin: { contents, resolveDir: root, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source"],
    write: false,
  });
  const bytes = out.outputFiles[0]?.contents ?? new Uint8Array();
  return { name, minifiedBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}

const rows = [
  // Everything the entry exports, kept alive: the upper bound.
  await measure("web entry, whole API", `export * from "@acb/sdk/web";`),
  // A typical agent: connect, register, share context, subscribe, send and receive.
  await measure(
    "web entry, createClient only",
    `import { createClient } from "@acb/sdk/web"; globalThis.c = createClient;`,
  ),
];
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log("| bundle | minified | gzip |\n| --- | --- | --- |");
for (const r of rows) console.log(`| ${r.name} | ${kib(r.minifiedBytes)} | ${kib(r.gzipBytes)} |`);
console.log(JSON.stringify({ bench: "sdk-bundle-size", rows }));
