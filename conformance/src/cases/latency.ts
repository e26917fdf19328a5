// Latency profile: send→deliver percentiles of small messages under a stated, paced load.

import { type ConformanceCase, check } from "../case.js";
import { Inbox, text } from "../inbox.js";

/** The value at quantile q (0..1) of sorted samples (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export const latencyCases: ConformanceCase[] = [
  {
    id: "latency.send-deliver",
    level: "SHOULD",
    profile: "latency",
    description:
      "Small messages go from Send to the recipient's stream within p50/p95/p99 thresholds (default 10/30/50 ms)",
    spec: "acb.v1.MessagingService.Send",
    rules: ["latency.small-message"],
    requires: ["messaging"],
    timeoutMs: 120_000,
    async run(t) {
      const { messages, ratePerSecond, messageBytes } = t.settings.latencyLoad;
      const { p50, p95, p99 } = t.settings.thresholds;
      const tenant = await t.tenant();
      const senders = await Promise.all([0, 1, 2, 3].map((i) => tenant.agent(`lat-s${i}`)));
      const r = await tenant.agent("lat-r");
      const inbox = await Inbox.open(t, r);
      // Warm up the path (connections, caches) before measuring.
      await senders[0]?.messaging.send({
        target: { case: "recipientId", value: r.id },
        kind: "warm-up",
        payload: text("w"),
      });
      await inbox.collect(1, "the warm-up message");
      const sentAt = new Map<string, number>();
      const samples: number[] = [];
      const receiving = (async () => {
        while (samples.length < messages) {
          const d = await inbox.next(`message ${samples.length + 1} of ${messages}`);
          const at = performance.now();
          const seq = d.message?.metadata.seq ?? "";
          const start = sentAt.get(seq);
          if (start !== undefined && d.attempt === 1) samples.push(at - start);
          inbox.ackSoon(d);
        }
      })();
      const interval = 1000 / ratePerSecond;
      const began = performance.now();
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < messages; i++) {
        // Paced open-loop load: message i leaves at began + i * interval, whatever the replies do.
        const due = began + i * interval;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        const seq = String(i);
        sentAt.set(seq, performance.now());
        const sender = senders[i % senders.length];
        if (!sender) throw new Error("no sender");
        sends.push(
          sender.messaging.send({
            target: { case: "recipientId", value: r.id },
            kind: "lat",
            metadata: { seq },
            payload: text("x".repeat(messageBytes)),
          }),
        );
      }
      const sentIn = performance.now() - began;
      await Promise.all(sends);
      await receiving;
      check(inbox.ackError === undefined, `a batched Ack failed: ${String(inbox.ackError)}`);
      samples.sort((a, b) => a - b);
      const got = {
        p50: percentile(samples, 0.5),
        p95: percentile(samples, 0.95),
        p99: percentile(samples, 0.99),
      };
      const round = (ms: number) => Math.round(ms * 100) / 100;
      t.measured({
        offeredRatePerSecond: ratePerSecond,
        achievedRatePerSecond: round(
          messages > 1 ? ((messages - 1) * 1000) / sentIn : ratePerSecond,
        ),
        messages,
        samples: samples.length,
        messageBytes,
        senders: senders.length,
        percentilesMs: {
          p50: round(got.p50),
          p90: round(percentile(samples, 0.9)),
          p95: round(got.p95),
          p99: round(got.p99),
          max: round(samples[samples.length - 1] ?? Number.NaN),
        },
        meanMs: round(samples.reduce((sum, x) => sum + x, 0) / Math.max(1, samples.length)),
        thresholdsMs: { p50, p95, p99 },
      });
      const shown = `p50 ${got.p50.toFixed(1)} ms, p95 ${got.p95.toFixed(1)} ms, p99 ${got.p99.toFixed(1)} ms over ${samples.length} messages of ${messageBytes} bytes at ${ratePerSecond} msg/s from ${senders.length} senders`;
      check(
        got.p50 <= p50 && got.p95 <= p95 && got.p99 <= p99,
        `${shown}; thresholds ${p50}/${p95}/${p99} ms`,
      );
    },
  },
];
