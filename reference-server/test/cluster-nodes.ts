// Several `acb-hub` processes on the production preset (PostgreSQL + Redis + Kafka) that act as
// one hub, for the cluster tests: one fresh schema, Redis key prefix and Kafka topic prefix per
// cluster, and one signing key shared by every node (kept in a --data directory), so each node
// accepts the tokens another issued. A node can be SIGKILLed and started again on its own port.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  isolatedProductionOptions,
  type TestServices,
} from "../src/storage/production-test-services.js";
import { type HubProcess, startHubProcess } from "./hub-process.js";

export interface Cluster {
  /** The nodes, in start order; a restarted node replaces its entry. */
  readonly nodes: HubProcess[];
  /** The base URLs of the nodes (a restarted node keeps its URL). */
  readonly urls: string[];
  /** Starts node `i` again (after it was killed or exited) on the same port. */
  restart(i: number): Promise<HubProcess>;
  /** Kills every node and drops the schema. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago (a node restarted later must get the same one). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts `count` production-preset nodes of one hub. */
export async function startCluster(
  services: TestServices,
  count: number,
  extraArgs: string[] = [],
): Promise<Cluster> {
  const { options, drop } = await isolatedProductionOptions(services);
  const keys = mkdtempSync(join(tmpdir(), "acb-cluster-"));
  const env = {
    ACB_DATABASE_URL: options.postgres.url,
    ACB_DATABASE_SCHEMA: options.postgres.schema ?? "",
    ACB_DATABASE_ROLE: options.postgres.role ?? "",
    ACB_REDIS_URL: options.redis.url,
    ACB_REDIS_KEY_PREFIX: options.redis.keyPrefix ?? "",
    ACB_KAFKA_BROKERS: options.kafka.brokers.join(","),
    ACB_KAFKA_TOPIC_PREFIX: options.kafka.topicPrefix ?? "",
    ACB_PRESET: "production",
  };
  const ports: number[] = [];
  const nodes: HubProcess[] = [];
  const start = (port: number) =>
    startHubProcess(["--data", keys, "--port", String(port), ...extraArgs], env);
  try {
    // One at a time: the first node creates the schema and topics the others then find.
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      ports.push(port);
      nodes.push(await start(port));
    }
  } catch (err) {
    for (const n of nodes) await n.kill();
    await drop();
    rmSync(keys, { recursive: true, force: true });
    throw err;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async restart(i) {
      await nodes[i]?.kill();
      const node = await start(ports[i] as number);
      nodes[i] = node;
      return node;
    },
    async stop() {
      for (const n of nodes) await n.kill();
      await drop();
      rmSync(keys, { recursive: true, force: true });
    },
  };
}
