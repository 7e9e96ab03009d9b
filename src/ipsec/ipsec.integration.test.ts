// The IPsec baseline between two namespaces: kernel XFRM where the kernel has ESP (skipped here,
// naming the missing option), strongSwan's userspace ESP (kernel-libipsec) where Debian's
// packages are installed: ping and a TCP transfer between the EIDs, ESP on the wire (tshark), and
// nothing left behind. Run under:
//   flock /tmp/lispwg-netns.lock npx vitest run src/ipsec/ipsec.integration.test.ts
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, spawn } from '../util/exec.js';
import { prerequisites } from '../testing/prerequisites.js';
import { netnsLab } from '../testing/netns.js';
import { tcpTransfer } from '../dataplane/lisp/testing/transfer.js';
import { probeKernelEsp, probeStrongswan } from './detect.js';
import { openXfrmTunnel } from './xfrm.js';
import { openStrongswanTunnel } from './strongswan.js';
import type { IpsecEndpoint, IpsecTunnel } from './types.js';

const kernel = await probeKernelEsp();
const user = probeStrongswan();
const skipKernel = await prerequisites('kernel XFRM tests', { root: true, tools: ['ip', 'ping', 'tshark'], kernel: [kernel] });
const skipUser = await prerequisites('strongSwan tests', { root: true, tools: ['ip', 'ping', 'tshark'], toolProbes: [user] });

function suite(backend: 'kernel' | 'strongswan', open: (a: IpsecEndpoint, b: IpsecEndpoint) => Promise<IpsecTunnel>) {
  const lab = netnsLab({ prefix: 'lwi', dirStem: 'lispwg-ipsec-test' });
  const tag = lab.id;
  const [nsA, nsB] = [lab.ns('A'), lab.ns('B')];
  const [rlocA, rlocB, eidA, eidB] = ['198.18.43.1', '198.18.43.2', '198.19.43.1', '198.19.44.1'];
  const dir = lab.dir;
  let tunnel: IpsecTunnel | undefined;
  const exec = (ns: string, cmd: string[]) => run(['ip', 'netns', 'exec', ns, ...cmd], { allowFail: true, timeoutMs: 20_000 });

  beforeAll(async () => {
    await lab.addNs('A', 'B');
    await lab.link('A', 'eth0', 'B', 'eth0', `${rlocA}/24`, `${rlocB}/24`);
    await lab.address('A', 'lo', `${eidA}/32`);
    await lab.address('B', 'lo', `${eidB}/32`);
    lab.defer(() => tunnel?.close());
  });

  it('brings the tunnel up and carries pings between the EIDs, as ESP on the wire', async () => {
    expect((await exec(nsA, ['ping', '-c', '1', '-W', '1', '-I', eidA, eidB])).exitCode, 'no tunnel yet: no route').not.toBe(0);
    tunnel = await open(
      { name: `a${tag}`, netns: nsA, local: rlocA, remote: rlocB, localTs: [`${eidA}/32`], remoteTs: [`${eidB}/32`] },
      { name: `b${tag}`, netns: nsB, local: rlocB, remote: rlocA, localTs: [`${eidB}/32`], remoteTs: [`${eidA}/32`] },
    );
    expect(tunnel.backend).toBe(backend);
    const file = join(dir, 'esp.pcap');
    const cap = spawn(['ip', 'netns', 'exec', nsB, 'tshark', '-i', 'eth0', '-w', file], { stderr: 'pipe' });
    await new Promise<void>((resolve) => cap.stderr?.on('data', (d: Buffer) => d.toString().includes('Capturing on') && resolve()));
    const ping = await exec(nsA, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', eidA, eidB]);
    await new Promise((r) => setTimeout(r, 300));
    cap.kill('SIGINT');
    await cap.catch(() => undefined);
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    const frames = (await run(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'ip.dst'])).stdout.trim().split('\n');
    const esp = frames.filter((f) => f.includes(':esp'));
    expect(esp.length, frames.join('\n')).toBeGreaterThanOrEqual(4);
    for (const f of esp) expect(f).toMatch(new RegExp(`\\t(${rlocA}\\t${rlocB}|${rlocB}\\t${rlocA})$`)); // only the RLOCs show
    expect(frames.filter((f) => /:icmp(:|\t)/.test(f)), 'no clear-text ICMP on the wire').toEqual([]);
  });

  it('delivers a TCP transfer byte for byte', async () => {
    const r = await tcpTransfer({ serverNs: nsB, clientNs: nsA, address: eidB, bytes: 16 << 20 });
    expect(r).toMatchObject({ received: 16 << 20, intact: true });
  });

  it('leaves nothing behind when closed', async () => {
    await tunnel!.close();
    tunnel = undefined;
    expect((await run(['ip', '-n', nsA, '-o', 'link'])).stdout).not.toMatch(/ipsec\d/);
    expect((await run(['ip', '-n', nsA, 'xfrm', 'state'])).stdout.trim()).toBe('');
    expect((await exec(nsA, ['ping', '-c', '1', '-W', '1', '-I', eidA, eidB])).exitCode).not.toBe(0);
  });
}

describe.skipIf(skipKernel !== undefined)(`kernel XFRM tunnel${kernel.ok ? '' : ` (skipped: ${kernel.why})`}`, { timeout: 60_000 }, () => suite('kernel', openXfrmTunnel));
describe.skipIf(skipUser !== undefined)(`strongSwan kernel-libipsec tunnel${user.ok ? '' : ` (skipped: ${user.why})`}`, { timeout: 60_000 }, () => suite('strongswan', openStrongswanTunnel));
