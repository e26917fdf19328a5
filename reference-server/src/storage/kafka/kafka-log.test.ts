// The message log in a real Kafka broker: a send is in the topic acb.<tenant>.messages, keyed by
// its sender (so one sender's messages keep their order), before the delivery state has it.

import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryBackend } from "../memory/memory-backend.js";
import { testServices } from "../production-test-services.js";
import { agentRecord, contextRecord, fresh, messageRecord } from "../suite/helpers.js";
import {
  createKafkaLog,
  createKafkaLoggedMessageStore,
  decodeMessage,
  logChangeEvents,
} from "./kafka-log.js";

const services = testServices();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

describe.skipIf(!services)("kafka message log", () => {
  it("appends every send, keyed by sender, in order, before the delivery state stores it", async () => {
    const brokers = services?.kafkaBrokers ?? [];
    const topicPrefix = `acbtest${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const log = await createKafkaLog({ brokers, topicPrefix, partitions: 3 });
    closers.push(() => log.close());
    const delivery = createMemoryBackend().messages;
    const store = createKafkaLoggedMessageStore(log, delivery);
    const t = fresh();
    // Concurrent sends go out in batches; each resolves once Kafka has it.
    const sends = [];
    for (let i = 0; i < 50; i++) {
      const sender = i % 2 === 0 ? "alice" : "carol";
      const m = { ...messageRecord(t, `m-${String(i).padStart(2, "0")}`), senderId: sender };
      sends.push(store.enqueue(m, ["bob"]));
    }
    expect(await Promise.all(sends)).toEqual(Array.from({ length: 50 }, () => ({ ok: true })));
    expect((await delivery.claim(t, "bob", 100, 0, 1_000)).length).toBe(50);

    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${topicPrefix}-check` });
    await consumer.connect();
    closers.push(() => consumer.disconnect());
    const topic = log.topic(t, "messages");
    expect(topic).toBe(`${topicPrefix}.${t}.messages`);
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: { key: string; id: string; partition: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message, partition }) => {
            const m = decodeMessage(message.value ?? Buffer.alloc(0));
            got.push({ key: message.key?.toString() ?? "", id: m.id, partition });
            expect(m.recipients).toEqual(["bob"]);
            if (got.length === 50) resolve();
          },
        })
        .catch(reject);
    });
    for (const sender of ["alice", "carol"]) {
      const mine = got.filter((g) => g.key === sender);
      expect(mine.length).toBe(25);
      // One partition per sender, and its messages in the order they were sent.
      expect(new Set(mine.map((g) => g.partition)).size).toBe(1);
      expect(mine.map((g) => g.id)).toEqual([...mine.map((g) => g.id)].sort());
    }
  });

  it("copies the change events of context and registry writes to their topics", async () => {
    const brokers = services?.kafkaBrokers ?? [];
    const topicPrefix = `acbtest${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const log = await createKafkaLog({ brokers, topicPrefix, partitions: 1 });
    closers.push(() => log.close());
    const stores = logChangeEvents(log, createMemoryBackend());
    const t = fresh();
    const ctx = contextRecord(t, "c-1");
    expect(await stores.contexts.create(ctx, new Uint8Array([1]))).toBe(true);
    expect(await stores.contexts.create(ctx, new Uint8Array([9]))).toBe(false); // refused: no copy
    expect(await stores.contexts.replace({ ...ctx, revision: 2 }, 1, new Uint8Array([2]))).toEqual({
      ok: true,
    });
    await stores.registry.put(agentRecord(t, "a-1"), new Uint8Array([3]));
    expect(await read(brokers, log.topic(t, "contexts"), 2)).toEqual([
      ["c-1", [1]],
      ["c-1", [2]],
    ]);
    expect(await read(brokers, log.topic(t, "agents"), 1)).toEqual([["a-1", [3]]]);
  });

  it("takes any number of gathered sends, and the largest message a hub accepts", async () => {
    // A burst gathers more than one produce request may carry (the broker refuses record batches
    // over its limit, 1 MB by default), and one message at the hub's 1 MiB payload limit is
    // larger than that once encoded: both must be acknowledged, and the log stay available.
    const brokers = services?.kafkaBrokers ?? [];
    const topicPrefix = `acbtest${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const log = await createKafkaLog({ brokers, topicPrefix, partitions: 2 });
    closers.push(() => log.close());
    const t = fresh();
    const append = (key: string, bytes: number) =>
      log.append({ tenantId: t, type: "messages", key, value: Buffer.alloc(bytes, 7) });
    const burst = Array.from({ length: 8_000 }, (_, i) => append(`s${i % 4}`, 400));
    await Promise.all(burst);
    await append("big", Math.ceil((1024 * 1024 * 4) / 3) + 4_096);
    expect(log.isAvailable()).toBe(true);
  });

  it("refuses a send with UNAVAILABLE when Kafka cannot take it, and stores nothing", async () => {
    const brokers = services?.kafkaBrokers ?? [];
    const log = await createKafkaLog({ brokers, topicPrefix: "acbtest" });
    const delivery = createMemoryBackend().messages;
    const store = createKafkaLoggedMessageStore(log, delivery);
    await log.close(); // the producer is gone: the append cannot be acknowledged
    const t = fresh();
    const err = await store.enqueue(messageRecord(t, "m-1"), ["bob"]).catch((e: unknown) => e);
    expect(String(err)).toContain("message log (Kafka) cannot be reached");
    expect(log.isAvailable()).toBe(false);
    expect(await delivery.claim(t, "bob", 10, 0, 1_000)).toEqual([]);
  });
});

/** The first `n` records of a topic as [key, bytes]. */
async function read(brokers: string[], topic: string, n: number): Promise<[string, number[]][]> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-check` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: [string, number[]][] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            got.push([message.key?.toString() ?? "", [...(message.value ?? [])]]);
            if (got.length === n) resolve();
          },
        })
        .catch(reject);
    });
    return got;
  } finally {
    await consumer.disconnect();
  }
}

if (!services) it.skip("kafka message log (services not configured)", () => {});
