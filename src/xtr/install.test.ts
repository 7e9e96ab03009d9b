/**
 * The Installer's peer table against a fake WireGuard device and a fake rtnetlink: a key is not
 * borrowed (a record for another prefix with a peer's key joins it only from the peer's own
 * endpoint), a peer's own prefix may move it, and new peers stop at the limit.
 */
import { describe, expect, it } from 'vitest';
import type { Rtnetlink } from '../net/rtnetlink.js';
import type { WgDevice, WgPeerConfig } from '../wg/types.js';
import { InstallRefused } from './dataplane.js';
import { Installer } from './install.js';

const key = (n: number) => Uint8Array.from({ length: 32 }, () => n);

/** WireGuard peers as wg(8) would show them: allowed-ips accumulate unless replaced. */
class FakeWg {
  readonly calls: WgPeerConfig[] = [];
  readonly peers = new Map<string, { allowedIps: Set<string>; endpoint?: string }>();
  async setPeer(p: WgPeerConfig): Promise<void> {
    this.calls.push(p);
    const id = Buffer.from(p.publicKey).toString('hex');
    const peer = this.peers.get(id) ?? { allowedIps: new Set<string>() };
    if (p.replaceAllowedIps) peer.allowedIps.clear();
    for (const a of p.allowedIps ?? []) {
      for (const other of this.peers.values()) other.allowedIps.delete(a); // cryptokey routing: one peer per prefix
      peer.allowedIps.add(a);
    }
    if (p.endpoint) peer.endpoint = `${p.endpoint.address}:${p.endpoint.port}`;
    this.peers.set(id, peer);
  }
  async removePeer(k: Uint8Array): Promise<void> {
    this.peers.delete(Buffer.from(k).toString('hex'));
  }
  view(k: Uint8Array) {
    const p = this.peers.get(Buffer.from(k).toString('hex'));
    return p && { allowedIps: [...p.allowedIps].sort(), endpoint: p.endpoint };
  }
}

function setUp(maxPeers = 100) {
  const wg = new FakeWg();
  const routes = new Set<string>();
  const rt = { linkIndex: () => 7, replaceRoute: (r: { dst: string }) => routes.add(r.dst), delRoute: (r: { dst: string }) => routes.delete(r.dst) };
  const installer = new Installer(wg as unknown as WgDevice, rt as unknown as Rtnetlink, { dataInterface: 'wg0', port: 51820, table: 254, src: {}, maxPeers });
  return { wg, routes, installer };
}

describe('installer: borrowed keys', () => {
  const VICTIM = key(1);

  it('refuses a record for another prefix with an installed peer\'s key from another RLOC: the peer keeps its endpoint and allowed-ips', async () => {
    const { wg, routes, installer } = setUp();
    await installer.install('198.18.100.2/32', VICTIM, '198.18.2.2', 'map-reply');
    const calls = wg.calls.length;
    const refused = installer.install('198.18.101.0/24', VICTIM, '198.18.66.6', 'map-notify');
    await expect(refused).rejects.toBeInstanceOf(InstallRefused);
    await expect(refused).rejects.toMatchObject({ reason: 'peer-key-conflict' });
    expect(wg.calls.length).toBe(calls); // WireGuard was not touched
    expect(wg.view(VICTIM)).toEqual({ allowedIps: ['198.18.100.2/32'], endpoint: '198.18.2.2:51820' });
    expect([...installer.peerOf('198.18.100.2/32')!.prefixes]).toEqual(['198.18.100.2/32']);
    expect(installer.peerOf('198.18.101.0/24')).toBeUndefined();
    expect([...routes]).toEqual(['198.18.100.2/32']);
  });

  it('lets the same xTR add its other prefix (same RLOC), and a peer\'s own prefix move it (mobility)', async () => {
    const { wg, installer } = setUp();
    await installer.install('198.18.100.2/32', VICTIM, '198.18.2.2', 'map-reply');
    expect((await installer.install('2001:db8:100::2/128', VICTIM, '198.18.2.2', 'map-notify')).change).toBe('new-prefix');
    expect(wg.view(VICTIM)).toEqual({ allowedIps: ['198.18.100.2/32', '2001:db8:100::2/128'], endpoint: '198.18.2.2:51820' });
    expect((await installer.install('198.18.100.2/32', VICTIM, '198.18.12.2', 'map-notify')).change).toBe('endpoint');
    expect(wg.view(VICTIM)?.endpoint).toBe('198.18.12.2:51820');
    // after the move, the other prefix of the same xTR joins from the new endpoint only
    await expect(installer.install('198.18.103.0/24', VICTIM, '198.18.2.2', 'map-reply')).rejects.toMatchObject({ reason: 'peer-key-conflict' });
    expect((await installer.install('198.18.103.0/24', VICTIM, '198.18.12.2', 'map-reply')).change).toBe('new-prefix');
  });
});

describe('installer: the peer limit', () => {
  it('refuses a new peer beyond limits.peers, still updates the installed ones, and takes one again when a peer went', async () => {
    const { wg, installer } = setUp(2);
    await installer.install('198.18.100.2/32', key(1), '198.18.2.2', 'map-reply');
    await installer.install('198.18.100.3/32', key(2), '198.18.2.3', 'map-reply');
    await expect(installer.install('198.18.100.4/32', key(3), '198.18.2.4', 'map-reply')).rejects.toMatchObject({ reason: 'limit-peers' });
    expect(installer.size()).toBe(2);
    expect(wg.view(key(3))).toBeUndefined();
    expect((await installer.install('198.18.100.3/32', key(2), '198.18.12.3', 'map-notify')).change).toBe('endpoint');
    await installer.remove('198.18.100.2/32');
    expect((await installer.install('198.18.100.4/32', key(3), '198.18.2.4', 'map-reply')).change).toBe('new-peer');
  });
});
