// acb-hub: runs the reference hub. `acb-hub --help` lists every command and option; the table
// they come from is cli-commands.ts.
//
//   acb-hub dev      embedded backend, signing keys generated for this run, plaintext on loopback;
//                    prints {"event":"listening","url":...,"adminToken":...} (good for this run).
//   acb-hub serve    production: refuses to start without --signing-key, plaintext only on
//                    loopback or with --insecure (which logs a warning); mints no token.
//   acb-hub token    signs a platform-admin access token with the signing key (cli-token.ts).
//   acb-hub keygen   writes an Ed25519 signing key; acb-hub cert: a development TLS certificate.
//
// The hub itself is imported only by dev and serve, so the other commands and --help start fast.

import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import type { TracerProvider } from "@opentelemetry/api";
import { signingKeysFromPem } from "./auth/signing-keys.js";
import { runCertCommand, runKeygenCommand } from "./cli-cert.js";
import {
  type CommandName,
  commandHelp,
  fullHelp,
  isCommand,
  parseCommand,
  UsageError,
} from "./cli-commands.js";
import { runTokenCommand } from "./cli-token.js";
import { hubFaults, isHubFault } from "./faults.js";
import type { Hub } from "./hub.js";
import { createJsonLogger, type Logger } from "./logger.js";
import { describeStorage, openBackend, resolveStorageConfig } from "./storage/backend-config.js";
import type { BackendMetricsHook } from "./storage/backend-metrics.js";

/** Where acb-hub writes; the bin passes process.stdout and process.stderr. */
export interface CliStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535)
    throw new UsageError(`--port "${text}" is not a port number`);
  return port;
}

function loggerFor(level: string) {
  if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
    throw new UsageError(`--log-level must be debug, info, warn or error, not "${level}"`);
  }
  return createJsonLogger({ level });
}

/** The storage the flags, ACB_* variables and config file choose; logged, then opened. */
async function backendFor(
  mode: "dev" | "serve",
  values: {
    config?: string | undefined;
    data?: string | undefined;
    memory?: boolean | undefined;
    "database-url"?: string | undefined;
    "pool-size"?: string | undefined;
    "redis-url"?: string | undefined;
    "kafka-brokers"?: string | undefined;
    preset?: string | undefined;
  },
  logger: ReturnType<typeof createJsonLogger>,
  metrics: BackendMetricsHook,
) {
  const config = resolveStorageConfig(mode, {
    config: values.config,
    data: values.data,
    memory: values.memory,
    databaseUrl: values["database-url"],
    poolSize: values["pool-size"],
    redisUrl: values["redis-url"],
    kafkaBrokers: values["kafka-brokers"],
    preset: values.preset,
  });
  logger.log("info", "storage", describeStorage(config));
  return { config, backend: await openBackend(config, { metrics }) };
}

/** Metrics labels, OTLP export and where /metrics answers, from the flags and environment. */
async function operationsFor(
  values: {
    "metrics-port"?: string | undefined;
    "drain-timeout": string;
    "headers-timeout": string;
    "body-idle-timeout": string;
    "idle-timeout": string;
  },
  host: string,
  logger: Logger,
) {
  const ms = (flag: keyof typeof values, positive = false) => {
    const text = values[flag] ?? "";
    if (!/^\d+$/.test(text) || (positive && Number(text) === 0))
      throw new UsageError(
        `--${flag} "${text}" is not a ${positive ? "positive " : ""}number of milliseconds`,
      );
    return Number(text);
  };
  const drainMs = ms("drain-timeout");
  const timeouts = {
    headersMs: ms("headers-timeout", true),
    bodyIdleMs: ms("body-idle-timeout", true),
    idleMs: ms("idle-timeout", true),
  };
  const metricsPort =
    values["metrics-port"] === undefined ? undefined : parsePort(values["metrics-port"]);
  // One registry: the hub's metrics and its backend's operation timings on the same endpoint.
  const { createHubMetrics } = await import("./observability/metrics.js");
  const { createBackendMetrics } = await import("./observability/backend-metrics.js");
  const metrics = createHubMetrics({
    tenantLabel: process.env["ACB_METRICS_TENANT_LABEL"] === "1",
    agentLabel: process.env["ACB_METRICS_AGENT_LABEL"] === "1",
  });
  const backendMetrics = createBackendMetrics(metrics.registry);
  const observability = { metrics, ...(await otlpTracerProvider(logger)) };
  // Where /metrics answers: on its own port when asked, else on the RPC listener.
  const metricsUrlOf = async (hub: Hub, rpcUrl: string) =>
    metricsPort === undefined
      ? `${rpcUrl}/metrics`
      : `${(await hub.listenOps({ host, port: metricsPort, timeouts })).url}/metrics`;
  return { drainMs, timeouts, observability, backendMetrics, metricsUrlOf };
}

/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, spans are batched
 * and exported over OTLP/HTTP (the exporter reads those variables and OTEL_EXPORTER_OTLP_HEADERS).
 */
async function otlpTracerProvider(logger: Logger): Promise<{ tracerProvider?: TracerProvider }> {
  const endpoint =
    process.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  if (!endpoint) return {};
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
  const { BatchSpanProcessor, TracerProvider } = await import("@opentelemetry/sdk-trace");
  logger.log("info", "exporting traces over OTLP/HTTP", { endpoint });
  const provider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  flushOnExit = () => provider.shutdown();
  return { tracerProvider: provider };
}

let flushOnExit: () => Promise<void> = async () => {};

async function dev(args: string[], io: CliStreams): Promise<void> {
  const values = parseCommand("dev", args);
  if (!values) return void io.stdout.write(commandHelp("dev"));
  const port = parsePort(values.port);
  const logger = loggerFor(values["log-level"]);
  const host = values.host;
  if (!isLoopback(host))
    throw new UsageError(`dev mode serves loopback only; "${host}" is not a loopback address`);
  const faults = values.fault.map((f) => {
    if (!isHubFault(f))
      throw new UsageError(`unknown --fault "${f}"; the faults are ${hubFaults.join(", ")}`);
    return f;
  });
  if (faults.length > 0) logger.log("warn", "TEST-ONLY faults injected", { faults });
  const ops = await operationsFor(values, host, logger);
  const { config, backend } = await backendFor("dev", values, logger, ops.backendMetrics);
  // With a data directory the signing key lives there too, so issued tokens survive a restart.
  const { loadOrCreateDevKeys } = await import("./auth/dev-key-file.js");
  const keys = config.dataDir !== undefined ? loadOrCreateDevKeys(config.dataDir) : undefined;
  const { createHub } = await import("./hub.js");
  const hub = await createHub({
    mode: "dev",
    logger,
    faults,
    backend,
    ...ops.observability,
    ...(keys && { keys }),
  });
  const cors = { allowedOrigins: ["loopback", ...values.cors] };
  // The console's built files (npm run build puts them in dist/console; src/ and dist/ are siblings).
  const consoleDir = fileURLToPath(new URL("../dist/console/", import.meta.url));
  if (values.console && !existsSync(`${consoleDir}index.html`))
    throw new Error(`the console is not built (no ${consoleDir}index.html): run npm run build`);
  const listener = await hub.listen({
    host,
    port,
    cors,
    timeouts: ops.timeouts,
    ...(values.console && { console: { dir: consoleDir } }),
  });
  const adminToken = await hub.issueAdminToken();
  const metricsUrl = await ops.metricsUrlOf(hub, listener.url);
  const consoleUrl = values.console ? { consoleUrl: `${listener.url}/console/` } : {};
  io.stdout.write(
    `${JSON.stringify({ event: "listening", url: listener.url, metricsUrl, adminToken, epoch: hub.epoch, ...consoleUrl })}\n`,
  );
  drainOnSignal(hub, ops.drainMs, logger);
}

async function serve(args: string[], io: CliStreams): Promise<void> {
  if (args.some((a) => a === "--fault" || a.startsWith("--fault=")))
    throw new UsageError("--fault is for tests only; serve refuses it");
  const values = parseCommand("serve", args);
  if (!values) return void io.stdout.write(commandHelp("serve"));
  const port = parsePort(values.port);
  const logger = loggerFor(values["log-level"]);
  const host = values.host;
  const keyFile = values["signing-key"];
  if (!keyFile)
    throw new UsageError(
      "serve needs --signing-key FILE (a PEM Ed25519, P-256 or RSA private key)",
    );
  const keys = signingKeysFromPem(readFileSync(keyFile), `--signing-key "${keyFile}"`);
  const tlsCert = values["tls-cert"];
  const tlsKey = values["tls-key"];
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    throw new UsageError("--tls-cert and --tls-key go together");
  if (!tlsCert && !isLoopback(host)) {
    if (!values.insecure) {
      throw new UsageError(
        `refusing plaintext on non-loopback address "${host}": give --tls-cert/--tls-key, or --insecure`,
      );
    }
    logger.log("warn", "serving plaintext on a non-loopback address because --insecure was given", {
      host,
    });
  }
  const ops = await operationsFor(values, host, logger);
  const { backend } = await backendFor("serve", values, logger, ops.backendMetrics);
  const { createHub } = await import("./hub.js");
  const hub = await createHub({
    mode: "production",
    logger,
    keys,
    backend,
    ...ops.observability,
  });
  const listener = await hub.listen({
    host,
    port,
    timeouts: ops.timeouts,
    ...(values.cors.length > 0 && { cors: { allowedOrigins: values.cors } }),
    ...(tlsCert && tlsKey && { tls: { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } }),
  });
  const metricsUrl = await ops.metricsUrlOf(hub, listener.url);
  io.stdout.write(
    `${JSON.stringify({ event: "listening", url: listener.url, metricsUrl, epoch: hub.epoch })}\n`,
  );
  drainOnSignal(hub, ops.drainMs, logger);
}

const run: Record<CommandName, (args: string[], io: CliStreams) => Promise<void>> = {
  dev,
  serve,
  token: (args, io) => runTokenCommand(args, io.stdout),
  keygen: (args, io) => runKeygenCommand(args, io.stdout),
  cert: (args, io) => runCertCommand(args, io.stdout),
};

/**
 * Runs acb-hub with these arguments and returns its exit code: 0 done (or serving: dev and serve
 * keep the process alive), 1 failed, 2 bad usage.
 */
export async function runCli(argv: string[], io: CliStreams): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    const topic = rest[0];
    io.stdout.write(topic !== undefined && isCommand(topic) ? commandHelp(topic) : fullHelp());
    return 0;
  }
  if (command === undefined || !isCommand(command)) {
    const what = command === undefined ? "no command given" : `unknown command "${command}"`;
    io.stderr.write(`acb-hub: ${what}\n\n${fullHelp()}`);
    return 2;
  }
  try {
    await run[command](rest, io);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof UsageError) {
      io.stderr.write(
        `acb-hub ${command}: ${message}\n(acb-hub ${command} --help lists its options)\n`,
      );
      return 2;
    }
    io.stderr.write(`acb-hub ${command}: ${message}\n`);
    return 1;
  }
}

/**
 * SIGTERM/SIGINT drain the hub (Hub.close): the listeners get three quarters of `deadlineMs` for
 * in-flight calls, and the process exits when the drain is done or, at the latest, at the
 * deadline.
 */
function drainOnSignal(hub: Hub, deadlineMs: number, logger: Logger): void {
  const stop = (signal: string) => {
    logger.log("info", "signal", { signal });
    setTimeout(() => {
      logger.log("error", "drain did not finish within its deadline; exiting", {
        deadline_ms: deadlineMs,
      });
      process.exit(1);
    }, deadlineMs).unref();
    hub
      .close({ deadlineMs: Math.floor(deadlineMs * 0.75) })
      .then(() => flushOnExit())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.log("error", "shutdown failed", { err });
          process.exit(1);
        },
      );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}
