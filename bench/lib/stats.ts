/** Percentiles, min/median/max over rounds, and fixed-width tables for the benchmark output. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** p50/p99 of unsorted samples (sorts a copy). */
export function latencySummary(samples: readonly number[]): { p50: number; p99: number; n: number } {
  const s = Float64Array.from(samples).sort();
  const arr = Array.from(s);
  return { p50: percentile(arr, 50), p99: percentile(arr, 99), n: arr.length };
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { min: s[0] as number, median, max: s[s.length - 1] as number };
}

/** Formats a number for a table: integers with thousands separators, small values with 2-3 digits. */
export function fmt(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return "-";
  if (digits !== undefined) return v.toFixed(digits);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Prints rows as an aligned plain-text table (first column left-aligned, others right-aligned). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A table row "name | unit | min | median | max" from per-round values. */
export function spreadRow(name: string, unit: string, values: readonly number[], digits?: number): string[] {
  const s = spread(values);
  return [name, unit, fmt(s.min, digits), fmt(s.median, digits), fmt(s.max, digits)];
}

export const SPREAD_HEADER = ["figure", "unit", "min", "median", "max"] as const;

export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}

export function verdict(ok: boolean): string {
  return ok ? "met" : "MISSED";
}
