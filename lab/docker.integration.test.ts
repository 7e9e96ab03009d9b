/**
 * The test-bed on the docker backend: one container per node (image built locally, cached), the
 * same plumbing and checks as on netns. Starts dockerd when none runs (and stops it afterwards);
 * skips, saying why, when Docker cannot run here.
 * Run under `flock /tmp/lispwg-netns.lock`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../src/util/exec.js';
import { inCi, prerequisites } from '../src/testing/prerequisites.js';
import { projectRoot } from '../src/util/project.js';
import { dockerClient, ensureDockerd, stopDockerd } from './backend/dockerd.js';
import type { IcmpEvent } from './capture/decode.js';
import { destroyLab } from './down.js';
import { Lab } from './lab.js';
import { LABEL_LAB, labDir, labPrefix } from './names.js';
import { listNetns } from './net/ip.js';
import { alive } from './procs.js';
import { loadTopology } from './topology/load.js';

// labs take seconds, not the default 5 s of a unit test
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const missing = await prerequisites('docker lab tests', { root: true, tools: ['ip', 'dockerd'] });
const status = missing === undefined ? await ensureDockerd({ start: true }) : ({ ok: false, reason: missing } as const);
// lab/setup.sh installs Docker: in CI a daemon that does not start fails the run like a missing tool
if (!status.ok && missing === undefined) {
  if (inCi()) throw new Error(`docker lab tests: ${status.reason}`);
  console.warn(`docker lab tests skipped: ${status.reason}`);
}

const id = randomBytes(2).toString('hex');
const topo = (name: string) => loadTopology(join(projectRoot(), 'topologies', `${name}.yaml`));
const started: string[] = [];
const rootLinks = async () => (await run(['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]!.trim()).sort();
const linksBefore = status.ok ? await rootLinks() : [];

async function containersOf(lab: string): Promise<string[]> {
  const list = await dockerClient().listContainers({ all: true, filters: { label: [`${LABEL_LAB}=${lab}`] } });
  return list.map((c) => c.Names[0]!);
}

async function assertGone(name: string, pids: number[] = []): Promise<void> {
  expect(await containersOf(name)).toEqual([]);
  expect((await listNetns()).filter((n) => n.startsWith(labPrefix(name)))).toEqual([]);
  expect(existsSync(labDir(name))).toBe(false);
  for (const p of pids) expect(await alive(p)).toBe(false);
}

afterAll(async () => {
  if (!status.ok) return;
  for (const name of started) await destroyLab(name);
  expect(await rootLinks()).toEqual(linksBefore);
  if (status.startedByUs) await stopDockerd();
});

describe.skipIf(!status.ok)('lab on the docker backend', () => {
  it.each(['paper-lan', 'paper-xtr', 'handover', 'ms-scale'])('%s comes up as containers and every node reaches whom it should', async (name) => {
    const labName = `d${name.slice(0, 10)}-${id}`;
    started.push(labName);
    const t0 = performance.now();
    const lab = await Lab.up(await topo(name), { name: labName, backend: 'docker', daemons: false });
    try {
      console.log(`docker ${name}: up in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      expect((await containersOf(labName)).sort()).toEqual(lab.model.nodes.map((n) => `/lw.${labName}.${n.name}`).sort());
      const r = await lab.check();
      expect(r.failures).toEqual([]);
      expect(r.reached).toBeGreaterThan(0);
      // the tools come from the host's /usr, bound read-only into the image
      const tools = await lab.exec(lab.model.nodes[0]!.name, ['sh', '-c', 'for t in ip tc nuttcp tcpdump wireguard-go node; do command -v $t; done']);
      expect(tools.stdout.split('\n')).toHaveLength(6);
      // the command line a caller spawns itself (zx's $ in a script) runs in the same container
      const [file, ...args] = lab.command(lab.model.nodes[0]!.name, ['hostname']);
      expect(spawnSync(file!, args, { encoding: 'utf8' }).stdout.trim()).toBe(lab.model.nodes[0]!.name);
    } finally {
      await lab.down();
      await assertGone(labName);
    }
  });

  it('handover, capture and decode inside containers; down leaves nothing after processes were killed', async () => {
    const labName = `dhand-${id}`;
    started.push(labName);
    const lab = await Lab.up(await topo('handover'), { name: labName, backend: 'docker', daemons: false });
    const cn = lab.addressOf('cn');
    const cap = await lab.capture('cn', 'eth0', { filter: 'icmp' });
    const ping = await lab.spawn('mn', 'ping', ['ping', '-i', '0.02', cn]);
    await sleep(200);
    const rec = await lab.handover('mn', 'wlan1');
    await sleep(300);
    const ev = (await cap.events()).filter((e): e is IcmpEvent => e.kind === 'icmp' && e.type === 'echo-request');
    expect(rec.steps.map((s) => s.step)).toEqual(['start', 'disassociated', 'associated', 'up']);
    expect(ev.some((e) => e.src === '198.18.10.10')).toBe(true);
    const fresh = ev.filter((e) => e.src === '198.18.20.10');
    expect(fresh.length).toBeGreaterThan(3);
    // not before the association began (its 'up' step, when `ip` returned, may come a few ms late)
    expect(fresh[0]!.timeUs).toBeGreaterThanOrEqual(rec.steps.find((s) => s.step === 'associated')!.timeUs - 1000);
    // the ping runs inside the container: its host pid is what the lab recorded
    expect(await ping.running()).toBe(true);
    const tree = await lab.spawn('ms', 'tree', ['sh', '-c', 'sleep 600 & sleep 600 & wait']);
    process.kill(ping.pid, 'SIGKILL');
    const report = await destroyLab(labName);
    expect(report.containers).toHaveLength(lab.model.nodes.length);
    await assertGone(labName, [ping.pid, tree.pid, cap.proc.pid]);
  });
});
