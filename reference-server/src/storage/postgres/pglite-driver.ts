import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { Code, hubError } from "../../errors.js";
import { inlineParams } from "./sql-database.js";
import type { SqlClient, SqlDriver } from "./sql-driver.js";

/** Options of {@link createPgliteDriver}. */
export interface PgliteDriverOptions {
  /** Directory the database lives in; kept across restarts. Default: in memory (lost on close). */
  dataDir?: string;
}

interface PgliteQueryable {
  query<T>(
    text: string,
    params?: unknown[],
  ): Promise<{ rows: T[]; affectedRows?: number | undefined }>;
  exec(script: string): Promise<unknown>;
}

const wrap = (q: PgliteQueryable): SqlClient => ({
  async query<T>(text: string, params?: unknown[]) {
    const r = await q.query<T>(text, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  },
  async exec(script: string) {
    await q.exec(script);
  },
});

/**
 * PostgreSQL in process (PGlite). One connection, so transactions run one at a time; PGlite
 * queues them.
 */
export async function createPgliteDriver(options: PgliteDriverOptions = {}): Promise<SqlDriver> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  const db = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  const direct = wrap(db);
  return {
    kind: "pglite",
    transaction: (fn, setup) => {
      if (db.closed) {
        throw hubError(Code.Unavailable, "the hub is shutting down: its database is closed");
      }
      return db.transaction(async (tx) => {
        const client = wrap(tx);
        if (setup) await client.exec(setup);
        return fn(client);
      });
    },
    // The statements (and setup) go to PGlite as one script: one call into it instead of one
    // per statement; the transaction around them is PGlite's, which rolls back on an error.
    script: (statements, setup) => {
      if (db.closed) {
        throw hubError(Code.Unavailable, "the hub is shutting down: its database is closed");
      }
      const body = statements.map((s) => inlineParams(s.text, s.params)).join(";\n");
      return db.transaction(async (tx) => {
        const results = await tx.exec(`${setup} ${body}`);
        return results.slice(results.length - statements.length).map((r) => ({
          rows: r.rows as Record<string, unknown>[],
          rowCount: r.affectedRows ?? r.rows.length,
        }));
      });
    },
    session: (fn) => fn(direct),
    async listen(channel, onPayload) {
      const stop = await db.listen(channel, onPayload);
      return async () => {
        if (!db.closed) await stop();
      };
    },
    isAvailable: () => !db.closed,
    close: () => db.close(),
  };
}
