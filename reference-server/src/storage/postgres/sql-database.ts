import type { BackendMetricsHook } from "../backend-metrics.js";
import type { SqlClient, SqlDriver, SqlResult, SqlStatement } from "./sql-driver.js";

/**
 * The tenant scope of a transaction that spans tenants (sweepers, lookups by a global id such as
 * an API key id, the tenants table itself). Row-level security lets it see every row; a
 * transaction with no scope at all sees none.
 */
export const ALL_TENANTS = "*";

/** Past this many values in an array parameter, {@link SqlDatabase.one} sends a script. */
const LONG_ARRAY = 32;

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

  /**
   * One statement as a transaction of its own, scoped like {@link tx}: one round trip to a
   * PostgreSQL server instead of three (BEGIN, the statement, COMMIT). Parameters may be strings,
   * finite numbers, booleans, null, or arrays of strings or numbers. `idempotent` (a read, or a
   * write that may safely run twice): retried after a connection lost mid-way.
   */
  async one<T = Record<string, unknown>>(
    tenantId: string,
    text: string,
    params: readonly unknown[],
    idempotent = true,
  ): Promise<SqlResult<T>> {
    // One statement is atomic by itself: committed on its own, it is a transaction of its own.
    // A statement over many values (a batch's messages, a long list of ids) goes as a script:
    // measured with batched sends, its literals cost the hub and server less than as parameters
    // of a prepared statement.
    const [r] =
      this.driver.statements && !params.some((p) => Array.isArray(p) && p.length > LONG_ARRAY)
        ? await this.each(tenantId, [{ text, params }], idempotent)
        : await this.batch(tenantId, [{ text, params }], idempotent);
    return r as unknown as SqlResult<T>;
  }

  /**
   * Statements scoped like {@link tx}, run one after the other and each committed on its own
   * (for a step whose statements need not commit together: reads around one write), prepared on
   * a PostgreSQL server's connections so it plans each once. Answers each statement's rows.
   */
  each(
    tenantId: string,
    statements: readonly SqlStatement[],
    idempotent = true,
  ): Promise<SqlResult<Record<string, unknown>>[]> {
    const driver = this.driver;
    if (!driver.statements) return this.batch(tenantId, statements, idempotent);
    return this.observed(() =>
      (driver.statements as NonNullable<SqlDriver["statements"]>).call(
        driver,
        statements,
        this.scope(tenantId),
        idempotent,
      ),
    );
  }

  /**
   * Statements as one transaction, scoped like {@link tx}, in one round trip to a PostgreSQL
   * server (parameters as for {@link one}): for a step whose statements do not depend on each
   * other's answers. Answers each statement's rows.
   */
  batch(
    tenantId: string,
    statements: readonly SqlStatement[],
    idempotent = true,
  ): Promise<SqlResult<Record<string, unknown>>[]> {
    const script = this.driver.script?.bind(this.driver);
    if (!script) {
      return this.tx(tenantId, async (c) => {
        const out: SqlResult<Record<string, unknown>>[] = [];
        for (const s of statements) out.push(await c.query(s.text, [...s.params]));
        return out;
      });
    }
    return this.observed(() => script(statements, this.setup(tenantId), idempotent));
  }

  /** `run`, with its duration recorded as one transaction's. */
  private observed<T>(run: () => Promise<T>): Promise<T> {
    const metrics = this.metrics;
    if (!metrics) return run();
    const start = performance.now();
    const observe = (ok: boolean) =>
      metrics.sqlTransaction(this.driver.kind, (performance.now() - start) / 1_000, ok);
    return run().then(
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

  /**
   * The session-level form of {@link setup}, for a connection that runs statements outside a
   * transaction: the driver applies it whenever the connection's last scope differs, so every
   * statement runs under its own tenant's scope, whoever used the connection before.
   */
  private scope(tenantId: string): string {
    let scope = `SET acb.tenant_id = ${literal(tenantId)};`;
    if (this.role !== undefined) scope += ` SET ROLE ${identifier(this.role)};`;
    return scope;
  }

  private setup(tenantId: string): string {
    let setup = `SET LOCAL acb.tenant_id = ${literal(tenantId)};`;
    if (this.role !== undefined) setup += ` SET LOCAL ROLE ${identifier(this.role)};`;
    return setup;
  }

  private run<T>(tenantId: string, fn: (c: SqlClient) => Promise<T>): Promise<T> {
    // PGlite without a role runs as its superuser, whom row-level security never restricts:
    // the setting would cost a statement per transaction and change nothing.
    if (this.driver.kind === "pglite" && this.role === undefined) {
      return this.driver.transaction(fn);
    }
    return this.driver.transaction(fn, this.setup(tenantId));
  }
}

/** A string as an SQL literal (the setup runs without parameters, sent with BEGIN). */
export function literal(value: string): string {
  if (value.includes("\0")) throw new Error("a tenant id cannot contain NUL");
  // An E'' string means the same whatever standard_conforming_strings is set to.
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A parameter of {@link SqlDatabase.one} as an SQL literal. */
export function sqlValue(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return literal(v);
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  // A negative number is parenthesised: after a minus in the statement ("x -$1") a bare "-5"
  // would start a comment.
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return v < 0 ? `(${v})` : String(v);
  }
  if (typeof v === "bigint") return v < 0n ? `(${v})` : v.toString();
  if (Array.isArray(v)) {
    // ARRAY[] needs a type: the statement casts it ($n::text[]), which applies to '{}' too.
    return v.length === 0 ? "'{}'" : `ARRAY[${v.map(sqlValue).join(", ")}]`;
  }
  throw new Error(`a parameter of type ${typeof v} cannot be written as a literal`);
}

/** `text` with $1, $2, … replaced by the literals of `params` (statements without $ in strings). */
export function inlineParams(text: string, params: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= params.length) throw new Error(`no parameter $${n}`);
    return sqlValue(params[i]);
  });
}
