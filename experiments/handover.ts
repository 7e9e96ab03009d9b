/**
 * `handover` (paper Fig. 9, thesis 4.5): a mobile node with two interfaces on two access points
 * (different subnets) switches from one to the other during a continuous `ping -i 0.0001`; the
 * outage is the time from the first unanswered request to the return of steady replies, read
 * from a capture at the pinging end.
 */
import type { Experiment, Mode, PaperValue, Sample } from './lib/experiment.js';
import { compareStats, ratiosOf, statsBy } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { perRunSpec } from './lib/plot.js';
import { LispwgError } from '../src/util/errors.js';

export interface HandoverSample extends Sample {
  run: number;
  /** first unanswered request -> steady replies again, ms */
  outageMs?: number;
  /** requests left unanswered during the outage */
  lost?: number;
  error?: string;
  warmup?: boolean;
}

export interface HandoverParams {
  runs: number;
  variants: string[];
  /** the access points' association delay, ms (emulated: the station's link is down this long) */
  associationMs: number;
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'handover outage', variant: 'lisp', stat: 'median', value: 9000, unit: 'ms', source: 'thesis 4.5: "between 8 and 10 seconds" (OOR)', note: 'a range; its middle' },
  { metric: 'handover outage', variant: 'lisp-wg', stat: 'median', value: 1000, unit: 'ms', source: 'thesis 4.5: "about 1 second" (OOR+WG)' },
  { metric: 'handover outage (OOR 1.3 on this machine)', variant: 'lisp', stat: 'median', value: 3400, unit: 'ms', source: 'experiments.md: 3.4 s median (3.1-3.7); OOR waits 4 s before SMRs' },
];

const labels = labelsFor('lisp-wg', 'lisp');

export const handover: Experiment<HandoverSample, HandoverParams> = {
  name: 'handover',
  title: 'Handover outage',
  reproduces: 'paper Fig. 9, thesis 4.5',
  method: '',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): HandoverParams {
    const runs = Number(o.reps ?? (mode === 'full' ? 20 : 3));
    if (!Number.isInteger(runs) || runs < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { runs, variants: (o.variants ?? 'lisp-wg,lisp').split(','), associationMs: 0 };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'handover needs the agent and the lab\'s access points');
  },
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const variants = statsBy(counted, (s) => s.outageMs);
    return {
      metric: 'outage: first unanswered request -> steady replies',
      unit: 'ms',
      variants,
      ratios: ratiosOf(variants, [['lisp-wg', 'lisp']]),
      paper: compareStats(PAPER, variants),
      extra: { lostRequests: statsBy(counted, (s) => s.lost) },
      notes: ['Access points are emulated (no mac80211_hwsim): a handover takes the station\'s link down in one AP and up in the other, with a new address (new RLOC); no radio scanning or association.'],
    };
  },
  figure(samples) {
    return perRunSpec({
      title: 'Handover outage per run (Fig. 9)',
      yTitle: 'outage (ms)',
      labels,
      points: samples.filter((s) => !s.warmup && s.outageMs !== undefined).map((s) => ({ variant: s.variant, run: s.run + 1, value: s.outageMs! })),
      paper: PAPER.filter((p) => p.variant === 'lisp-wg' || p.metric === 'handover outage').map((p) => ({ label: `${labels[p.variant] ?? p.variant} ${p.value} ms${p.note ? ` (${p.note})` : ''}`, value: p.value, variant: p.variant })),
    });
  },
};

export default handover;
