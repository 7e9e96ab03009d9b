/**
 * `throughput` (paper Fig. 11, thesis 4.1): output rate against input rate between the two
 * mobile nodes' EIDs, `nuttcp -u -R<rate> -l<len>` swept up to the link rate; payload 1380 B
 * through WireGuard and 1388 B through plain LISP so that nothing fragments at MTU 1500; IPsec
 * as a third variant where the kernel has XFRM/ESP.
 */
import type { Experiment, Mode, PaperValue, Sample } from './lib/experiment.js';
import { comparePaper, ratiosOf, roundSummary } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { throughputSpec } from './lib/plot.js';
import { round, summarize, type Summary } from './lib/stats.js';
import { LispwgError } from '../src/util/errors.js';

export interface ThroughputSample extends Sample {
  rep: number;
  /** nuttcp's requested rate and the rate the receiver saw, Mb/s */
  inputMbps: number;
  outputMbps?: number;
  lossPct?: number;
  payload: number;
  error?: string;
}

export interface ThroughputParams {
  rates: number[];
  durationS: number;
  reps: number;
  variants: string[];
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'saturation (output rate where it stops following the input)', variant: 'lisp-wg', stat: 'value', value: 900, unit: 'Mb/s', source: 'paper Fig. 11 / thesis 4.1: OOR+WG degrades gracefully around 900 Mb/s' },
  { metric: 'saturation (output rate where it stops following the input)', variant: 'ipsec', stat: 'value', value: 900, unit: 'Mb/s', source: 'paper Fig. 11: IPsec like OOR+WG' },
  { metric: 'saturation (output rate where it stops following the input)', variant: 'lisp', stat: 'value', value: 750, unit: 'Mb/s', source: 'paper Fig. 11 / thesis 4.1: OOR collapses at 700-800 Mb/s', note: 'a range; its middle' },
  { metric: 'UDP throughput, userspace LISP (OOR 1.3 on this machine, -l1388)', variant: 'lisp', stat: 'value', value: 290, unit: 'Mb/s', source: 'experiments.md' },
];

const labels = labelsFor('lisp-wg', 'lisp', 'ipsec', 'plain');

/** Payload per variant: the thesis' 1380 B inside WireGuard, 1388 B inside LISP (no fragmentation at 1500). */
export const PAYLOAD: Record<string, number> = { 'lisp-wg': 1380, lisp: 1388, ipsec: 1380, plain: 1388 };

/** Mean output per (variant, input rate), sorted by rate. */
export function curve(samples: readonly ThroughputSample[]): Array<{ variant: string; input: number; output: number }> {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    if (s.outputMbps === undefined) continue;
    const k = `${s.variant}|${s.inputMbps}`;
    (by.get(k) ?? by.set(k, []).get(k)!).push(s.outputMbps);
  }
  return [...by.entries()]
    .map(([k, xs]) => ({ variant: k.split('|')[0]!, input: Number(k.split('|')[1]), output: round(xs.reduce((a, b) => a + b, 0) / xs.length) }))
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.input - b.input);
}

export const throughput: Experiment<ThroughputSample, ThroughputParams> = {
  name: 'throughput',
  title: 'Data-plane throughput: output vs input rate',
  reproduces: 'paper Fig. 11, thesis 4.1',
  method: '',
  labels,
  paperValues: PAPER,
  tools: { nuttcp: ['nuttcp', '-V'] },
  params(mode: Mode, o: Record<string, string>): ThroughputParams {
    const rates = o.rates ? o.rates.split(',').map(Number) : mode === 'full' ? [50, 100, 150, 200, 300, 400, 500, 600, 700, 800, 900, 1000] : [100, 300, 600, 1000];
    if (rates.some((r) => !(r > 0))) throw new LispwgError('EXP_OPTIONS', `--rates wants Mb/s values separated by commas, not '${o.rates}'`);
    const durationS = Number(o.duration ?? (mode === 'full' ? 60 : 3));
    if (!(durationS > 0)) throw new LispwgError('EXP_OPTIONS', `--duration must be seconds > 0, not '${o.duration}'`);
    return { rates, durationS, reps: Number(o.reps ?? 1), variants: (o.variants ?? 'lisp-wg,lisp,ipsec').split(',') };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'throughput needs the agent, the plain LISP data plane and the lab');
  },
  analyse(samples, params) {
    const pts = curve(samples);
    const top = Math.max(...params.rates);
    const variants: Record<string, Summary> = {};
    const saturation: Record<string, number> = {};
    for (const v of new Set(samples.map((s) => s.variant))) {
      const atTop = samples.filter((s) => s.variant === v && s.inputMbps === top && s.outputMbps !== undefined).map((s) => s.outputMbps!);
      if (atTop.length) variants[v] = roundSummary(summarize(atTop));
      const outs = pts.filter((p) => p.variant === v).map((p) => p.output);
      if (outs.length) saturation[v] = Math.max(...outs);
    }
    const skipped = [...new Set(samples.filter((s) => s.error).map((s) => `${s.variant}: ${s.error}`))];
    return {
      metric: `output rate at the highest input rate (${top} Mb/s)`,
      unit: 'Mb/s',
      variants,
      ratios: { ...ratiosOf(variants, [['lisp-wg', 'lisp'], ['ipsec', 'lisp-wg'], ['lisp-wg', 'plain']]), ...Object.fromEntries(saturation['lisp-wg'] && saturation.lisp ? [['lisp-wg / lisp (saturation)', round(saturation['lisp-wg'] / saturation.lisp, 3)]] : []) },
      paper: comparePaper(PAPER, (p) => saturation[p.variant]),
      extra: { saturationMbps: saturation, curve: pts, ...(skipped.length ? { notMeasured: skipped } : {}) },
      notes: [
        'The paper\'s machines had a kernel WireGuard and a 1 Gb/s NIC; here WireGuard is wireguard-go in userspace and the "link" is a veth shaped to 1 Gb/s with tbf, on 2 cores shared by sender, receiver and both tunnel ends.',
        ...skipped.map((s) => `not measured: ${s}`),
      ],
    };
  },
  figure(samples) {
    return throughputSpec({
      title: 'Output vs input rate (Fig. 11)',
      unit: 'Mb/s',
      points: curve(samples),
      labels,
      paper: PAPER.filter((p) => p.variant !== 'ipsec' && !p.metric.startsWith('UDP')).map((p) => ({ label: `${labels[p.variant] ?? p.variant} saturates at ~${p.value} Mb/s`, value: p.value, variant: p.variant })),
    });
  },
};

export default throughput;
