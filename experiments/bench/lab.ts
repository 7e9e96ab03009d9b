/**
 * The test-bed at scale: for each size, a generated mesh (lab/topology/mesh.ts: a Map-Server and N
 * mobile nodes behind a core router, every agent running with wireguard-go) is brought up, its
 * memory read from /proc, checked, and brought down again. Per size it prints
 *
 *   - `lab up` time (namespaces, links, daemons, every site registered);
 *   - memory: the drop of the machine's MemAvailable over `lab up` (everything, the kernel's
 *     namespaces and links included), and per mobile node its agent (`node`) and its two
 *     wireguard-go processes, separately (Pss and anonymous, lab/usage.ts), and CPU time: the
 *     machine's over `lab up`, and what each agent has used (its start-up, mostly);
 *   - `lab check` time, the pairs pinged (a sample past 4 000), those that needed the second try
 *     and those reported unreachable (a lab that works has none: each is a false failure);
 *   - `lab down` time, and what is left: namespaces, processes, interfaces and UAPI sockets named
 *     for the lab, its directory.
 *
 *   flock /tmp/lispwg-netns.lock npm run bench:lab [-- --nodes 50,200,500] [--quick]
 *
 * --quick: 50 and 200 nodes. Targets on the reference machine (2 cores, 24 GiB): 500 nodes up
 * within 90 s and in at most 12 GiB, no pair reported unreachable, nothing left after down.
 * Ends with one JSON line of every figure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { Lab } from '../../lab/lab.js';
import { destroyLab } from '../../lab/down.js';
import { memAvailableKiB, processUsage, summarizeUsage, type UsageSummary } from '../../lab/usage.js';
import { labDir, labPrefix, wgPrefix } from '../../lab/names.js';
import { listNetns } from '../../lab/net/ip.js';
import { meshTopology } from '../../lab/topology/mesh.js';
import { run } from '../../src/util/exec.js';

interface SizeResult {
  nodes: number;
  sites: number;
  upS: number;
  /** MemAvailable before `lab up` minus after it (MiB): the whole lab. */
  memoryMiB: number;
  perNodeMiB: number;
  /** CPU seconds the whole machine spent over `lab up` (/proc/stat), per mobile node. */
  upCpuS: number;
  perNodeCpuS: number;
  agent: UsageSummary;
  wireguardGo: UsageSummary;
  ms: UsageSummary;
  checkS: number;
  pairs: number;
  expectedPairs: number;
  retried: number;
  unreachable: number;
  /** The kernel's "neighbor table overflow" count over up and check (it made pairs unreachable). */
  neighbourOverflows: number;
  downS: number;
  left: { namespaces: number; processes: number; interfaces: number; sockets: number; dir: boolean };
}

function sizes(): number[] {
  const i = process.argv.indexOf('--nodes');
  if (i < 0) return process.argv.includes('--quick') ? [50, 200] : [50, 200, 500];
  const list = (process.argv[i + 1] ?? '').split(',').map(Number);
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--nodes wants sizes like 50,200,500, not '${process.argv[i + 1] ?? ''}'`);
  return list;
}

/** CPU seconds the machine has spent busy since boot (/proc/stat: all but idle and iowait). */
async function busyCpuS(): Promise<number> {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0)) / 100;
}

/** Times the kernel's ARP table was full (/proc/net/stat/arp_cache, one hex row per CPU). */
async function arpTableFulls(): Promise<number> {
  const rows = (await readFile('/proc/net/stat/arp_cache', 'utf8')).trim().split('\n').slice(1);
  return rows.reduce((n, r) => n + parseInt(r.trim().split(/\s+/).at(-1) ?? '0', 16), 0);
}

/** Processes, root-namespace interfaces and UAPI sockets that still carry the lab's name. */
async function leftovers(lab: string): Promise<SizeResult['left']> {
  const dir = labDir(lab);
  const wg = wgPrefix(lab);
  let processes = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (cmd.includes(`${dir}/`) || cmd.includes(` ${wg}`)) processes++;
  }
  const links = await run(['ip', '-o', 'link', 'show'], { allowFail: true });
  const sockets = await readdir('/var/run/wireguard').catch(() => [] as string[]);
  return {
    namespaces: (await listNetns()).filter((n) => n.startsWith(labPrefix(lab))).length,
    processes,
    interfaces: links.stdout.split('\n').filter((l) => l.split(': ')[1]?.startsWith(wg)).length,
    sockets: sockets.filter((s) => s.startsWith(wg)).length,
    dir: existsSync(dir),
  };
}

async function measure(n: number): Promise<SizeResult> {
  const sites = Math.min(10, Math.ceil(n / 10));
  const name = `bench-lab-${randomBytes(2).toString('hex')}`;
  const model = meshTopology({ name, mns: n, sites }).build();
  const mns = model.nodes.filter((x) => x.kind === 'mn').map((x) => x.name);
  const say = (m: string) => process.stderr.write(`[${n}] ${m}\n`);
  let lab: Lab | undefined;
  const onSignal = () => void destroyLab(name).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const before = await memAvailableKiB();
    const fulls = await arpTableFulls();
    const cpu0 = await busyCpuS();
    const t0 = performance.now();
    let last = 0;
    lab = await Lab.up(model, {
      onProgress: (p) => {
        if (performance.now() - last > 5000 || /registered|daemons up|raised/.test(p.message)) (last = performance.now()), say(`${((last - t0) / 1000).toFixed(1)} s: ${p.message}`);
      },
    });
    const upS = (performance.now() - t0) / 1000;
    const upCpuS = (await busyCpuS()) - cpu0;
    const memoryMiB = (before - (await memAvailableKiB())) / 1024;
    const procs = await processUsage(name, model.nodes.map((x) => x.name));
    const of = (node: (x: string) => boolean, comm: string) => summarizeUsage(procs.filter((p) => node(p.node) && p.comm === comm));
    const isMn = (x: string) => mns.includes(x);
    const agent = of(isMn, 'node');
    const wireguardGo = of(isMn, 'wireguard-go');
    const ms = of((x) => x === 'ms', 'node');
    say(`up in ${upS.toFixed(1)} s, ${Math.round(memoryMiB)} MiB`);

    const check = await lab.check();
    say(check.line);
    const neighbourOverflows = (await arpTableFulls()) - fulls;
    const t1 = performance.now();
    const down = await lab.down();
    const downS = (performance.now() - t1) / 1000;
    lab = undefined;
    if (down.notes.length) say(`down: ${down.notes.join('; ')}`);
    return {
      nodes: n,
      sites,
      upS: round1(upS),
      memoryMiB: Math.round(memoryMiB),
      perNodeMiB: round1(memoryMiB / n),
      upCpuS: Math.round(upCpuS),
      perNodeCpuS: Math.round((upCpuS / n) * 100) / 100,
      agent,
      wireguardGo,
      ms,
      checkS: round1(check.ms / 1000),
      pairs: check.pairs,
      expectedPairs: check.expected,
      retried: check.retried,
      unreachable: check.failures.length,
      neighbourOverflows,
      downS: round1(downS),
      left: await leftovers(name),
    };
  } finally {
    process.off('SIGINT', onSignal);
    if (lab) await destroyLab(name);
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

const results: SizeResult[] = [];
for (const n of sizes()) results.push(await measure(n));

const rows = [
  ['nodes', 'up s', 'CPU s/node', 'MiB (all)', 'MiB/node', 'agent Pss', 'agent anon', 'agent CPU s', 'wg-go Pss (each)', 'check s', 'pairs', 'retried', 'unreachable', 'neigh. full', 'down s', 'left'],
  ...results.map((r) => [
    r.nodes,
    r.upS,
    r.perNodeCpuS,
    r.memoryMiB,
    r.perNodeMiB,
    r.agent.pssMiB.mean,
    r.agent.anonMiB.mean,
    r.agent.cpuS.mean,
    r.wireguardGo.pssMiB.mean,
    r.checkS,
    `${r.pairs}/${r.expectedPairs}`,
    r.retried,
    r.unreachable,
    r.neighbourOverflows,
    r.downS,
    Object.values(r.left).filter(Boolean).length ? JSON.stringify(r.left) : 'nothing',
  ].map(String)),
];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i]!)).join('  '));
const big = results.find((r) => r.nodes === 500);
if (big) {
  console.log(
    `targets at 500 nodes: up ${big.upS} s (within 90 s: ${big.upS <= 90 ? 'yes' : 'NO'}), ${(big.memoryMiB / 1024).toFixed(1)} GiB (at most 12: ${big.memoryMiB <= 12 * 1024 ? 'yes' : 'NO'}), ` +
      `${big.unreachable} pairs reported unreachable, left after down: ${Object.values(big.left).some(Boolean) ? JSON.stringify(big.left) : 'nothing'}`,
  );
}
console.log(JSON.stringify({ bench: 'lab', results }));
