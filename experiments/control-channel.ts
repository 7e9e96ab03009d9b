/**
 * `control-channel` (paper Fig. 7, the gRPC comparison): the delay to request and configure a new
 * endpoint over LISP/UDP and over gRPC (HTTP/2), both inside the same control WireGuard tunnel to
 * the same Map-Server: a LISP+WG agent's cold cache-add, miss -> peer and route installed, with its
 * resolution as a Map-Request (UDP 4342) or as a gRPC call to the Map-Server's gRPC front.
 */
import { LispwgError } from '../src/util/errors.js';
import { comparePaper, type Experiment, type Mode, type PaperValue } from './lib/experiment.js';
import { analyseDelays, delayFigure } from './lib/delay.js';
import { grpcSettings } from './lib/lab.js';
import { parseInjectDelay, runColdAdds, type AddVariant, type CacheAddParams, type CacheAddSample } from './cache-add.js';

export const PAPER: readonly PaperValue[] = [
  { metric: 'gRPC / LISP (median)', variant: 'grpc', stat: 'value', value: 2, unit: 'x', source: 'paper Fig. 7: gRPC about twice OOR+WG' },
];

const labels = { lisp: 'LISP/UDP (Map-Request, Map-Reply)', grpc: 'gRPC (HTTP/2)' };

const VARIANTS: Record<string, AddVariant> = {
  lisp: { settings: {}, done: 'route-installed' },
  grpc: { settings: grpcSettings(['mn1', 'mn2']), done: 'route-installed' },
};

export const controlChannel: Experiment<CacheAddSample, CacheAddParams> = {
  name: 'control-channel',
  title: 'Control channel: LISP/UDP vs gRPC',
  reproduces: 'paper Fig. 7 (gRPC comparison)',
  method:
    'Two LISP+WG mobile nodes and a Map-Server on one emulated LAN (topologies/paper-lan.yaml), every control message inside the control WireGuard tunnel. ' +
    'Each repetition empties both agents and sends one packet from mn1 to mn2\'s EID; the delay is mn1\'s event log from the miss to the peer and route installed. ' +
    'LISP: the agent resolves with an ECM Map-Request over UDP; gRPC: with a unary call over HTTP/2 (a TCP connection kept open) to the Map-Server\'s gRPC front, which reads the same database and pushes the same Map-Notify. ' +
    'The variants alternate repetition by repetition; the first of each is a warm-up (it also opens the gRPC connection).',
  labels,
  paperValues: PAPER,
  headline: {
    ours: { stat: 'median' },
    lispWg: ['lisp'],
    noLisp: 'both control channels run inside the WireGuard control tunnel',
    noPaper: 'Fig. 7 gives gRPC only relative to OOR+WG (below)',
    also: [{ metric: 'gRPC / LISP (median)', variant: 'grpc' }],
  },
  options: [
    '--reps=N          repetitions per variant (plus one warm-up)',
    '--variants=a,b    of lisp, grpc',
    "--inject-delay=VARIANT:MS  hold that variant's LISP control messages MS ms (the gate test)",
  ],
  params(mode: Mode, o: Record<string, string>): CacheAddParams {
    const reps = Number(o.reps ?? (mode === 'full' ? 150 : 15));
    if (!Number.isInteger(reps) || reps < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    const inject = parseInjectDelay(o['inject-delay']);
    return { reps, variants: (o.variants ?? 'lisp,grpc').split(','), ...(inject ? { injectDelay: inject } : {}) };
  },
  run: (ctx) => runColdAdds(ctx, VARIANTS, 'cc'),
  analyse(samples, params) {
    const counted = samples.filter((s) => !s.warmup);
    const s = analyseDelays(counted, {
      metric: 'request + configure a new endpoint (miss -> peer and route installed)',
      pairs: [['grpc', 'lisp']],
      paper: [],
      notes: [
        `${samples.length - counted.length} warm-up repetition(s) excluded (the first of each variant).`,
        'The paper\'s gRPC prototype was C (grpc-c) beside C OOR; here both channels are Node (@grpc/grpc-js against dgram) in the same agent and Map-Server.',
        ...(params.injectDelay ? [`A delay of ${params.injectDelay.ms} ms was injected into the ${params.injectDelay.variant} variant's control path (gate test).`] : []),
      ],
    });
    s.paper.push(...comparePaper(PAPER, () => (s.variants.grpc && s.variants.lisp ? s.variants.grpc.median / s.variants.lisp.median : undefined)));
    return s;
  },
  figure(samples) {
    return delayFigure(samples.filter((s) => !s.warmup), { title: 'Request and configure a new endpoint: LISP vs gRPC (Fig. 7)', xTitle: 'miss -> peer and route installed (ms)', labels, paper: [] });
  },
};

export default controlChannel;
