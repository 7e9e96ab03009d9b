/**
 * The real Open Overlay Router beside lispwg (issue 14), in a lab on the netns backend: two OOR
 * xTRs (`kind: oor`), a lispwg plain-LISP xTR and a lispwg WireGuard mobile node on one lispwg
 * Map-Server.
 *
 * 1. The OOR sites reach each other through the lispwg Map-Server, and OOR asks it for the
 *    WireGuard MN's EID too: a capture on OOR's uplink shows Map-Replies and never the Security
 *    Key LCAF (type 11, on which OOR 1.3 dies); both OOR processes still run.
 * 2. An OOR mobile node (`config: { mode: mn }`: its EID on lispTun0) and a host behind the lispwg
 *    plain-LISP xTR reach each other.
 * 3. Two OOR mobile nodes reach each other through the real OOR as Map-Server (`kind: oor-ms`).
 * 4. OOR probes every 5 s, for the 120 s the issue asks: pings between a host
 *    behind OOR and one behind the lispwg plain-LISP xTR keep flowing, because the xTR answers
 *    every RLOC probe (OOR marks an unanswered locator down and traffic stops).
 *
 * Skips, naming it, where no OOR binary exists (`LISPWG_OOR` or `oor` on PATH): lispwg never ships
 * OOR. Run under `flock /tmp/lispwg-netns.lock`; needs `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { kernelDevice, prerequisites } from '../src/testing/prerequisites.js';
import { adminRequest } from '../src/xtr/admin.js';
import { run } from '../src/util/exec.js';
import { destroyLab } from './down.js';
import { oorBinary } from './kinds/oor.js';
import { Lab } from './lab.js';
import { nodeDir } from './names.js';
import type { LabProcess } from './process.js';
import { parseTopology } from './topology/load.js';

vi.setConfig({ testTimeout: 200_000, hookTimeout: 150_000 });

const bin = oorBinary();
const skip = await prerequisites('kind oor (the real OOR)', {
  root: true,
  tools: ['ip', 'ping', 'tcpdump', 'tshark', 'stdbuf', 'wireguard-go'],
  built: true,
  kernel: [kernelDevice('/dev/net/tun', 'TUN device')],
  foreign: [bin ? { ok: true } : { ok: false, why: 'no OOR binary (LISPWG_OOR, or oor on PATH; build it from github.com/OpenOverlayRouter/oor)' }],
});

const name = `oor-${randomBytes(2).toString('hex')}`;
const TOPOLOGY = `name: ${name}
nodes:
  ms:   { kind: ms }
  oor1: { kind: oor, ms: ms, eid: 198.19.1.0/24, rloc: eth0, config: { probe-interval: 5 } }
  oor2: { kind: oor, ms: ms, eid: 198.19.2.0/24, rloc: eth0, config: { probe-interval: 5 } }
  xtr3: { kind: xtr, ms: ms, eid: 198.19.3.0/24, rloc: eth0, config: { data-plane: lisp } }
  mn4:  { kind: mn, ms: ms, eid: 198.19.4.1/32 }
  oor5: { kind: oor, ms: ms, eid: 198.19.5.1/32, rloc: eth0, config: { mode: mn } }
  oms:  { kind: oor-ms }
  oor6: { kind: oor, ms: oms, eid: 198.19.6.1/32, config: { mode: mn } }
  oor7: { kind: oor, ms: oms, eid: 198.19.7.1/32, config: { mode: mn } }
  h1:   { kind: host, routes: ["default via 198.19.1.1"] }
  h2:   { kind: host, routes: ["default via 198.19.2.1"] }
  h3:   { kind: host, routes: ["default via 198.19.3.1"] }
  sw:   { kind: switch }
links:
  - endpoints: ["ms:eth0", "sw:p1"]
    addresses: { ms: 198.18.0.1/24 }
  - endpoints: ["oor1:eth0", "sw:p2"]
    addresses: { oor1: 198.18.0.2/24 }
  - endpoints: ["oor2:eth0", "sw:p3"]
    addresses: { oor2: 198.18.0.3/24 }
  - endpoints: ["xtr3:eth0", "sw:p4"]
    addresses: { xtr3: 198.18.0.4/24 }
  - endpoints: ["mn4:eth0", "sw:p5"]
    addresses: { mn4: 198.18.0.5/24 }
  - endpoints: ["oor5:eth0", "sw:p6"]
    addresses: { oor5: 198.18.0.6/24 }
  - endpoints: ["oms:eth0", "sw:p7"]
    addresses: { oms: 198.18.0.7/24 }
  - endpoints: ["oor6:eth0", "sw:p8"]
    addresses: { oor6: 198.18.0.8/24 }
  - endpoints: ["oor7:eth0", "sw:p9"]
    addresses: { oor7: 198.18.0.9/24 }
  - endpoints: ["oor1:eth1", "h1:eth0"]
    addresses: { oor1: 198.19.1.1/24, h1: 198.19.1.10/24 }
  - endpoints: ["oor2:eth1", "h2:eth0"]
    addresses: { oor2: 198.19.2.1/24, h2: 198.19.2.10/24 }
  - endpoints: ["xtr3:eth1", "h3:eth0"]
    addresses: { xtr3: 198.19.3.1/24, h3: 198.19.3.10/24 }
`;

let lab: Lab;
const oorLog = (node: string) => readFileSync(join(nodeDir(name, node), 'oor.log'), 'utf8');

async function pings(from: string, to: string, count: number, interval = '0.2'): Promise<number> {
  const r = await lab.exec(from, ['ping', '-c', String(count), '-i', interval, '-W', '1', to], { allowFail: true, timeoutMs: count * 1000 + 10_000 });
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

const running = async (node: string) => (await lab.exec(node, ['sh', '-c', `kill -0 $(cat ${join(nodeDir(name, node), 'oor.pid')})`], { allowFail: true })).exitCode === 0;

beforeAll(async () => {
  if (skip) return;
  process.env.LISPWG_OOR = bin!;
  lab = await Lab.up(parseTopology(TOPOLOGY), { name, daemons: true });
});

afterAll(async () => {
  if (!skip) await destroyLab(name);
});

describe.skipIf(skip !== undefined)('the real OOR (kind oor) with a lispwg Map-Server', () => {
  it('two OOR xTRs reach each other through the lispwg Map-Server; OOR never receives the Security Key LCAF (type 11)', async () => {
    const pcap = join(nodeDir(name, 'oor1'), 'control.pcap');
    const cap: LabProcess = await lab.spawn('oor1', 'capture', ['tcpdump', '-U', '-n', '-i', 'eth0', '-w', pcap, 'udp port 4342']);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(await pings('h1', '198.19.2.10', 10)).toBeGreaterThanOrEqual(7); // the first are dropped while OOR resolves
      expect(await pings('h2', '198.19.1.10', 5)).toBeGreaterThanOrEqual(4);
      // OOR asks for the WireGuard MN's EID (the record the Map-Server holds with its key) ...
      await pings('h1', '198.19.4.1', 3);
      // ... and the MN for OOR's (a plain record: negative for a WireGuard data plane)
      await pings('mn4', '198.19.1.10', 2);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await cap.stop('SIGINT');
    }
    const fields = async (filter: string) =>
      (await run(['tshark', '-r', pcap, '-d', 'udp.port==4342,lisp', '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { timeoutMs: 60_000 })).stdout.trim().split('\n').filter(Boolean).length;
    expect(await fields('lisp.type == 2 && ip.dst == 198.18.0.2')).toBeGreaterThanOrEqual(3); // Map-Replies to OOR
    expect(await fields('lisp.mapping.eid.ipv4 == 198.19.4.1 || lisp.lcaf.iid.ipv4 == 198.19.4.1')).toBeGreaterThanOrEqual(1); // the MN's record reached OOR
    expect(await fields('lisp.lcaf.type == 11')).toBe(0);
    expect(oorLog('oor1')).not.toContain('Cannot parse LCAF');
    expect(await running('oor1')).toBe(true);
    expect(await running('oor2')).toBe(true);
  });

  it('an OOR mobile node and a host behind the lispwg plain-LISP xTR reach each other', async () => {
    expect(await pings('oor5', '198.19.3.10', 5)).toBeGreaterThanOrEqual(3);
    expect(await pings('h3', '198.19.5.1', 5)).toBeGreaterThanOrEqual(4);
    expect(oorLog('oor5')).toContain('working in mode Mobile Node');
  });

  it('two OOR mobile nodes reach each other through the real OOR Map-Server (kind oor-ms)', async () => {
    expect(oorLog('oor6')).toContain('confirms correct registration'); // lab up waited for it
    expect(await pings('oor6', '198.19.7.1', 5)).toBeGreaterThanOrEqual(3); // the first are dropped while OOR resolves
    expect(await pings('oor7', '198.19.6.1', 5)).toBeGreaterThanOrEqual(4);
    expect(oorLog('oms')).toContain('working in mode Map Server');
    expect(await running('oms')).toBe(true);
  });

  it('OOR probing every 5 s and a lispwg plain-LISP xTR keep pings flowing for 120 s (the xTR answers every probe)', async () => {
    const sock = join(nodeDir(name, 'xtr3'), 'agent.sock');
    const before = ((await adminRequest(sock, 'show')) as { counters: Record<string, number> }).counters;
    const t0 = oorLog('oor1').length;
    const [forth, back] = await Promise.all([pings('h1', '198.19.3.10', 240, '0.5'), pings('h3', '198.19.1.10', 240, '0.5')]);
    expect(forth).toBeGreaterThanOrEqual(235);
    expect(back).toBeGreaterThanOrEqual(235);
    const after = ((await adminRequest(sock, 'show')) as { counters: Record<string, number> }).counters;
    const log = oorLog('oor1').slice(t0);
    // 120 s at one probe per 5 s: about 24 probes of the xTR's locator, each answered
    expect((after['probe-answered'] ?? 0) - (before['probe-answered'] ?? 0)).toBeGreaterThanOrEqual(20);
    expect(log.split('Successfully probed RLOC 198.18.0.4').length - 1).toBeGreaterThanOrEqual(20);
    expect(log).not.toMatch(/No Map-Reply Probe received for locator 198\.18\.0\.4/); // "-> Locator state changes to DOWN"
    expect(oorLog('oor2')).not.toMatch(/No Map-Reply Probe received/); // nor between the OOR xTRs
  });
});
