/**
 * `state` (beyond the paper's figures; its claim in section VIII): the keys and WireGuard peers
 * each node holds on the 50-node mesh under a given traffic matrix, pulling keys on demand
 * (lispwg) against pushing every key to every node (a static full mesh).
 */
import type { Experiment, Mode, PaperValue, Sample } from './lib/experiment.js';
import { comparePaper, ratiosOf, statsBy } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { barsSpec } from './lib/plot.js';
import { LispwgError } from '../src/util/errors.js';

export interface StateSample extends Sample {
  node: string;
  /** WireGuard peers configured on the node's data interface */
  peers: number;
  /** public keys the node holds (peers + keys pushed but not installed) */
  keys: number;
  /** destinations this node sent to under the traffic matrix */
  flows: number;
  nodes: number;
}

export interface StateParams {
  nodes: number;
  /** each node talks to this many others (a random, seeded traffic matrix) */
  flows: number;
  seed: number;
  variants: string[];
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'peers per node, push every key (mean)', variant: 'push', stat: 'value', value: 49, unit: 'peers', source: 'a full mesh of 50: N - 1 per node' },
];

const labels = labelsFor('pull', 'push');

export const state: Experiment<StateSample, StateParams> = {
  name: 'state',
  title: 'State per node: pull on demand vs push every key',
  reproduces: 'paper section VIII ("creating security associations only if a particular tunnel is required")',
  method: '',
  labels,
  paperValues: PAPER,
  params(_mode: Mode, o: Record<string, string>): StateParams {
    const nodes = Number(o.nodes ?? 50);
    const flows = Number(o.flows ?? 3);
    if (!Number.isInteger(nodes) || nodes < 2) throw new LispwgError('EXP_OPTIONS', `--nodes must be an integer >= 2, not '${o.nodes}'`);
    if (!Number.isInteger(flows) || flows < 1 || flows >= nodes) throw new LispwgError('EXP_OPTIONS', `--flows must be between 1 and nodes - 1, not '${o.flows}'`);
    return { nodes, flows, seed: Number(o.seed ?? 1), variants: ['pull', 'push'] };
  },
  async run() {
    throw new LispwgError('EXP_NOT_BUILT', 'state needs the agent and the 50-node mesh');
  },
  analyse(samples, params) {
    const peers = statsBy(samples, (s) => s.peers);
    const keys = statsBy(samples, (s) => s.keys);
    return {
      metric: 'WireGuard peers per node',
      unit: 'peers',
      variants: peers,
      ratios: ratiosOf(peers, [['pull', 'push']], 'mean'),
      paper: [
        ...comparePaper(PAPER.map((p) => ({ ...p, value: params.nodes - 1, source: `a full mesh of ${params.nodes}: N - 1 per node` })), () => peers.push?.mean),
      ],
      extra: { keysPerNode: keys, trafficMatrix: `${params.flows} destinations per node (seed ${params.seed}); pushes make the receivers hold the senders' keys too` },
      notes: [],
    };
  },
  figure(samples) {
    const peers = statsBy(samples, (s) => s.peers);
    const keys = statsBy(samples, (s) => s.keys);
    const points = Object.keys(peers).flatMap((v) => [
      { category: 'peers (mean)', variant: v, value: peers[v]!.mean },
      { category: 'peers (max)', variant: v, value: peers[v]!.max },
      { category: 'keys (mean)', variant: v, value: keys[v]?.mean ?? 0 },
      { category: 'keys (max)', variant: v, value: keys[v]?.max ?? 0 },
    ]);
    return barsSpec({ title: 'State per node on the 50-node mesh', yTitle: 'per node', points, labels });
  },
};

export default state;
