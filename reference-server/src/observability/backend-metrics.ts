import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { BackendMetricsHook, PoolStats } from "../storage/backend-metrics.js";

/** Buckets (seconds) from 0.5 ms to 10 s: a transaction or a send is fast; a slow one shows. */
const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The backends' operation metrics, in `registry` (the hub's, so one endpoint serves both). Labels
 * are bounded: the SQL driver, an outcome, a Redis command name; never a tenant, agent or message id.
 */
export function createBackendMetrics(registry: Registry): BackendMetricsHook {
  const registers = [registry];
  const sqlDuration = new Histogram({
    name: "acb_db_query_duration_seconds",
    help: "Duration of the hub's SQL transactions (each one or more queries; PostgreSQL or PGlite), by driver and outcome (ok or error).",
    labelNames: ["driver", "outcome"],
    buckets,
    registers,
  });
  const pools: { driver: string; stats: () => PoolStats }[] = [];
  const poolGauge = (name: string, help: string, field: keyof PoolStats) =>
    new Gauge({
      name,
      help,
      labelNames: ["driver"],
      registers,
      collect() {
        this.reset();
        for (const p of pools) this.set({ driver: p.driver }, p.stats()[field]);
      },
    });
  poolGauge("acb_db_pool_connections", "Connections open in the PostgreSQL pool.", "total");
  poolGauge("acb_db_pool_idle_connections", "Idle connections in the PostgreSQL pool.", "idle");
  poolGauge(
    "acb_db_pool_waiting_clients",
    "Transactions waiting for a connection of the PostgreSQL pool.",
    "waiting",
  );
  const redisCommands = new Counter({
    name: "acb_redis_operations_total",
    help: "Redis commands sent, by command name (operation).",
    labelNames: ["operation"],
    registers,
  });
  const redisErrors = new Counter({
    name: "acb_redis_operation_errors_total",
    help: "Redis commands that failed (an error reply or a lost connection), by command name (operation).",
    labelNames: ["operation"],
    registers,
  });
  const kafkaBatches = new Counter({
    name: "acb_kafka_send_batches_total",
    help: "Batches the Kafka producer sent (acks=all), by outcome (ok or error).",
    labelNames: ["outcome"],
    registers,
  });
  const kafkaRecords = new Counter({
    name: "acb_kafka_records_total",
    help: "Records in the batches the Kafka producer sent, by outcome (ok or error).",
    labelNames: ["outcome"],
    registers,
  });
  const kafkaLatency = new Histogram({
    name: "acb_kafka_produce_duration_seconds",
    help: "Time from a batch's send to the brokers' acknowledgement (or failure), by outcome.",
    labelNames: ["outcome"],
    buckets,
    registers,
  });
  const outcome = (ok: boolean) => (ok ? "ok" : "error");
  return {
    sqlTransaction(driver, seconds, ok) {
      sqlDuration.observe({ driver, outcome: outcome(ok) }, seconds);
    },
    sqlPool(driver, stats) {
      pools.push({ driver, stats });
    },
    redisCommand(command, ok) {
      redisCommands.inc({ operation: command });
      if (!ok) redisErrors.inc({ operation: command });
    },
    kafkaSend(messages, seconds, ok) {
      kafkaBatches.inc({ outcome: outcome(ok) });
      kafkaRecords.inc({ outcome: outcome(ok) }, messages);
      kafkaLatency.observe({ outcome: outcome(ok) }, seconds);
    },
  };
}
