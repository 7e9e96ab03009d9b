/**
 * The test-bed on the netns backend, with real namespaces, veths, bridges, tc, ping, fping,
 * nuttcp and tcpdump. Every lab gets a unique name; everything is taken down in finally blocks.
 * Run under `flock /tmp/lispwg-netns.lock` (labs must not run at the same time as other suites').
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { execa } from 'execa';
import { run } from '../src/util/exec.js';
import { prerequisites } from '../src/testing/prerequisites.js';
import { projectRoot } from '../src/util/project.js';
import type { IcmpEvent } from './capture/decode.js';
import { destroyLab } from './down.js';
import { Lab } from './lab.js';
import { labDir, labPrefix } from './names.js';
import { listNetns } from './net/ip.js';
import { netemMissing } from './net/features.js';
import { alive } from './procs.js';
import { readState } from './state.js';
import { Topology } from './topology/builder.js';
import { loadTopology } from './topology/load.js';

// labs take seconds, not the default 5 s of a unit test
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const missing = await prerequisites('lab integration tests', { root: true, tools: ['ip', 'tc', 'fping', 'ping', 'nuttcp', 'tcpdump', 'dumpcap', 'setsid'] });

const id = randomBytes(2).toString('hex');
const topo = (name: string) => loadTopology(join(projectRoot(), 'topologies', `${name}.yaml`));
const rootLinks = async () => (await run(['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]!.trim()).sort();
const started: string[] = [];
const linksBefore = missing ? [] : await rootLinks();

/** Brings a lab up under a unique name, remembering it for the final sweep. */
async function up(name: string, opts: { daemons?: boolean } = {}): Promise<Lab> {
  const model = await topo(name);
  const labName = `${name.slice(0, 12)}-${id}`;
  started.push(labName);
  return Lab.up(model, { name: labName, daemons: opts.daemons ?? false });
}

/** Nothing of the lab may remain: namespaces, state directory, recorded processes. */
async function assertGone(name: string, pids: number[] = []): Promise<void> {
  expect((await listNetns()).filter((n) => n.startsWith(labPrefix(name)))).toEqual([]);
  expect(existsSync(labDir(name))).toBe(false);
  for (const p of pids) expect(await alive(p)).toBe(false);
}

afterAll(async () => {
  for (const name of started) await destroyLab(name);
  if (!missing) expect(await rootLinks()).toEqual(linksBefore);
});

describe.skipIf(!!missing)('lab on the netns backend', () => {
  it.each(['paper-lan', 'paper-xtr', 'handover', 'ms-scale'])('%s comes up, every node reaches whom it should, down removes it', async (name) => {
    const lab = await up(name);
    try {
      const r = await lab.check();
      expect(r.failures).toEqual([]);
      expect(r.reached).toBeGreaterThan(0);
      expect(r.line).toMatch(new RegExp(`^check ${lab.name}: ${r.pairs}/${r.pairs} pairs reach each other`));
      if (name === 'paper-xtr') {
        // the sites are not routed to each other: only the overlay (lispwg) joins them
        expect((await lab.exec('h1', ['ping', '-c1', '-W1', '198.19.2.10'], { allowFail: true })).exitCode).not.toBe(0);
      }
      const x = await lab.inspect();
      expect(x.nodes.map((n) => n.name)).toEqual(lab.model.nodes.map((n) => n.name));
    } finally {
      const report = await lab.down();
      expect(report.namespaces).toHaveLength(lab.model.nodes.length);
      await assertGone(lab.name);
    }
  });

  it('mesh-50 comes up in under 30 s with progress, and every pair of nodes reaches', async () => {
    const model = await topo('mesh-50');
    const name = `mesh-${id}`;
    started.push(name);
    const progress: string[] = [];
    const t0 = performance.now();
    const lab = await Lab.up(model, { name, daemons: false, onProgress: (p) => progress.push(p.done ? `[${p.done}/${p.total}] ${p.message}` : p.message) });
    const upMs = performance.now() - t0;
    try {
      console.log(`mesh-50: up in ${(upMs / 1000).toFixed(2)} s (${model.nodes.length} namespaces, ${model.links.length} links)`);
      expect(upMs).toBeLessThan(30_000);
      const nodeLines = progress.filter((p) => /^\[\d+\/\d+\] node /.test(p));
      expect(nodeLines).toHaveLength(model.nodes.length);
      expect(nodeLines.at(-1)).toMatch(new RegExp(`^\\[${model.nodes.length}/${model.nodes.length}\\] node `));
      expect(progress.at(-1)).toBe(`[${model.nodes.length}/${model.nodes.length}] waiting for carrier on every link`);
      const r = await lab.check();
      console.log(r.line);
      expect(r.failures).toEqual([]);
      expect(r.pairs).toBeGreaterThan(50 * 49);
    } finally {
      const t1 = performance.now();
      await lab.down();
      console.log(`mesh-50: down in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
      await assertGone(name);
    }
  });

  it('two labs with different names coexist', async () => {
    const model = await topo('paper-lan');
    const [a, b] = [`twin-a-${id}`, `twin-b-${id}`];
    started.push(a, b);
    const [la, lb] = await Promise.all([Lab.up(model, { name: a, daemons: false }), Lab.up(model, { name: b, daemons: false })]);
    try {
      expect((await la.check()).failures).toEqual([]);
      expect((await lb.check()).failures).toEqual([]);
      await la.down();
      await assertGone(a);
      expect((await lb.check()).failures).toEqual([]);
    } finally {
      await lb.down();
      await assertGone(b);
    }
  });

  it('handover: the MN switches from wlan0 on ap1 to wlan1 on ap2, each step timestamped', async () => {
    const lab = await up('handover');
    try {
      const cn = lab.addressOf('cn');
      const cap = await lab.capture('cn', 'eth0', { filter: 'icmp' });
      const ping = await lab.spawn('mn', 'ping', ['ping', '-i', '0.01', '-W', '1', cn]);
      await sleep(300);
      const rec = await lab.handover('mn', 'wlan1');
      await sleep(400);
      await ping.stop('SIGINT');
      const ev = (await cap.events()).filter((e): e is IcmpEvent => e.kind === 'icmp' && e.type === 'echo-request');
      const at = Object.fromEntries(rec.steps.map((s) => [s.step, s.timeUs]));
      console.log(`handover: ${rec.from} -> ${rec.to} (${rec.fromAp} -> ${rec.ap}), ${rec.totalMs.toFixed(1)} ms: ${rec.steps.map((s) => `${s.step} +${((s.timeUs - rec.steps[0]!.timeUs) / 1000).toFixed(1)} ms`).join(', ')}`);
      expect(rec).toMatchObject({ node: 'mn', from: 'wlan0', to: 'wlan1', fromAp: 'ap1', ap: 'ap2', address: '198.18.20.10', associationDelayMs: 50 });
      expect(rec.steps.map((s) => s.step)).toEqual(['start', 'disassociated', 'associated', 'up']);
      expect(at.associated! - at.disassociated!).toBeGreaterThanOrEqual(50_000);
      const old = ev.filter((e) => e.src === '198.18.10.10');
      const fresh = ev.filter((e) => e.src === '198.18.20.10');
      expect(old.length).toBeGreaterThan(5);
      expect(fresh.length).toBeGreaterThan(5);
      // the captured traffic agrees with the record (same clock: pcap and record): the old address
      // stops at the disassociation, the new one starts once the association's `ip -batch` began
      // ('associated'); 'up' is when that command returned, which under load lags the kernel's
      // change by several ms (a first packet 8 ms before 'up' was seen), so it bounds nothing
      expect(old.at(-1)!.timeUs).toBeLessThanOrEqual(at.disassociated! + 1000);
      expect(fresh[0]!.timeUs).toBeGreaterThanOrEqual(at.associated! - 1000);
      expect(fresh[0]!.timeUs - old.at(-1)!.timeUs).toBeGreaterThanOrEqual(50_000);
      console.log(`handover: no echo request reached cn for ${((fresh[0]!.timeUs - old.at(-1)!.timeUs) / 1000).toFixed(1)} ms`);
      expect((await lab.check()).failures).toEqual([]);

      // a single-interface move: wlan1 roams from ap2 to ap1, keeping its host number
      const move = await lab.associate('mn:wlan1', 'ap1');
      expect(move).toMatchObject({ fromAp: 'ap2', ap: 'ap1', address: '198.18.10.10' });
      expect(move.steps.map((s) => s.step)).toEqual(['start', 'disassociated', 'moved', 'associated', 'up']);
      expect((await lab.exec('mn', ['ping', '-c1', '-W1', cn])).stdout).toMatch(/1 received/);
      expect((await lab.check()).failures).toEqual([]);

      // no target named: to the one interface not in use (back and forth, as the handover experiment goes)
      const back = await lab.handover('mn');
      expect(back).toMatchObject({ from: 'wlan1', to: 'wlan0', ap: 'ap1', address: '198.18.10.10' });
      expect((await lab.exec('mn', ['ping', '-c1', '-W1', cn])).stdout).toMatch(/1 received/);
    } finally {
      await lab.down();
      await assertGone(lab.name);
    }
  });

  it('a link shaped with tbf to 50 Mb/s measures 50 Mb/s with nuttcp (within 10%)', async () => {
    const lab = await up('paper-lan');
    try {
      await lab.shape('mn1:eth0', { rate: '50mbit' });
      const x = await lab.inspect();
      expect(x.nodes.find((n) => n.name === 'mn1')!.interfaces.find((i) => i.name === 'eth0')!.qdisc).toBe('tbf');
      const server = await lab.spawn('mn2', 'nuttcp-server', ['nuttcp', '-S', '--nofork']);
      await sleep(200);
      const r = await lab.exec('mn1', ['nuttcp', '-T3', '-fparse', lab.addressOf('mn2')]);
      const mbps = Number(/rate_Mbps=([\d.]+)/.exec(r.stdout)![1]);
      console.log(`tbf 50mbit: nuttcp measured ${mbps.toFixed(1)} Mb/s`);
      expect(Math.abs(mbps - 50) / 50).toBeLessThan(0.1);
      await server.stop();
    } finally {
      await lab.down();
    }
  });

  it('captures a ping in a namespace and decodes it (tcpdump and dumpcap)', async () => {
    const lab = await up('paper-lan');
    try {
      for (const tool of ['tcpdump', 'dumpcap'] as const) {
        const cap = await lab.capture('mn2', 'eth0', { filter: 'icmp', tool });
        const t0 = Date.now() * 1000;
        await lab.exec('mn1', ['ping', '-c', '3', '-i', '0.2', lab.addressOf('mn2')]);
        const ev = (await cap.events()).filter((e): e is IcmpEvent => e.kind === 'icmp');
        expect(ev.map((e) => `${e.type} ${e.seq} ${e.src}>${e.dst}`)).toEqual([1, 2, 3].flatMap((s) => [`echo-request ${s} 198.18.0.11>198.18.0.12`, `echo-reply ${s} 198.18.0.12>198.18.0.11`]));
        expect(new Set(ev.map((e) => e.id)).size).toBe(1);
        for (const e of ev) expect(e.timeUs).toBeGreaterThan(t0);
        expect(ev[2]!.timeUs - ev[0]!.timeUs).toBeGreaterThan(150_000);
      }
    } finally {
      await lab.down();
    }
  });

  it('delay/loss: netem where the kernel has it, else a clear error naming sch_netem', async () => {
    const name = `netem-${id}`;
    started.push(name);
    const t = new Topology(name)
      .addNode('a', { kind: 'host' })
      .addNode('b', { kind: 'host' })
      .addLink(['a:eth0', 'b:eth0'], { addresses: { a: '198.18.0.1/24', b: '198.18.0.2/24' }, delay: '20ms' });
    if (await netemMissing()) {
      await expect(Lab.up(t.build(), { daemons: false })).rejects.toThrow(/links\[0\] \(a:eth0 <-> b:eth0\) needs the kernel's netem qdisc \(CONFIG_NET_SCH_NETEM, module sch_netem\)/);
      await assertGone(name);
    } else {
      const lab = await Lab.up(t.build(), { daemons: false });
      try {
        const r = await lab.exec('a', ['ping', '-c1', '198.18.0.2']);
        expect(Number(/time=([\d.]+)/.exec(r.stdout)![1])).toBeGreaterThanOrEqual(40);
      } finally {
        await lab.down();
      }
    }
  });

  it('after a lab up killed mid-way, and with processes running and killed, down leaves nothing behind', async () => {
    // 1. `lispwg lab up` killed with SIGKILL half-way through (as a crash would)
    const name = `crash-${id}`;
    started.push(name);
    const cli = execa(join(projectRoot(), 'node_modules/.bin/vite-node'), [join(projectRoot(), 'src/cli/main.ts'), 'lab', 'up', join(projectRoot(), 'topologies/mesh-50.yaml'), '--name', name, '--no-daemons'], { reject: false, buffer: false, stderr: 'pipe' });
    await new Promise<void>((resolve, reject) => {
      let text = '';
      cli.stderr!.on('data', (b: Buffer) => {
        text += b.toString();
        if (/\[\d+\/57\] node/.test(text)) resolve();
      });
      void cli.then(() => reject(new Error(`lab up ended before it was killed: ${text}`)));
    });
    cli.kill('SIGKILL');
    await cli;
    const st = await readState(name);
    expect(st?.phase).toBe('creating');
    expect((await listNetns()).filter((n) => n.startsWith(labPrefix(name))).length).toBeGreaterThan(0);
    const down = await execa(join(projectRoot(), 'node_modules/.bin/vite-node'), [join(projectRoot(), 'src/cli/main.ts'), 'lab', 'down', name], { reject: false });
    expect(down.stdout).toMatch(new RegExp(`^lab ${name} down: removed 57 namespaces`));
    await assertGone(name);

    // 2. a lab whose processes (and their children) run, one killed mid-way
    const lab = await up('paper-lan');
    const sleeper = await lab.spawn('mn1', 'sleeper', ['sleep', '600']);
    const tree = await lab.spawn('mn2', 'tree', ['sh', '-c', 'sleep 600 & sleep 600 & wait']);
    const cap = await lab.capture('ms', 'eth0');
    await sleep(100);
    const grandchildren = (await run(['pgrep', '-P', String(tree.pid)])).stdout.split('\n').map(Number);
    expect(grandchildren).toHaveLength(2);
    process.kill(sleeper.pid, 'SIGKILL');
    const report = await destroyLab(lab.name);
    expect(report.processes).toBe(4); // tree, its two children, the capture
    await assertGone(lab.name, [sleeper.pid, tree.pid, ...grandchildren, cap.proc.pid]);
  });
});
