import type { BackendMetricsHook } from "../backend-metrics.js";
import type { SqlClient, SqlDriver } from "./sql-driver.js";

/**
 * The tenant scope of a transaction that spans tenants (sweepers, lookups by a global id such as
 * an API key id, the tenants table itself). Row-level security lets it see every row; a
 * transaction with no scope at all sees none.
 */
export const ALL_TENANTS = "*";

/** A driver plus the per-transaction settings every store needs. */
export class SqlDatabase {
  constructor(
    readonly driver: SqlDriver,
    /** Role every transaction runs as (SET LOCAL ROLE), so row-level security applies to it. */
    private readonly role: string | undefined,
    /** Where transaction durations go (optional: none records nothing). */
    private readonly metrics?: BackendMetricsHook,
  ) {}

  /**
   * Runs `fn` in one transaction scoped to `tenantId` (or {@link ALL_TENANTS}): the setting is
   * transaction-local (SET LOCAL, sent with BEGIN), so a pooled connection never carries one
   * tenant's scope into another's transaction.
   */
  tx<T>(tenantId: string, fn: (c: SqlClient) => Promise<T>): Promise<T> {
    const metrics = this.metrics;
    if (!metrics) return this.run(tenantId, fn);
    const kind = this.driver.kind;
    const start = performance.now();
    const observe = (ok: boolean) =>
      metrics.sqlTransaction(kind, (performance.now() - start) / 1_000, ok);
    return this.run(tenantId, fn).then(
      (result) => {
        observe(true);
        return result;
      },
      (err: unknown) => {
        observe(false);
        throw err;
      },
    );
  }

  private run<T>(tenantId: string, fn: (c: SqlClient) => Promise<T>): Promise<T> {
    // PGlite runs as its superuser, whom row-level security never restricts, and serves one
    // process: the setting would cost a statement per transaction and change nothing.
    if (this.driver.kind === "pglite" && this.role === undefined) {
      return this.driver.transaction(fn);
    }
    let setup = `SET LOCAL acb.tenant_id = ${literal(tenantId)};`;
    if (this.role !== undefined) setup += ` SET LOCAL ROLE ${identifier(this.role)};`;
    return this.driver.transaction(fn, setup);
  }
}

/** A string as an SQL literal (the setup runs without parameters, sent with BEGIN). */
function literal(value: string): string {
  if (value.includes("\0")) throw new Error("a tenant id cannot contain NUL");
  // An E'' string means the same whatever standard_conforming_strings is set to.
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
