/**
 * `ms-response` (paper Fig. 8, thesis 4.3): the Map-Server's processing delay, Map-Request in to
 * Map-Reply out, against the number N of registered entries, for records carrying a WireGuard key
 * and for plain LISP records. Measured three ways per request: the server namespace's capture
 * (the thesis' method: tshark timestamps of the ECM in and the Map-Reply out), the server's own
 * counter, and the client's round trip (our lig).
 */
import type { Experiment, Mode, PaperValue, Sample } from './lib/experiment.js';
import { comparePaper, ratiosOf, statsBy } from './lib/experiment.js';
import { delayVsNSpec } from './lib/plot.js';
import { round, summarize } from './lib/stats.js';
import type { PerNMedian } from './lib/gates.js';
import { LispwgError } from '../src/util/errors.js';

export interface MsResponseSample extends Sample {
  n: number;
  rep: number;
  /** capture in the server's namespace: ECM Map-Request in -> Map-Reply out, us */
  captureUs?: number;
  /** the server's own measure (datagram in -> reply sent), us */
  serverUs?: number;
  /** the client's round trip, us */
  rttUs?: number;
  warmup?: boolean;
}

export interface MsResponseParams {
  sizes: number[];
  queries: number;
  variants: string[];
}

/** The thesis' sizes (its MS configuration script), then 150 000 and 1 000 000 beyond them. */
export const PAPER_SIZES = [10, 20, 50, 100, 150, 200, 300, 400, 500, 700, 1000, 1250, 1500, 2000, 3000, 4000, 5000, 7000, 10000, 15000, 20000, 30000, 40000, 50000, 70000, 100000];
export const QUICK_SIZES = [10, 1000, 100000];

export const PAPER: readonly PaperValue[] = [
  { metric: 'WG records - plain records (processing, mean of per-N medians)', variant: 'lisp-wg', stat: 'value', value: 40, unit: 'us', source: 'paper VI-C / thesis 4.3: "on average 40 us"' },
  { metric: 'median at the largest N / at the smallest N', variant: 'lisp-wg', stat: 'value', value: 1, unit: 'x', source: 'paper Fig. 8: flat in N (Patricia trie)' },
  { metric: 'client RTT at N = 10 (OOR 1.3 lig on this machine)', variant: 'lisp', stat: 'value', value: 100, unit: 'us', source: 'experiments.md: 0.10 ms median' },
  { metric: 'client RTT at N = 100 000 (OOR 1.3 lig on this machine)', variant: 'lisp', stat: 'value', value: 80, unit: 'us', source: 'experiments.md: 0.08 ms median' },
];

const labels = { 'lisp-wg': 'records with a WireGuard key (OOR+WG)', lisp: 'plain LISP records (OOR)' };

/** The delay every statistic uses: the capture when there is one, else the server's counter. */
export const processingUs = (s: MsResponseSample): number | undefined => s.captureUs ?? s.serverUs;

export function perN(samples: readonly MsResponseSample[], value: (s: MsResponseSample) => number | undefined): PerNMedian[] {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    const v = value(s);
    if (v === undefined || !Number.isFinite(v)) continue;
    const k = `${s.variant}|${s.n}`;
    (by.get(k) ?? by.set(k, []).get(k)!).push(v);
  }
  return [...by.entries()]
    .map(([k, xs]) => ({ variant: k.split('|')[0]!, n: Number(k.split('|')[1]), median: round(summarize(xs).median) }))
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.n - b.n);
}

export const msResponse: Experiment<MsResponseSample, MsResponseParams> = {
  name: 'ms-response',
  title: 'Map-Server response delay vs number of entries',
  reproduces: 'paper Fig. 8, thesis 4.3',
  method: '',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): MsResponseParams {
    const sizes = o.sizes ? o.sizes.split(',').map(Number) : mode === 'full' ? [...PAPER_SIZES, 150000, 1000000] : QUICK_SIZES;
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new LispwgError('EXP_OPTIONS', `--sizes wants positive integers separated by commas, not '${o.sizes}'`);
    const queries = Number(o.queries ?? (mode === 'full' ? 50 : 30));
    if (!Number.isInteger(queries) || queries < 1) throw new LispwgError('EXP_OPTIONS', `--queries must be a positive integer, not '${o.queries}'`);
    return { sizes, queries, variants: (o.variants ?? 'lisp-wg,lisp').split(',') };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'ms-response needs the Map-Server');
  },
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const variants = statsBy(counted, processingUs);
    const medians = perN(counted, processingUs);
    const server = perN(counted, (s) => s.serverUs);
    const rtt = perN(counted, (s) => s.rttUs);
    // the key's cost: difference of the per-N medians, averaged over the sizes both variants have
    const diffs = medians.filter((m) => m.variant === 'lisp-wg').flatMap((m) => {
      const p = medians.find((x) => x.variant === 'lisp' && x.n === m.n);
      return p ? [m.median - p.median] : [];
    });
    const flat = (v: string): number | undefined => {
      const rows = medians.filter((m) => m.variant === v);
      return rows.length > 1 ? rows[rows.length - 1]!.median / rows[0]!.median : undefined;
    };
    const rttAt = (n: number): number | undefined => {
      const rows = rtt.filter((r) => r.variant === 'lisp');
      if (!rows.length) return undefined;
      return rows.reduce((best, r) => (Math.abs(Math.log(r.n / n)) < Math.abs(Math.log(best.n / n)) ? r : best)).median;
    };
    const wgCost = diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : undefined;
    return {
      metric: counted.some((s) => s.captureUs !== undefined) ? 'processing delay, Map-Request in -> Map-Reply out (capture at the server)' : 'processing delay (server counter)',
      unit: 'us',
      variants,
      ratios: ratiosOf(variants, [['lisp-wg', 'lisp']]),
      paper: comparePaper(PAPER, (p) => (p.metric.startsWith('WG records') ? wgCost : p.metric.startsWith('median at') ? flat('lisp-wg') : p.metric.includes('N = 10 ') ? rttAt(10) : rttAt(100000))),
      extra: {
        perN: medians,
        perNServerCounter: server,
        perNClientRtt: rtt,
        flatness: Object.fromEntries(['lisp-wg', 'lisp'].flatMap((v) => (flat(v) !== undefined ? [[v, round(flat(v)!, 3)]] : []))),
        ...(wgCost !== undefined ? { wgRecordCostUs: round(wgCost) } : {}),
        serverCounter: statsBy(counted, (s) => s.serverUs),
        clientRtt: statsBy(counted, (s) => s.rttUs),
      },
      notes: [`${samples.length - counted.length} warm-up request(s) excluded (the first of each size and variant).`],
    };
  },
  figure(samples) {
    const pts = samples.filter((s) => !s.warmup).flatMap((s) => {
      const v = processingUs(s);
      return v === undefined ? [] : [{ variant: s.variant, n: s.n, value: v }];
    });
    return delayVsNSpec({ title: 'Map-Server processing delay vs entries (Fig. 8)', yTitle: 'Map-Request in -> Map-Reply out (us)', samples: pts, labels });
  },
};

export default msResponse;
