/**
 * `control-channel` (paper Fig. 7, the gRPC comparison): the delay to request and configure a new
 * endpoint over LISP/UDP and over gRPC (HTTP/2), both inside the same control WireGuard tunnel to
 * the Map-Server. One client asks for a registered EID's record and key and installs it.
 */
import type { Experiment, Mode, PaperValue } from './lib/experiment.js';
import { comparePaper } from './lib/experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './lib/delay.js';
import { LispwgError } from '../src/util/errors.js';

export type ControlChannelSample = DelaySample;

export interface ControlChannelParams {
  reps: number;
  variants: string[];
  injectDelay?: { variant: string; ms: number };
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'gRPC / LISP (median)', variant: 'grpc', stat: 'value', value: 2, unit: 'x', source: 'paper Fig. 7: gRPC about twice OOR+WG' },
];

const labels = { lisp: 'LISP/UDP (Map-Request, Map-Reply)', grpc: 'gRPC (HTTP/2)' };

export const controlChannel: Experiment<ControlChannelSample, ControlChannelParams> = {
  name: 'control-channel',
  title: 'Control channel: LISP/UDP vs gRPC',
  reproduces: 'paper Fig. 7 (gRPC comparison)',
  method: '',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): ControlChannelParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 150 : 30));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { reps, variants: ['lisp', 'grpc'] };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'control-channel needs the baselines (gRPC)');
  },
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const s = analyseDelays(counted, { metric: 'request + configure a new endpoint', pairs: [['grpc', 'lisp']], paper: [], notes: [`${samples.length - counted.length} warm-up request(s) per variant excluded.`] });
    s.paper.push(...comparePaper(PAPER, () => (s.variants.grpc && s.variants.lisp ? s.variants.grpc.median / s.variants.lisp.median : undefined)));
    return s;
  },
  figure(samples) {
    return delayFigure(samples.filter((s) => !s.warmup), { title: 'Request and configure a new endpoint: LISP vs gRPC (Fig. 7)', xTitle: 'delay (ms)', labels, paper: [] });
  },
};

export default controlChannel;
