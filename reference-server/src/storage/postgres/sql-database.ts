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
  ) {}

  /**
   * Runs `fn` in one transaction scoped to `tenantId` (or {@link ALL_TENANTS}): the setting is
   * transaction-local (set_config(..., true), i.e. SET LOCAL), so a pooled connection never
   * carries one tenant's scope into another's transaction.
   */
  tx<T>(tenantId: string, fn: (c: SqlClient) => Promise<T>): Promise<T> {
    return this.driver.transaction(async (c) => {
      if (this.role !== undefined) {
        await c.query(
          "SELECT set_config('acb.tenant_id', $1, true), set_config('role', $2, true)",
          [tenantId, this.role],
        );
      } else {
        await c.query("SELECT set_config('acb.tenant_id', $1, true)", [tenantId]);
      }
      return fn(c);
    });
  }
}
