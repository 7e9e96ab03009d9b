// A TUN in a namespace of its own: packets routed to it are read byte for byte, packets written
// to it are delivered to a socket. Run under:
//   flock /tmp/lispwg-netns.lock npx vitest run src/dataplane/tun/tun.integration.test.ts
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../util/exec.js';
import { netnsLab } from '../../testing/netns.js';
import { kernelDevice, prerequisites } from '../../testing/prerequisites.js';
import { Rtnetlink } from '../../net/rtnetlink.js';
import { TunDevice } from './tun.js';
import { buildUdpPacket, parseUdpPacket } from './udp-packet.js';

const skip = await prerequisites('TUN tests', { root: true, tools: ['ip'], kernel: [kernelDevice('/dev/net/tun', 'TUN device')] });
const lab = netnsLab({ prefix: 'lwgtun' });
const ns = lab.ns('a');
const tunName = `lwgt${lab.id}`;
let rt: Rtnetlink;
let tun: TunDevice;

/**
 * A UDP client inside the namespace: sends `count` datagrams from `bind` to `to:port`, prints its
 * own port, then waits for one datagram back and prints it as JSON.
 */
const client = `
const dgram = require('node:dgram');
const [bind, to, port, count, text] = process.argv.slice(1);
const s = dgram.createSocket(bind.includes(':') ? 'udp6' : 'udp4');
const timer = setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(2); }, 3000);
s.on('message', (m, r) => { clearTimeout(timer); console.log(JSON.stringify({ from: r.address, port: r.port, text: m.toString() })); s.close(); });
s.bind(0, bind, () => {
  console.log(JSON.stringify({ port: s.address().port }));
  for (let i = 0; i < Number(count); i++) s.send(text + '#' + i, Number(port), to);
});`;

function startClient(bind: string, to: string, port: number, count: number, text: string) {
  return run(['ip', 'netns', 'exec', ns, process.execPath, '-e', client, bind, to, String(port), String(count), text], { timeoutMs: 10_000 });
}

/** Packets read from the TUN, awaited by predicate. */
const received: Buffer[] = [];
let notify: (() => void) | undefined;
async function packets(pred: (p: Buffer) => boolean, n: number): Promise<Buffer[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const got = received.filter(pred);
    if (got.length >= n || Date.now() > deadline) return got;
    await new Promise<void>((r) => ((notify = r), setTimeout(r, 100)));
  }
}

beforeAll(async () => {
  if (skip) return;
  await lab.addNs('a');
  rt = Rtnetlink.open({ netns: ns });
  lab.defer(() => rt.close());
  tun = TunDevice.open(tunName, { netns: ns });
  lab.defer(() => tun.close());
  rt.setLinkUp('lo');
  rt.setLinkUp(tunName);
  rt.addAddress(tunName, '198.18.20.1/24');
  rt.addAddress(tunName, '2001:db8:20::1/64', { noDad: true });
  rt.addRoute({ dst: '198.18.21.0/24', dev: tunName });
  rt.addRoute({ dst: '2001:db8:21::/64', dev: tunName });
  tun.onPacket((p) => {
    received.push(p);
    notify?.();
  });
});


describe.skipIf(skip !== undefined)('TunDevice', () => {
  it('is created in the namespace with the name asked for', async () => {
    expect(tun.name).toBe(tunName);
    const link = (await run(['ip', '-n', ns, '-d', 'link', 'show', tunName])).stdout;
    expect(link).toMatch(/tun type tun pi off/);
    expect((await run(['ip', '-o', 'link', 'show'])).stdout).not.toContain(tunName); // not in ours
  });

  for (const v of [
    { family: 'IPv4', local: '198.18.20.1', remote: '198.18.21.7' },
    { family: 'IPv6', local: '2001:db8:20::1', remote: '2001:db8:21::7' },
  ]) {
    it(`reads the exact ${v.family} packet routed to it, and delivers the packet written back`, async () => {
      const text = `lispwg-${v.family}-${randomBytes(4).toString('hex')}`;
      const clientRun = startClient(v.local, v.remote, 4000, 1, text);
      const [pkt] = await packets((p) => parseUdpPacket(p)?.payload.toString() === `${text}#0`, 1);
      expect(pkt, 'the datagram reached the TUN').toBeDefined();
      const udp = parseUdpPacket(pkt!)!;
      expect(udp).toMatchObject({ src: v.local, dst: v.remote, dstPort: 4000 });
      // rebuilt from its fields with fresh checksums it is the same bytes: headers and checksums are right
      expect(buildUdpPacket(udp).equals(pkt!)).toBe(true);

      // the answer, written into the TUN, arrives at the client's socket as if from the remote host
      tun.write(buildUdpPacket({ src: v.remote, dst: v.local, srcPort: 4000, dstPort: udp.srcPort, payload: Buffer.from(`re:${text}`) }));
      const out = (await clientRun).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(out[0]).toEqual({ port: udp.srcPort });
      expect(out[1]).toEqual({ from: v.remote, port: 4000, text: `re:${text}` });
    });
  }

  it('delivers a burst in order, none lost', async () => {
    const text = `burst-${randomBytes(4).toString('hex')}`;
    const clientRun = startClient('198.18.20.1', '198.18.21.8', 4001, 200, text);
    const got = await packets((p) => parseUdpPacket(p)?.payload.toString().startsWith(`${text}#`) ?? false, 200);
    expect(got.map((p) => parseUdpPacket(p)!.payload.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `${text}#${i}`));
    const port = parseUdpPacket(got[0]!)!.srcPort;
    tun.write(buildUdpPacket({ src: '198.18.21.8', dst: '198.18.20.1', srcPort: 4001, dstPort: port, payload: Buffer.from('done') }));
    await clientRun;
  });

  it('names what is wrong when it cannot open', async () => {
    expect(() => TunDevice.open('a/b')).toThrow(expect.objectContaining({ code: 'IFNAME_INVALID' }));
    expect(() => TunDevice.open('lwgtun0', { netns: 'lwg-no-such-ns' })).toThrow(expect.objectContaining({ code: 'NETNS_NOT_FOUND' }));
    // 'lo' exists and is not a TUN
    expect(() => TunDevice.open('lo', { netns: ns })).toThrow(expect.objectContaining({ code: 'TUN_INVALID', message: expect.stringContaining('ioctl TUNSETIFF: Invalid argument') }));
    const closed = TunDevice.open(`lwgc${lab.id}`, { netns: ns });
    closed.close();
    expect(() => closed.write(Buffer.alloc(20))).toThrow(expect.objectContaining({ code: 'TUN_CLOSED' }));
    // the interface went away with its fd
    expect(rt.link(`lwgc${lab.id}`)).toBeUndefined();
  });
});
