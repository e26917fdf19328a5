// Statements sent as one script carry their parameters as SQL literals (inlineParams). Whatever
// a caller's value holds — quotes, backslashes, a "$2", a comment or a statement of its own — it
// must reach the server as that same value and nothing else; the server reads each one back here.

import { afterAll, describe, expect, it } from "vitest";
import { createPgDriver } from "./pg-driver.js";
import { createPgliteDriver } from "./pglite-driver.js";
import { testPostgresUrl } from "./postgres-test-db.js";
import { inlineParams, sqlValue } from "./sql-database.js";
import type { SqlDriver } from "./sql-driver.js";

const hostile = [
  "",
  "plain",
  "it's",
  "''",
  "\\",
  "\\'; DROP TABLE x; --",
  "E'\\x41'",
  "$2 $1 $$ $tag$",
  "-- a comment",
  "/* a comment */",
  "line\nbreak\ttab\r",
  "naïve ✓ 𝄞",
  "\u2019 smart quote",
];

describe("SQL literals", () => {
  it("writes each kind of value, and refuses what it cannot write", () => {
    expect(sqlValue(null)).toBe("NULL");
    expect(sqlValue(true)).toBe("TRUE");
    expect(sqlValue(42)).toBe("42");
    expect(sqlValue(-5)).toBe("(-5)");
    expect(sqlValue(-5n)).toBe("(-5)");
    expect(sqlValue(["a", "b"])).toBe("ARRAY[E'a', E'b']");
    expect(sqlValue([])).toBe("'{}'");
    expect(() => sqlValue(Number.NaN)).toThrow(/finite/);
    expect(() => sqlValue("a\0b")).toThrow(/NUL/);
    expect(() => sqlValue(new Uint8Array(1))).toThrow(/cannot be written/);
    expect(() => inlineParams("SELECT $2", [1])).toThrow(/no parameter \$2/);
  });

  it("does not read a value's own $n as a parameter", () => {
    expect(inlineParams("SELECT $1, $2", ["$2", "x"])).toBe("SELECT E'$2', E'x'");
  });
});

const url = testPostgresUrl();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

/** Reads every hostile value back through `driver`'s script path. */
async function readBack(driver: SqlDriver) {
  if (!driver.script) throw new Error(`the ${driver.kind} driver runs scripts`);
  const statements = hostile.map((v) => ({
    text: "SELECT $1::text AS v, 10 -$2 AS d, $3::text[] AS a",
    params: [v, -5, [v, "x"]],
  }));
  const results = await driver.script(statements, "", true);
  expect(results.map((r) => r.rows[0])).toEqual(hostile.map((v) => ({ v, d: 15, a: [v, "x"] })));
}

it("reach PGlite as the very values given", async () => {
  const driver = await createPgliteDriver();
  cleanups.push(() => driver.close());
  await readBack(driver);
});

describe.skipIf(!url)("SQL literals on PostgreSQL", () => {
  it("reach the server as the very values given", async () => {
    const driver = createPgDriver({ url: url as string, poolSize: 1 });
    cleanups.push(() => driver.close());
    await readBack(driver);
  });
});
