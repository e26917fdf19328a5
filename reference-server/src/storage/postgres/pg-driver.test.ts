// The PostgreSQL driver runs a transaction again when the server rolled it back for a conflict:
// two transactions here lock two rows in opposite orders, a real deadlock that PostgreSQL breaks by
// failing one of them (40P01); both still commit.

import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPgDriver } from "./pg-driver.js";
import { createTestSchema, testPostgresUrl } from "./postgres-test-db.js";
import { SqlDatabase } from "./sql-database.js";

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
  it("scopes every statement to its own tenant and role on a connection shared by tenants", async () => {
    // One connection, so every step below reuses it: statements run on their own take the
    // session scope of their tenant; a transaction's SET LOCAL outlives it in no case; a session
    // (migrations) runs unscoped, as the user the pool connects as.
    const { role, drop } = await createTestSchema(url as string);
    cleanups.push(drop);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const login = (await admin.query<{ u: string }>("SELECT current_user AS u")).rows[0]?.u;
    await admin.end();
    const driver = createPgDriver({ url: url as string, poolSize: 1 });
    cleanups.push(() => driver.close());
    const db = new SqlDatabase(driver, role);
    const who =
      "SELECT current_setting('acb.tenant_id', true) AS t, current_user AS u, $1::int AS n";
    const scopeOf = async (tenantId: string) =>
      (await db.one<{ t: string; u: string }>(tenantId, who, [1])).rows[0];
    expect(await scopeOf("a")).toMatchObject({ t: "a", u: role });
    expect(await scopeOf("b")).toMatchObject({ t: "b", u: role });
    const inTx = await db.tx("c", async (c) => (await c.query<{ t: string }>(who, [2])).rows[0]);
    expect(inTx).toMatchObject({ t: "c", u: role });
    expect(await scopeOf("b")).toMatchObject({ t: "b", u: role });
    const [x, y] = await db.each("d", [
      { text: who, params: [3] },
      { text: who, params: [4] },
    ]);
    expect([x?.rows[0], y?.rows[0]]).toMatchObject([
      { t: "d", u: role, n: 3 },
      { t: "d", u: role, n: 4 },
    ]);
    const unscoped = await driver.session(
      async (c) =>
        (
          await c.query<{ t: string | null; u: string }>(
            "SELECT current_setting('acb.tenant_id', true) AS t, current_user AS u",
          )
        ).rows[0],
    );
    expect(unscoped?.u).toBe(login);
    expect(unscoped?.t ?? "").toBe("");
    expect(await scopeOf("a")).toMatchObject({ t: "a", u: role });
  });
});
