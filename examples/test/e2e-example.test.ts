// The end-to-end encryption example as `./dev example e2e` runs it (the built examples; vitest's
// global setup builds them): with ACB_E2E_DATA_DIR and ACB_E2E_PLAINTEXT it keeps the hub's
// PGlite database in that directory, Bob prints the text he decrypted, it exits 0, and no file
// the hub wrote holds the text. Run again on the same directory, it works on the kept data.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const example = fileURLToPath(new URL("../dist/e2e.js", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(env: Record<string, string>): string {
  const { ACB_E2E_DATA_DIR: _, ACB_E2E_PLAINTEXT: __, ...rest } = process.env;
  const out = spawnSync(process.execPath, [example], {
    encoding: "utf8",
    env: { ...rest, ...env },
    timeout: 120_000,
  });
  expect(out.status, `${out.stdout}\n${out.stderr}`).toBe(0);
  return out.stdout;
}

/** Every file under `dir`, read whole. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path));
}

it("shares an encrypted context and message in ACB_E2E_DATA_DIR; no file there holds the text", () => {
  const dir = mkdtempSync(join(tmpdir(), "acb-e2e-example-"));
  dirs.push(dir);
  const text = `meet at noon ${randomBytes(6).toString("hex")}`;
  for (const round of [1, 2]) {
    const out = run({ ACB_E2E_DATA_DIR: dir, ACB_E2E_PLAINTEXT: `${text} #${round}` });
    expect(out).toContain(`hub: PGlite backend, data in ${dir}`);
    expect(out).toContain(`bob decrypted context: ${text} #${round}`);
    expect(out).toContain(`bob decrypted message: ${text} #${round}`);
    expect(out).toContain("plaintext visible: false");
  }
  const files = filesUnder(join(dir, "db"));
  expect(files.length).toBeGreaterThan(0);
  // The control: what the hub stores in the clear (the context's type) is found on disk.
  expect(files.some((f) => f.includes("secret-note"))).toBe(true);
  expect(files.some((f) => f.includes(text))).toBe(false);
}, 240_000);

it("runs on a temporary directory and a sample text when neither is set", () => {
  const out = run({});
  const dir = /hub: PGlite backend, data in (\S+)/.exec(out)?.[1];
  expect(dir).toBeDefined();
  dirs.push(dir as string);
  expect(dir?.startsWith(tmpdir())).toBe(true);
  expect(out).toMatch(/bob decrypted context: \S/);
  expect(out).toMatch(/bob decrypted message: \S/);
}, 120_000);
