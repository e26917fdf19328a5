// vitest globalSetup: builds dist/ (npm run build: `tsc -b`, incremental, well under a second when
// nothing changed) before any test runs, so the tests that run the bins (acb-hub, the demo) run the
// current sources, and several test files never build at once.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
  const run = spawnSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    throw new Error(
      `the build before the tests failed (npm run build):\n${run.stdout}${run.stderr}`,
    );
  }
  // The hub's web console (static files the bins serve with --console), as npm run build makes it.
  const console = spawnSync(process.execPath, ["reference-server/console/build.js"], {
    cwd: root,
    encoding: "utf8",
  });
  if (console.status !== 0) {
    throw new Error(`building the web console failed:\n${console.stdout}${console.stderr}`);
  }
}
