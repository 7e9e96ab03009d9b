import { describe, expect, it } from 'vitest';
import { generatePrivateKey, publicKey } from './keys.js';
import { checkPeer, PeerTable } from './peer.js';
import { parseGet, peerLines, recordLines } from './uapi.js';

const key = publicKey(generatePrivateKey());
const hex = key.toString('hex');

describe('UAPI encoding', () => {
  it('writes a peer as wg set would: hex key, bracketed IPv6 endpoint, masked allowed IPs', () => {
    expect(peerLines(checkPeer({ publicKey: key, endpoint: { address: '2001:db8::1', port: 51820 }, allowedIps: ['198.18.7.9/24', '2001:db8:7::/48'], persistentKeepalive: 25 }))).toEqual([
      `public_key=${hex}`,
      'endpoint=[2001:db8::1]:51820',
      'persistent_keepalive_interval=25',
      'allowed_ip=198.18.7.0/24',
      'allowed_ip=2001:db8:7::/48',
    ]);
    expect(peerLines(checkPeer({ publicKey: key, endpoint: { address: '198.18.0.2', port: 4 }, allowedIps: [], replaceAllowedIps: true }))).toEqual([
      `public_key=${hex}`,
      'replace_allowed_ips=true',
      'endpoint=198.18.0.2:4',
    ]);
  });

  it('refuses bad peers before anything is sent', () => {
    expect(() => checkPeer({ publicKey: key.subarray(1), allowedIps: [] })).toThrow(expect.objectContaining({ code: 'KEY_LENGTH' }));
    expect(() => checkPeer({ publicKey: key, allowedIps: ['198.18.0.0/33'] })).toThrow(expect.objectContaining({ code: 'BAD_PREFIX' }));
    expect(() => checkPeer({ publicKey: key, allowedIps: [], endpoint: { address: '198.18.0.1', port: 0 } })).toThrow(expect.objectContaining({ code: 'BAD_PORT' }));
    expect(() => checkPeer({ publicKey: key, allowedIps: [], persistentKeepalive: 70000 })).toThrow(expect.objectContaining({ code: 'BAD_PORT' }));
  });

  it('parses a get=1 answer as wireguard-go writes it, without keeping the private key', () => {
    // captured from wireguard-go v0.0.20220316 (private key replaced)
    const text = [
      `private_key=${'11'.repeat(32)}`,
      'listen_port=33335',
      `public_key=${hex}`,
      `preshared_key=${'00'.repeat(32)}`,
      'protocol_version=1',
      'endpoint=[2001:db8::1]:51820',
      'last_handshake_time_sec=1700000000',
      'last_handshake_time_nsec=250000000',
      'tx_bytes=1184',
      'rx_bytes=92',
      'persistent_keepalive_interval=25',
      'allowed_ip=198.18.0.1/32',
      'allowed_ip=2001:db8::/64',
      'public_key=' + 'ab'.repeat(32),
      'endpoint=198.18.1.1:1234',
      'last_handshake_time_sec=0',
      'last_handshake_time_nsec=0',
      'tx_bytes=0',
      'rx_bytes=0',
      'persistent_keepalive_interval=0',
      '',
    ].join('\n');
    const s = parseGet(text);
    expect(s.listenPort).toBe(33335);
    expect(JSON.stringify(s)).not.toContain('1111');
    expect(s.peers).toHaveLength(2);
    expect(s.peers[0]).toMatchObject({ endpoint: { address: '2001:db8::1', port: 51820 }, allowedIps: ['198.18.0.1/32', '2001:db8::/64'], rxBytes: 92, txBytes: 1184, persistentKeepalive: 25 });
    expect(s.peers[0]!.lastHandshake!.getTime()).toBe(1700000000250);
    expect(Buffer.from(s.peers[0]!.publicKey).equals(key)).toBe(true);
    expect(s.peers[1]).toMatchObject({ endpoint: { address: '198.18.1.1', port: 1234 }, allowedIps: [] });
    expect(s.peers[1]!.lastHandshake).toBeUndefined();
  });
});

describe('PeerTable (what a restarted wireguard-go is given back)', () => {
  const other = publicKey(generatePrivateKey());
  const lines = (t: PeerTable) => [...t.all()].map(recordLines);

  it('accumulates allowed IPs, replaces them on request, keeps the last endpoint', () => {
    const t = new PeerTable();
    t.set(checkPeer({ publicKey: key, endpoint: { address: '198.18.0.2', port: 1 }, allowedIps: ['198.18.8.0/24'] }));
    t.set(checkPeer({ publicKey: key, allowedIps: ['198.18.9.0/24'], persistentKeepalive: 5 }));
    expect(lines(t)).toEqual([[`public_key=${hex}`, 'replace_allowed_ips=true', 'endpoint=198.18.0.2:1', 'persistent_keepalive_interval=5', 'allowed_ip=198.18.8.0/24', 'allowed_ip=198.18.9.0/24']]);
    t.set(checkPeer({ publicKey: key, allowedIps: ['198.18.10.0/24'], replaceAllowedIps: true }));
    expect(lines(t)[0]!.filter((l) => l.startsWith('allowed_ip'))).toEqual(['allowed_ip=198.18.10.0/24']);
  });

  it('moves an allowed IP to the peer it was given to last, as WireGuard does', () => {
    const t = new PeerTable();
    t.set(checkPeer({ publicKey: key, allowedIps: ['198.18.8.0/24', '198.18.9.0/24'] }));
    t.set(checkPeer({ publicKey: other, allowedIps: ['198.18.8.7/24'] })); // same prefix once masked
    const [a, b] = lines(t);
    expect(a!.filter((l) => l.startsWith('allowed_ip'))).toEqual(['allowed_ip=198.18.9.0/24']);
    expect(b!.filter((l) => l.startsWith('allowed_ip'))).toEqual(['allowed_ip=198.18.8.0/24']);
    t.remove(other);
    t.set(checkPeer({ publicKey: key, allowedIps: ['198.18.8.0/24'] }));
    expect(t.size).toBe(1);
    expect(lines(t)[0]!.filter((l) => l.startsWith('allowed_ip'))).toEqual(['allowed_ip=198.18.9.0/24', 'allowed_ip=198.18.8.0/24']);
  });
});
