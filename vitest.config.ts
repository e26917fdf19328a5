import { defineConfig } from "vitest/config";

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the "source" export condition), so
  // tests run without a build.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    reporters: ["default", "./scripts/summary-reporter.ts"],
    // Any process warning fails the run (scripts/fail-on-warnings.ts lists the allowed ones).
    setupFiles: ["./scripts/fail-on-warnings.ts"],
    // Builds dist/ once before the tests: some tests run the built bins (acb-hub, the demo).
    globalSetup: ["./scripts/build-before-tests.ts"],
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", "**/.stryker-tmp/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
