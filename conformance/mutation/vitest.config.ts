// The vitest project StrykerJS runs for each mutant (npm run mutation): the conformance suite
// against an in-process reference hub. "@acb/hub" resolves to the hub's sources beside this file,
// so inside Stryker's sandbox the suite meets the mutated copy, not the checkout's.
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

const root = resolve(import.meta.dirname, "../..");

export default defineConfig({
  root,
  resolve: {
    conditions: ["source"],
    alias: { "@acb/hub": resolve(root, "reference-server/src/index.ts") },
  },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["conformance/mutation/conformance.suite.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000,
  },
});
