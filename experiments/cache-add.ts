/**
 * `cache-add` (paper Fig. 7, thesis 4.2): the delay to add a map-cache entry for an unknown EID,
 * from the miss to the entry being usable (for LISP+WG: the WireGuard peer and its route
 * installed), taken from the agent's own event log. Variants side by side in one run: LISP+WG,
 * plain LISP as OOR (no key, a Map-Server that pushes nothing), plain LISP on lispwg's control
 * plane (the same pushes as LISP+WG: what WireGuard adds, alone) and the gRPC control channel.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import { alternateVariants, comparePaper, type Experiment, type Mode, type PaperValue, type RunContext } from './lib/experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './lib/delay.js';
import { labelsFor } from './lib/labels.js';
import { grpcSettings, plainLispSettings, upLab, type NodeSettings } from './lib/lab.js';
import { eidOf, eventOffset, eventsSince, flush, agentsReady, type AgentEventLine } from './lib/agents.js';
import { injectControlDelay } from './lib/slow.js';

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

const labels = labelsFor('lisp-wg', 'lisp', 'lisp-push', 'grpc');

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
    'for LISP+WG the WireGuard peer and its route installed (wireguard-go over its UAPI socket), for plain LISP the map-cache entry added to the userspace data plane. ' +
    'LISP+WG\'s Map-Server pushes the requester\'s key to the destination and replies once that is acknowledged (a second control round trip, so that the first handshake never meets an unknown key); ' +
    'plain LISP (OOR) has a Map-Server that pushes nothing, as OOR\'s; "plain LISP with lispwg\'s pushes" keeps the push round trip, so that its difference to LISP+WG is what WireGuard itself adds. ' +
    'the gRPC variant is LISP+WG resolving over gRPC (HTTP/2) to the Map-Server\'s gRPC front instead of a Map-Request, inside the same control tunnel. ' +
    'The variants alternate repetition by repetition. The first repetition of each variant is a warm-up and is not counted.',
  labels,
  paperValues: PAPER,
  headline: { metric: 'cache-add delay', lispWg: ['lisp-wg'], lisp: 'lisp', also: [{ metric: 'LISP+WG - plain LISP (mean)', variant: 'lisp-wg' }] },
  options: [
    '--reps=N          repetitions per variant (plus one warm-up)',
    '--variants=a,b    of lisp-wg, lisp, lisp-push, grpc',
    "--inject-delay=VARIANT:MS  hold that variant's control messages MS ms (the gate test)",
  ],
  params(mode: Mode, o: Record<string, string>): CacheAddParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 100 : 40));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    const inject = parseInjectDelay(o['inject-delay']);
    return { reps, variants: (o.variants ?? 'lisp-wg,lisp,lisp-push,grpc').split(','), ...(inject ? { injectDelay: inject } : {}) };
  },
  run: runCacheAdd,
  analyse(samples, params) {
    const counted = samples.filter((s) => !s.warmup);
    const s = analyseDelays(counted, {
      metric: 'cache-add delay (miss -> entry usable)',
      pairs: [['lisp-wg', 'lisp'], ['lisp-wg', 'lisp-push'], ['grpc', 'lisp-wg'], ['grpc', 'lisp']],
      paper: PAPER,
      notes: [
        `${samples.length - counted.length} warm-up repetition(s) excluded (the first of each variant).`,
        'Userspace wireguard-go (no kernel module here): a peer is set through its UAPI socket (about 0.2 ms), not netlink.',
        'After emptying the agents each repetition waits 30 ms (wireguard-go takes one handshake per peer every ~20 ms), every variant alike.',
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

/** How a variant's lab is configured, and the agent event that ends its cache-add delay. */
export interface AddVariant {
  settings: NodeSettings | ((lab: string) => NodeSettings);
  done: string;
}

/** wireguard-go accepts one handshake per peer every ~20 ms: the pause after a flush. */
export const SETTLE_MS = 30;

const VARIANTS: Record<string, AddVariant> = {
  'lisp-wg': { settings: {}, done: 'route-installed' },
  lisp: { settings: plainLispSettings(['mn1', 'mn2'], { asOor: true }), done: 'mapping-installed' },
  'lisp-push': { settings: plainLispSettings(['mn1', 'mn2'], { asOor: false }), done: 'mapping-installed' },
  grpc: { settings: grpcSettings(['mn1', 'mn2']), done: 'route-installed' },
};

/** One cold cache-add on mn1 towards mn2's EID: miss -> the variant's "entry usable" event. */
async function coldAdd(lab: Lab, done: string): Promise<{ delayMs?: number; steps: Record<string, number>; error?: string }> {
  await flush(lab, ['mn1', 'mn2']);
  await sleep(SETTLE_MS);
  const from = eventOffset(lab, 'mn1');
  await lab.exec('mn1', ['ping', '-n', '-c', '1', '-W', '1', eidOf(lab, 'mn2')], { allowFail: true });
  const events = await eventsSince(lab, 'mn1', from, (e) => e.event === done);
  const first = (name: string): AgentEventLine | undefined => events.find((e) => e.event === name);
  const miss = first('miss');
  const end = first(done);
  const steps: Record<string, number> = {};
  if (miss) for (const e of events) if (!(e.event in steps) && e.event !== 'miss') steps[e.event] = Math.round((e.t - miss.t) * 1000) / 1000;
  if (!miss || !end) return { steps, error: !miss ? 'no miss event' : `no ${done} event` };
  return { delayMs: Math.round((end.t - miss.t) * 1000) / 1000, steps };
}

function runCacheAdd(ctx: RunContext<CacheAddSample, CacheAddParams>): Promise<void> {
  return runColdAdds(ctx, VARIANTS, 'ca');
}

/** Cold cache-adds, the variants alternating repetition by repetition, each variant in its own lab. */
export async function runColdAdds(ctx: RunContext<CacheAddSample, CacheAddParams>, variants: Record<string, AddVariant>, prefix: string): Promise<void> {
  for (const v of ctx.params.variants) if (!variants[v]) throw new LispwgError('EXP_VARIANT', `${ctx.run.name} has no variant '${v}' (known: ${Object.keys(variants).join(', ')})`);
  const labs: Record<string, Lab> = {};
  for (const v of ctx.params.variants) {
    labs[v] = await upLab(ctx, 'paper-lan', `${prefix}-${v.replace(/[^a-z]/g, '')}-`, { settings: variants[v]!.settings });
    await agentsReady(ctx.run, labs[v]!, ['mn1', 'mn2']);
    const inject = ctx.params.injectDelay;
    if (inject?.variant === v) {
      await injectControlDelay(labs[v]!, 'mn1', inject.ms);
      ctx.log(`injected ${inject.ms} ms into every control message mn1 sends in the ${v} variant`);
    }
  }
  // repetition 0 of each variant is a warm-up
  await alternateVariants(ctx, ctx.params.variants, ctx.params.reps + 1, 'rep', async (v, rep) => {
    const r = await coldAdd(labs[v]!, variants[v]!.done);
    return { ...(r.delayMs !== undefined ? { delayMs: r.delayMs } : { error: r.error! }), steps: r.steps, ...(rep === 0 ? { warmup: true } : {}) };
  });
}

export default cacheAdd;
