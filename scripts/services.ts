// The external services that tests, benchmarks and CI use, started and stopped by one command:
//
//   npm run services -- up      start what is missing; print the ACB_* lines to export
//   npm run services -- down    stop what `up` started
//   npm run services -- env     print the ACB_* lines for what is running
//
// PostgreSQL and Redis run on this machine kind before any session (127.0.0.1:5432, :6379): `up`
// checks they answer. Apache Kafka is not installed anywhere, so `up` provisions a real broker:
// the jars of org.apache.kafka:kafka_2.13 and its runtime dependencies come from Maven Central
// (scripts/services/kafka-pom.xml, cached under .tools/kafka/), storage is formatted in KRaft
// mode (one process acting as broker and controller), and the broker listens on loopback only.

import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { newClusterId } from "./services/cluster-id.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pom = join(root, "scripts/services/kafka-pom.xml");
const kafkaHome = join(root, ".tools/kafka");
const libs = join(kafkaHome, "libs");
const run = join(kafkaHome, "run");
const pidFile = join(run, "broker.pid");
const logFile = join(run, "broker.log");

/** Ports of the broker (ACB_KAFKA_PORT) and its controller (the next port). */
const brokerPort = Number(process.env.ACB_KAFKA_PORT ?? 19092);
const controllerPort = brokerPort + 1;
const postgresUrl = process.env.ACB_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const redisUrl = process.env.ACB_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const readyTimeoutMs = 90_000;

function log(line: string): void {
  process.stderr.write(`services: ${line}\n`);
}

function fail(line: string): never {
  log(line);
  process.exit(1);
}

function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(false);
    });
    socket.once("error", () => done(false));
  });
}

function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Downloads the broker's jars once; later runs use the cache. */
function ensureJars(): void {
  if (existsSync(join(libs, ".complete"))) return;
  if (spawnSync("mvn", ["--version"], { stdio: "ignore" }).status !== 0) {
    fail("Maven (mvn) is needed to fetch Apache Kafka from Maven Central: apt-get install maven");
  }
  log(
    "fetching Apache Kafka and its runtime dependencies from Maven Central into .tools/kafka/libs",
  );
  rmSync(libs, { recursive: true, force: true });
  const result = spawnSync(
    "mvn",
    [
      "-q",
      "-B",
      "-Dstyle.color=never",
      "-f",
      pom,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${libs}`,
    ],
    // Maven's output goes to stderr: stdout carries only the export lines that callers eval.
    { stdio: ["ignore", 2, "inherit"] },
  );
  if (result.status !== 0) fail("mvn could not resolve the broker's jars (see its output above)");
  writeFileSync(join(libs, ".complete"), "");
}

function java(args: string[], options: { stdout?: number } = {}) {
  const out = options.stdout ?? "inherit";
  return spawnSync("java", ["-cp", `${libs}/*`, ...args], { stdio: ["ignore", out, out] });
}

function writeConfig(): string {
  const config = join(run, "server.properties");
  writeFileSync(
    config,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${brokerPort}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      `log.dirs=${join(run, "data")}`,
      "num.partitions=3",
      "offsets.topic.replication.factor=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      "auto.create.topics.enable=true",
      "",
    ].join("\n"),
  );
  return config;
}

async function kafkaUp(): Promise<void> {
  if (runningPid() !== undefined && (await portOpen(brokerPort))) {
    log(`Kafka is already running on 127.0.0.1:${brokerPort}`);
    return;
  }
  if (await portOpen(brokerPort)) {
    fail(`port ${brokerPort} is taken by another process; choose another with ACB_KAFKA_PORT`);
  }
  ensureJars();
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  const config = writeConfig();
  const clusterId = newClusterId();
  const logFd = openSync(logFile, "a");
  const format = java(["kafka.tools.StorageTool", "format", "-t", clusterId, "-c", config], {
    stdout: logFd,
  });
  if (format.status !== 0) {
    closeSync(logFd);
    fail(`formatting Kafka's storage failed:\n${readFileSync(logFile, "utf8").slice(-4_000)}`);
  }
  log(`starting Kafka (KRaft) on 127.0.0.1:${brokerPort}`);
  const broker = spawn(
    "java",
    [
      "-Xms256m",
      "-Xmx768m",
      `-Dlog4j.configuration=file:${writeLog4j()}`,
      "-cp",
      `${libs}/*`,
      "kafka.Kafka",
      config,
    ],
    { detached: true, stdio: ["ignore", logFd, logFd] },
  );
  closeSync(logFd);
  if (broker.pid === undefined) fail("could not start java");
  writeFileSync(pidFile, String(broker.pid));
  let exited = false;
  broker.once("exit", () => {
    exited = true;
  });
  broker.unref();
  const until = Date.now() + readyTimeoutMs;
  while (!readFileSync(logFile, "utf8").includes("Kafka Server started")) {
    if (exited)
      fail(`Kafka exited while starting:\n${readFileSync(logFile, "utf8").slice(-4_000)}`);
    if (Date.now() > until) {
      kafkaDown();
      fail(`Kafka was not ready within ${readyTimeoutMs / 1000} s; its log is in ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!(await portOpen(brokerPort)))
    fail(`Kafka started but 127.0.0.1:${brokerPort} does not answer`);
  log("Kafka is ready");
}

function writeLog4j(): string {
  const file = join(run, "log4j.properties");
  writeFileSync(
    file,
    [
      "log4j.rootLogger=INFO, stdout",
      "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
      "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
      "log4j.logger.kafka=INFO",
      "log4j.logger.org.apache.kafka=WARN",
      "",
    ].join("\n"),
  );
  return file;
}

function kafkaDown(): void {
  const pid = runningPid();
  if (pid === undefined) {
    log("Kafka is not running");
    rmSync(run, { recursive: true, force: true });
    return;
  }
  log(`stopping Kafka (pid ${pid})`);
  process.kill(pid, "SIGTERM");
  const until = Date.now() + 30_000;
  while (runningPid() !== undefined && Date.now() < until) {
    spawnSync("sleep", ["0.2"]);
  }
  if (runningPid() !== undefined) {
    log("Kafka did not stop within 30 s; killing it");
    process.kill(pid, "SIGKILL");
  }
  rmSync(run, { recursive: true, force: true });
}

async function checkPreinstalled(): Promise<void> {
  for (const [name, url] of [
    ["PostgreSQL", postgresUrl],
    ["Redis", redisUrl],
  ] as const) {
    const { hostname, port } = new URL(url);
    const p = Number(port || (name === "Redis" ? 6379 : 5432));
    if (!(await portOpen(p, hostname))) {
      fail(
        `${name} does not answer at ${hostname}:${p} (${url}); start it, or set its ACB_TEST_* variable`,
      );
    }
  }
}

function printEnv(): void {
  process.stdout.write(
    [
      `export ACB_TEST_POSTGRES_URL=${postgresUrl}`,
      `export ACB_TEST_REDIS_URL=${redisUrl}`,
      `export ACB_TEST_KAFKA_BROKERS=127.0.0.1:${brokerPort}`,
      "",
    ].join("\n"),
  );
}

const command = process.argv[2];
switch (command) {
  case "up":
    await checkPreinstalled();
    await kafkaUp();
    printEnv();
    break;
  case "down":
    kafkaDown();
    break;
  case "env":
    printEnv();
    break;
  default:
    process.stderr.write(
      [
        "usage: npm run services -- up | down | env",
        "  up    check PostgreSQL and Redis answer, start an Apache Kafka broker (KRaft) on loopback,",
        "        print export lines for the ACB_TEST_* variables (eval them)",
        "  down  stop the Kafka broker that `up` started",
        "  env   print the ACB_TEST_* lines",
        "ACB_KAFKA_PORT sets the broker's port (default 19092; the controller uses the next one).",
        "",
      ].join("\n"),
    );
    process.exit(command === undefined || command === "--help" || command === "-h" ? 0 : 2);
}
