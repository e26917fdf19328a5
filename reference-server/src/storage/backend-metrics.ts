// Timing hooks the backends call when they are given one (the hub's metrics implement them; see
// observability/backend-metrics.ts). Every hook is optional: a backend built without one records
// nothing and depends on no metrics library. Labels stay bounded: backend kinds and operation or
// command names, never tenant, agent or message ids.

/** Connections of a database pool at one moment. */
export interface PoolStats {
  /** Connections open (idle or checked out). */
  total: number;
  /** Open connections waiting in the pool. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

/** What the backends report about their own operations. */
export interface BackendMetricsHook {
  /** A SQL transaction ended (committed: ok; rolled back or failed: not ok). */
  sqlTransaction(driver: "postgres" | "pglite", seconds: number, ok: boolean): void;
  /** A pool whose connections the metrics read when scraped. */
  sqlPool(driver: "postgres" | "pglite", stats: () => PoolStats): void;
  /** A Redis command ended; `command` is its name (e.g. "evalsha", "publish"). */
  redisCommand(command: string, ok: boolean): void;
  /** A batch of `messages` records was sent to Kafka (acks=all), taking `seconds`. */
  kafkaSend(messages: number, seconds: number, ok: boolean): void;
}
