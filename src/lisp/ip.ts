/**
 * IP headers as the codec needs them: the Internet checksum, and the IPv4/IPv6 + UDP headers
 * that an ECM carries and that pcap frames wrap. Address text <-> bytes is src/ip's.
 */
import { formatIpv4, formatIpv6, writeIpv4, writeIpv6, type IpFamily } from '../ip/ip.js';
import { LispDecodeError, LispEncodeError } from './errors.js';

/** Writes an IPv4 text address at `off`; LispEncodeError when it is not one. */
export function putIpv4(text: string, buf: Uint8Array, off: number): void {
  if (!writeIpv4(text, buf, off)) throw new LispEncodeError(`'${text}' is not an IPv4 address`);
}

export function putIpv6(text: string, buf: Uint8Array, off: number): void {
  if (!writeIpv6(text, buf, off)) throw new LispEncodeError(`'${text}' is not an IPv6 address`);
}

// ---------------------------------------------------------------------------------------------
// Internet checksum (RFC 1071)

/** One's-complement sum of the 16-bit words of buf[start, end), added to `sum`. */
export function onesSum(buf: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds a one's-complement sum to 16 bits and complements it. */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// IPv4 / IPv6 + UDP headers

const IPV4_HEADER_LENGTH = 20;
const IPV6_HEADER_LENGTH = 40;
export const UDP_HEADER_LENGTH = 8;
const PROTO_UDP = 17;

export interface UdpHeaders {
  family: IpFamily;
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  ttl: number;
  /** IPv4 identification (0 when not given). */
  id?: number;
}

export function ipUdpHeaderLength(family: IpFamily): number {
  return (family === 'ipv4' ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH) + UDP_HEADER_LENGTH;
}

/**
 * Writes an IP + UDP header at `off` for the `payloadLength` bytes that already sit right after
 * it, computing the IPv4 header checksum, the lengths and the UDP checksum. Returns the payload
 * offset.
 */
export function writeIpUdpHeaders(h: UdpHeaders, buf: Uint8Array, off: number, payloadLength: number): number {
  const udpLength = UDP_HEADER_LENGTH + payloadLength;
  if (udpLength > 0xffff) throw new LispEncodeError(`a UDP payload of ${payloadLength} bytes does not fit in one datagram`);
  let udp: number;
  let pseudo: number;
  if (h.family === 'ipv4') {
    buf[off] = 0x45;
    buf[off + 1] = 0;
    const total = IPV4_HEADER_LENGTH + udpLength;
    if (total > 0xffff) throw new LispEncodeError(`an IPv4 packet of ${total} bytes is too long`);
    buf[off + 2] = total >> 8;
    buf[off + 3] = total & 0xff;
    const id = h.id ?? 0;
    buf[off + 4] = (id >> 8) & 0xff;
    buf[off + 5] = id & 0xff;
    buf[off + 6] = 0x40; // DF
    buf[off + 7] = 0;
    buf[off + 8] = h.ttl;
    buf[off + 9] = PROTO_UDP;
    buf[off + 10] = 0;
    buf[off + 11] = 0;
    putIpv4(h.source, buf, off + 12);
    putIpv4(h.destination, buf, off + 16);
    const c = foldChecksum(onesSum(buf, off, off + IPV4_HEADER_LENGTH));
    buf[off + 10] = c >> 8;
    buf[off + 11] = c & 0xff;
    udp = off + IPV4_HEADER_LENGTH;
    pseudo = onesSum(buf, off + 12, off + 20, PROTO_UDP + udpLength);
  } else {
    buf[off] = 0x60;
    buf[off + 1] = 0;
    buf[off + 2] = 0;
    buf[off + 3] = 0;
    buf[off + 4] = udpLength >> 8;
    buf[off + 5] = udpLength & 0xff;
    buf[off + 6] = PROTO_UDP;
    buf[off + 7] = h.ttl;
    putIpv6(h.source, buf, off + 8);
    putIpv6(h.destination, buf, off + 24);
    udp = off + IPV6_HEADER_LENGTH;
    pseudo = onesSum(buf, off + 8, off + 40, PROTO_UDP + udpLength);
  }
  buf[udp] = h.sourcePort >> 8;
  buf[udp + 1] = h.sourcePort & 0xff;
  buf[udp + 2] = h.destinationPort >> 8;
  buf[udp + 3] = h.destinationPort & 0xff;
  buf[udp + 4] = udpLength >> 8;
  buf[udp + 5] = udpLength & 0xff;
  buf[udp + 6] = 0;
  buf[udp + 7] = 0;
  let c = foldChecksum(onesSum(buf, udp, udp + udpLength, pseudo));
  if (c === 0) c = 0xffff; // 0 means "no checksum" in UDP
  buf[udp + 6] = c >> 8;
  buf[udp + 7] = c & 0xff;
  return udp + UDP_HEADER_LENGTH;
}

/**
 * True when the UDP checksum of the datagram at buf[udp, udp + udpLength), carried in the IP
 * packet at `ip`, checks out. A zero checksum means "none computed" (RFC 768 for IPv4; lig sends
 * it) and is accepted for both families, as tunnels may (RFC 6935).
 */
export function udpChecksumValid(buf: Uint8Array, ip: number, family: IpFamily, udp: number, udpLength: number): boolean {
  if (buf[udp + 6] === 0 && buf[udp + 7] === 0) return true;
  const pseudo = family === 'ipv4' ? onesSum(buf, ip + 12, ip + 20, PROTO_UDP + udpLength) : onesSum(buf, ip + 8, ip + 40, PROTO_UDP + udpLength);
  return foldChecksum(onesSum(buf, udp, udp + udpLength, pseudo)) === 0;
}

export interface IpHeader {
  family: IpFamily;
  source: string;
  destination: string;
  protocol: number;
  ttl: number;
  /** Offset of the transport header. */
  payloadOffset: number;
  /** Offset just past the packet as its header says (bounded by `end`). */
  payloadEnd: number;
}

/**
 * Reads an IPv4 or IPv6 header at `off` (no IPv6 extension headers). Throws LispDecodeError:
 * TRUNCATED when the header runs past `end`, BAD_INNER_HEADER when it is not IP.
 */
export function readIpHeader(buf: Uint8Array, off: number, end: number): IpHeader {
  if (off >= end) throw new LispDecodeError('TRUNCATED', off, 'IP header expected, found the end of the data');
  const version = buf[off]! >> 4;
  if (version === 4) {
    if (off + IPV4_HEADER_LENGTH > end) throw new LispDecodeError('TRUNCATED', off, 'IPv4 header is cut short');
    const ihl = (buf[off]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LENGTH) throw new LispDecodeError('BAD_INNER_HEADER', off, `IPv4 header length ${ihl} is below 20`);
    if (off + ihl > end) throw new LispDecodeError('TRUNCATED', off, 'IPv4 options are cut short');
    const total = (buf[off + 2]! << 8) | buf[off + 3]!;
    if (total < ihl) throw new LispDecodeError('BAD_INNER_HEADER', off + 2, `IPv4 total length ${total} is below its header length`);
    return {
      family: 'ipv4',
      source: formatIpv4(buf, off + 12),
      destination: formatIpv4(buf, off + 16),
      protocol: buf[off + 9]!,
      ttl: buf[off + 8]!,
      payloadOffset: off + ihl,
      payloadEnd: Math.min(end, off + total),
    };
  }
  if (version === 6) {
    if (off + IPV6_HEADER_LENGTH > end) throw new LispDecodeError('TRUNCATED', off, 'IPv6 header is cut short');
    const plen = (buf[off + 4]! << 8) | buf[off + 5]!;
    return {
      family: 'ipv6',
      source: formatIpv6(buf, off + 8),
      destination: formatIpv6(buf, off + 24),
      protocol: buf[off + 6]!,
      ttl: buf[off + 7]!,
      payloadOffset: off + IPV6_HEADER_LENGTH,
      payloadEnd: Math.min(end, off + IPV6_HEADER_LENGTH + plen),
    };
  }
  throw new LispDecodeError('BAD_INNER_HEADER', off, `IP version ${version} is neither 4 nor 6`);
}
