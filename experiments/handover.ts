/**
 * `handover` (paper Fig. 9, thesis 4.5): a mobile node with two interfaces on two access points
 * (different subnets) switches from one to the other during a continuous `ping -i 0.0001`; the
 * outage is the time from the first unanswered request to the return of steady replies, read
 * from a capture at the pinging end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import type { IcmpEvent } from '../lab/capture/decode.js';
import { alternateVariants, compareStats, ratiosOf, statsBy, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { perRunSpec } from './lib/plot.js';
import { plainLispSettings, upLab, type NodeSettings } from './lib/lab.js';
import { eidOf, agentsReady, keepEventLogs } from './lib/agents.js';
import { annotateOor, oorSettings, withRealOor } from './lib/oor.js';
import { pingStatistics, waitReplyAfter } from './lib/ping.js';

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
  /** OOR's hold-down before it sends SMRs after a move, reproduced in the plain LISP variant (ms; 0: none) */
  smrDelayMs: number;
  /** steady pinging before the handover, and the longest wait for steady replies after it, s */
  beforeS: number;
  afterS: number;
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'handover outage', variant: 'lisp', stat: 'median', value: 9000, unit: 'ms', source: 'thesis 4.5: "between 8 and 10 seconds" (OOR)', note: 'a range; its middle' },
  { metric: 'handover outage', variant: 'lisp-wg', stat: 'median', value: 1000, unit: 'ms', source: 'thesis 4.5: "about 1 second" (OOR+WG)' },
  { metric: 'handover outage (OOR 1.3 on this machine)', variant: 'oor', stat: 'median', value: 3400, unit: 'ms', source: 'experiments.md: 3.4 s median (3.1-3.7); OOR waits 4 s before SMRs' },
];

const labels = labelsFor('lisp-wg', 'lisp', 'oor');

export const handover: Experiment<HandoverSample, HandoverParams> = {
  name: 'handover',
  title: 'Handover outage',
  reproduces: 'paper Fig. 9, thesis 4.5',
  method:
    'topologies/handover.yaml: the mobile node mn has two Wi-Fi interfaces, wlan0 on access point ap1 and wlan1 on ap2 (different subnets behind a router), and pings the correspondent node cn\'s EID ' +
    'with `ping -i 0.0001` (10 000 requests/s) while tcpdump captures ICMP in mn\'s namespace. After 1 s the lab switches mn from one interface to the other (the old one goes down, the AP\'s association delay passes, the new one comes up with an address in the other subnet: a new RLOC). ' +
    'The outage is the time from the first unanswered echo request to the first request of the steady run of answered ones (20 in a row), as the thesis defined it. ' +
    'LISP+WG: WireGuard learns mn\'s new endpoint from its first authenticated packet, the agent re-registers. Plain LISP (OOR): mn re-registers and sends Solicit-Map-Requests to the RLOCs in its map-cache; cn asks the Map-Server again. ' +
    'As OOR, the plain LISP variant\'s Map-Server has no publish/subscribe (cn learns of the move from mn\'s SMR only), and OOR holds its SMRs for a compiled-in 4 s after a move: ' +
    'the plain LISP variant\'s mn is given the same hold-down (its `timers: smr-hold-down`; --smr-delay=0 turns it off). ' +
    'Where its binary exists, the real OOR runs as mn and cn (variant oor: its own SMRs after its own 4-s hold-down, its own interface monitoring). ' +
    'Runs alternate between the variants and the direction of the switch.',
  labels,
  paperValues: PAPER,
  headline: { metric: 'handover outage', lispWg: ['lisp-wg'], lisp: 'lisp', oor: 'oor' },
  options: [
    '--reps=N          handovers per variant',
    '--variants=a,b    of lisp-wg, lisp, oor (the real OOR; by default where its binary exists)',
    "--smr-delay=MS    OOR's SMR hold-down reproduced in plain LISP (default 4000; 0: off)",
    '--timeout=S       longest wait for steady replies after a handover',
  ],
  params(mode: Mode, o: Record<string, string>): HandoverParams {
    const runs = Number(o.reps ?? (mode === 'full' ? 20 : 4));
    if (!Number.isInteger(runs) || runs < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    const smrDelayMs = Number(o['smr-delay'] ?? OOR_SMR_DELAY_MS);
    if (!(smrDelayMs >= 0)) throw new LispwgError('EXP_OPTIONS', `--smr-delay wants milliseconds >= 0, not '${o['smr-delay']}'`);
    return { runs, variants: o.variants ? o.variants.split(',') : withRealOor(['lisp-wg', 'lisp']), smrDelayMs, beforeS: 1, afterS: Number(o.timeout ?? (mode === 'full' ? 20 : 8)) };
  },
  run: runHandover,
  analyse(samples, params) {
    const counted = samples.filter((s) => !s.warmup);
    const variants = statsBy(counted, (s) => s.outageMs);
    const failed: Record<string, string[]> = {};
    for (const s of counted) if (s.outageMs === undefined) (failed[s.variant] ??= []).push(`run ${s.run + 1}: ${s.error ?? 'no outage measured'}`);
    return {
      metric: 'outage: first unanswered request -> steady replies',
      unit: 'ms',
      variants,
      ratios: ratiosOf(variants, [['lisp-wg', 'lisp'], ['lisp-wg', 'oor'], ['lisp', 'oor']]),
      paper: compareStats(PAPER, variants),
      extra: { lostRequests: statsBy(counted, (s) => s.lost), ...(Object.keys(failed).length ? { failedRuns: failed } : {}) },
      notes: [
        'Access points are emulated (no mac80211_hwsim): a handover takes the station\'s link down in one AP and up in the other, with a new address (new RLOC), after the AP\'s 50-ms association delay; no radio scanning.',
        `Plain LISP: mn waits ${params.smrDelayMs} ms after a move before its SMRs (smr-hold-down), as OOR's compiled-in hold-down.`,
        ...Object.entries(failed).map(([v, runs]) => `${labels[v] ?? v}: ${runs.length} run(s) without a measured outage (${runs.join('; ')})`),
      ],
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

/** OOR sends its SMRs a compiled-in 4 s after a move; the plain LISP variant's mn is given the same hold-down. */
const OOR_SMR_DELAY_MS = 4000;

/** Each variant's agents. */
const VARIANTS: Record<string, (p: HandoverParams) => NodeSettings> = {
  'lisp-wg': () => ({}),
  // OOR's Map-Server had no publish/subscribe: cn learns mn's new RLOC from an SMR only
  lisp: (p) => plainLispSettings(['mn', 'cn'], { asOor: true, extra: { mn: { config: { timers: { 'smr-hold-down': `${p.smrDelayMs}ms` } } } } }),
  oor: () => oorSettings(['mn', 'cn']),
};

/** Answered requests in a row that count as steady again. */
export const STEADY = 20;

/**
 * The outage in a capture of a continuous ping (the thesis' definition): from the first unanswered
 * request at or after `fromUs` to the first request of the next run of STEADY answered ones.
 */
export function outage(events: readonly IcmpEvent[], fromUs: number): { outageMs?: number; lost: number; error?: string } {
  const answered = new Set(events.filter((e) => e.type === 'echo-reply').map((e) => e.seq));
  const sentAt = new Map<number, number>();
  for (const e of events) if (e.type === 'echo-request' && e.seq !== undefined && !sentAt.has(e.seq)) sentAt.set(e.seq, e.timeUs);
  const reqs = [...sentAt.entries()].sort((a, b) => a[0] - b[0]).filter(([, t]) => t >= fromUs - 5000);
  if (!reqs.length) return { lost: 0, error: 'no echo request captured after the handover' };
  const firstLost = reqs.findIndex(([seq]) => !answered.has(seq));
  if (firstLost < 0) return { outageMs: 0, lost: 0 };
  let run = 0;
  for (let i = firstLost + 1; i < reqs.length; i++) {
    run = answered.has(reqs[i]![0]) ? run + 1 : 0;
    if (run === STEADY) {
      const back = reqs[i - STEADY + 1]!;
      const lost = reqs.slice(firstLost, i - STEADY + 1).filter(([seq]) => !answered.has(seq)).length;
      return { outageMs: Math.round(back[1] - reqs[firstLost]![1]) / 1000, lost };
    }
  }
  return { lost: reqs.slice(firstLost).filter(([seq]) => !answered.has(seq)).length, error: 'no steady replies before the end of the capture' };
}

async function oneHandover(lab: Lab, run: number, p: HandoverParams): Promise<Omit<HandoverSample, 'variant' | 'run'>> {
  const cap = await lab.capture('mn', 'any', { filter: 'icmp', snaplen: 96 });
  // -D: every reply line carries its time, so the run ends soon after replies are back
  const ping = await lab.spawn('mn', `ping-${run}`, ['ping', '-n', '-D', '-i', '0.0001', '-w', String(Math.ceil(p.beforeS + p.afterS)), eidOf(lab, 'cn')]);
  try {
    await sleep(p.beforeS * 1000);
    const h = await lab.handover('mn'); // to the interface not in use: back and forth
    if (await waitReplyAfter(ping.log, h.steps.at(-1)!.timeUs + 200_000, (p.afterS + 5) * 1000, () => ping.running())) await sleep(200);
    await ping.stop('SIGINT');
    pingStatistics(await ping.output());
    const events = (await cap.events()).filter((e): e is IcmpEvent => e.kind === 'icmp');
    return outage(events, h.steps[0]!.timeUs);
  } finally {
    await ping.stop('SIGINT');
    await cap.stop().catch(() => undefined);
  }
}

async function runHandover(ctx: RunContext<HandoverSample, HandoverParams>): Promise<void> {
  for (const v of ctx.params.variants) if (!VARIANTS[v]) throw new LispwgError('EXP_VARIANT', `handover has no variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const labs: Record<string, Lab> = {};
  for (const v of ctx.params.variants) {
    labs[v] = await upLab(ctx, 'handover', `ho-${v.replace(/[^a-z]/g, '')}-`, { settings: VARIANTS[v]!(ctx.params) });
    if (v !== 'oor') await agentsReady(ctx.run, labs[v]!, ['mn', 'cn']);
  }
  await annotateOor(ctx.run, ctx.params.variants);
  await alternateVariants(ctx, ctx.params.variants, ctx.params.runs, 'run', async (v, run) => {
    const r = await oneHandover(labs[v]!, run, ctx.params);
    if (r.error) ctx.log(`${v} run ${run}: ${r.error}; agents' event logs kept: ${keepEventLogs(ctx.run, labs[v]!, ['mn', 'cn'], `${v}-run${run}`).join(', ')}`);
    return r;
  });
}

export default handover;
