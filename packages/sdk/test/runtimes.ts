// Finds the binaries of the other runtimes the SDK is tested in (Chromium, Deno, Bun, Node 22).
// Without one, its tests skip with a visible message, except under ACB_REQUIRE_SERVICES=1 (CI),
// where a missing runtime fails the run instead of silently testing less.
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "../../..");

/** The first existing path among `candidates`, or undefined. */
function firstExisting(candidates: (string | undefined)[]): string | undefined {
  return candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
}

export const runtimes = {
  chromium: firstExisting([
    process.env.ACB_CHROMIUM,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
  ]),
  deno: firstExisting([
    process.env.ACB_DENO,
    resolve(root, ".tools/deno/node_modules/@deno/linux-x64-glibc/deno"),
  ]),
  bun: firstExisting([
    process.env.ACB_BUN,
    resolve(root, ".tools/bun/node_modules/@oven/bun-linux-x64/bin/bun"),
  ]),
};

/** Whether tests for a runtime run; logs why not, and throws under ACB_REQUIRE_SERVICES=1. */
export function requireRuntime(name: keyof typeof runtimes, installHint: string): boolean {
  if (runtimes[name]) return true;
  const message = `${name} not found (${installHint}): skipping the ${name} tests`;
  if (process.env.ACB_REQUIRE_SERVICES === "1") {
    throw new Error(`${message} is not allowed with ACB_REQUIRE_SERVICES=1`);
  }
  console.warn(message);
  return false;
}

/**
 * Bundles `entry` (a script the tests run in Deno, Bun or Node, from the SDK's sources) into one
 * ESM file named `name` in a new temporary directory whose name starts with `prefix`; the caller
 * removes `dir`.
 */
export async function bundleForRuntimes(
  entry: string,
  prefix: string,
  name: string,
): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const file = join(dir, name);
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["source"],
    write: false,
  });
  await writeFile(file, out.outputFiles[0]?.text ?? "");
  return { dir, file };
}
