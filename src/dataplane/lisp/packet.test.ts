import { describe, expect, it } from 'vitest';
import { decodeDataHeader } from '../../lisp/index.js';
import { parseEidPrefix } from '../../mapping/eid.js';
import { buildUdpPacket } from '../tun/udp-packet.js';
import { ForwardingTable } from './forwarding-table.js';
import { checkDecap, DATA_HEADER_LENGTH, headerTemplate } from './packet.js';
import { selectRloc } from './dataplane.js';

const v4 = buildUdpPacket({ src: '198.19.1.1', dst: '198.19.2.7', srcPort: 1000, dstPort: 2000, payload: Buffer.from('hello') });
const v6 = buildUdpPacket({ src: '2001:db8:1::1', dst: '2001:db8:2::7', srcPort: 1000, dstPort: 2000, payload: Buffer.from('hello') });

function encapsulated(inner: Buffer, iid: number): Buffer {
  const b = Buffer.alloc(DATA_HEADER_LENGTH + inner.length);
  headerTemplate(iid).copy(b, 0);
  inner.copy(b, DATA_HEADER_LENGTH);
  return b;
}

const decap = (b: Buffer, iid: number) => checkDecap(b, b.length, iid);

describe('the LISP data header on the packet path', () => {
  it('carries the instance ID in the I bit when there is one, and nothing else', () => {
    expect(decodeDataHeader(encapsulated(v4, 0))).toEqual({ echoNonce: false });
    expect(decodeDataHeader(encapsulated(v4, 0x123456))).toEqual({ echoNonce: false, instanceId: 0x123456 });
    expect(encapsulated(v4, 0).subarray(0, 8).equals(Buffer.alloc(8))).toBe(true);
  });

  it('accepts its own packets, and refuses short, foreign-instance and non-IP ones', () => {
    expect(decap(encapsulated(v4, 0), 0)).toBe('ok');
    expect(decap(encapsulated(v6, 7), 7)).toBe('ok');
    expect(decap(encapsulated(v4, 7), 0)).toBe('instance');
    expect(decap(encapsulated(v4, 0), 7)).toBe('instance');
    expect(decap(encapsulated(v4, 0).subarray(0, 20), 0)).toBe('short');
    expect(decap(encapsulated(Buffer.alloc(40, 0x20), 0), 0)).toBe('not-ip');
  });

  it('refuses an inner packet whose length is not the datagram\'s: cut, padded, or a bad IPv4 header length', () => {
    expect(decap(encapsulated(v6, 0).subarray(0, 40), 0)).toBe('length'); // an IPv6 header cut short
    expect(decap(encapsulated(v4, 0).subarray(0, -1), 0)).toBe('length');
    expect(decap(encapsulated(v6, 0).subarray(0, -1), 0)).toBe('length');
    expect(decap(encapsulated(Buffer.concat([v4, Buffer.alloc(1)]), 0), 0)).toBe('length');
    expect(decap(encapsulated(Buffer.concat([v6, Buffer.alloc(1)]), 0), 0)).toBe('length');
    const ihl4 = Buffer.from(v4);
    ihl4[0] = 0x44;
    expect(decap(encapsulated(ihl4, 0), 0)).toBe('length');
  });
});

describe('ForwardingTable', () => {
  const rloc = (address: string) => ({ address, family: 4 as const, port: 4341 });

  it('finds the longest matching prefix from the packet bytes, IPv4 and IPv6', () => {
    const t = new ForwardingTable<{ address: string; family: 4 | 6; port: number }>();
    t.set(parseEidPrefix('198.19.0.0/16'), rloc('198.18.0.1'));
    t.set(parseEidPrefix('198.19.2.0/24'), rloc('198.18.0.2'));
    t.set(parseEidPrefix('2001:db8:2::/48'), { address: '2001:db8:ff::2', family: 6, port: 4341 });
    expect(t.lookupPacket(v4, 0, v4.length)).toEqual(rloc('198.18.0.2'));
    expect(t.lookupPacket(v6, 0, v6.length)).toMatchObject({ address: '2001:db8:ff::2' });
    // the packet may sit anywhere in a larger buffer
    const inSlab = Buffer.concat([Buffer.alloc(13), v4]);
    expect(t.lookupPacket(inSlab, 13, v4.length)).toEqual(rloc('198.18.0.2'));
    t.delete(parseEidPrefix('198.19.2.0/24'));
    expect(t.lookupPacket(v4, 0, v4.length)).toEqual(rloc('198.18.0.1'));
    expect(t.lastDestination()).toBe('198.19.2.7');
  });

  it('tells a miss (undefined) from a negative entry (null) and from a non-IP packet', () => {
    const t = new ForwardingTable<{ address: string; family: 4 | 6; port: number }>();
    expect(t.lookupPacket(v4, 0, v4.length)).toBeUndefined();
    expect(t.lastFamily).toBe(4);
    t.set(parseEidPrefix('198.19.2.0/24'), null);
    expect(t.lookupPacket(v4, 0, v4.length)).toBeNull();
    expect(t.lookupPacket(Buffer.alloc(30), 0, 30)).toBeUndefined();
    expect(t.lastFamily).toBe(0);
    expect(t.lookupPacket(v6, 0, 39)).toBeUndefined(); // too short for an IPv6 header
    expect(t.lastFamily).toBe(0);
    expect(t.lookupAddress('ipv4', '198.19.2.200')).toBeNull();
  });
});

describe('selectRloc', () => {
  it('takes the lowest priority, then the highest weight, and never priority 255', () => {
    expect(selectRloc([{ address: '198.18.0.1', priority: 2, weight: 100 }, { address: '198.18.0.2', priority: 1, weight: 1 }])).toEqual({ address: '198.18.0.2', family: 4, port: 4341 });
    expect(selectRloc([{ address: '198.18.0.1', priority: 1, weight: 10 }, { address: '2001:db8::2', priority: 1, weight: 50 }], 4000)).toEqual({ address: '2001:db8::2', family: 6, port: 4000 });
    expect(selectRloc([{ address: '198.18.0.1', priority: 255, weight: 100 }])).toBeNull();
    expect(selectRloc([])).toBeNull();
  });
});
