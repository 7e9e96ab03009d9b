/**
 * IP addresses and headers as the codec needs them: text <-> bytes for IPv4 and IPv6 (decoding
 * is on the hot path: table lookups, no regexes), the Internet checksum, and the IPv4/IPv6 + UDP
 * headers that an ECM carries and that pcap frames wrap.
 *
 * IPv6 text follows RFC 5952 like Node's own formatting (libuv's inet_ntop): lower case, the
 * longest run of two or more zero groups as '::', '::ffff:a.b.c.d' for IPv4-mapped addresses,
 * so an address decoded here compares equal to the one dgram reports for the same peer.
 */
import { LispDecodeError, LispEncodeError } from './errors.js';

export type IpFamily = 'ipv4' | 'ipv6';

const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));
const HEX16: string[] = [];
for (let i = 0; i < 0x10000; i++) HEX16.push(i.toString(16));

/** Formats 4 bytes at `off` as dotted-quad text. */
export function formatIpv4(b: Uint8Array, off: number): string {
  return DEC[b[off]!]! + '.' + DEC[b[off + 1]!]! + '.' + DEC[b[off + 2]!]! + '.' + DEC[b[off + 3]!]!;
}

/** Formats 16 bytes at `off` as RFC 5952 text. */
export function formatIpv6(b: Uint8Array, off: number): string {
  const w = new Array<number>(8);
  for (let i = 0; i < 8; i++) w[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  // longest run of zero groups (leftmost on ties), only when 2 or more long
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      return s + formatIpv4(b, off + 12);
    }
    s += HEX16[w[i]!]!;
    if (i < 7) s += ':';
  }
  return s;
}

function badAddress(text: string, family: string): LispEncodeError {
  return new LispEncodeError(`'${text}' is not an ${family} address`);
}

/** Parses dotted-quad text into buf at off; returns false when the text is not IPv4. */
function parseIpv4Into(text: string, start: number, end: number, buf: Uint8Array, off: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // no leading zeros (octal ambiguity)
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      buf[off + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** Writes the 4 bytes of an IPv4 text address at `off`. Throws LispEncodeError on bad text. */
export function writeIpv4(text: string, buf: Uint8Array, off: number): void {
  if (!parseIpv4Into(text, 0, text.length, buf, off)) throw badAddress(text, 'IPv4');
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes the 16 bytes of an IPv6 text address at `off`. Throws LispEncodeError on bad text. */
export function writeIpv6(text: string, buf: Uint8Array, off: number): void {
  const groups: number[] = [];
  let gap = -1; // index in groups where '::' stands
  let i = 0;
  const n = text.length;
  if (n < 2) throw badAddress(text, 'IPv6');
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) throw badAddress(text, 'IPv6');
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let value = 0;
    let digits = 0;
    const start = i;
    while (i < n) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // embedded IPv4 in the last 32 bits
      if (groups.length > 6) throw badAddress(text, 'IPv6');
      const tmp = new Uint8Array(4);
      if (!parseIpv4Into(text, start, n, tmp, 0)) throw badAddress(text, 'IPv6');
      groups.push((tmp[0]! << 8) | tmp[1]!, (tmp[2]! << 8) | tmp[3]!);
      break;
    }
    if (digits === 0 || digits > 4) throw badAddress(text, 'IPv6');
    groups.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) throw badAddress(text, 'IPv6');
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) throw badAddress(text, 'IPv6');
      gap = groups.length;
      i++;
    } else if (i === n) {
      throw badAddress(text, 'IPv6'); // trailing single ':'
    }
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) throw badAddress(text, 'IPv6');
  const zeros = 8 - groups.length;
  let g = 0;
  for (let k = 0; k < 8; k++) {
    let value: number;
    if (gap >= 0 && k >= gap && k < gap + zeros) value = 0;
    else value = groups[g++]!;
    buf[off + 2 * k] = value >> 8;
    buf[off + 2 * k + 1] = value & 0xff;
  }
}

/** The family of an IP text address, or undefined when it is neither. */
export function ipFamily(text: string): IpFamily | undefined {
  const tmp = new Uint8Array(16);
  if (parseIpv4Into(text, 0, text.length, tmp, 0)) return 'ipv4';
  try {
    writeIpv6(text, tmp, 0);
    return 'ipv6';
  } catch {
    return undefined;
  }
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
    writeIpv4(h.source, buf, off + 12);
    writeIpv4(h.destination, buf, off + 16);
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
    writeIpv6(h.source, buf, off + 8);
    writeIpv6(h.destination, buf, off + 24);
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
