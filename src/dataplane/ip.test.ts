import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SocketAddress } from 'node:net';
import { ipDestination } from './ip.js';
import { parseIp } from '../ip/ip.js';

function ipv4Packet(src: number[], dst: number[], proto = 1): Buffer {
  const p = Buffer.alloc(28);
  p[0] = 0x45;
  p[9] = proto;
  Buffer.from(src).copy(p, 12);
  Buffer.from(dst).copy(p, 16);
  return p;
}

function ipv6Packet(src: Uint8Array, dst: Uint8Array, next = 58): Buffer {
  const p = Buffer.alloc(48);
  p[0] = 0x60;
  p[6] = next;
  Buffer.from(src).copy(p, 8);
  Buffer.from(dst).copy(p, 24);
  return p;
}

describe('the destination of a packet from the TUN', () => {
  it('reads IPv4', () => {
    expect(ipDestination(ipv4Packet([198, 18, 100, 1], [198, 18, 101, 2]))).toBe('198.18.101.2');
    expect(ipDestination(ipv4Packet([1, 2, 3, 4], [255, 0, 10, 9]))).toBe('255.0.10.9');
  });

  it('reads IPv6 addresses in RFC 5952 form', () => {
    expect(ipDestination(ipv6Packet(parseIp('2001:db8:100::1').bytes, parseIp('2001:db8:0:1:0:0:0:2').bytes))).toBe('2001:db8:0:1::2');
    expect(ipDestination(ipv6Packet(new Uint8Array(16), parseIp('::ffff:198.18.0.1').bytes))).toBe('::ffff:198.18.0.1');
  });

  it('gives the destination of random IPv6 packets as inet_ntop prints it', () => {
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(16);
      for (let g = 0; g < 8; g++) if (Math.random() < 0.5) b.writeUInt16BE(0, 2 * g);
      const text = [...Array(8).keys()].map((g) => b.readUInt16BE(2 * g).toString(16)).join(':');
      expect(ipDestination(ipv6Packet(Buffer.alloc(16), b))).toBe(new SocketAddress({ address: text, family: 'ipv6' }).address);
    }
  });

  it('refuses what is not an IP packet', () => {
    expect(ipDestination(Buffer.alloc(0))).toBeUndefined();
    expect(ipDestination(Buffer.from([0x45, 0, 0]))).toBeUndefined();
    expect(ipDestination(Buffer.alloc(30, 0x60))).toBeUndefined();
    expect(ipDestination(Buffer.alloc(60, 0x20))).toBeUndefined();
    expect(ipDestination(Buffer.alloc(19, 0x45))).toBeUndefined();
    expect(ipDestination(Buffer.alloc(40, 0x44))).toBeUndefined();
  });
});
