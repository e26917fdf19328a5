// The message log in Apache Kafka (kafkajs). Every accepted message is produced to the topic
// "<prefix>.<tenant>.messages" (default prefix "acb"), keyed by its sender, so one sender's
// messages share a partition and keep their order (and with it every sender→recipient order).
// The producer is idempotent with acks=all, and sends in batches: while one batch is in flight the
// next gathers, so a burst of sends costs one request, never one awaited request per message.
//
// The per-recipient delivery state (queues, leases, attempts, dead letters) stays in the SQL
// MessageStore: `createKafkaLoggedMessageStore` wraps it so that a send is stored there only after
// Kafka acknowledged its record, and the sender is answered only after both.

import { Kafka, logLevel, type Producer } from "kafkajs";
import { Code, hubError } from "../../errors.js";
import type { BackendMetricsHook } from "../backend-metrics.js";
import type { Backend, EventStreamName, MessageRecord, MessageStore } from "../types.js";

/** Options of {@link createKafkaLog}. */
export interface KafkaLogOptions {
  /** host:port of one or more brokers. */
  brokers: string[];
  /** The first part of every topic name. Default "acb". */
  topicPrefix?: string;
  /** Partitions of the topics the hub creates. Default 6. */
  partitions?: number;
  /** Replication factor of the topics the hub creates. Default: the broker's default. */
  replicationFactor?: number;
  clientId?: string;
  /** Where send batches, their latency and failures go (the hub's metrics). Default: none. */
  metrics?: BackendMetricsHook;
}

/** One record to append to a tenant's stream of one type. */
export interface LogRecord {
  tenantId: string;
  /** "messages", "contexts", "agents". */
  type: string;
  key: string;
  value: Buffer;
}

export interface KafkaLog {
  /** The topic of a tenant's stream of one type. */
  topic(tenantId: string, type: string): string;
  /** Resolves once Kafka acknowledged the record (acks=all); batched with concurrent appends. */
  append(record: LogRecord): Promise<void>;
  /** False after a produce failed, until the cluster answers again. */
  isAvailable(): boolean;
  close(): Promise<void>;
}

/** The values of records one produce request carries at most (a larger record goes alone). */
const MAX_REQUEST_BYTES = 512 * 1024;
/**
 * The largest record batch the topics the hub creates accept (topic config max.message.bytes):
 * above the largest send a hub accepts (8 MiB requests), encoded.
 */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

const unavailable = (err: unknown) =>
  hubError(Code.Unavailable, "the hub's message log (Kafka) cannot be reached; retry later", {
    retryAfterMs: 1_000,
    cause: err,
  });

/** Connects an idempotent producer and an admin client. */
export async function createKafkaLog(options: KafkaLogOptions): Promise<KafkaLog> {
  const prefix = options.topicPrefix ?? "acb";
  const kafka = new Kafka({
    clientId: options.clientId ?? "acb-hub",
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
    // A topic just created may not be known to every broker's metadata yet: retry for a few
    // seconds before answering UNAVAILABLE.
    retry: { retries: 6, initialRetryTime: 100, maxRetryTime: 2_000 },
  });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  const admin = kafka.admin();
  try {
    await producer.connect();
    await admin.connect();
  } catch (err) {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    throw new Error(`cannot connect to Kafka at ${options.brokers.join(",")}: ${String(err)}`);
  }
  let available = true;
  let closed = false;
  // After a failed produce, probe the cluster every second until it answers, so readiness comes
  // back without waiting for traffic that a load balancer no longer sends.
  let probing: ReturnType<typeof setTimeout> | undefined;
  const probe = () => {
    if (probing !== undefined || closed) return;
    probing = setTimeout(() => {
      admin.listTopics().then(
        () => {
          probing = undefined;
          available = true;
        },
        () => {
          probing = undefined;
          if (!available) probe();
        },
      );
    }, 1_000);
    probing.unref();
  };

  const topicOf = (tenantId: string, type: string) => `${prefix}.${tenantId}.${type}`;
  const known = new Map<string, Promise<void>>();
  const ensureTopic = (topic: string) => {
    let p = known.get(topic);
    if (!p) {
      p = admin
        .createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: options.partitions ?? 6,
              // Room for the largest message a hub accepts, encoded (the broker's default is 1 MB).
              configEntries: [{ name: "max.message.bytes", value: String(MAX_RECORD_BYTES) }],
              ...(options.replicationFactor !== undefined && {
                replicationFactor: options.replicationFactor,
              }),
            },
          ],
        })
        .then(() => {});
      known.set(topic, p);
      p.catch(() => known.delete(topic));
    }
    return p;
  };

  type Pending = { topic: string; key: string; value: Buffer; done: (err?: unknown) => void };
  let queue: Pending[] = [];
  let flushing = false;
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) {
        // What gathered goes out in produce requests of at most MAX_REQUEST_BYTES of values (a
        // larger record alone), one after the other, so per-key order holds and no record batch
        // passes the broker's size limit however many sends gathered.
        let size = 0;
        let n = 0;
        while (
          n < queue.length &&
          (n === 0 || size + (queue[n]?.value.length ?? 0) <= MAX_REQUEST_BYTES)
        ) {
          size += queue[n]?.value.length ?? 0;
          n++;
        }
        const batch = queue.slice(0, n);
        queue = queue.slice(n);
        const byTopic = new Map<string, { key: string; value: Buffer }[]>();
        for (const p of batch) {
          let list = byTopic.get(p.topic);
          if (!list) {
            list = [];
            byTopic.set(p.topic, list);
          }
          list.push({ key: p.key, value: p.value });
        }
        const start = performance.now();
        const observe = (ok: boolean) =>
          options.metrics?.kafkaSend(batch.length, (performance.now() - start) / 1_000, ok);
        try {
          await Promise.all([...byTopic.keys()].map(ensureTopic));
          await producer.sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
          });
          observe(true);
          available = true;
          for (const p of batch) p.done();
        } catch (err) {
          observe(false);
          available = false;
          probe();
          for (const p of batch) p.done(unavailable(err));
        }
      }
    } finally {
      flushing = false;
    }
  };

  return {
    topic: topicOf,
    append(record) {
      return new Promise<void>((resolve, reject) => {
        queue.push({
          topic: topicOf(record.tenantId, record.type),
          key: record.key,
          value: record.value,
          done: (err) => (err === undefined ? resolve() : reject(err)),
        });
        // Appends made in the same turn of the event loop go out together.
        if (!flushing) queueMicrotask(() => void flush());
      });
    },
    isAvailable: () => available,
    async close() {
      closed = true;
      clearTimeout(probing);
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

/** A message as its log record: JSON, the body in base64. */
export function encodeMessage(message: MessageRecord, recipients: readonly string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      ...message,
      data: Buffer.from(message.data).toString("base64"),
      recipients,
    }),
  );
}

/** Reads a record written by {@link encodeMessage}. */
export function decodeMessage(value: Buffer): MessageRecord & { recipients: string[] } {
  const o = JSON.parse(value.toString("utf8")) as MessageRecord & {
    data: string;
    recipients: string[];
  };
  return { ...o, data: new Uint8Array(Buffer.from(o.data, "base64")) };
}

/**
 * A MessageStore whose sends go to the Kafka log first: `enqueue` resolves only after Kafka
 * acknowledged the record and the delivery state stored the message. Everything else is the
 * delivery state's.
 */
export function createKafkaLoggedMessageStore(log: KafkaLog, delivery: MessageStore): MessageStore {
  return {
    ...delivery,
    async enqueue(message, recipients, options) {
      await log.append({
        tenantId: message.tenantId,
        type: "messages",
        key: message.senderId,
        value: encodeMessage(message, recipients),
      });
      return delivery.enqueue(message, recipients, options);
    },
    async enqueueMany(items, effects) {
      // Appended in item order (the log keeps it per sender), then stored together.
      await Promise.all(
        items.map(({ message, recipients }) =>
          log.append({
            tenantId: message.tenantId,
            type: "messages",
            key: message.senderId,
            value: encodeMessage(message, recipients),
          }),
        ),
      );
      return delivery.enqueueMany(items, effects);
    },
  };
}

/**
 * Copies the change events of context and registry writes to "<prefix>.<tenant>.contexts" and
 * "<prefix>.<tenant>.agents", keyed by the object's id (its changes keep their order). The write
 * commits in the SQL store first, with its event in the SQL event log that live subscriptions read;
 * its caller is answered once Kafka has the copy too. A node that dies between the two leaves the
 * Kafka copy short of that event (the SQL log, which subscribers read, has it).
 */
export function logChangeEvents(
  log: KafkaLog,
  stores: Pick<Backend, "contexts" | "registry" | "events">,
): Pick<Backend, "contexts" | "registry" | "events"> {
  const copy = (tenantId: string, type: EventStreamName, key: string, event?: Uint8Array) =>
    event === undefined
      ? Promise.resolve()
      : log.append({ tenantId, type, key, value: Buffer.from(event) });
  const { contexts, registry, events } = stores;
  return {
    contexts: {
      ...contexts,
      async create(context, event) {
        const ok = await contexts.create(context, event);
        if (ok) await copy(context.tenantId, "contexts", context.id, event);
        return ok;
      },
      async replace(next, expectedRevision, event) {
        const r = await contexts.replace(next, expectedRevision, event);
        if (r.ok) await copy(next.tenantId, "contexts", next.id, event);
        return r;
      },
      async delete(tenantId, id, expectedRevision, event) {
        const r = await contexts.delete(tenantId, id, expectedRevision, event);
        if (r.ok) await copy(tenantId, "contexts", id, event);
        return r;
      },
    },
    registry: {
      ...registry,
      async put(agent, event) {
        await registry.put(agent, event);
        await copy(agent.tenantId, "agents", agent.id, event);
      },
      async touch(tenantId, agentId, at, event, offlineAfterMs) {
        // The builder runs inside the write (perhaps more than once, on a retried transaction):
        // keep what its last run made.
        let made: Uint8Array | undefined;
        const after = await registry.touch(
          tenantId,
          agentId,
          at,
          event &&
            ((before, next) => {
              made = event(before, next);
              return made;
            }),
          offlineAfterMs,
        );
        if (after) await copy(tenantId, "agents", agentId, made);
        return after;
      },
      async markOffline(tenantId, agentId, offlineAt, event) {
        const marked = await registry.markOffline(tenantId, agentId, offlineAt, event);
        if (marked) await copy(tenantId, "agents", agentId, event);
        return marked;
      },
      async delete(tenantId, agentId, event) {
        let made: Uint8Array | undefined;
        const removed = await registry.delete(tenantId, agentId, (r) => {
          made = event(r);
          return made;
        });
        if (removed) await copy(tenantId, "agents", agentId, made);
        return removed;
      },
    },
    events: {
      ...events,
      async append(tenantId, stream, data) {
        const seq = await events.append(tenantId, stream, data);
        await copy(tenantId, stream, "", data);
        return seq;
      },
    },
  };
}
