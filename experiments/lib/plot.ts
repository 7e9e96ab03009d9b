/**
 * The chart kinds of the paper as vega-lite specs, built from plain numbers (never from a live
 * experiment), so a figure is re-rendered from saved samples alone. Every chart can carry the
 * paper's values as dashed reference marks, so ours and theirs sit in the same picture.
 */
import type { TopLevelSpec } from 'vega-lite';
import { cdf, quantile } from './stats.js';

export type Spec = TopLevelSpec;

/** One labelled value of the paper drawn as a dashed rule (vertical on CDFs, horizontal elsewhere). */
export interface PaperMark {
  label: string;
  value: number;
  variant?: string;
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  width: 520,
  height: 300,
  background: 'white',
  config: { font: 'DejaVu Sans', legend: { orient: 'bottom', columns: 2, labelLimit: 420 }, title: { anchor: 'start' } },
} as const;

/** The order and colours of the variants, so every figure draws LISP+WG in the same colour. */
const variantColours: Record<string, string> = {
  'lisp-wg': '#1f77b4',
  lisp: '#ff7f0e',
  grpc: '#2ca02c',
  ipsec: '#9467bd',
  'lisp-wg-drop': '#17becf',
  'lisp-buffer': '#d62728',
  pull: '#1f77b4',
  push: '#ff7f0e',
  'pubsub': '#1f77b4',
  'reresolve': '#17becf',
  'data-plane-only': '#ff7f0e',
  paper: '#7f7f7f',
};

function colourScale(variants: readonly string[]): { domain: string[]; range: string[] } {
  const order = Object.keys(variantColours);
  const rank = (v: string): number => (order.includes(v) ? order.indexOf(v) : order.length);
  const domain = [...new Set(variants)].sort((a, b) => rank(a) - rank(b));
  const spare = ['#8c564b', '#e377c2', '#bcbd22', '#7f7f7f'];
  let k = 0;
  return { domain, range: domain.map((v) => variantColours[v] ?? spare[k++ % spare.length]!) };
}

function labelOf(labels: Record<string, string> | undefined, v: string): string {
  return labels?.[v] ?? v;
}

/** The paper's values as dashed rules in their variant's colour; their labels go in the subtitle. */
function paperLayer(marks: readonly PaperMark[], axis: 'x' | 'y'): object[] {
  if (marks.length === 0) return [];
  return marks.map((m) => ({
    data: { values: [{ value: m.value }] },
    mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5, color: (m.variant && variantColours[m.variant]) || '#555' },
    encoding: { [axis]: { field: 'value', type: 'quantitative' } },
  }));
}

/** The title, with one subtitle line per paper value drawn ("dashed, the paper: ..."). */
function titled(title: string, marks: readonly PaperMark[] = [], extra: readonly string[] = []): object {
  const lines = [...extra, ...marks.map((m) => `dashed, the paper: ${m.label}`)];
  return lines.length ? { text: title, subtitle: lines, subtitleColor: '#444' } : { text: title };
}

export interface CdfOptions {
  title: string;
  xTitle: string;
  /** variant -> samples */
  series: Record<string, readonly number[]>;
  labels?: Record<string, string>;
  paper?: readonly PaperMark[];
  logX?: boolean;
}

/** Empirical CDFs of a delay, one step line per variant (Fig. 5, 7). */
export function cdfSpec(o: CdfOptions): Spec {
  const values = Object.entries(o.series).flatMap(([variant, xs]) => {
    const pts = cdf(xs);
    // start each curve at fraction 0 so the first step is visible
    return pts.length ? [{ variant: labelOf(o.labels, variant), value: pts[0]!.value, fraction: 0 }, ...pts.map((p) => ({ variant: labelOf(o.labels, variant), ...p }))] : [];
  });
  const variants = Object.keys(o.series);
  const colours = colourScale(variants);
  return {
    ...base,
    title: titled(o.title, o.paper),
    layer: [
      {
        data: { values },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x: { field: 'value', type: 'quantitative', title: o.xTitle, scale: o.logX ? { type: 'log' } : { zero: false } },
          y: { field: 'fraction', type: 'quantitative', title: 'CDF', scale: { domain: [0, 1] } },
          color: { field: 'variant', type: 'nominal', title: null, scale: { domain: colours.domain.map((v) => labelOf(o.labels, v)), range: colours.range } },
        },
      },
      ...paperLayer(o.paper ?? [], 'x'),
    ],
  } as Spec;
}

export interface RatePoint {
  variant: string;
  input: number;
  output: number;
}

/** Output rate vs input rate, one line per variant, with the ideal y = x (Fig. 11). */
export function throughputSpec(o: { title: string; unit: string; points: readonly RatePoint[]; labels?: Record<string, string>; paper?: readonly PaperMark[] }): Spec {
  const variants = [...new Set(o.points.map((p) => p.variant))];
  const colours = colourScale(variants);
  const maxIn = Math.max(0, ...o.points.map((p) => p.input));
  const values = o.points.map((p) => ({ ...p, variant: labelOf(o.labels, p.variant) }));
  return {
    ...base,
    title: titled(o.title, o.paper, ['dotted: output = input']),
    layer: [
      {
        data: { values: [{ input: 0, output: 0 }, { input: maxIn, output: maxIn }] },
        mark: { type: 'line', strokeDash: [2, 3], color: '#aaa' },
        encoding: { x: { field: 'input', type: 'quantitative' }, y: { field: 'output', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'input', type: 'quantitative', title: `input rate (${o.unit})` },
          y: { field: 'output', type: 'quantitative', title: `output rate (${o.unit})` },
          color: { field: 'variant', type: 'nominal', title: null, scale: { domain: colours.domain.map((v) => labelOf(o.labels, v)), range: colours.range } },
        },
      },
      ...paperLayer(o.paper ?? [], 'y'),
    ],
  } as Spec;
}

export interface SizedSample {
  variant: string;
  n: number;
  value: number;
}

/** Delay vs number of entries on a log axis: median line, p10-p90 band and every sample (Fig. 8). */
export function delayVsNSpec(o: { title: string; yTitle: string; samples: readonly SizedSample[]; labels?: Record<string, string>; paper?: readonly PaperMark[] }): Spec {
  const groups = new Map<string, number[]>();
  for (const s of o.samples) {
    const k = `${s.variant}\u0000${s.n}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(s.value);
  }
  const bands = [...groups.entries()].map(([k, xs]) => {
    const [variant, n] = k.split('\u0000') as [string, string];
    const s = [...xs].sort((a, b) => a - b);
    return { variant: labelOf(o.labels, variant), n: Number(n), median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9) };
  }).sort((a, b) => a.n - b.n);
  const variants = [...new Set(o.samples.map((s) => s.variant))];
  const colours = colourScale(variants);
  const colour = { field: 'variant', type: 'nominal', title: null, scale: { domain: colours.domain.map((v) => labelOf(o.labels, v)), range: colours.range } };
  const x = { field: 'n', type: 'quantitative', title: 'entries in the Map-Server (N)', scale: { type: 'log' } };
  // a few slow outliers (a scheduler hiccup on a shared machine) would flatten the medians to the
  // axis: the y axis stops at twice the highest p90, and the outliers above it are counted instead
  const top = 2 * Math.max(...bands.map((b) => b.p90), ...(o.paper ?? []).map((m) => m.value));
  const above = o.samples.filter((s) => s.value > top).length;
  const y = (field: string) => ({ field, type: 'quantitative', title: o.yTitle, scale: { domain: [0, top], nice: false } });
  return {
    ...base,
    title: titled(o.title, o.paper, [`line: median; band: p10-p90; dots: every request${above ? ` (${above} above ${Math.round(top)} not shown)` : ''}`]),
    layer: [
      { data: { values: bands }, mark: { type: 'area', opacity: 0.18, clip: true }, encoding: { x, y: y('p10'), y2: { field: 'p90' }, color: colour } },
      { data: { values: o.samples.filter((s) => s.value <= top).map((s) => ({ ...s, variant: labelOf(o.labels, s.variant) })) }, mark: { type: 'point', size: 8, opacity: 0.25, filled: true }, encoding: { x, y: y('value'), color: colour } },
      { data: { values: bands }, mark: { type: 'line', point: true, strokeWidth: 2, clip: true }, encoding: { x, y: y('median'), color: colour } },
      ...paperLayer(o.paper ?? [], 'y'),
    ],
  } as Spec;
}

export interface RunValue {
  variant: string;
  run: number;
  value: number;
  /** the run never recovered: the bar stops at the time-out and is marked */
  censored?: boolean;
}

/** One bar per run and variant (handover outage per run, Fig. 9; recovery time per run). */
export function perRunSpec(o: { title: string; yTitle: string; points: readonly RunValue[]; labels?: Record<string, string>; paper?: readonly PaperMark[] }): Spec {
  const variants = [...new Set(o.points.map((p) => p.variant))];
  const colours = colourScale(variants);
  return {
    ...base,
    title: titled(o.title, o.paper, o.points.some((p) => p.censored) ? ['×: no recovery before the time-out (bar drawn at the time-out)'] : []),
    layer: [
      {
        data: { values: o.points.map((p) => ({ ...p, variant: labelOf(o.labels, p.variant) })) },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'run', type: 'ordinal', title: 'run', axis: { labelAngle: 0 } },
          xOffset: { field: 'variant' },
          y: { field: 'value', type: 'quantitative', title: o.yTitle },
          color: { field: 'variant', type: 'nominal', title: null, scale: { domain: colours.domain.map((v) => labelOf(o.labels, v)), range: colours.range } },
        },
      },
      ...(o.points.some((p) => p.censored)
        ? [{
            data: { values: o.points.filter((p) => p.censored).map((p) => ({ ...p, variant: labelOf(o.labels, p.variant), mark: '×' })) },
            mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 12, color: '#c00' },
            encoding: { x: { field: 'run', type: 'ordinal' }, xOffset: { field: 'variant' }, y: { field: 'value', type: 'quantitative' }, text: { field: 'mark' } },
          }]
        : []),
      ...paperLayer(o.paper ?? [], 'y'),
    ],
  } as Spec;
}

/** Grouped bars of one value per category and variant (state per node: keys, peers). */
export function barsSpec(o: { title: string; yTitle: string; points: ReadonlyArray<{ category: string; variant: string; value: number }>; labels?: Record<string, string> }): Spec {
  const variants = [...new Set(o.points.map((p) => p.variant))];
  const colours = colourScale(variants);
  return {
    ...base,
    title: o.title,
    data: { values: o.points.map((p) => ({ ...p, variant: labelOf(o.labels, p.variant) })) },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'category', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'variant' },
      y: { field: 'value', type: 'quantitative', title: o.yTitle },
      color: { field: 'variant', type: 'nominal', title: null, scale: { domain: colours.domain.map((v) => labelOf(o.labels, v)), range: colours.range } },
    },
  } as Spec;
}

/** Two figures side by side under one title (each keeps its own axes: two units, one figure). */
export function sideBySide(title: string, left: Spec, right: Spec): Spec {
  const inner = (sp: Spec) => {
    const { $schema: _s, background: _b, config: _c, ...rest } = sp as unknown as Record<string, unknown>;
    return { ...rest, width: 340 };
  };
  return { $schema: base.$schema, background: base.background, config: base.config, title, hconcat: [inner(left), inner(right)] } as Spec;
}
