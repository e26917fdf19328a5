// The PostgreSQL driver runs a transaction again when the server rolled it back for a conflict:
// two transactions here lock two rows in opposite orders, a real deadlock that PostgreSQL breaks by
// failing one of them (40P01); both still commit.

import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPgDriver } from "./pg-driver.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";

const url = testPostgresUrl();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A promise with its resolve function, to order the two transactions' steps. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe.skipIf(!url)("PostgreSQL driver", () => {
  it("runs a transaction again after the server broke a deadlock by failing it", async () => {
    const { schema, drop } = await createTestSchema(url as string);
    cleanups.push(drop);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE TABLE ${schema}.rows (id int PRIMARY KEY, n int NOT NULL)`);
    await admin.query(`INSERT INTO ${schema}.rows VALUES (1, 0), (2, 0)`);
    await admin.end();

    const conflicts: string[] = [];
    const driver = createPgDriver({
      url: url as string,
      poolSize: 2,
      onConflict: (err) => conflicts.push((err as { code?: string }).code ?? ""),
    });
    cleanups.push(() => driver.close());

    const firstLocked = [gate(), gate()];
    let runs = 0;
    // Each transaction locks its first row, waits (on its first run only) until the other has
    // locked its own, then asks for the other's row: a deadlock.
    const lockBoth = (first: number, second: number, mine: number) =>
      driver.transaction(async (c) => {
        const run = ++runs;
        await c.query(`UPDATE ${schema}.rows SET n = n + 1 WHERE id = $1`, [first]);
        if (run <= 2) {
          firstLocked[mine]?.open();
          await firstLocked[1 - mine]?.opened;
        }
        await c.query(`UPDATE ${schema}.rows SET n = n + 1 WHERE id = $1`, [second]);
        return run;
      }, "SET LOCAL deadlock_timeout = '100ms'");
    await Promise.all([lockBoth(1, 2, 0), lockBoth(2, 1, 1)]);

    expect(conflicts).toEqual(["40P01"]);
    expect(runs).toBe(3);
    // Both transactions committed once each: every row was incremented twice.
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    const { rows } = await check.query(`SELECT id, n FROM ${schema}.rows ORDER BY id`);
    await check.end();
    expect(rows).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
  });

  it("returns other errors at once, without running the transaction again", async () => {
    const driver = createPgDriver({ url: url as string, poolSize: 1 });
    cleanups.push(() => driver.close());
    let runs = 0;
    await expect(
      driver.transaction(async (c) => {
        runs++;
        await c.query("SELECT * FROM no_such_table_anywhere");
      }),
    ).rejects.toMatchObject({ code: "42P01" });
    expect(runs).toBe(1);
  });
});
