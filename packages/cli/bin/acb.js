#!/usr/bin/env node
// Runs the built CLI (dist/). In a clone of the repository, `npm ci` builds it (the root "prepare"
// script); when dist/ is missing, say how to build it instead of failing with a stack trace.
try {
  await import("../dist/cli.js");
} catch (err) {
  const missing = new URL("../dist/cli.js", import.meta.url).href;
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || err.url !== missing) throw err;
  process.stderr.write(
    "acb is not built yet (no packages/cli/dist): run `npm run build` in the repository " +
      "(or use `./dev acb ...`, which builds first)\n",
  );
  process.exitCode = 1;
}
