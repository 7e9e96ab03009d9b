/**
 * What an experiment is: a name, the paper's figure it reproduces, the paper's numbers, a way to
 * run it in the lab, and two pure functions over its saved samples (the summary and the figure),
 * so that `npm run figures` and `npm run report` never re-run anything.
 */
import type { Summary } from './stats.js';
import { round, summarize } from './stats.js';
import type { Spec } from './plot.js';
import type { ExperimentRun } from './run.js';

export type Mode = 'quick' | 'full';

/** Every sample names its variant; the rest is the experiment's own. */
export interface Sample {
  variant: string;
  [field: string]: unknown;
}

/** One number of the paper or thesis, with where it comes from. */
export interface PaperValue {
  metric: string;
  variant: string;
  value: number;
  unit: string;
  source: string;
  /** which statistic of ours it compares to */
  stat: 'mean' | 'median' | 'max' | 'value';
  note?: string;
}

/** One row of "ours vs the paper's". */
export interface Comparison {
  metric: string;
  variant: string;
  unit: string;
  ours: number | null;
  paper: number;
  /** ours / paper */
  ratio: number | null;
  source: string;
  note?: string;
}

/**
 * The comparison the paper makes, as the report's overview shows it: which of our variants is
 * LISP+WG (beside the paper's OOR+WG), which is plain LISP set up as OOR and which is the real OOR
 * (both beside the paper's OOR). The numbers themselves come from the run's summary and
 * `paperValues`, never from here.
 */
export interface Headline {
  /** the `paperValues` metric holding the paper's OOR+WG and OOR numbers (omitted: the paper gives none) */
  metric?: string;
  /**
   * Where our number comes from when the paper states no statistic for it (no paper number, or
   * one of stat 'value', or the real OOR's row): a statistic of the summary's variants, or a
   * field of its `extra` holding one number per variant. Default: the median.
   */
  ours?: { stat: 'mean' | 'median' | 'max' } | { extra: string; what: string };
  /** our LISP+WG variants, as built first */
  lispWg: readonly string[];
  /** plain LISP: lispwg set up as OOR */
  lisp?: string;
  /** why the experiment has no plain-LISP variant (shown in that row's place) */
  noLisp?: string;
  /** the real OOR, where its binary exists */
  oor?: string;
  /** why the paper gives no number to set beside ours */
  noPaper?: string;
  /** more of the paper's comparisons (its relative claims), by metric and variant of `paperValues` */
  also?: ReadonlyArray<{ metric: string; variant: string }>;
}

export interface ExperimentSummary {
  /** what the per-variant statistics measure, e.g. "cache-add delay" */
  metric: string;
  unit: string;
  /** per-variant statistics (median, p90, p99, mean, ...) */
  variants: Record<string, Summary>;
  /** ratios between variants measured in the same run, named "a / b (median)" */
  ratios: Record<string, number>;
  /** ours beside the paper's */
  paper: Comparison[];
  /** anything else the experiment reports (per-N statistics, losses, ...) */
  extra?: Record<string, unknown>;
  /** what the reader must know to read the numbers (warm-up, what is emulated) */
  notes: string[];
}

/** What a run gets: the recorder, its parameters, and a place to register teardown. */
export interface RunContext<S extends Sample, P> {
  run: ExperimentRun;
  params: P;
  mode: Mode;
  /** samples already on disk (a resumed run): skip what they cover */
  done: readonly S[];
  /** records a sample (on disk at once) */
  sample(s: S): void;
  progress(done: number, total: number, label?: string): void;
  /** called in reverse order when the run ends, also on failure or Ctrl-C */
  onTeardown(fn: () => Promise<void> | void): void;
  log(line: string): void;
}

export interface Experiment<S extends Sample = Sample, P extends object = Record<string, unknown>> {
  name: string;
  title: string;
  /** the figure or section of the paper/thesis */
  reproduces: string;
  /** one paragraph: how we measure it, and what differs from the paper's set-up */
  method: string;
  labels: Record<string, string>;
  paperValues: readonly PaperValue[];
  /** the report's headline: which variants the paper's comparison sets side by side */
  headline: Headline;
  /** the experiment's own options, one line each: `--reps=N  repetitions per variant` */
  options: readonly string[];
  params(mode: Mode, overrides: Record<string, string>): P;
  /** tools whose versions go into the metadata */
  tools?: Record<string, string[]>;
  /** the ready-files of the components it needs (the runner waits for none: it reports) */
  run(ctx: RunContext<S, P>): Promise<void>;
  analyse(samples: readonly S[], params: P): ExperimentSummary;
  figure(samples: readonly S[], params: P): Spec;
}

/** Per-variant statistics of one numeric field, over samples that have it (finite). */
/**
 * Takes `count` samples of every variant, the variants' order reversed from one repetition to the
 * next (a slow drift of the machine hits them alike), skipping what a resumed run already holds:
 * `one(variant, i)` returns sample i of a variant (its `key` field, 'rep' or 'run', is set here).
 */
export async function alternateVariants<S extends Sample>(
  ctx: RunContext<S, unknown>,
  variants: readonly string[],
  count: number,
  key: 'rep' | 'run',
  one: (variant: string, i: number) => Promise<Omit<S, 'variant' | 'rep' | 'run'>>,
): Promise<void> {
  const have = new Set(ctx.done.map((s) => `${s.variant}|${(s as Record<string, unknown>)[key]}`));
  let k = 0;
  for (let i = 0; i < count; i++) {
    const order = i % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      k++;
      if (have.has(`${v}|${i}`)) continue;
      ctx.sample({ variant: v, [key]: i, ...(await one(v, i)) } as unknown as S);
      ctx.progress(k, count * variants.length, `${v}, ${key} ${i + 1} of ${count}`);
    }
  }
}

export function statsBy<S extends Sample>(samples: readonly S[], value: (s: S) => number | undefined): Record<string, Summary> {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    const v = value(s);
    if (v === undefined || !Number.isFinite(v)) continue;
    (by.get(s.variant) ?? by.set(s.variant, []).get(s.variant)!).push(v);
  }
  const out: Record<string, Summary> = {};
  for (const [variant, xs] of by) out[variant] = roundSummary(summarize(xs));
  return out;
}

export function roundSummary(s: Summary): Summary {
  return { n: s.n, mean: round(s.mean), median: round(s.median), p90: round(s.p90), p99: round(s.p99), min: round(s.min), max: round(s.max) };
}

/** Ratios of the medians of every listed pair measured in the same run: "a / b (median)". */
export function ratiosOf(stats: Record<string, Summary>, pairs: ReadonlyArray<[string, string]>, stat: 'median' | 'mean' = 'median'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [a, b] of pairs) {
    const x = stats[a]?.[stat];
    const y = stats[b]?.[stat];
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y !== 0) out[`${a} / ${b} (${stat})`] = round(x / y, 3);
  }
  return out;
}

/** Ours beside each of the paper's values, taking the statistic the paper reported. */
export function comparePaper(values: readonly PaperValue[], ours: (v: PaperValue) => number | undefined): Comparison[] {
  return values.map((p) => {
    const o = ours(p);
    const ok = o !== undefined && Number.isFinite(o);
    return {
      metric: p.metric,
      variant: p.variant,
      unit: p.unit,
      ours: ok ? round(o) : null,
      paper: p.value,
      ratio: ok && p.value !== 0 ? round(o / p.value, 3) : null,
      source: p.source,
      ...(p.note ? { note: p.note } : {}),
    };
  });
}

/** The usual comparison: the paper's statistic of the same variant in `stats`. */
export function compareStats(values: readonly PaperValue[], stats: Record<string, Summary>): Comparison[] {
  return comparePaper(values, (p) => (p.stat === 'value' ? undefined : stats[p.variant]?.[p.stat]));
}

/** Parses `--key value` / `--key=value` options after the experiment's name. */
export function parseOptions(argv: readonly string[]): { flags: Set<string>; values: Record<string, string>; rest: string[] } {
  const flags = new Set<string>();
  const values: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) values[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--') && VALUE_OPTIONS.has(a.slice(2))) values[a.slice(2)] = argv[++i]!;
    else flags.add(a.slice(2));
  }
  return { flags, values, rest };
}

/** Options that take a value (others are flags). */
const VALUE_OPTIONS = new Set(['reps', 'sizes', 'rates', 'resume', 'results', 'inject-delay', 'duration', 'nodes', 'flows', 'seed', 'backend', 'variants', 'queries', 'timeout', 'only', 'slow', 'skip', 'exp-args', 'smr-delay']);
