/**
 * `double-jump` (beyond the paper: its section VII-C): both ends change RLOC at once, so neither
 * knows where the other went and WireGuard's roaming alone cannot recover. The control plane can:
 * the agent re-resolves a peer that went silent (or is told by the Map-Server). Recovery time =
 * from the double move to the first echo reply, with a continuous ping running.
 */
import type { Experiment, Mode, PaperValue, Sample } from './lib/experiment.js';
import { comparePaper, ratiosOf, statsBy } from './lib/experiment.js';
import { perRunSpec } from './lib/plot.js';
import { LispwgError } from '../src/util/errors.js';

export interface DoubleJumpSample extends Sample {
  run: number;
  /** from the double move to the first reply, ms; absent if it never recovered */
  recoveryMs?: number;
  recovered: boolean;
  timeoutMs: number;
  warmup?: boolean;
}

export interface DoubleJumpParams {
  runs: number;
  timeoutMs: number;
  variants: string[];
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'runs recovered by WireGuard roaming alone', variant: 'data-plane-only', stat: 'value', value: 0, unit: 'runs', source: 'paper VII-C: "not possible to re-establish connection only with data plane mechanisms"' },
];

const labels = { 'lisp-wg': 'LISP+WG with the control plane (lispwg)', 'data-plane-only': 'WireGuard roaming alone (no control plane)' };

export const doubleJump: Experiment<DoubleJumpSample, DoubleJumpParams> = {
  name: 'double-jump',
  title: 'Double jump: both ends move at once',
  reproduces: 'paper section VII-C (beyond the paper\'s figures)',
  method: '',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): DoubleJumpParams {
    const runs = Number(o.reps ?? (mode === 'full' ? 20 : 3));
    if (!Number.isInteger(runs) || runs < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { runs, timeoutMs: Number(o.timeout ?? (mode === 'full' ? 60000 : 15000)), variants: (o.variants ?? 'lisp-wg,data-plane-only').split(',') };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'double-jump needs the agent and the lab');
  },
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const variants = statsBy(counted, (s) => (s.recovered ? s.recoveryMs : undefined));
    const recovered: Record<string, string> = {};
    const recoveredRuns: Record<string, number> = {};
    for (const v of new Set(counted.map((s) => s.variant))) {
      const runs = counted.filter((s) => s.variant === v);
      recoveredRuns[v] = runs.filter((s) => s.recovered).length;
      recovered[v] = `${recoveredRuns[v]} of ${runs.length}`;
    }
    return {
      metric: 'recovery: double move -> first echo reply',
      unit: 'ms',
      variants,
      ratios: ratiosOf(variants, [['lisp-wg', 'data-plane-only']]),
      paper: comparePaper(PAPER, (p) => recoveredRuns[p.variant]),
      extra: { recovered, paperClaim: 'impossible with the data plane alone; the control plane recovers it (section VII-C)' },
      notes: [`A run that has not recovered after its time-out (${counted[0]?.timeoutMs ?? '?'} ms) counts as not recovered and is drawn at the time-out with a ×.`],
    };
  },
  figure(samples) {
    return perRunSpec({
      title: 'Double jump: recovery time per run',
      yTitle: 'double move -> first reply (ms)',
      labels,
      points: samples.filter((s) => !s.warmup).map((s) => ({ variant: s.variant, run: s.run + 1, value: s.recovered ? s.recoveryMs! : s.timeoutMs, censored: !s.recovered })),
    });
  },
};

export default doubleJump;
