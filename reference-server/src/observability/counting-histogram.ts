import type { Metric, Registry } from "prom-client";

/** One label set of a {@link CountingHistogram}: its bucket counts, sum and count. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative), one entry per upper bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Records `value` (`times` times: a batch of messages observed alike). */
  observe(value: number, times = 1): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] ?? 0) + times;
        break;
      }
    }
    this.sum += value * times;
    this.count += times;
  }
}

/**
 * A Prometheus histogram whose observations are counted in place, exported by prom-client's
 * registry exactly as its own Histogram is (the `_bucket` series with cumulative counts and `le`,
 * then `_sum` and `_count`, per label set). prom-client's observe converts, validates and hashes
 * the labels for every value: with one observation per message sent and one per message
 * delivered, that was a twentieth of the hub's CPU in batched sends. Here a label set is looked
 * up once per call by its values, and a batch observes one value many times at once.
 */
export class CountingHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in the order of the label names). */
  labels(...values: string[]): HistogramSeries {
    const key = values.length === 1 ? (values[0] as string) : values.join("\u0000");
    let s = this.series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      for (const [i, name] of this.labelNames.entries()) labels[name] = values[i] ?? "";
      s = new HistogramSeries(labels, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** What prom-client's registry renders: each value's own labels beside its series' labels. */
  getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: Readonly<Record<string, string>>;
      value: number;
      metricName: string;
      exemplar?: null;
    }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (const [i, le] of this.bounds.entries()) {
        cumulative += s.counts[i] ?? 0;
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: s.labels,
          value: s.count,
          metricName: bucket,
          exemplar: null,
        },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  /** The metric as prom-client's `get()` gives it (`getMetricsAsJSON`): the labels merged. */
  get() {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  /** Forgets every label set (prom-client's reset). */
  reset(): void {
    this.series.clear();
  }
}
