// Shared by the benchmarks: latency percentiles and the table + JSON output format.

/** Percentiles of a set of samples (exact: samples are sorted, not bucketed). */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: [string, string | number][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of rows) {
    const value = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v;
    process.stdout.write(`  ${k.padEnd(width)}  ${value}\n`);
  }
}

/** The benchmark's flags: --quick (shorter run) and --json (last line is one JSON object). */
export function flags(args: string[]): { quick: boolean; json: boolean } {
  return { quick: args.includes("--quick"), json: args.includes("--json") };
}

/** The positive integer after `name` in `args` (e.g. `--agents 5000`), or `fallback` without it. */
export function numberFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i === -1) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
