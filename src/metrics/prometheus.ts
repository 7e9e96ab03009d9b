/**
 * The Prometheus text exposition format 0.0.4, written by hand (no client library): a daemon's
 * counters and histograms stay what they are (plain numbers, src/ms/stats.ts) and are turned into
 * text only when a scrape asks, so the hot paths (a Map-Request, a miss) do no extra work at all.
 *
 * One family: `# HELP name text`, `# TYPE name counter|gauge|histogram`, then its samples
 * `name{label="value",...} number`, all together. Counters end in `_total`; histograms are real
 * Prometheus histograms in seconds: cumulative `name_bucket{le="..."}` ending in `le="+Inf"`
 * (equal to `name_count`), then `name_sum`, `name_count`.
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Bucket bounds of every lispwg histogram (seconds): 50 us (a Map-Request served from memory) to
 * 2.5 s (a resolution that needed retransmissions); beyond that, +Inf.
 */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** What a histogram family reads: src/ms/stats.ts's Histogram (nanoseconds). */
export interface HistogramSource {
  readonly count: number;
  readonly sumNs: number;
  /** How many values are at most each bound (ns, ascending). */
  cumulative(boundsNs: readonly number[]): number[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value in quotes: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `cpu-time` -> `cpu_time`: a lispwg counter name as a metric name part. */
export function metricPart(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * Collects families and renders them. A misuse (bad name, a family twice, one series twice, a
 * counter without `_total`) throws: it is a bug in the daemon's renderer, which a test finds.
 */
export class MetricsWriter {
  private readonly out: string[] = [];
  private readonly families = new Set<string>();

  counter(name: string, help: string, samples: number | readonly Sample[]): this {
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    return this.family(name, help, 'counter', samples);
  }

  gauge(name: string, help: string, samples: number | readonly Sample[]): this {
    return this.family(name, help, 'gauge', samples);
  }

  /**
   * A histogram in seconds from a nanosecond Histogram (or one per label set). The buckets are
   * the source's cumulative counts at `bounds` (see Histogram.cumulative: a value is counted
   * under a bound only when it is certainly at most that bound).
   */
  histogram(name: string, help: string, source: HistogramSource | ReadonlyArray<{ labels: Labels; histogram: HistogramSource }>, bounds: readonly number[] = LATENCY_BOUNDS_SECONDS): this {
    if (!name.endsWith('_seconds')) throw new Error(`histogram ${name} must be in seconds (end in _seconds)`);
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram ${name}: bounds must ascend`);
    this.head(name, help, 'histogram');
    const boundsNs = bounds.map((s) => Math.round(s * 1e9));
    const seen = new Set<string>();
    for (const { labels, histogram: h } of 'cumulative' in source ? [{ labels: {}, histogram: source }] : source) {
      if ('le' in labels) throw new Error(`histogram ${name}: 'le' is its own label`);
      const key = this.labelText(name, labels);
      if (seen.has(key)) throw new Error(`histogram ${name}: series ${key} twice`);
      seen.add(key);
      const count = h.count;
      const cumulative = h.cumulative(boundsNs);
      const sep = key ? `${key.slice(1, -1)},` : '';
      for (let i = 0; i < bounds.length; i++) this.out.push(`${name}_bucket{${sep}le="${formatValue(bounds[i]!)}"} ${cumulative[i]}`);
      this.out.push(`${name}_bucket{${sep}le="+Inf"} ${count}`);
      this.out.push(`${name}_sum${key} ${formatValue(h.sumNs / 1e9)}`);
      this.out.push(`${name}_count${key} ${count}`);
    }
    return this;
  }

  /** The exposition text (ends with a line feed). */
  text(): string {
    return this.out.length ? this.out.join('\n') + '\n' : '';
  }

  private family(name: string, help: string, type: 'counter' | 'gauge', samples: number | readonly Sample[]): this {
    this.head(name, help, type);
    const list = typeof samples === 'number' ? [{ value: samples }] : samples;
    const seen = new Set<string>();
    for (const s of list) {
      const key = this.labelText(name, s.labels ?? {});
      if (seen.has(key)) throw new Error(`${name}: series ${key} twice`);
      seen.add(key);
      this.out.push(`${name}${key} ${formatValue(s.value)}`);
    }
    return this;
  }

  private head(name: string, help: string, type: string): void {
    if (!METRIC_NAME.test(name)) throw new Error(`'${name}' is not a metric name`);
    if (this.families.has(name)) throw new Error(`metric family ${name} written twice`);
    this.families.add(name);
    this.out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** `{a="x",b="y"}`, or '' without labels. */
  private labelText(name: string, labels: Labels): string {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_NAME.test(k) || k.startsWith('__')) throw new Error(`${name}: '${k}' is not a label name`);
      parts.push(`${k}="${escapeLabelValue(v)}"`);
    }
    return parts.length ? `{${parts.join(',')}}` : '';
  }
}
