// Two namespaces joined by a veth, a WgDevice in each, a real tunnel between them: pings, the
// peers' view, a wireguard-go killed and brought back, nothing left behind. Run under:
//   flock /tmp/lispwg-netns.lock npx vitest run src/wg/wireguard.integration.test.ts
// The kernel-backend suite runs only where the kernel has WireGuard.
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../util/exec.js';
import { createLogger } from '../util/log.js';
import { prerequisites } from '../testing/prerequisites.js';
import { NetnsLab, netnsLab } from '../testing/netns.js';
import { generatePrivateKey, publicKey } from './keys.js';
import { UapiClient, uapiPath } from './uapi.js';
import { detectWireGuardBackend, openWireGuard, probeKernelWireGuard, type WgBackend, type WgDevice } from './wireguard.js';

const skip = await prerequisites('WireGuard integration tests', { root: true, tools: ['ip', 'ping', 'pgrep', 'wireguard-go'] });
const kernel = skip === undefined ? probeKernelWireGuard() : ({ ok: false, why: skip } as const);
const skipKernel = skip ?? (await prerequisites('WireGuard kernel backend', { kernel: [kernel] }));
const log = createLogger({ test: 'wireguard' }, { level: 'warn' });

function tunnelSuite(backend: WgBackend) {
  const lab = netnsLab({ prefix: 'lwg' });
  const tag = lab.id;
  const [nsA, nsB] = [lab.ns('A'), lab.ns('B')];
  const [ifA, ifB] = [`lwga${tag}`, `lwgb${tag}`];
  const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
  let a: WgDevice;
  let b: WgDevice;
  const ping = (ns: string, addr: string, waitS = 3) => run(['ip', 'netns', 'exec', ns, 'ping', '-c', '1', '-W', String(waitS), addr], { allowFail: true });
  const wgPids = async (ifname: string) =>
    (await run(['pgrep', '-f', `^wireguard-go -f ${ifname}$`], { allowFail: true })).stdout.split('\n').filter(Boolean).map(Number);

  beforeAll(async () => {
    await lab.addNs('A', 'B');
    await lab.link('A', 'eth0', 'B', 'eth0', '198.18.30.1/24', '198.18.30.2/24');
    a = await openWireGuard({ name: ifA, privateKey: keyA, backend, netns: nsA, addresses: ['198.19.30.1/24', '2001:db8:30::1/64'], log });
    b = await openWireGuard({ name: ifB, privateKey: keyB, backend, netns: nsB, listenPort: 51821, addresses: ['198.19.30.2/24', '2001:db8:30::2/64'], log });
  });

  lab.defer(() => Promise.allSettled([a?.close(), b?.close()]));

  it('opens both ends with the chosen keys and ports', async () => {
    expect(a.backend).toBe(backend);
    expect(Buffer.from(a.publicKey).equals(publicKey(keyA))).toBe(true);
    expect(await b.listenPort()).toBe(51821);
    expect(await a.listenPort()).toBeGreaterThan(0);
    expect(await a.peers()).toEqual([]);
    const link = (await run(['ip', '-n', nsA, 'addr', 'show', ifA])).stdout;
    expect(link).toMatch(/UP/);
    expect(link).toContain('inet 198.19.30.1/24');
  });

  it('carries IPv4 and IPv6 pings once each side has the other as a peer', async () => {
    expect((await ping(nsA, '198.19.30.2', 0.3)).exitCode, 'no peers yet: no tunnel').not.toBe(0);
    await a.setPeer({ publicKey: b.publicKey, endpoint: { address: '198.18.30.2', port: await b.listenPort() }, allowedIps: ['198.19.30.2/32', '2001:db8:30::2/128'] });
    await b.setPeer({ publicKey: a.publicKey, allowedIps: ['198.19.30.1/32', '2001:db8:30::1/128'] }); // B learns A's endpoint from the handshake
    expect((await ping(nsA, '198.19.30.2')).exitCode).toBe(0);
    expect((await ping(nsB, '2001:db8:30::1')).exitCode).toBe(0);

    const [peerOfA] = await a.peers();
    expect(Buffer.from(peerOfA!.publicKey).equals(Buffer.from(b.publicKey))).toBe(true);
    expect(peerOfA!.allowedIps.sort()).toEqual(['198.19.30.2/32', '2001:db8:30::2/128']);
    expect(peerOfA!.endpoint).toEqual({ address: '198.18.30.2', port: 51821 });
    expect(peerOfA!.lastHandshake!.getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect(peerOfA!.rxBytes).toBeGreaterThan(0);
    expect(peerOfA!.txBytes).toBeGreaterThan(0);
    const [peerOfB] = await b.peers();
    expect(peerOfB!.endpoint).toEqual({ address: '198.18.30.1', port: await a.listenPort() }); // learnt
  });

  it('updates allowed IPs (add, then replace) and removes peers', async () => {
    const other = publicKey(generatePrivateKey());
    await a.setPeer({ publicKey: other, allowedIps: ['198.19.31.0/24'] });
    await a.setPeer({ publicKey: other, allowedIps: ['198.19.32.0/24'] });
    expect((await a.peers()).find((p) => Buffer.from(p.publicKey).equals(other))!.allowedIps.sort()).toEqual(['198.19.31.0/24', '198.19.32.0/24']);
    await a.setPeer({ publicKey: other, allowedIps: ['198.19.33.0/24'], replaceAllowedIps: true, persistentKeepalive: 25 });
    expect((await a.peers()).find((p) => Buffer.from(p.publicKey).equals(other))).toMatchObject({ allowedIps: ['198.19.33.0/24'], persistentKeepalive: 25 });
    await a.removePeer(other);
    await a.removePeer(other); // unknown: not an error
    expect((await a.peers()).map((p) => Buffer.from(p.publicKey).toString('hex'))).toEqual([Buffer.from(b.publicKey).toString('hex')]);
  });

  it('refuses bad input with a clear error', async () => {
    await expect(a.setPeer({ publicKey: Buffer.alloc(31), allowedIps: [] })).rejects.toMatchObject({ code: 'KEY_LENGTH' });
    await expect(a.setPeer({ publicKey: b.publicKey, allowedIps: ['198.19.30.0/40'] })).rejects.toMatchObject({ code: 'BAD_PREFIX' });
    await expect(a.setPeer({ publicKey: b.publicKey, allowedIps: [], endpoint: { address: 'rloc', port: 1 } })).rejects.toMatchObject({ code: 'BAD_ADDRESS' });
    // the port is taken by B's device in the same namespace
    await expect(openWireGuard({ name: `lwgc${tag}`, privateKey: generatePrivateKey(), backend, netns: nsB, listenPort: 51821, log })).rejects.toMatchObject({
      message: expect.stringMatching(/EADDRINUSE/),
    });
    expect((await run(['ip', '-n', nsB, 'link', 'show', `lwgc${tag}`], { allowFail: true })).exitCode).not.toBe(0);
    expect((await ping(nsA, '198.19.30.2')).exitCode, 'the failed open left the others alone').toBe(0);
  });

  if (backend === 'userspace') {
    it('maps a UAPI errno to an error naming it, and drops that connection', async () => {
      const c = await UapiClient.connect(uapiPath(ifA));
      await expect(c.set(['listen_port=notaport'], 'a bad set')).rejects.toMatchObject({ code: 'UAPI_ERROR', errno: 'EINVAL', message: 'a bad set: wireguard-go refused it: errno=-22 (EINVAL)' });
      expect(c.connected).toBe(false);
    });

    it('refuses an interface name another wireguard-go serves, even in another namespace', async () => {
      await expect(openWireGuard({ name: ifA, privateKey: generatePrivateKey(), backend, netns: nsB, log })).rejects.toMatchObject({ code: 'WG_NAME_IN_USE' });
      expect(existsSync(uapiPath(ifA))).toBe(true); // A's socket untouched
      expect((await ping(nsA, '198.19.30.2')).exitCode).toBe(0);
    });

    it('restarts a killed wireguard-go and gives it back its key, port, peers and addresses', async () => {
      const portBefore = await a.listenPort();
      const restarted = new Promise<void>((resolve) => a.onRestart(resolve));
      const [pid] = await wgPids(ifA);
      expect(pid).toBeGreaterThan(0);
      await run(['kill', '-9', String(pid)]);
      await restarted;
      const [newPid] = await wgPids(ifA);
      expect(newPid).not.toBe(pid);
      expect(await a.listenPort()).toBe(portBefore);
      const [peer] = await a.peers();
      expect(peer!.allowedIps.sort()).toEqual(['198.19.30.2/32', '2001:db8:30::2/128']);
      expect((await run(['ip', '-n', nsA, 'addr', 'show', ifA])).stdout).toContain('inet 198.19.30.1/24');
      expect((await ping(nsA, '198.19.30.2')).exitCode).toBe(0);
      expect((await ping(nsB, '198.19.30.1')).exitCode).toBe(0);
    });

    it('waits out a restart instead of failing a setPeer made while wireguard-go is down', async () => {
      const [pid] = await wgPids(ifA);
      const restarted = new Promise<void>((resolve) => a.onRestart(resolve));
      await run(['kill', '-9', String(pid)]);
      const late = publicKey(generatePrivateKey());
      await a.setPeer({ publicKey: late, allowedIps: ['198.19.34.0/24'] });
      await restarted;
      expect((await a.peers()).some((p) => Buffer.from(p.publicKey).equals(late))).toBe(true);
      await a.removePeer(late);
    });
  }

  it('close() leaves no interface, socket or process behind', async () => {
    await a.close();
    await b.close();
    await a.close(); // idempotent
    for (const [ns, ifname] of [[nsA, ifA], [nsB, ifB]] as const) {
      expect((await run(['ip', '-n', ns, 'link', 'show', ifname], { allowFail: true })).exitCode).not.toBe(0);
      expect(existsSync(uapiPath(ifname))).toBe(false);
      expect(await wgPids(ifname)).toEqual([]);
    }
    await expect(a.peers()).rejects.toMatchObject({ code: 'WG_CLOSED' });
  });
}

describe.skipIf(skip !== undefined)('backend selection', () => {
  it('picks the kernel module when present, else wireguard-go, and says why', async () => {
    const saved = process.env.LISPWG_WG_BACKEND;
    delete process.env.LISPWG_WG_BACKEND;
    try {
      const choice = await detectWireGuardBackend();
      if (kernel.ok) expect(choice.backend).toBe('kernel');
      else expect(choice).toEqual({ backend: 'userspace', reason: expect.stringMatching(/^the kernel has no wireguard module \(.*\): using wireguard-go$/) });
      process.env.LISPWG_WG_BACKEND = 'userspace';
      expect(await detectWireGuardBackend()).toEqual({ backend: 'userspace', reason: 'LISPWG_WG_BACKEND=userspace' });
      process.env.LISPWG_WG_BACKEND = 'ipsec';
      await expect(detectWireGuardBackend()).rejects.toMatchObject({ code: 'BAD_BACKEND' });
    } finally {
      if (saved === undefined) delete process.env.LISPWG_WG_BACKEND;
      else process.env.LISPWG_WG_BACKEND = saved;
    }
  });

  it.skipIf(kernel.ok)('refuses the kernel backend where the kernel has no WireGuard, naming the alternative', async () => {
    const lab = new NetnsLab({ prefix: 'lwgK' });
    const [ns] = await lab.addNs('a');
    try {
      await expect(openWireGuard({ name: 'lwgkern0', privateKey: generatePrivateKey(), backend: 'kernel', netns: ns })).rejects.toMatchObject({
        code: 'WG_NO_KERNEL_MODULE',
        message: expect.stringContaining('use the userspace backend (wireguard-go)'),
      });
      expect((await run(['ip', '-n', ns, 'link', 'show', 'lwgkern0'], { allowFail: true })).exitCode).not.toBe(0);
    } finally {
      await lab.close();
    }
  });
});

describe.skipIf(skip !== undefined)('WireGuard, userspace backend (wireguard-go)', () => tunnelSuite('userspace'));

describe.skipIf(skipKernel !== undefined)(`WireGuard, kernel backend${kernel.ok ? '' : ` (skipped: ${kernel.why})`}`, () => tunnelSuite('kernel'));
