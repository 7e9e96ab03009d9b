/**
 * `double-jump` (beyond the paper: its section VII-C): both ends change RLOC at once, so neither
 * knows where the other went and WireGuard's roaming alone cannot recover. The control plane can:
 * the agent re-resolves a peer that went silent (or is told by the Map-Server). Recovery time =
 * from the double move to the first echo reply, with a continuous ping running.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import type { IcmpEvent } from '../lab/capture/decode.js';
import { parseTopology } from '../lab/topology/load.js';
import { alternateVariants, comparePaper, ratiosOf, statsBy, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { perRunSpec } from './lib/plot.js';
import { upLab, type NodeSettings } from './lib/lab.js';
import { eidOf, flush, agentsReady } from './lib/agents.js';
import { pingStatistics, waitReplyAfter } from './lib/ping.js';

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
  method:
    'Two mobile nodes, each with two Wi-Fi interfaces on two emulated access points (different subnets behind a router), and a Map-Server. ' +
    'mn1 pings mn2\'s EID every millisecond through their WireGuard tunnel, captured in mn1\'s namespace; then both switch interface at the same moment, so both RLOCs change and each WireGuard peer points at an address the other has left. ' +
    'Recovery time = from the double move to the first echo reply. Variants: lispwg as built (an agent re-resolves a peer that went silent, and the Map-Server notifies the nodes that asked for a mapping when it changes: publish/subscribe), ' +
    'and WireGuard roaming alone (the same agents with silence detection off and a Map-Server without subscriptions): the paper says it cannot recover.',
  labels,
  paperValues: PAPER,
  headline: {
    ours: { stat: 'median' },
    lispWg: ['lisp-wg'],
    noLisp: 'the paper compares with WireGuard roaming alone (below)',
    noPaper: 'it says only that the data plane alone cannot recover',
    also: [{ metric: 'runs recovered by WireGuard roaming alone', variant: 'data-plane-only' }],
  },
  options: [
    '--reps=N          double moves per variant',
    '--variants=a,b    of lisp-wg, data-plane-only',
    '--timeout=MS      a run not recovered by then counts as not recovered',
  ],
  params(mode: Mode, o: Record<string, string>): DoubleJumpParams {
    const runs = Number(o.reps ?? (mode === 'full' ? 20 : 2));
    if (!Number.isInteger(runs) || runs < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    return { runs, timeoutMs: Number(o.timeout ?? (mode === 'full' ? 30000 : 8000)), variants: (o.variants ?? 'lisp-wg,data-plane-only').split(',') };
  },
  run: runDoubleJump,
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
      notes: [
        `A run that has not recovered after its time-out (${counted[0]?.timeoutMs ?? '?'} ms) counts as not recovered and is drawn at the time-out with a ×.`,
        'A LISP+WG run near 1.1 s (about 2 in 30) is the emulated access point losing a station\'s first ARP request for its gateway: the kernel asks again after 1 s (retrans_time), and everything the node sent waits for it (seen in captures).',
      ],
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

/** Both nodes mobile: mn1 and mn2 each on ap1 (wlan0) and ap2 (wlan1), the Map-Server behind the router. */
const TOPOLOGY = `
name: double-jump
description: two mobile nodes, each with two Wi-Fi interfaces on two APs; both move at once
defaults:
  link: { rate: 1gbit }
nodes:
  ms: { kind: ms, routes: ["default via 198.18.0.254"] }
  mn1:
    kind: mn
    eid: 198.19.1.1/32
    wifi:
      wlan0: { ap: ap1, address: 198.18.10.11 }
      wlan1: { ap: ap2, address: 198.18.20.11, associated: false }
  mn2:
    kind: mn
    eid: 198.19.2.1/32
    wifi:
      wlan0: { ap: ap1, address: 198.18.10.12 }
      wlan1: { ap: ap2, address: 198.18.20.12, associated: false }
  ap1: { kind: ap, subnet: 198.18.10.0/24, association-delay: 50ms, routes: ["default via 198.18.1.1"] }
  ap2: { kind: ap, subnet: 198.18.20.0/24, association-delay: 50ms, routes: ["default via 198.18.2.1"] }
  r1: { kind: router, routes: ["198.18.10.0/24 via 198.18.1.2", "198.18.20.0/24 via 198.18.2.2"] }
links:
  - endpoints: ["ms:eth0", "r1:eth0"]
    addresses: { ms: 198.18.0.1/24, r1: 198.18.0.254/24 }
  - endpoints: ["ap1:eth0", "r1:eth1"]
    addresses: { ap1: 198.18.1.2/24, r1: 198.18.1.1/24 }
  - endpoints: ["ap2:eth0", "r1:eth2"]
    addresses: { ap2: 198.18.2.2/24, r1: 198.18.2.1/24 }
`;

/** Each variant's agents and Map-Server. */
const VARIANTS: Record<string, NodeSettings> = {
  'lisp-wg': {},
  'data-plane-only': {
    ms: { config: { subscriptions: { enabled: false } } },
    mn1: { config: { timers: { 'peer-silence': '1h' } } },
    mn2: { config: { timers: { 'peer-silence': '1h' } } },
  },
};

function associated(lab: Lab, node: string, iface: string): boolean {
  try {
    lab.addressOf(node, iface);
    return true;
  } catch {
    return false;
  }
}

async function oneDoubleJump(lab: Lab, run: number, p: DoubleJumpParams): Promise<{ recoveryMs?: number; recovered: boolean }> {
  await flush(lab, ['mn1', 'mn2']);
  await sleep(30);
  // the tunnel is up and carrying traffic before the move
  await lab.exec('mn1', ['ping', '-n', '-c', '3', '-i', '0.05', '-W', '1', eidOf(lab, 'mn2')], { allowFail: true });
  const to = associated(lab, 'mn1', 'wlan0') ? 'wlan1' : 'wlan0';
  const cap = await lab.capture('mn1', 'any', { filter: 'icmp', snaplen: 96 });
  const seconds = Math.ceil(0.5 + p.timeoutMs / 1000); // ping's -w takes whole seconds
  // -D: every reply line carries its time, so the run can end as soon as replies are back
  const ping = await lab.spawn('mn1', `ping-${run}`, ['ping', '-n', '-D', '-i', '0.001', '-w', String(seconds), eidOf(lab, 'mn2')]);
  try {
    await sleep(500);
    const moves = await Promise.all([lab.handover('mn1', to), lab.handover('mn2', to)]);
    const moved = Math.min(...moves.map((h) => h.steps[0]!.timeUs));
    // both are in their new subnets from here: a reply after this took the new path
    const bothUp = Math.max(...moves.map((h) => h.steps.at(-1)!.timeUs));
    await waitReplyAfter(ping.log, bothUp, seconds * 1000 + 5000, () => ping.running());
    await ping.stop('SIGINT');
    pingStatistics(await ping.output());
    const back = (await cap.events()).find((e): e is IcmpEvent => e.kind === 'icmp' && e.type === 'echo-reply' && e.timeUs > bothUp);
    return back ? { recoveryMs: Math.round(back.timeUs - moved) / 1000, recovered: true } : { recovered: false };
  } finally {
    await ping.stop('SIGINT');
    await cap.stop().catch(() => undefined);
  }
}

async function runDoubleJump(ctx: RunContext<DoubleJumpSample, DoubleJumpParams>): Promise<void> {
  for (const v of ctx.params.variants) if (!VARIANTS[v]) throw new LispwgError('EXP_VARIANT', `double-jump has no variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const model = parseTopology(TOPOLOGY, 'double-jump (experiments/double-jump.ts)');
  const labs: Record<string, Lab> = {};
  for (const v of ctx.params.variants) {
    labs[v] = await upLab(ctx, model, `dj-${v.replace(/[^a-z]/g, '').slice(0, 8)}-`, { settings: VARIANTS[v]! });
    await agentsReady(ctx.run, labs[v]!, ['mn1', 'mn2']);
  }
  await alternateVariants(ctx, ctx.params.variants, ctx.params.runs, 'run', async (v, run) => ({ timeoutMs: ctx.params.timeoutMs, ...(await oneDoubleJump(labs[v]!, run, ctx.params)) }));
}

export default doubleJump;
