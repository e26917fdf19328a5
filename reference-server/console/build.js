// Builds the web console: bundles console.ts (on the SDK's browser entry, @acb/sdk/web) with
// esbuild and copies index.html and console.css beside it. The hub serves the result with
// `acb-hub dev --console` (or `hub.listen({ console: { dir } })`).
//   node reference-server/console/build.js [OUT_DIR]   (default reference-server/dist/console)
// Plain JavaScript, so the root build runs it on any Node the build runs on.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "../dist/console"));
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "console.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // The workspace's TypeScript sources, so the console never lags behind the SDK's dist/.
  conditions: ["source"],
  minify: true,
  outfile: join(out, "console.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "console.css"]) copyFileSync(join(here, file), join(out, file));
