/**
 * `e2e` (paper Fig. 5, thesis 4.4): tunnel establishment seen end to end. Caches empty,
 * `ping -i 0.0001 -c 100` from one mobile node's EID to the other's; the delay is the time from
 * the first echo request to the first echo reply, both read from a capture taken in the sender's
 * namespace (as the thesis' tshark scripts did). Variants: LISP+WG buffering packets while it
 * resolves (lispwg's default), LISP+WG dropping them (as OOR+WG did), plain LISP (lispwg's agent set
 * up as OOR) and, where its binary exists, the real OOR (restarted for each cold start: it has no
 * command to empty its map-cache).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import type { IcmpEvent } from '../lab/capture/decode.js';
import { alternateVariants, comparePaper, type Experiment, type Mode, type PaperValue, type RunContext } from './lib/experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './lib/delay.js';
import { labelsFor } from './lib/labels.js';
import { plainLispSettings, upLab, type NodeSettings } from './lib/lab.js';
import { eidOf, flush, agentsReady } from './lib/agents.js';
import { annotateOor, oorSettings, restartOor, withRealOor } from './lib/oor.js';
import { SETTLE_MS } from './cache-add.js';

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
const TAIL_MS = 1000;

export const PAPER: readonly PaperValue[] = [
  { metric: 'first request -> first reply', variant: 'lisp', stat: 'mean', value: 31.17, unit: 'ms', source: 'thesis 4.4 (OOR, 100 runs)' },
  { metric: 'first request -> first reply', variant: 'lisp-wg-drop', stat: 'mean', value: 32.57, unit: 'ms', source: 'thesis 4.4 (OOR+WG, 100 runs; it dropped while resolving)' },
  { metric: 'first request -> first reply', variant: 'lisp-wg', stat: 'mean', value: 32.57, unit: 'ms', source: 'thesis 4.4 (OOR+WG); lispwg buffers instead of dropping', note: 'not like for like: buffering answers seq 1' },
  { metric: 'first request -> first reply (OOR 1.3 on this machine)', variant: 'oor', stat: 'median', value: 30.8, unit: 'ms', source: 'experiments.md: OOR 1.3 measured here, 2 requests lost every run' },
  { metric: 'requests lost before the first reply (OOR 1.3 on this machine)', variant: 'oor', stat: 'value', value: 2, unit: 'requests', source: 'experiments.md: exactly 2 in every run' },
];

const labels = labelsFor('lisp-wg', 'lisp-wg-drop', 'lisp', 'oor');

export const e2e: Experiment<E2eSample, E2eParams> = {
  name: 'e2e',
  title: 'Tunnel establishment delay, end to end',
  reproduces: 'paper Fig. 5, thesis 4.4',
  method:
    'Two mobile nodes and a Map-Server on one emulated Gigabit LAN. Each repetition starts from empty caches and no peers (both agents flushed through their admin sockets: map-cache, peers, routes), ' +
    'runs `ping -i 0.0001 -c 100` (10 000 requests/s) from mn1\'s EID to mn2\'s, captures ICMP in mn1\'s namespace with tcpdump, and takes ' +
    'the time from the first echo request to the first echo reply. Variants: LISP+WG buffering the packets that arrive while it resolves (lispwg), LISP+WG dropping them (as the paper\'s OOR+WG), ' +
    'plain LISP encapsulating in userspace and dropping while resolving (lispwg set up as OOR), and, where its binary exists, the real OOR as both mobile nodes (its map-cache emptied by restarting it, ready again once the Map-Server acknowledged its registration). Variants alternate repetition by repetition; the first of each is a warm-up, not counted.',
  labels,
  paperValues: PAPER,
  headline: { metric: 'first request -> first reply', lispWg: ['lisp-wg', 'lisp-wg-drop'], lisp: 'lisp', oor: 'oor' },
  options: [
    '--reps=N          repetitions per variant (plus one warm-up)',
    '--variants=a,b    of lisp-wg, lisp-wg-drop, lisp, oor (the real OOR; by default where its binary exists)',
  ],
  params(mode: Mode, o: Record<string, string>): E2eParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 100 : 8));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { reps, count: 100, intervalS: 0.0001, variants: o.variants ? o.variants.split(',') : withRealOor(['lisp-wg', 'lisp-wg-drop', 'lisp']) };
  },
  run: runE2e,
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
      // with the real OOR: how lispwg and its imitation of OOR compare with it
      pairs: [['lisp-wg', 'lisp'], ['lisp-wg-drop', 'lisp'], ['lisp-wg', 'lisp-wg-drop'], ['lisp-wg', 'oor'], ['lisp-wg-drop', 'oor'], ['lisp', 'oor']],
      paper: PAPER,
      notes: [
        `${samples.length - counted.length} warm-up repetition(s) excluded (the first of each variant).`,
        `Runs with a first reply later than ${TAIL_MS} ms (WireGuard's 5-s handshake retry): ${JSON.stringify(tail)}.`,
        'After emptying the agents each repetition waits 30 ms (wireguard-go takes one handshake per peer every ~20 ms), every variant alike.',
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

/** Each variant's nodes, and how its caches are emptied. */
const VARIANTS: Record<string, { settings: NodeSettings; empty?: (lab: Lab, nodes: readonly string[]) => Promise<void> }> = {
  'lisp-wg': { settings: {} },
  'lisp-wg-drop': { settings: { mn1: { config: { 'miss-policy': 'drop' } }, mn2: { config: { 'miss-policy': 'drop' } } } },
  lisp: { settings: plainLispSettings(['mn1', 'mn2'], { asOor: true }) },
  oor: { settings: oorSettings(['mn1', 'mn2']), empty: restartOor },
};
const NODES = ['mn1', 'mn2'];

/** What a capture of one `ping -i 0.0001 -c 100` run says (the thesis' tshark script, in TypeScript). */
export function firstReply(events: readonly IcmpEvent[]): Omit<E2eSample, 'variant' | 'rep'> {
  const requests = events.filter((e) => e.type === 'echo-request');
  const replies = events.filter((e) => e.type === 'echo-reply');
  const sent = new Set(requests.map((e) => e.seq)).size;
  const received = new Set(replies.map((e) => e.seq)).size;
  if (!requests.length) return { error: 'no echo request captured', sent, received };
  if (!replies.length) return { error: 'no echo reply', sent, received, firstPacketLost: true };
  const t0 = Math.min(...requests.map((e) => e.timeUs));
  const first = replies.reduce((a, b) => (b.timeUs < a.timeUs ? b : a));
  const firstSeq = Math.min(...requests.map((e) => e.seq ?? Infinity));
  return {
    delayMs: Math.round(first.timeUs - t0) / 1000,
    firstReplySeq: first.seq ?? -1,
    requestsBeforeReply: new Set(requests.filter((e) => e.timeUs < first.timeUs).map((e) => e.seq)).size,
    firstPacketLost: !replies.some((e) => e.seq === firstSeq),
    sent,
    received,
  };
}

async function coldPing(lab: Lab, variant: string, p: E2eParams): Promise<Omit<E2eSample, 'variant' | 'rep'>> {
  await (VARIANTS[variant]!.empty ?? flush)(lab, NODES);
  await sleep(SETTLE_MS);
  const cap = await lab.capture('mn1', 'any', { filter: 'icmp' });
  await lab.exec('mn1', ['ping', '-n', '-q', '-i', String(p.intervalS), '-c', String(p.count), '-W', '0.5', eidOf(lab, 'mn2')], { allowFail: true, timeoutMs: 30_000 });
  const events = (await cap.events()).filter((e): e is IcmpEvent => e.kind === 'icmp');
  return firstReply(events);
}

async function runE2e(ctx: RunContext<E2eSample, E2eParams>): Promise<void> {
  for (const v of ctx.params.variants) if (!VARIANTS[v]) throw new LispwgError('EXP_VARIANT', `e2e has no variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const labs: Record<string, Lab> = {};
  for (const v of ctx.params.variants) {
    labs[v] = await upLab(ctx, 'paper-lan', `e2e-${v.replace(/[^a-z]/g, '')}-`, { settings: VARIANTS[v]!.settings });
    // OOR is in service when the lab is up (the Map-Server has its registrations)
    if (v !== 'oor') await agentsReady(ctx.run, labs[v]!, NODES);
  }
  await annotateOor(ctx.run, ctx.params.variants);
  // repetition 0 of each variant is a warm-up
  await alternateVariants(ctx, ctx.params.variants, ctx.params.reps + 1, 'rep', async (v, rep) => ({ ...(await coldPing(labs[v]!, v, ctx.params)), ...(rep === 0 ? { warmup: true } : {}) }));
}

export default e2e;
