import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CountingHistogram } from "./counting-histogram.js";

const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same metric twice: prom-client's Histogram and ours, each in a registry of its own. */
function pair(labelNames: string[]) {
  const theirs = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({
    name: "acb_test_seconds",
    help: "A test histogram.",
    labelNames,
    buckets: bounds,
    registers: [theirs],
  });
  const counting = new CountingHistogram(
    "acb_test_seconds",
    "A test histogram.",
    labelNames,
    bounds,
    ours,
  );
  return { theirs, ours, histogram, counting };
}

describe("CountingHistogram", () => {
  it("exports exactly what prom-client's Histogram exports for the same observations", async () => {
    const { theirs, ours, histogram, counting } = pair(["operation", "code"]);
    // Values on every bound, between them, beyond the last one, and zero.
    const values = [0, ...bounds, ...bounds.map((b) => b * 0.7), 11, 1e6, 0.0001];
    const labelSets = [
      ["acb.v1.MessagingService/Send", "ok"],
      ["acb.v1.RegistryService/Heartbeat", "ok"],
      ["acb.v1.MessagingService/Send", "resource_exhausted"],
      ['a "quoted" \\ name', "ok"],
    ] as const;
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 2000; i++) {
      const [operation, code] = labelSets[Math.floor(random() * labelSets.length)] ?? labelSets[0];
      const value = values[Math.floor(random() * values.length)] ?? 0;
      histogram.observe({ operation, code }, value);
      counting.labels(operation, code).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it("observes a value for a batch at once as it would one by one", async () => {
    const { theirs, ours, histogram, counting } = pair(["operation"]);
    for (const [value, times] of [
      [0.003, 500],
      [0.2, 1],
      [42, 3],
    ] as const) {
      for (let i = 0; i < times; i++) histogram.observe({ operation: "send" }, value);
      counting.labels("send").observe(value, times);
    }
    // The same lines, but the sum: value × times is closer to the true sum than 500 additions.
    const sumLine = /^acb_test_seconds_sum\{operation="send"\} (.+)$/m;
    const [a, b] = [await ours.metrics(), await theirs.metrics()];
    expect(a.replace(sumLine, "")).toBe(b.replace(sumLine, ""));
    expect(Number(sumLine.exec(a)?.[1])).toBeCloseTo(Number(sumLine.exec(b)?.[1]), 9);
    expect(Number(sumLine.exec(a)?.[1])).toBeCloseTo(0.003 * 500 + 0.2 + 42 * 3, 12);
  });

  it("refuses a value that is not a number and forgets its series on reset", async () => {
    const { ours, counting } = pair(["operation"]);
    expect(() => counting.labels("send").observe(Number.NaN)).toThrow(TypeError);
    counting.labels("send").observe(1);
    expect(await ours.metrics()).toContain('acb_test_seconds_count{operation="send"} 1');
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain("acb_test_seconds_count");
  });
});
