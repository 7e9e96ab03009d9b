/**
 * A lab that runs the control plane: `lab up` generates keys and configs, starts `lispwg ms` and
 * `lispwg xtr` in the nodes and waits until every site is registered; the overlay then carries
 * h1's traffic to h2 through an on-demand WireGuard tunnel. Needs the built CLI (npm run build).
 * Run under `flock /tmp/lispwg-netns.lock`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../src/util/exec.js';
import { kernelDevice, prerequisites } from '../src/testing/prerequisites.js';
import type { MsSnapshot } from '../src/ms/server.js';
import type { WireGuardAgentStatus as AgentStatus } from '../src/xtr/show.js';
import { lispwgBin, projectRoot } from '../src/util/project.js';
import { destroyLab } from './down.js';
import { Lab } from './lab.js';
import { labPrefix, wgPrefix } from './names.js';
import { listNetns } from './net/ip.js';
import { alive } from './procs.js';
import { metricsUrl, startScrape } from './metrics.js';
import { loadTopology } from './topology/load.js';

// labs take seconds, not the default 5 s of a unit test
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const missing = await prerequisites('lab daemon tests', {
  root: true,
  tools: ['ip', 'wireguard-go', 'ping', 'curl'],
  built: true,
  kernel: [kernelDevice('/dev/net/tun', 'TUN device')],
});

const name = `dxtr-${randomBytes(2).toString('hex')}`;
// also when a test times out half-way
afterAll(() => destroyLab(name));

describe.skipIf(!!missing)('a lab running the lispwg daemons', () => {
  it('paper-xtr: h1 reaches h2 through the overlay; down stops every daemon and wireguard-go', async () => {
    const t0 = performance.now();
    const lab = await Lab.up(await loadTopology(join(projectRoot(), 'topologies/paper-xtr.yaml')), { name });
    let pids: number[] = [];
    try {
      console.log(`paper-xtr with daemons: up and registered in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      const r = await lab.exec('h1', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.19.2.10']);
      expect(r.stdout).toMatch(/3 received/);
      const x = await lab.inspect();
      const xtr1 = x.nodes.find((n) => n.name === 'xtr1')!;
      expect(xtr1.peers.some((p) => p.allowedIps.includes('198.19.2.0/24') && p.endpoint.startsWith('198.18.0.3:'))).toBe(true);
      // each kind's daemon says how it is (lab/kinds): the Map-Server its sites, an xTR its registration
      expect(x.nodes.find((n) => n.name === 'ms')!.status).toBe('2/2 sites registered, 2 registrations');
      expect(xtr1.status).toMatch(/^registered, [1-9]\d* map-cache entries, 1 peers$/);
      expect(x.nodes.find((n) => n.name === 'h1')!.status).toBeUndefined();
      // `lispwg lab exec` lets the daemon CLIs find the node's admin sockets (LISPWG_RUN_DIR)
      const cli = (node: string, ...args: string[]) => run([process.execPath, lispwgBin(), 'lab', 'exec', name, node, '--', process.execPath, lispwgBin(), ...args]);
      const shown = JSON.parse((await cli('xtr1', 'show', '--json')).stdout) as AgentStatus[];
      expect(shown.map((a) => a.name)).toHaveLength(1);
      expect(shown[0]!.peers.some((p) => p.eidPrefixes.includes('198.19.2.0/24'))).toBe(true);
      const ms = JSON.parse((await cli('ms', 'ms', 'show', '--json')).stdout) as MsSnapshot;
      expect(ms.registrations.map((r) => r.prefix).sort()).toEqual(['198.19.1.0/24', '198.19.2.0/24']);
      // every daemon serves Prometheus metrics on its control address, with counters that moved
      const metrics = async (from: string, node: string) => (await lab.exec(from, ['curl', '-sf', '--max-time', '5', metricsUrl(lab.model.nodes.find((n) => n.name === node)!)!])).stdout;
      const value = (text: string, series: RegExp) => Number(new RegExp(`^${series.source}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
      const xm = await metrics('xtr1', 'xtr1');
      expect(value(xm, /lispwg_xtr_map_requests_total/)).toBeGreaterThanOrEqual(1);
      expect(value(xm, /lispwg_xtr_map_replies_total/)).toBeGreaterThanOrEqual(1);
      expect(value(xm, /lispwg_xtr_peers/)).toBe(1);
      expect(value(xm, /lispwg_xtr_peer_rx_bytes_total/)).toBeGreaterThan(0);
      expect(value(xm, /lispwg_xtr_miss_to_installed_duration_seconds_count/)).toBeGreaterThanOrEqual(1);
      const mm = await metrics('ms', 'ms');
      expect(value(mm, /lispwg_ms_rx_map_request_total/)).toBeGreaterThanOrEqual(1);
      expect(value(mm, /lispwg_ms_registrations_held/)).toBe(2);
      expect(mm).toMatch(/^lispwg_ms_registrations\{site="xtr1"\} 1$/m);
      // the Map-Server reaches its sites' through the control tunnel: what lab up --scrape reads
      expect(value(await metrics('ms', 'xtr2'), /lispwg_xtr_peers/)).toBe(1);
      const dir = mkdtempSync(join(tmpdir(), 'lispwg-scrape-'));
      try {
        const scrape = await startScrape(lab, { dir, intervalMs: 200 });
        await sleep(700);
        await lab.exec('h1', ['ping', '-c', '5', '-i', '0.05', '-W', '2', '198.19.2.10']);
        await sleep(700);
        await scrape.stop();
        const lines = readFileSync(scrape.files[0]!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { node: string; series?: Record<string, number>; error?: string });
        expect(lines.filter((l) => l.error)).toEqual([]);
        const rx = lines.filter((l) => l.node === 'xtr1').map((l) => Object.entries(l.series!).find(([k]) => k.startsWith('lispwg_xtr_peer_rx_bytes_total'))![1]);
        expect(rx.length).toBeGreaterThanOrEqual(5);
        expect(rx.at(-1)!).toBeGreaterThan(rx[0]!); // the pings, seen moving over time
        expect(new Set(lines.map((l) => l.node))).toEqual(new Set(['ms', 'xtr1', 'xtr2']));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      pids = x.nodes.flatMap((n) => n.processes.map((p) => p.pid));
      expect(x.nodes.flatMap((n) => n.processes.map((p) => p.cmd)).filter((c) => c.includes('wireguard-go')).length).toBe(5);
    } finally {
      const report = await destroyLab(name);
      expect(report.processes).toBeGreaterThanOrEqual(8);
    }
    for (const p of pids) expect(await alive(p)).toBe(false);
    expect((await listNetns()).filter((n) => n.startsWith(labPrefix(name)))).toEqual([]);
    expect(readdirSync('/var/run/wireguard').filter((f) => f.startsWith(wgPrefix(name)))).toEqual([]);
  });
});
