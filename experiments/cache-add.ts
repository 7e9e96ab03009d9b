/**
 * `cache-add` (paper Fig. 7, thesis 4.2): the delay to add a map-cache entry for an unknown EID,
 * from the miss to the entry being usable (for LISP+WG: the WireGuard peer and its route
 * installed), taken from the agent's own event log. Variants side by side in one run: LISP+WG,
 * plain LISP (OOR's records, no key) and, where the agent offers it, the gRPC control channel.
 */
import type { Experiment, Mode, PaperValue } from './lib/experiment.js';
import { comparePaper } from './lib/experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './lib/delay.js';
import { labelsFor } from './lib/labels.js';
import { LispwgError } from '../src/util/errors.js';

export interface CacheAddSample extends DelaySample {
  /** the steps inside the delay, ms from the miss (map-request-sent, map-reply-received, peer-installed, ...) */
  steps?: Record<string, number>;
}

export interface CacheAddParams {
  reps: number;
  variants: string[];
  /** a delay (ms) injected into one variant's control path, to prove the gate catches a slow variant */
  injectDelay?: { variant: string; ms: number };
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'cache-add delay', variant: 'lisp', stat: 'mean', value: 13.24, unit: 'ms', source: 'thesis 4.2 (OOR, 100 runs)' },
  { metric: 'cache-add delay', variant: 'lisp-wg', stat: 'mean', value: 16.61, unit: 'ms', source: 'thesis 4.2 (OOR+WG, 100 runs)' },
  { metric: 'LISP+WG - plain LISP (mean)', variant: 'lisp-wg', stat: 'value', value: 3.37, unit: 'ms', source: 'thesis 4.2 (the paper, Fig. 7: about 1.5 ms)' },
  { metric: 'gRPC / LISP+WG (median)', variant: 'grpc', stat: 'value', value: 2, unit: 'x', source: 'paper Fig. 7: "a delay double to OOR+WG"' },
];

const labels = labelsFor('lisp-wg', 'lisp', 'grpc');

export function parseInjectDelay(text: string | undefined): { variant: string; ms: number } | undefined {
  if (!text) return undefined;
  const m = /^([a-z-]+):(\d+(?:\.\d+)?)$/.exec(text);
  if (!m) throw new LispwgError('EXP_OPTIONS', `--inject-delay wants VARIANT:MS (e.g. lisp-wg:20), not '${text}'`);
  return { variant: m[1]!, ms: Number(m[2]) };
}

export const cacheAdd: Experiment<CacheAddSample, CacheAddParams> = {
  name: 'cache-add',
  title: 'Delay to add a map-cache entry (and WireGuard peer)',
  reproduces: 'paper Fig. 7, thesis 4.2',
  method:
    'Two mobile nodes and a Map-Server on one emulated Gigabit LAN (topologies/paper-lan.yaml). Each repetition starts both agents with empty caches, ' +
    'sends one packet from mn1 to mn2\'s EID, and reads from mn1\'s event log the time from the miss to the entry being usable: ' +
    'for LISP+WG the WireGuard peer and its route installed (wireguard-go over its UAPI socket), for plain LISP the map-cache entry added. ' +
    'The variants alternate repetition by repetition. The first repetition of each variant is a warm-up and is not counted.',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): CacheAddParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 100 : 10));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    const inject = parseInjectDelay(o['inject-delay']);
    return { reps, variants: (o.variants ?? 'lisp-wg,lisp').split(','), ...(inject ? { injectDelay: inject } : {}) };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'cache-add needs the agent (src/xtr) and the lab');
  },
  analyse(samples, params) {
    const counted = samples.filter((s) => !s.warmup);
    const s = analyseDelays(counted, {
      metric: 'cache-add delay (miss -> entry usable)',
      pairs: [['lisp-wg', 'lisp'], ['grpc', 'lisp-wg'], ['grpc', 'lisp']],
      paper: PAPER,
      notes: [
        `${samples.length - counted.length} warm-up repetition(s) excluded (the first of each variant).`,
        'Userspace wireguard-go (no kernel module here): a peer is set through its UAPI socket (about 0.2 ms), not netlink.',
        ...(params.injectDelay ? [`A delay of ${params.injectDelay.ms} ms was injected into the ${params.injectDelay.variant} variant's control path (gate test): these numbers are not a measurement of lispwg.`] : []),
      ],
    });
    const v = s.variants;
    s.paper.push(
      ...comparePaper(PAPER.filter((p) => p.stat === 'value'), (p) =>
        p.variant === 'lisp-wg' ? (v['lisp-wg'] && v.lisp ? v['lisp-wg'].mean - v.lisp.mean : undefined) : v.grpc && v['lisp-wg'] ? v.grpc.median / v['lisp-wg'].median : undefined,
      ),
    );
    return s;
  },
  figure(samples) {
    return delayFigure(samples.filter((s) => !s.warmup), { title: 'Delay to add a map-cache entry (Fig. 7)', xTitle: 'miss -> entry usable (ms)', labels, paper: PAPER });
  },
};

export default cacheAdd;
