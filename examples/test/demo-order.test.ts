// The demo as `./dev demo` runs it (the built examples; vitest's global setup builds them): its
// lines must come in causal order, a cause before what it triggers, however the timing falls.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

function run(example: string): string[] {
  const file = fileURLToPath(new URL(`../dist/${example}.js`, import.meta.url));
  const out = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 60_000 });
  expect(out.status, out.stderr).toBe(0);
  // "who        what": the speaker padded to 10 characters, then the line.
  return out.stdout
    .trimEnd()
    .split("\n")
    .map((l) => `${l.slice(0, 10).trim()}: ${l.slice(11)}`);
}

/** The index of the one line that starts with `prefix`. */
function at(lines: string[], prefix: string): number {
  const found = lines.flatMap((l, i) => (l.startsWith(prefix) ? [i] : []));
  expect(found, `one line starting with "${prefix}" in:\n${lines.join("\n")}`).toHaveLength(1);
  return found[0] ?? -1;
}

it("prints the context demo in causal order", () => {
  const lines = run("demo");
  const shared = at(lines, "planner: shared context ");
  const sawCreated = at(lines, "researcher: saw created of ");
  const claims = at(lines, "researcher: claims ");
  const sawUpdated = at(lines, "researcher: saw updated of ");
  expect(shared).toBeLessThan(sawCreated);
  expect(sawCreated).toBeLessThan(claims);
  expect(claims).toBeLessThan(sawUpdated);
  expect(sawUpdated).toBeLessThan(at(lines, "planner: now reads r2"));
  expect(lines.at(-1)).toBe("hub: closed");
});

it("prints the meeting in turn order, each agent's line after its turn's grant", () => {
  const lines = run("meeting");
  const grants = lines.flatMap((l, i) => {
    const m = /^hub: turn (\d+) → (\S+)$/.exec(l);
    return m ? [{ line: i, turn: Number(m[1]), holder: m[2] }] : [];
  });
  expect(grants.map((g) => g.turn)).toEqual(grants.map((_, i) => i + 1));
  expect(grants.length).toBeGreaterThanOrEqual(4);
  /** The turn being held at line i. */
  const holderAt = (i: number) => grants.filter((g) => g.line < i).at(-1);
  for (const [i, l] of lines.entries()) {
    const silent = /^researcher: got turn (\d+) and stays silent/.exec(l);
    if (silent) {
      expect(holderAt(i)).toMatchObject({ turn: Number(silent[1]), holder: "researcher" });
      expect(lines[i + 1]).toBe("hub: researcher's turn timed out");
    }
    const spoke = /^(\w+): “/.exec(l);
    if (spoke) expect(holderAt(i)?.holder, l).toBe(spoke[1]);
  }
  expect(lines.filter((l) => l.includes("stays silent"))).toHaveLength(1);
  expect(at(lines, "hub: meeting ended")).toBeGreaterThan(grants.at(-1)?.line ?? 0);
});
