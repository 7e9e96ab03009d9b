/**
 * `state` (beyond the paper's figures; its claim in section VIII): the keys and WireGuard peers
 * each node holds on the 50-node mesh under a given traffic matrix, pulling keys on demand
 * (lispwg) against pushing every key to every node (a static full mesh).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import { nodeDir } from '../lab/names.js';
import { mapLimit } from '../lab/net/ip.js';
import { comparePaper, ratiosOf, statsBy, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { barsSpec } from './lib/plot.js';
import { upLab } from './lib/lab.js';
import { eidOf, wgStatus, agentsReady } from './lib/agents.js';
import { rng } from '../src/util/random.js';

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
  method:
    'topologies/mesh-50.yaml: a Map-Server and 50 mobile nodes in 5 sites behind a core router, every agent running (wireguard-go). ' +
    'Under a seeded random traffic matrix (each node pings a few others once), pull: every node\'s WireGuard data interface is read with `wg show` (peers) and its agent\'s map-cache (keys it holds). ' +
    'Then push every key to every node, as a static full mesh would: each node\'s data interface gets a peer for each of the others (`wg addconf`), and is read again.',
  labels,
  paperValues: PAPER,
  options: [
    '--flows=N         destinations each node talks to',
    "--seed=N          the traffic matrix's seed",
  ],
  params(_mode: Mode, o: Record<string, string>): StateParams {
    const nodes = 50; // topologies/mesh-50.yaml
    const flows = Number(o.flows ?? 3);
    if (!Number.isInteger(flows) || flows < 1 || flows >= nodes) throw new LispwgError('EXP_OPTIONS', `--flows must be between 1 and nodes - 1, not '${o.flows}'`);
    return { nodes, flows, seed: Number(o.seed ?? 1), variants: ['pull', 'push'] };
  },
  run: runState,
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
      notes: [
        'keys: distinct WireGuard public keys in the agent\'s map-cache (pulled, or pushed to it by the Map-Server when another node asked for it); peers: `wg show <data interface> peers`.',
        'push: every node is given a peer for each of the others, as a static full mesh (or a control plane pushing every key everywhere) would; its keys are those N - 1.',
      ],
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

/** The traffic matrix: each node talks to `flows` distinct others (seeded). */
export function trafficMatrix(nodes: readonly string[], flows: number, seed: number): Map<string, string[]> {
  const r = rng(seed);
  const m = new Map<string, string[]>();
  for (const n of nodes) {
    const others = nodes.filter((x) => x !== n);
    const pick: string[] = [];
    while (pick.length < flows) {
      const c = others[Math.floor(r() * others.length)]!;
      if (!pick.includes(c)) pick.push(c);
    }
    m.set(n, pick);
  }
  return m;
}

async function wgPeers(lab: Lab, node: string, iface: string): Promise<number> {
  const r = await lab.exec(node, ['wg', 'show', iface, 'peers']);
  return r.stdout.split('\n').filter((l) => l.trim()).length;
}

async function runState(ctx: RunContext<StateSample, StateParams>): Promise<void> {
  const lab = await upLab(ctx, 'mesh-50', 'state-');
  const mns = lab.model.nodes.filter((n) => n.kind === 'mn').map((n) => n.name);
  await agentsReady(ctx.run, lab, mns, 60_000);
  const matrix = trafficMatrix(mns, ctx.params.flows, ctx.params.seed);
  let k = 0;
  await mapLimit(mns, 6, async (n) => {
    const script = matrix.get(n)!.map((d) => `ping -n -c 1 -W 2 ${eidOf(lab, d)} >/dev/null`).join('; ');
    await lab.exec(n, ['sh', '-c', script], { allowFail: true });
    ctx.progress(++k, mns.length * 2, 'traffic');
  });
  const st = new Map(await mapLimit(mns, 8, async (n) => [n, await wgStatus(lab, n)] as const));
  const have = new Set(ctx.done.map((s) => `${s.variant}|${s.node}`));
  for (const n of mns) {
    if (have.has(`pull|${n}`)) continue;
    const s = st.get(n)!;
    const keys = new Set(s.mapCache.flatMap((e) => (e.publicKey ? [e.publicKey] : []))).size;
    ctx.sample({ variant: 'pull', node: n, peers: await wgPeers(lab, n, s.interfaces.data), keys, flows: matrix.get(n)!.length, nodes: mns.length });
  }
  // push every key to every node: each data interface gets a peer for each other node
  await mapLimit(mns, 6, async (n) => {
    const conf = mns
      .filter((x) => x !== n)
      .map((x) => {
        const o = st.get(x)!;
        return `[Peer]\nPublicKey = ${o.interfaces.publicKey}\nAllowedIPs = ${o.registration.eidPrefixes.join(', ')}\nEndpoint = ${o.registration.rlocs[0]!.address}:${o.interfaces.dataPort}\n`;
      })
      .join('\n');
    const file = join(nodeDir(lab.name, n), 'full-mesh.conf');
    await writeFile(file, conf, { mode: 0o600 });
    const s = st.get(n)!;
    await lab.exec(n, ['wg', 'addconf', s.interfaces.data, file]);
    if (!have.has(`push|${n}`)) ctx.sample({ variant: 'push', node: n, peers: await wgPeers(lab, n, s.interfaces.data), keys: mns.length - 1, flows: matrix.get(n)!.length, nodes: mns.length });
    ctx.progress(++k, mns.length * 2, 'push');
  });
}

export default state;
