// The kernel backend's generic-netlink messages, checked field by field against
// include/uapi/linux/wireguard.h (the backend itself needs a kernel with WireGuard: see
// wireguard.integration.test.ts).
import { describe, expect, it } from 'vitest';
import { NLA_F_NESTED, NlWriter, parseAttrList, parseAttrs, type NlMessage } from '../net/netlink.js';
import { generatePrivateKey, publicKey } from './keys.js';
import { decodeSockaddr, encodeSockaddr, parseDevice, writePeer } from './kernel.js';
import { checkPeer } from './peer.js';

const key = publicKey(generatePrivateKey());

describe('WG_CMD_SET_DEVICE peer attributes', () => {
  it('nest key, flags, endpoint, keepalive and allowed IPs as wireguard.h lays them out', () => {
    const w = new NlWriter(0x20, 0);
    w.nest(8 /* WGDEVICE_A_PEERS */, () => writePeer(w, checkPeer({ publicKey: key, endpoint: { address: '198.18.0.2', port: 51820 }, allowedIps: ['198.18.5.0/24', '2001:db8:5::/48'], replaceAllowedIps: true, persistentKeepalive: 25 })));
    const msg = w.finish(1);
    const [peers] = parseAttrList(msg, 16);
    expect(peers!.type).toBe(8);
    expect(msg.readUInt16LE(18) & NLA_F_NESTED).toBeTruthy();
    const [peer] = parseAttrList(peers!.value);
    expect(peer!.type).toBe(0);
    const a = parseAttrs(peer!.value);
    expect(a.get(1 /* WGPEER_A_PUBLIC_KEY */)!.equals(key)).toBe(true);
    expect(a.get(3 /* WGPEER_A_FLAGS */)!.readUInt32LE(0)).toBe(2 /* WGPEER_F_REPLACE_ALLOWEDIPS */);
    // struct sockaddr_in: family AF_INET (host order), port (network order), address, 8 zero bytes
    expect(a.get(4 /* WGPEER_A_ENDPOINT */)!.toString('hex')).toBe('0200' + 'ca6c' + 'c6120002' + '00'.repeat(8));
    expect(a.get(5 /* WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL */)!.readUInt16LE(0)).toBe(25);
    const ips = parseAttrList(a.get(9 /* WGPEER_A_ALLOWEDIPS */)!).map((x) => parseAttrs(x.value));
    expect(ips.map((ip) => [ip.get(1)!.readUInt16LE(0), ip.get(2)!.toString('hex'), ip.get(3)!.readUInt8(0)])).toEqual([
      [2, 'c6120500', 24],
      [10, '20010db8000500000000000000000000', 48],
    ]);
  });

  it('encodes IPv6 endpoints as struct sockaddr_in6 and decodes both', () => {
    const p = checkPeer({ publicKey: key, endpoint: { address: '2001:db8::9', port: 4500 }, allowedIps: [] });
    const sa = encodeSockaddr(p.endpoint!);
    expect(sa.length).toBe(28);
    expect(sa.toString('hex')).toBe('0a00' + '1194' + '00000000' + '20010db8000000000000000000000009' + '00000000');
    expect(decodeSockaddr(sa)).toEqual({ address: '2001:db8::9', port: 4500 });
    expect(decodeSockaddr(encodeSockaddr(checkPeer({ publicKey: key, endpoint: { address: '198.18.1.1', port: 1 }, allowedIps: [] }).endpoint!))).toEqual({ address: '198.18.1.1', port: 1 });
  });
});

describe('WG_CMD_GET_DEVICE dump', () => {
  /** One dump message: genlmsghdr, then device attributes with the peers given. */
  function dumpMessage(port: number | undefined, peers: Array<(w: NlWriter) => void>): NlMessage {
    const w = new NlWriter(0x20, 2);
    w.u8(0).u8(1).u16(0);
    if (port !== undefined) w.attrU16(6, port);
    w.nest(8, () => peers.forEach((p) => w.nest(0, () => p(w))));
    const b = w.finish(1);
    return { type: 0x20, flags: 2, seq: 1, payload: Buffer.from(b.subarray(16)) };
  }
  const allowed = (w: NlWriter, ips: Array<[number, string, number]>) =>
    w.nest(9, () => ips.forEach(([fam, hex, len]) => w.nest(0, () => (w.attrU16(1, fam), w.attr(2, Buffer.from(hex, 'hex')), w.attrU8(3, len)))));

  it('reads peers and coalesces a peer whose allowed IPs continue in the next message', () => {
    const other = publicKey(generatePrivateKey());
    const hs = Buffer.alloc(16);
    hs.writeBigInt64LE(1700000000n, 0);
    hs.writeBigInt64LE(5_000_000n, 8);
    const counters = (w: NlWriter, rx: bigint, tx: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(rx);
      w.attr(7, b);
      const c = Buffer.alloc(8);
      c.writeBigUInt64LE(tx);
      w.attr(8, c);
    };
    const msgs = [
      dumpMessage(51820, [
        (w) => {
          w.attr(1, key);
          w.attr(4, encodeSockaddr(checkPeer({ publicKey: key, endpoint: { address: '198.18.0.2', port: 51821 }, allowedIps: [] }).endpoint!));
          w.attr(6, hs);
          counters(w, 1000n, 2000n);
          w.attrU16(5, 25);
          allowed(w, [[2, 'c6120500', 24]]);
        },
      ]),
      dumpMessage(undefined, [(w) => (w.attr(1, key), allowed(w, [[10, '20010db8000500000000000000000000', 48]])), (w) => (w.attr(1, other), w.attr(6, Buffer.alloc(16)))]),
    ];
    const d = parseDevice(msgs);
    expect(d.listenPort).toBe(51820);
    expect(d.peers).toHaveLength(2);
    expect(d.peers[0]).toMatchObject({ endpoint: { address: '198.18.0.2', port: 51821 }, allowedIps: ['198.18.5.0/24', '2001:db8:5::/48'], rxBytes: 1000, txBytes: 2000, persistentKeepalive: 25 });
    expect(d.peers[0]!.lastHandshake!.getTime()).toBe(1700000000005);
    expect(Buffer.from(d.peers[1]!.publicKey).equals(other)).toBe(true);
    expect(d.peers[1]!.lastHandshake).toBeUndefined();
  });
});
