/** Descriptive statistics shared by every experiment and benchmark. */

export interface Summary {
  n: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

/** Quantile by linear interpolation between closest ranks (R type 7, numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    mean: s.length ? sum / s.length : NaN,
    median: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
  };
}

/** Empirical CDF points (value, fraction <= value), for the delay figures. */
export function cdf(samples: readonly number[]): Array<{ value: number; fraction: number }> {
  const s = [...samples].sort((a, b) => a - b);
  return s.map((value, i) => ({ value, fraction: (i + 1) / s.length }));
}

/** Rounds a figure for printing and JSON (keeps 4 significant digits). */
export const round = (x: number, digits = 4): number => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : x);
