import { describe, expect, it } from 'vitest';
import { ago, bytes, latency, renderStatus, type LispAgentStatus, type WireGuardAgentStatus } from './show.js';

const status: WireGuardAgentStatus = {
  dataPlane: 'wireguard',
  controlChannel: 'lisp',
  name: 'mn1',
  mode: 'mn',
  pid: 42,
  instanceId: 0,
  uptimeS: 125,
  wireguardBackend: 'userspace',
  missPolicy: 'buffer',
  interfaces: { control: 'mn1-ctl', data: 'mn1-wg', tun: 'mn1-tun', dataPort: 51820, publicKey: 'PUB1', controlPublicKey: 'CPUB1', controlBackend: 'kernel' },
  registration: { mapServer: '100.100.0.1 via 198.18.0.2:51820', state: 'registered', lastRegisteredAgoS: 12, eidPrefixes: ['198.18.100.1/32'], rlocs: [{ interface: 'eth0', address: '198.18.1.2', priority: 1, weight: 100 }] },
  mapCache: [
    { prefix: '198.18.100.2/32', instanceId: 0, kind: 'positive', rlocs: ['198.18.2.2'], publicKey: 'PUB2PUB2PUB2', expiresInS: 590, source: 'map-reply' },
    { prefix: '198.18.100.96/27', instanceId: 0, kind: 'negative', rlocs: [], action: 'drop', expiresInS: 30, source: 'map-reply' },
  ],
  peers: [{ publicKey: 'PUB2PUB2PUB2', eidPrefixes: ['198.18.100.2/32'], endpoint: '198.18.2.2:51820', latestHandshakeS: 3.2, rxBytes: 2048, txBytes: 100, source: 'map-reply', installedAgoS: 10 }],
  buffer: { buffered: 0, destinations: 0, released: 3, dropped: { overflow: 0, age: 1, destinations: 0, unresolved: 0, negative: 2, policy: 0 } },
  resolver: { inFlight: 0, requestsSent: 2, retransmissions: 0, answered: 2, negativeReplies: 1, giveUps: 0, resolution: latency([1, 2, 3]), missToInstalled: latency([]) },
  counters: { misses: 2, faults: 0 },
};

describe('lispwg show', () => {
  it('renders an agent like wg show', () => {
    const t = renderStatus(status);
    expect(t).toContain('agent: mn1');
    expect(t).toContain('interface: mn1-wg');
    expect(t).toContain('peer: PUB2PUB2PUB2\n  endpoint: 198.18.2.2:51820\n  allowed ips: 198.18.100.2/32\n  latest handshake: 3 seconds ago\n  transfer: 2.00 KiB received, 100 B sent');
    expect(t).toContain('[0] 198.18.100.2/32  rloc 198.18.2.2, key PUB2PUB2..., expires in 9 min 50 s, from map-reply');
    expect(t).toContain('[0] 198.18.100.96/27  negative (drop)');
    expect(t).toContain('3 released, dropped 1 (age), 2 (negative)');
    expect(t).toContain('request to reply: median 2.000 ms, p99 2.980 ms, max 3.000 ms (n=3)');
    expect(t).toContain('miss to installed: none yet');
    expect(t).toContain('counters: misses 2');
  });

  it('renders a plain LISP agent without WireGuard fields', () => {
    const { peers: _peers, wireguardBackend: _backend, ...rest } = status;
    const lisp: LispAgentStatus = { ...rest, dataPlane: 'lisp', interfaces: { control: 'mn1-ctl', controlPublicKey: 'CPUB1', controlBackend: 'kernel', tun: 'mn1-tun', dataPort: 4341 } };
    const t = renderStatus(lisp);
    expect(t).toContain('data plane plain LISP (UDP 4341)');
    expect(t).toContain('interface: mn1-tun (plain LISP: encapsulated to UDP 4341)');
    expect(t).not.toContain('public key: ');
    expect(t).not.toContain('peer: ');
  });

  it('formats ages, sizes and latencies', () => {
    expect(ago(undefined)).toBe('never');
    expect(ago(0.2)).toBe('just now');
    expect(ago(3723)).toBe('1 hour, 2 minutes, 3 seconds ago');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(5 * 1024 * 1024)).toBe('5.00 MiB');
    expect(latency([5, 1, 3])).toEqual({ n: 3, medianMs: 3, p99Ms: 4.96, maxMs: 5 });
    expect(latency([]).n).toBe(0);
  });
});
