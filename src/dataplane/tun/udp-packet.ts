/**
 * Building and reading whole IPv4/IPv6 UDP packets, checksums included: what a TUN carries.
 * Used to inject traffic through a TUN (tests, the TUN latency benchmark) and to check byte for
 * byte what the kernel handed out.
 */
import { LispwgError } from '../../util/errors.js';
import { formatIpBytes as formatIp, parseIp } from '../../ip/ip.js';

export interface UdpPacket {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
  /** IPv4 identification / IPv6 flow label; TTL / hop limit. */
  id?: number;
  ttl?: number;
}

function sum16(b: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i);
  if (b.length & 1) acc += b[b.length - 1]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** The UDP datagram with its checksum over the pseudo-header. */
function udp(p: UdpPacket, src: Uint8Array, dst: Uint8Array): Buffer {
  const u = Buffer.alloc(8 + p.payload.length);
  u.writeUInt16BE(p.srcPort, 0);
  u.writeUInt16BE(p.dstPort, 2);
  u.writeUInt16BE(u.length, 4);
  p.payload.copy(u, 8);
  const pseudo = src.length === 4 ? Buffer.concat([src, dst, Buffer.from([0, 17]), Buffer.from([u.length >> 8, u.length & 0xff])]) : Buffer.concat([src, dst, Buffer.from([0, 0, u.length >> 8, u.length & 0xff, 0, 0, 0, 17])]);
  const c = fold(sum16(u, sum16(pseudo)));
  u.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return u;
}

export function buildUdpPacket(p: UdpPacket): Buffer {
  const s = parseIp(p.src, 'source');
  const d = parseIp(p.dst, 'destination');
  if (s.family !== d.family) throw new LispwgError('BAD_ADDRESS', `source ${p.src} and destination ${p.dst} are not the same IP version`);
  const body = udp(p, s.bytes, d.bytes);
  if (s.family === 'ipv4') {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + body.length, 2);
    h.writeUInt16BE(p.id ?? 0, 4);
    h.writeUInt16BE(0x4000, 6); // DF
    h[8] = p.ttl ?? 64;
    h[9] = 17;
    h.set(s.bytes, 12);
    h.set(d.bytes, 16);
    h.writeUInt16BE(fold(sum16(h)), 10);
    return Buffer.concat([h, body]);
  }
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | ((p.id ?? 0) & 0xfffff), 0);
  h.writeUInt16BE(body.length, 4);
  h[6] = 17;
  h[7] = p.ttl ?? 64;
  h.set(s.bytes, 8);
  h.set(d.bytes, 24);
  return Buffer.concat([h, body]);
}

/** Reads a UDP packet (no IPv4 options, no IPv6 extension headers); undefined if it is not one. */
export function parseUdpPacket(b: Buffer): UdpPacket | undefined {
  const v = b.length ? b[0]! >> 4 : 0;
  let off: number;
  let src: Buffer;
  let dst: Buffer;
  let id: number;
  let ttl: number;
  if (v === 4 && b.length >= 28 && b[0] === 0x45 && b[9] === 17) {
    [off, src, dst, id, ttl] = [20, b.subarray(12, 16), b.subarray(16, 20), b.readUInt16BE(4), b[8]!];
  } else if (v === 6 && b.length >= 48 && b[6] === 17) {
    [off, src, dst, id, ttl] = [40, b.subarray(8, 24), b.subarray(24, 40), b.readUInt32BE(0) & 0xfffff, b[7]!];
  } else return undefined;
  const len = b.readUInt16BE(off + 4);
  if (len < 8 || off + len > b.length) return undefined;
  return {
    src: formatIp(src),
    dst: formatIp(dst),
    srcPort: b.readUInt16BE(off),
    dstPort: b.readUInt16BE(off + 2),
    payload: Buffer.from(b.subarray(off + 8, off + len)),
    id,
    ttl,
  };
}
