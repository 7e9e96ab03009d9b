/**
 * `e2e` (paper Fig. 5, thesis 4.4): tunnel establishment seen end to end. Caches empty,
 * `ping -i 0.0001 -c 100` from one mobile node's EID to the other's; the delay is the time from
 * the first echo request to the first echo reply, both read from a capture taken in the sender's
 * namespace (as the thesis' tshark scripts did). Variants: LISP+WG buffering packets while it
 * resolves (lispwg's default), LISP+WG dropping them (as OOR+WG did), and plain LISP (OOR).
 */
import type { Experiment, Mode, PaperValue } from './lib/experiment.js';
import { comparePaper } from './lib/experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './lib/delay.js';
import { labelsFor } from './lib/labels.js';
import { LispwgError } from '../src/util/errors.js';

export interface E2eSample extends DelaySample {
  /** echo requests captured before the first reply, and the sequence number answered first */
  requestsBeforeReply?: number;
  firstReplySeq?: number;
  /** the first echo request (seq 1) was never answered */
  firstPacketLost?: boolean;
  sent?: number;
  received?: number;
}

export interface E2eParams {
  reps: number;
  count: number;
  intervalS: number;
  variants: string[];
}

/** A first reply later than this is WireGuard's 5-s handshake retry, the tail the design must rule out. */
export const TAIL_MS = 1000;

export const PAPER: readonly PaperValue[] = [
  { metric: 'first request -> first reply', variant: 'lisp', stat: 'mean', value: 31.17, unit: 'ms', source: 'thesis 4.4 (OOR, 100 runs)' },
  { metric: 'first request -> first reply', variant: 'lisp-wg-drop', stat: 'mean', value: 32.57, unit: 'ms', source: 'thesis 4.4 (OOR+WG, 100 runs; it dropped while resolving)' },
  { metric: 'first request -> first reply', variant: 'lisp-wg', stat: 'mean', value: 32.57, unit: 'ms', source: 'thesis 4.4 (OOR+WG); lispwg buffers instead of dropping', note: 'not like for like: buffering answers seq 1' },
  { metric: 'first request -> first reply (OOR 1.3 on this machine)', variant: 'lisp', stat: 'median', value: 30.8, unit: 'ms', source: 'experiments.md: OOR 1.3 measured here, 2 requests lost every run' },
  { metric: 'requests lost before the first reply (OOR 1.3 on this machine)', variant: 'lisp', stat: 'value', value: 2, unit: 'requests', source: 'experiments.md: exactly 2 in every run' },
];

const labels = labelsFor('lisp-wg', 'lisp-wg-drop', 'lisp');

export const e2e: Experiment<E2eSample, E2eParams> = {
  name: 'e2e',
  title: 'Tunnel establishment delay, end to end',
  reproduces: 'paper Fig. 5, thesis 4.4',
  method:
    'Two mobile nodes and a Map-Server on one emulated Gigabit LAN. Each repetition starts from empty caches and no peers (agents restarted), ' +
    'runs `ping -i 0.0001 -c 100` (10 000 requests/s) from mn1\'s EID to mn2\'s, captures ICMP in mn1\'s namespace with tcpdump, and takes ' +
    'the time from the first echo request to the first echo reply. Variants alternate repetition by repetition; the first of each is a warm-up, not counted.',
  labels,
  paperValues: PAPER,
  params(mode: Mode, o: Record<string, string>): E2eParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 100 : 8));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { reps, count: 100, intervalS: 0.0001, variants: (o.variants ?? 'lisp-wg,lisp-wg-drop,lisp').split(',') };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'e2e needs the agent (src/xtr) and the lab');
  },
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const firstPacketLost: Record<string, number> = {};
    const lostBeforeReply: Record<string, number[]> = {};
    const tail: Record<string, number> = {};
    for (const s of counted) {
      if (s.delayMs === undefined) continue;
      firstPacketLost[s.variant] = (firstPacketLost[s.variant] ?? 0) + (s.firstPacketLost ? 1 : 0);
      (lostBeforeReply[s.variant] ??= []).push((s.firstReplySeq ?? 1) - 1);
      tail[s.variant] = (tail[s.variant] ?? 0) + (s.delayMs > TAIL_MS ? 1 : 0);
    }
    const meanLost = Object.fromEntries(Object.entries(lostBeforeReply).map(([v, xs]) => [v, Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2))]));
    const summary = analyseDelays(counted, {
      metric: 'first echo request -> first echo reply',
      pairs: [['lisp-wg', 'lisp'], ['lisp-wg-drop', 'lisp'], ['lisp-wg', 'lisp-wg-drop']],
      paper: PAPER,
      notes: [
        `${samples.length - counted.length} warm-up repetition(s) excluded (the first of each variant).`,
        `Runs with a first reply later than ${TAIL_MS} ms (WireGuard's 5-s handshake retry): ${JSON.stringify(tail)}.`,
        'With drop-while-resolving, ping spaces its next requests after the losses, so the first reply answers a later request: this, not the mapping, is most of the paper\'s 31-33 ms.',
      ],
      extra: { firstPacketLost, meanRequestsLostBeforeFirstReply: meanLost, slowTail: tail },
    });
    summary.paper.push(...comparePaper(PAPER.filter((p) => p.stat === 'value'), (p) => meanLost[p.variant]));
    return summary;
  },
  figure(samples) {
    return delayFigure(samples.filter((s) => !s.warmup), { title: 'Tunnel establishment, end to end (Fig. 5)', xTitle: 'first echo request -> first echo reply (ms, log)', labels, paper: PAPER.filter((p) => p.variant !== 'lisp-wg' && p.unit === 'ms'), logX: true });
  },
};

export default e2e;
