// Two namespaces joined by a veth, a plain LISP data plane (`lispwg lisp-dp`, static map-cache)
// in each: IPv4 and IPv6 pings between the EIDs, a TCP transfer arriving byte for byte, tshark
// decoding the packets on the wire as lisp-data with the inner packet intact, and the miss
// policies (drop loses the first packet, buffer delivers it once the mapping arrives). Run under:
//   flock /tmp/lispwg-netns.lock npx vitest run src/dataplane/lisp/lisp-dataplane.integration.test.ts
// Needs `npm run build` first (the nodes run the compiled CLI).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, spawn } from '../../util/exec.js';
import { lispwgBin, projectRoot } from '../../util/project.js';
import { tcpTransfer } from './testing/transfer.js';
import { netnsLab } from '../../testing/netns.js';
import { kernelDevice, prerequisites } from '../../testing/prerequisites.js';

const skip = await prerequisites('plain LISP data plane tests', { root: true, tools: ['ip', 'ping', 'tshark'], built: true, kernel: [kernelDevice('/dev/net/tun', 'TUN device')] });
const lab = netnsLab({ prefix: 'lwl', dirStem: 'lispwg-lispdp' });
const tag = lab.id;
const [nsA, nsB] = [lab.ns('A'), lab.ns('B')];
const [rlocA, rlocB] = ['198.18.41.1', '198.18.41.2'];
const [eidA, eidB, eid6A, eid6B] = ['198.19.41.1', '198.19.42.1', '2001:db8:41::1', '2001:db8:42::1'];
const dir = lab.mkdir();
const children: ReturnType<typeof spawn>[] = [];

/** Each node's stdout, as it comes (the counters are its last line). */
const stdout = new Map<unknown, string>();

function node(ns: string, args: string[]) {
  const p = spawn(['ip', 'netns', 'exec', ns, process.execPath, lispwgBin(), 'lisp-dp', ...args], { stdout: 'pipe', stderr: 'pipe' });
  children.push(p);
  stdout.set(p, '');
  p.stdout?.on('data', (d: Buffer) => stdout.set(p, stdout.get(p) + d.toString()));
  return p;
}

/** Resolves with the first stdout line matching `re` (the `{"ready":true}` line...). */
function line(p: ReturnType<typeof spawn>, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const hit = buf.split('\n').find((l) => re.test(l));
      if (hit) {
        clearTimeout(timer);
        resolve(hit);
      }
    });
  });
}

const exec = (ns: string, cmd: string[], timeoutMs = 20_000) => run(['ip', 'netns', 'exec', ns, ...cmd], { allowFail: true, timeoutMs });

let dpA: ReturnType<typeof spawn>;
let dpB: ReturnType<typeof spawn>;

beforeAll(async () => {
  if (skip) return;
  await lab.addNs('A', 'B');
  await lab.link('A', 'eth0', 'B', 'eth0', `${rlocA}/24`, `${rlocB}/24`);
  dpA = node(nsA, ['--map', '198.19.42.0/24=' + rlocB, '--map', '2001:db8:42::/48=' + rlocB, '--address', `${eidA}/32`, '--address', `${eid6A}/128`]);
  dpB = node(nsB, ['--map', '198.19.41.0/24=' + rlocA, '--map', '2001:db8:41::/48=' + rlocA, '--address', `${eidB}/32`, '--address', `${eid6B}/128`]);
  await Promise.all([line(dpA, /"ready":true/), line(dpB, /"ready":true/)]);
});

lab.defer(async () => {
  for (const c of children) c.kill('SIGTERM');
  await Promise.allSettled(children);
});

describe.skipIf(skip !== undefined)('plain LISP data plane between two namespaces', () => {
  it('carries IPv4 and IPv6 pings between the EIDs', async () => {
    const v4 = await exec(nsA, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', eidA, eidB]);
    expect(v4.exitCode, v4.stdout + v4.stderr).toBe(0);
    expect(v4.stdout).toContain('3 received');
    const v6 = await exec(nsB, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '-I', eid6B, eid6A]);
    expect(v6.exitCode, v6.stdout + v6.stderr).toBe(0);
  });

  it('puts packets on the wire that tshark decodes as lisp-data with the inner packet intact', async () => {
    const file = join(dir, 'lisp.pcap');
    const cap = spawn(['ip', 'netns', 'exec', nsB, 'tshark', '-i', 'eth0', '-w', file, '-f', 'udp port 4341'], { stderr: 'pipe' });
    children.push(cap);
    await new Promise<void>((resolve) => cap.stderr?.on('data', (d: Buffer) => d.toString().includes('Capturing on') && resolve()));
    await exec(nsA, ['ping', '-c', '3', '-i', '0.2', '-p', 'c0ffee', '-I', eidA, eidB]);
    await new Promise((r) => setTimeout(r, 300));
    cap.kill('SIGINT');
    await cap;
    const out = await run([
      // (not the outer UDP checksum: veth leaves it to an offload that never happens, a capture sees it unfilled)
      'tshark', '-r', file, '-o', 'ip.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=|', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.checksum.status', '-e', 'icmp.type', '-e', 'icmp.checksum.status', '-e', 'data.data', '-e', '_ws.expert',
    ]);
    const rows = out.stdout.trim().split('\n').map((l) => l.split('|'));
    expect(rows.map((r) => r[4]).sort(), out.stdout).toEqual(expect.arrayContaining(['0', '8'])); // requests and replies
    for (const [protocols, src, dst, ipOk, icmpType, icmpOk, data, expert] of rows) {
      expect(protocols).toBe('eth:ethertype:ip:udp:lisp-data:ip:icmp:data');
      expect(ipOk).toBe('1,1'); // outer and inner IPv4 checksums good
      expect(icmpOk).toBe('1');
      expect(data).toMatch(/(c0ffee)+/);
      expect(expert ?? '').toBe('');
      if (icmpType === '8') expect([src, dst]).toEqual([`${rlocA},${eidA}`, `${rlocB},${eidB}`]);
      else expect([src, dst, icmpType]).toEqual([`${rlocB},${eidB}`, `${rlocA},${eidA}`, '0']);
    }
  });

  it('delivers a TCP transfer byte for byte', async () => {
    const r = await tcpTransfer({ serverNs: nsB, clientNs: nsA, address: eidB, bytes: 16 << 20 });
    expect(r).toMatchObject({ received: 16 << 20, intact: true });
    expect(r.mbps).toBeGreaterThan(10);
  });
});

/** The start of a script for namespace A: A's EID on a TUN that holds the EID space, as the agent sets it up. */
const withTun = (tun: string) => `
    const { LispDataPlane } = await import('${projectRoot()}/dist/src/dataplane/lisp/dataplane.js');
    const { TunDevice } = await import('${projectRoot()}/dist/src/dataplane/tun/tun.js');
    const { Rtnetlink } = await import('${projectRoot()}/dist/src/net/rtnetlink.js');
    const { parseEidPrefix } = await import('${projectRoot()}/dist/src/mapping/eid.js');
    const { execFile } = await import('node:child_process');
    const tun = TunDevice.open('${tun}'); const rt = Rtnetlink.open();
    rt.setMtu('${tun}', 1464); rt.addAddress('${tun}', '${eidA}/32'); rt.setLinkUp('${tun}');
    rt.addRoute({ dst: '198.19.0.0/16', dev: '${tun}' });`;

describe.skipIf(skip !== undefined)('map-cache miss policies', () => {
  /**
   * A node in namespace A that runs LispDataPlane itself, as the agent does: the EID space is
   * routed into its TUN, nothing is mapped, and each miss is "resolved" after 100 ms. Pings one
   * packet to B's EID and prints whether it was answered (B's lisp-dp sends the reply back to
   * A's RLOC), then the counters.
   */
  const script = (policy: string, tun: string) => `${withTun(tun)}
    const misses = [];
    const dp = await LispDataPlane.start({ tun, missPolicy: '${policy}', onMiss: (d) => { misses.push(d);
      setTimeout(() => dp.setMapping(parseEidPrefix('198.19.42.0/24'), [{ address: '${rlocB}', priority: 1, weight: 1 }]), 100); } });
    // (asynchronously: the misses arrive on this event loop while ping waits)
    const answered = await new Promise((r) => execFile('ping', ['-c', '1', '-W', '1', '-I', '${eidA}', '${eidB}'], (e) => r(!e)));
    console.log(JSON.stringify({ answered, misses, counters: dp.counters() }));
    await dp.close(); tun.close(); rt.close();`;

  beforeAll(async () => {
    // A's own lisp-dp makes way (its TUN, routes and port 4341 go with it); B's stays and answers
    dpA.kill('SIGTERM');
    await dpA;
  });

  it('a tunnel whose RLOC has no route yet connects once the route is there (as right after a handover)', async () => {
    // B also answers on 198.18.43.2, which A has no route to until 0.3 s after the mapping
    await exec(nsB, ['ip', 'addr', 'add', '198.18.43.2/24', 'dev', 'eth0']);
    const tun = `lwmr${tag}`;
    const file = join(dir, 'no-route-yet.mjs');
    writeFileSync(
      file,
      `${withTun(tun)}
      const dp = await LispDataPlane.start({ tun, missPolicy: 'drop' });
      dp.setMapping(parseEidPrefix('198.19.42.0/24'), [{ address: '198.18.43.2', priority: 1, weight: 1 }]);
      await new Promise((r) => setTimeout(r, 300));
      rt.addRoute({ dst: '198.18.43.0/24', dev: 'eth0' });
      const answered = await new Promise((r) => execFile('ping', ['-c', '3', '-i', '0.5', '-W', '1', '-I', '${eidA}', '${eidB}'], (e, out) => r(Number(/(\\d+) received/.exec(out)?.[1] ?? 0))));
      console.log(JSON.stringify({ answered, counters: dp.counters() }));
      await dp.close(); tun.close(); rt.close();`,
    );
    const r = await exec(nsA, [process.execPath, file]);
    expect(r.exitCode, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { answered: number; counters: Record<string, number> };
    expect(res.counters.sendErrors, 'the first connect failed: no route yet').toBeGreaterThan(0);
    expect(res.answered, JSON.stringify(res.counters)).toBeGreaterThanOrEqual(2);
  });

  for (const policy of ['drop', 'buffer'] as const) {
    it(`${policy}: ${policy === 'drop' ? 'the first packet is lost (as OOR)' : 'the first packet waits for its mapping and is delivered'}`, async () => {
      const file = join(dir, `miss-${policy}.mjs`);
      writeFileSync(file, script(policy, `lwm${policy[0]}${tag}`));
      const r = await exec(nsA, [process.execPath, file]);
      expect(r.exitCode, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { answered: boolean; misses: string[]; counters: Record<string, number> };
      expect(res.misses).toEqual([eidB]);
      if (policy === 'drop') {
        expect(res.answered).toBe(false);
        expect(res.counters).toMatchObject({ missDropped: 1, txPackets: 0 });
      } else {
        expect(res.answered, r.stderr).toBe(true);
        expect(res.counters).toMatchObject({ missBuffered: 1, bufferReleased: 1, txPackets: 1 });
      }
    });
  }
});

describe.skipIf(skip !== undefined)('robustness', () => {
  it('survives garbage on UDP 4341 and its TUN being deleted under it', async () => {
    const junk = `const s=require('dgram').createSocket('udp4');const v4=Buffer.alloc(48);v4[8]=0x45;v4.writeUInt16BE(1400,10);const b=[Buffer.alloc(0),Buffer.from('x'),Buffer.alloc(8),Buffer.alloc(64,255),v4,require('crypto').randomBytes(1500)];let n=0;for(const m of b)s.send(m,4341,'${rlocB}',()=>{if(++n===b.length)s.close()})`;
    await exec(nsA, [process.execPath, '-e', junk]); // at B's data port
    await run(['ip', '-n', nsB, 'link', 'del', 'lisp0']);
    await new Promise((r) => setTimeout(r, 300));
    expect(dpB.exitCode, 'lisp-dp still running').toBeNull();
    dpB.kill('SIGTERM');
    await dpB.catch(() => undefined);
    const counters = JSON.parse(stdout.get(dpB)!.trim().split('\n').pop()!) as Record<string, number>;
    // every datagram refused, none written to the TUN (the random one passes as IP with odds of 1e-6)
    expect(counters.decapDropped).toBe(6);
  });
});
