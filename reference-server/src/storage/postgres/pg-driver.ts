import pg from "pg";
import { Code, hubError } from "../../errors.js";
import { inlineParams } from "./sql-database.js";
import type { SqlClient, SqlDriver, SqlResult } from "./sql-driver.js";

/** Options of {@link createPgDriver}. */
export interface PgDriverOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Schema the tables live in (the connections' search_path). Default: the server's default (public). */
  schema?: string;
  /**
   * How long a transaction keeps retrying while the database cannot be reached before it fails
   * with UNAVAILABLE. Default 5,000 ms.
   */
  retryForMs?: number;
  /** Called when the database stops or starts answering (for logs). Default: none. */
  onAvailabilityChange?: (available: boolean) => void;
  /** Called when a transaction is run again after a deadlock or serialization failure. */
  onConflict?: (err: Error) => void;
}

/** SQLSTATE classes and socket errors that mean "the connection is gone", not "the query is wrong". */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    if (code.startsWith("08")) return true; // connection exception
    if (code === "57P01" || code === "57P02" || code === "57P03") return true; // shutdown, starting up
    if (/^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|NOTFOUND|HOSTUNREACH|AI_AGAIN)$/.test(code))
      return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
    err.message,
  );
}

/**
 * A transaction the server rolled back because it conflicted with another one (deadlock detected,
 * serialization failure): running it again is safe and usually succeeds.
 */
export function isConflictError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === "40P01" || code === "40001";
}

/** Conflicting transactions are run this many times in all before the error is returned. */
const CONFLICT_ATTEMPTS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** At most this many statement texts get a prepared statement on each connection. */
const MAX_PREPARED = 1_000;
/** Statement texts with their prepared statements' names, the same on every connection. */
const preparedNames = new Map<string, string>();

/**
 * Runs a statement with parameters as a named prepared statement: node-postgres parses it once
 * per connection and the server keeps its plan (a generic one after a few runs), instead of
 * parsing and planning each time. Texts past MAX_PREPARED run unnamed.
 */
function runPrepared(
  client: pg.PoolClient | pg.Client,
  text: string,
  params: unknown[],
): Promise<pg.QueryResult> {
  let name = preparedNames.get(text);
  if (name === undefined && preparedNames.size < MAX_PREPARED) {
    name = `acb_${preparedNames.size}`;
    preparedNames.set(text, name);
  }
  return client.query(
    name === undefined ? { text, values: params } : { name, text, values: params },
  );
}

function wrap(client: pg.PoolClient | pg.Client): SqlClient {
  return {
    async query<T>(text: string, params?: unknown[]) {
      // A statement with parameters is one statement: prepared. Without, it may be several.
      const r = params ? await runPrepared(client, text, params) : await client.query(text);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
    async exec(script: string) {
      await client.query(script); // no parameters: the simple protocol runs several statements
    },
  };
}

/**
 * A PostgreSQL server through a node-postgres pool. A transaction that cannot reach the database
 * (refused connection, a connection cut before COMMIT was sent) is retried with backoff for
 * `retryForMs`; meanwhile isAvailable() is false, and a probe turns it back once the database
 * answers. A COMMIT whose outcome is unknown is never retried: it fails with UNAVAILABLE. A
 * transaction the server rolled back for a conflict (deadlock, serialization failure) runs again,
 * up to 5 times in all.
 */
export function createPgDriver(options: PgDriverOptions): SqlDriver {
  const retryForMs = options.retryForMs ?? 5_000;
  const config: pg.PoolConfig = {
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    // Prepared statements run with their generic plan from the first run: the statements over
    // lists of values (unnest of array parameters: a send's messages, a batch of polls or acks)
    // would otherwise be planned again at every run, the server estimating the custom plan for
    // the actual list cheaper than the generic one for a list of unknown length; replanned, a
    // poll cost the server about four times the CPU of its generic plan.
    options: [
      "-c plan_cache_mode=force_generic_plan",
      ...(options.schema !== undefined ? [`-c search_path=${options.schema}`] : []),
    ].join(" "),
  };
  const pool = new pg.Pool(config);
  let available = true;
  let closed = false;
  let probe: NodeJS.Timeout | undefined;

  const markDown = () => {
    if (available && !closed) options.onAvailabilityChange?.(false);
    available = false;
    if (probe || closed) return;
    // While the database is away, check once a second so readiness recovers without traffic.
    probe = setInterval(() => {
      pool.query("SELECT 1").then(
        () => markUp(),
        () => undefined, // still away: the next tick tries again
      );
    }, 1_000);
    probe.unref();
  };
  const markUp = () => {
    if (!available && !closed) options.onAvailabilityChange?.(true);
    available = true;
    if (probe) clearInterval(probe);
    probe = undefined;
  };
  // An idle pooled connection that breaks emits "error" on the pool; without a listener Node
  // would end the process. The next transaction gets a fresh connection.
  pool.on("error", () => markDown());

  // A checked-out connection that breaks between queries emits "error" with no pool listener
  // attached; the transaction's next query fails with it anyway, so the event itself is noted only.
  const onCheckedOutError = () => markDown();
  const checkOut = async () => {
    const client = await pool.connect();
    client.on("error", onCheckedOutError);
    return client;
  };
  /**
   * The session scope (SET statements without LOCAL) each connection last took; a connection
   * without an entry is unscoped or in a state not known for sure, and takes it again.
   */
  const scopes = new WeakMap<pg.PoolClient, string>();
  const ensureScope = async (client: pg.PoolClient, scope: string) => {
    if (scopes.get(client) === scope) return;
    // Until the SETs have all run, the connection's scope is unknown: never trusted as is.
    scopes.delete(client);
    await client.query(scope);
    scopes.set(client, scope);
  };
  const checkIn = (client: pg.PoolClient, err?: Error) => {
    client.off("error", onCheckedOutError);
    client.release(err);
  };

  const closedError = () =>
    hubError(Code.Unavailable, "the hub is shutting down: its database connections are closed");
  const unavailable = (err: unknown) =>
    hubError(Code.Unavailable, "the database cannot be reached; retry later", { cause: err });

  // Channels with their callbacks, served by one dedicated connection that is re-established
  // (and re-LISTENs) whenever it breaks.
  const channels = new Map<string, Set<(payload: string) => void>>();
  let listener: pg.Client | undefined;
  let connecting: Promise<pg.Client> | undefined;
  const quote = (channel: string) => `"${channel.replaceAll('"', '""')}"`;
  const connectListener = (): Promise<pg.Client> => {
    if (listener) return Promise.resolve(listener);
    connecting ??= (async () => {
      for (;;) {
        const c = new pg.Client(config);
        const failed = () => undefined; // the connect() below rejects with the same error
        c.on("error", failed);
        try {
          await c.connect();
          c.off("error", failed);
          c.on("notification", (n) => {
            for (const cb of channels.get(n.channel) ?? []) cb(n.payload ?? "");
          });
          const lost = () => {
            if (listener !== c) return;
            listener = undefined;
            c.end().catch(() => undefined); // already broken; nothing more to release
            if (!closed && channels.size > 0) void connectListener().catch(() => undefined);
          };
          c.on("error", lost);
          c.on("end", lost);
          for (const ch of channels.keys()) await c.query(`LISTEN ${quote(ch)}`);
          listener = c;
          connecting = undefined;
          // Anything sent while the listener was away is lost: wake every subscriber once so
          // waiters re-read what they wait for.
          for (const cbs of channels.values()) for (const cb of cbs) cb("");
          return c;
        } catch (err) {
          await c.end().catch(() => undefined);
          if (closed) {
            connecting = undefined;
            throw err;
          }
          markDown();
          await sleep(500);
        }
      }
    })();
    return connecting;
  };

  /**
   * Runs `attempt` (one transaction, BEGIN to COMMIT) on a pooled connection. While the database
   * cannot be reached it is retried with backoff for `retryForMs`, and a connection lost mid-way
   * is retried only while `resendable()` (no COMMIT that may have run); a transaction the server
   * rolled back for a conflict runs again, after a random pause that keeps the two sides from
   * meeting again.
   */
  const runTransaction = async <T>(
    attempt: (client: pg.PoolClient) => Promise<T>,
    resendable: () => boolean,
  ): Promise<T> => {
    if (closed) throw closedError();
    const giveUpAt = Date.now() + retryForMs;
    let conflicts = 0;
    for (let backoff = 50; ; backoff = Math.min(backoff * 2, 1_000)) {
      let client: pg.PoolClient;
      try {
        client = await checkOut();
      } catch (err) {
        if (closed) throw closedError();
        if (!isConnectionError(err)) throw err;
        markDown();
        if (Date.now() + backoff > giveUpAt) throw unavailable(err);
        await sleep(backoff);
        continue;
      }
      try {
        const result = await attempt(client);
        checkIn(client);
        markUp();
        return result;
      } catch (err) {
        if (isConnectionError(err)) {
          checkIn(client, err as Error); // destroys the broken connection
          markDown();
          if (!resendable() || Date.now() + backoff > giveUpAt) throw unavailable(err);
          await sleep(backoff);
          continue;
        }
        try {
          await client.query("ROLLBACK");
          checkIn(client);
        } catch (rollbackErr) {
          checkIn(client, rollbackErr as Error);
        }
        // Rolled back by the server (a failed COMMIT too): nothing of it stayed.
        if (isConflictError(err) && ++conflicts < CONFLICT_ATTEMPTS) {
          options.onConflict?.(err as Error);
          await sleep(Math.random() * 20 * conflicts);
          continue;
        }
        throw err;
      }
    }
  };

  return {
    kind: "postgres",
    async transaction(fn, setup) {
      let committing = false;
      return runTransaction(
        async (client) => {
          committing = false;
          await client.query(setup ? `BEGIN; ${setup}` : "BEGIN");
          const result = await fn(wrap(client));
          committing = true;
          await client.query("COMMIT");
          return result;
        },
        () => !committing,
      );
    },
    async script(statements, setup, idempotent) {
      const body = statements.map((s) => inlineParams(s.text, s.params)).join(";\n");
      const script = `BEGIN; ${setup} ${body}; COMMIT`;
      // A write whose COMMIT may have run is never sent again.
      return runTransaction(
        async (client) => {
          // The simple protocol answers each statement of the script; ours come before COMMIT.
          const results = (await client.query(script)) as unknown as pg.QueryResult[];
          const n = results.length - 1;
          return results.slice(n - statements.length, n).map((r) => ({
            rows: r.rows as Record<string, unknown>[],
            rowCount: r.rowCount ?? 0,
          }));
        },
        () => idempotent,
      );
    },
    async statements(statements, scope, idempotent) {
      return runTransaction(
        async (client) => {
          await ensureScope(client, scope);
          const out: SqlResult<Record<string, unknown>>[] = [];
          for (const s of statements) {
            const r = await runPrepared(client, s.text, [...s.params]);
            out.push({ rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 });
          }
          return out;
        },
        () => idempotent,
      );
    },
    async session(fn) {
      const client = await checkOut();
      try {
        // Sessions (migrations, locks) run unscoped, as the user the pool connects as.
        if (scopes.has(client)) {
          scopes.delete(client);
          await client.query("RESET acb.tenant_id; RESET ROLE");
        }
        return await fn(wrap(client));
      } finally {
        checkIn(client);
      }
    },
    async listen(channel, onPayload) {
      let cbs = channels.get(channel);
      const first = !cbs;
      if (!cbs) {
        cbs = new Set();
        channels.set(channel, cbs);
      }
      cbs.add(onPayload);
      const c = await connectListener();
      if (first && listener === c) await c.query(`LISTEN ${quote(channel)}`);
      return async () => {
        cbs.delete(onPayload);
        if (cbs.size > 0 || channels.get(channel) !== cbs) return;
        channels.delete(channel);
        if (listener && !closed) await listener.query(`UNLISTEN ${quote(channel)}`);
      };
    },
    poolStats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    isAvailable: () => available && !closed,
    async close() {
      closed = true;
      if (probe) clearInterval(probe);
      const l = listener;
      listener = undefined;
      await l?.end();
      await pool.end();
    },
  };
}
