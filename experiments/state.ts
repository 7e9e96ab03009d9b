/**
 * `state` (beyond the paper's figures; its claim in section VIII): the keys and WireGuard peers
 * each node holds on a generated mesh of N mobile nodes (50 in quick mode; 50, 200 and 500 in
 * full mode) under a given traffic matrix, pulling keys on demand (lispwg) against pushing every
 * key to every node (a static full mesh), and the memory each node's processes hold for it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from '../lab/lab.js';
import { nodeDir } from '../lab/names.js';
import { mapLimit } from '../lab/net/ip.js';
import { meshTopology } from '../lab/topology/mesh.js';
import { processUsage } from '../lab/usage.js';
import { comparePaper, ratiosOf, statsBy, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { barsSpec, sideBySide } from './lib/plot.js';
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
  /** Pss (MiB) of the node's agent, and of the wireguard-go of its data interface (its peers live there) */
  agentMiB: number;
  dataWgMiB: number;
}

export interface StateParams {
  /** mesh sizes (mobile nodes), one lab each */
  nodes: number[];
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
    'A generated mesh (lab/topology/mesh.ts, as topologies/mesh-50.yaml): a Map-Server and N mobile nodes in up to 10 sites behind a core router, every agent running (wireguard-go); one lab per N, brought down before the next. ' +
    'Under a seeded random traffic matrix (each node pings a few others once), pull: every node\'s WireGuard data interface is read with `wg show` (peers), its agent\'s map-cache (keys it holds), and the memory (Pss, /proc) of its agent and of the wireguard-go of its data interface. ' +
    'Then push every key to every node, as a static full mesh would: each node\'s data interface gets a peer for each of the others (`wg addconf`), and is read again.',
  labels,
  paperValues: PAPER,
  headline: {
    ours: { stat: 'mean' },
    lispWg: ['pull'],
    noLisp: 'both variants use WireGuard: keys pulled on demand, or pushed to every node',
    noPaper: 'it argues for pulling keys on demand and measures no state',
    also: [{ metric: 'peers per node, push every key (mean)', variant: 'push' }],
  },
  options: [
    '--nodes=N,N       mesh sizes (default 50 quick, 50,200,500 full)',
    '--flows=N         destinations each node talks to',
    "--seed=N          the traffic matrix's seed",
  ],
  params(mode: Mode, o: Record<string, string>): StateParams {
    const nodes = (o.nodes ?? (mode === 'quick' ? '50' : '50,200,500')).split(',').map(Number);
    if (nodes.some((n) => !Number.isInteger(n) || n < 2 || n > 2400)) throw new LispwgError('EXP_OPTIONS', `--nodes wants mesh sizes from 2 to 2400 like 50,200,500, not '${o.nodes}'`);
    const flows = Number(o.flows ?? 3);
    if (!Number.isInteger(flows) || flows < 1 || flows >= Math.min(...nodes)) throw new LispwgError('EXP_OPTIONS', `--flows must be between 1 and nodes - 1, not '${o.flows}'`);
    return { nodes, flows, seed: Number(o.seed ?? 1), variants: ['pull', 'push'] };
  },
  run: runState,
  analyse(samples, params) {
    // the headline is the largest mesh; every size is in extra.byNodes
    const largest = Math.max(...samples.map((x) => x.nodes));
    const at = (n: number) => samples.filter((x) => x.nodes === n);
    const peers = statsBy(at(largest), (x) => x.peers);
    const byNodes = Object.fromEntries(
      [...new Set(samples.map((x) => x.nodes))].sort((a, b) => a - b).map((n) => {
        const here = at(n);
        const p = statsBy(here, (x) => x.peers);
        return [n, {
          peers: p,
          keys: statsBy(here, (x) => x.keys),
          agentMiB: statsBy(here, (x) => x.agentMiB),
          dataWireguardGoMiB: statsBy(here, (x) => x.dataWgMiB),
          ratios: ratiosOf(p, [['pull', 'push']], 'mean'),
        }];
      }),
    );
    const fifty = at(50).filter((x) => x.variant === 'push');
    return {
      metric: `WireGuard peers per node (${largest} nodes)`,
      unit: 'peers',
      variants: peers,
      ratios: ratiosOf(peers, [['pull', 'push']], 'mean'),
      paper: fifty.length ? comparePaper(PAPER, () => fifty.reduce((a, x) => a + x.peers, 0) / fifty.length) : [],
      extra: { byNodes, trafficMatrix: `${params.flows} destinations per node (seed ${params.seed}); pushes make the receivers hold the senders' keys too` },
      notes: [
        'keys: distinct WireGuard public keys in the agent\'s map-cache (pulled, or pushed to it by the Map-Server when another node asked for it); peers: `wg show <data interface> peers`.',
        'push: every node is given a peer for each of the others, as a static full mesh (or a control plane pushing every key everywhere) would; its keys are those N - 1.',
        'memory: Pss from /proc/PID/smaps_rollup. The peers live in the data interface\'s wireguard-go (12-26 KiB each); the agent is not told of pushed peers, so its memory is the same in both rows.',
      ],
    };
  },
  figure(samples) {
    const sizes = [...new Set(samples.map((x) => x.nodes))].sort((a, b) => a - b);
    const points = (value: (x: StateSample) => number, stat: 'mean' | 'max') =>
      sizes.flatMap((n) => {
        const st = statsBy(samples.filter((x) => x.nodes === n), value);
        return Object.keys(st).map((v) => ({ category: `${n} nodes`, variant: v, value: st[v]![stat] }));
      });
    return sideBySide(
      `State per node, ${sizes.join(', ')}-node meshes`,
      barsSpec({ title: 'WireGuard peers (mean)', yTitle: 'peers per node', points: points((x) => x.peers, 'mean'), labels }),
      barsSpec({ title: 'wireguard-go of the data interface (mean)', yTitle: 'MiB per node (Pss)', points: points((x) => x.dataWgMiB, 'mean'), labels }),
    );
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
  for (const n of ctx.params.nodes) {
    if (ctx.done.filter((x) => x.nodes === n).length >= 2 * n) continue;
    const lab = await upLab(ctx, meshTopology({ mns: n, sites: Math.min(10, Math.ceil(n / 10)) }).build(), 'state-');
    try {
      await stateOf(ctx, lab);
    } finally {
      // the next mesh needs the memory
      await lab.down();
    }
  }
}

/** Pss (MiB) of each mobile node's agent and of the wireguard-go serving its data interface. */
async function memoryOf(lab: Lab, mns: readonly string[], dataIf: (node: string) => string): Promise<Map<string, { agent: number; dataWg: number }>> {
  const rows = await processUsage(lab.name, mns);
  const out = new Map<string, { agent: number; dataWg: number }>();
  const mib = (kib: number) => Math.round((kib / 1024) * 100) / 100;
  for (const n of mns) {
    const mine = rows.filter((r) => r.node === n);
    const agent = mine.find((r) => r.comm === 'node');
    // wireguard-go is started as `wireguard-go -f <interface>`
    const wg = await mapLimit(mine.filter((r) => r.comm === 'wireguard-go'), 2, async (r) => ({ r, cmd: (await readFile(`/proc/${r.pid}/cmdline`, 'utf8').catch(() => '')).split('\0') }));
    const data = wg.find((w) => w.cmd.includes(dataIf(n)))?.r;
    out.set(n, { agent: mib(agent?.pssKiB ?? 0), dataWg: mib(data?.pssKiB ?? 0) });
  }
  return out;
}

async function stateOf(ctx: RunContext<StateSample, StateParams>, lab: Lab): Promise<void> {
  const mns = lab.model.nodes.filter((n) => n.kind === 'mn').map((n) => n.name);
  const total = mns.length;
  await agentsReady(ctx.run, lab, mns, 120_000);
  const matrix = trafficMatrix(mns, ctx.params.flows, ctx.params.seed);
  let k = 0;
  await mapLimit(mns, 6, async (n) => {
    const script = matrix.get(n)!.map((d) => `ping -n -c 1 -W 2 ${eidOf(lab, d)} >/dev/null`).join('; ');
    await lab.exec(n, ['sh', '-c', script], { allowFail: true });
    ctx.progress(++k, total * 2, `traffic, ${total} nodes`);
  });
  const st = new Map(await mapLimit(mns, 8, async (n) => [n, await wgStatus(lab, n)] as const));
  const dataIf = (n: string) => st.get(n)!.interfaces.data;
  const have = new Set(ctx.done.map((s) => `${s.variant}|${s.nodes}|${s.node}`));
  const pulled = await memoryOf(lab, mns, dataIf);
  for (const n of mns) {
    if (have.has(`pull|${total}|${n}`)) continue;
    const s = st.get(n)!;
    const keys = new Set(s.mapCache.flatMap((e) => (e.publicKey ? [e.publicKey] : []))).size;
    const m = pulled.get(n)!;
    ctx.sample({ variant: 'pull', node: n, peers: await wgPeers(lab, n, s.interfaces.data), keys, flows: matrix.get(n)!.length, nodes: total, agentMiB: m.agent, dataWgMiB: m.dataWg });
  }
  // push every key to every node: each data interface gets a peer for each other node
  const pushedPeers = new Map<string, number>();
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
    await lab.exec(n, ['wg', 'addconf', dataIf(n), file]);
    pushedPeers.set(n, await wgPeers(lab, n, dataIf(n)));
    ctx.progress(++k, total * 2, `push, ${total} nodes`);
  });
  const pushed = await memoryOf(lab, mns, dataIf);
  for (const n of mns) {
    if (have.has(`push|${total}|${n}`)) continue;
    const m = pushed.get(n)!;
    ctx.sample({ variant: 'push', node: n, peers: pushedPeers.get(n)!, keys: total - 1, flows: matrix.get(n)!.length, nodes: total, agentMiB: m.agent, dataWgMiB: m.dataWg });
  }
}

export default state;
