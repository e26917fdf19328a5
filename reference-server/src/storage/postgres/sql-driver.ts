// One query interface with two drivers: a node-postgres pool (a PostgreSQL server) and PGlite
// (the same PostgreSQL, in process, with no server). The stores are written once against
// SqlClient and run unchanged on either.

/** Rows of one statement. */
export interface SqlResult<T> {
  rows: T[];
  /** Rows the statement inserted, updated or deleted (0 for a SELECT on some drivers). */
  rowCount: number;
}

/** A statement with its parameters. */
export interface SqlStatement {
  text: string;
  params: readonly unknown[];
}

/** A connection, inside a transaction when a store uses it. */
export interface SqlClient {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<T>>;
  /** Runs a script of several statements (no parameters): migrations. */
  exec(script: string): Promise<void>;
}

/** A database the stores can run transactions against. */
export interface SqlDriver {
  /** "postgres" or "pglite". */
  readonly kind: "postgres" | "pglite";
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when
   * it throws. `setup` (statements without parameters, e.g. SET LOCAL) runs first, sent together
   * with BEGIN where the driver can, so it costs no extra round trip.
   */
  transaction<T>(fn: (client: SqlClient) => Promise<T>, setup?: string): Promise<T>;
  /**
   * Runs statements as one transaction, `setup` first, in one round trip where the driver can
   * (BEGIN, setup, the statements with their parameters written in as literals, COMMIT, sent
   * together); answers each statement's rows. `idempotent` (reads, or writes that may run twice):
   * it may be sent again after a connection lost mid-way.
   */
  script?(
    statements: readonly SqlStatement[],
    setup: string,
    idempotent: boolean,
  ): Promise<SqlResult<Record<string, unknown>>[]>;
  /**
   * Runs statements one after the other on one connection, each committed on its own (a
   * statement is atomic by itself), with the connection's session scoped by `scope` (SET
   * statements without LOCAL, e.g. the tenant setting) first where it is not already: usually one
   * round trip per statement, each prepared once per connection so the server plans it once.
   * `idempotent`: the statements may be sent again after a connection lost mid-way.
   */
  statements?(
    statements: readonly SqlStatement[],
    scope: string,
    idempotent: boolean,
  ): Promise<SqlResult<Record<string, unknown>>[]>;
  /** Runs one statement outside an explicit transaction (schema changes, locks for migrations). */
  session<T>(fn: (client: SqlClient) => Promise<T>): Promise<T>;
  /** Calls `onPayload` for every NOTIFY on `channel` (from any connection, any process). */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /** The pool's connections now (a server's pool; PGlite has one connection and no pool). */
  poolStats?(): { total: number; idle: number; waiting: number };
  /** False while the database cannot be reached (the hub's readiness). */
  isAvailable(): boolean;
  close(): Promise<void>;
}
