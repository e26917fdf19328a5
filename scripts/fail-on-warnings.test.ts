import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

it("fails a test run whose tests pass but whose process emits a warning", () => {
  const run = spawnSync(
    process.execPath,
    [
      "node_modules/vitest/vitest.mjs",
      "run",
      "--root",
      root,
      "--config",
      "scripts/fixtures/vitest.config.ts",
    ],
    { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
  );
  const output = run.stdout + run.stderr;
  expect(output).toMatch(
    /process warning \(tests treat warnings as failures\): DeprecationWarning ACB0001: something is deprecated/,
  );
  expect(run.status).toBe(1);
});
