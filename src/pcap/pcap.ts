/**
 * Packet captures of LISP traffic: writing pcap files of UDP datagrams (Ethernet + IPv4/IPv6 +
 * UDP, so tshark dissects them as it would a capture), and taking the UDP datagrams back out of
 * captured frames of the link types tcpdump writes on Linux (Ethernet, Linux cooked v1/v2, raw
 * IP, BSD loopback).
 */
import { ipFamily } from '../ip/ip.js';
import { readIpHeader, writeIpUdpHeaders, ipUdpHeaderLength, UDP_HEADER_LENGTH, type IpHeader } from '../lisp/ip.js';
import { LispDecodeError, LispEncodeError } from '../lisp/errors.js';

export const LinkType = { Null: 0, Ethernet: 1, Raw: 101, LinuxSll: 113, Ipv4: 228, Ipv6: 229, LinuxSll2: 276 } as const;

export interface UdpDatagram {
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
  /** IPv4 TTL / IPv6 hop limit (64 when not given). */
  ttl?: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8];
const ETHERNET_HEADER_LENGTH = 14;

/** An Ethernet frame (locally administered MACs) carrying the datagram over IPv4 or IPv6. */
export function ethernetUdpFrame(d: UdpDatagram): Buffer {
  const family = ipFamily(d.source);
  if (!family || ipFamily(d.destination) !== family) {
    throw new LispEncodeError(`a datagram needs two addresses of one family, got '${d.source}' and '${d.destination}'`);
  }
  const ipStart = ETHERNET_HEADER_LENGTH;
  const payloadStart = ipStart + ipUdpHeaderLength(family);
  const frame = Buffer.alloc(payloadStart + d.payload.length);
  frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01], 0); // dst, src
  frame.writeUInt16BE(family === 'ipv4' ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, 12);
  frame.set(d.payload, payloadStart);
  writeIpUdpHeaders({ family, source: d.source, destination: d.destination, sourcePort: d.sourcePort, destinationPort: d.destinationPort, ttl: d.ttl ?? 64 }, frame, ipStart, d.payload.length);
  return frame;
}

/** The 24-byte pcap file header (microsecond timestamps, little-endian). */
export function pcapGlobalHeader(linkType: number = LinkType.Ethernet, snapLength = 65535): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snapLength, 16);
  h.writeUInt32LE(linkType, 20);
  return h;
}

/** One pcap record: 16-byte header and the frame, stamped `timeMs` (ms since the epoch). */
export function pcapRecord(frame: Uint8Array, timeMs: number): Buffer {
  const h = Buffer.alloc(16 + frame.length);
  const seconds = Math.floor(timeMs / 1000);
  h.writeUInt32LE(seconds, 0);
  h.writeUInt32LE(Math.round((timeMs - seconds * 1000) * 1000), 4);
  h.writeUInt32LE(frame.length, 8);
  h.writeUInt32LE(frame.length, 12);
  h.set(frame, 16);
  return h;
}

/** A whole pcap file of the datagrams as Ethernet frames, 1 ms apart from `startMs`. */
export function writePcap(datagrams: UdpDatagram[], startMs = Date.UTC(2021, 6, 19)): Buffer {
  return Buffer.concat([pcapGlobalHeader(), ...datagrams.map((d, i) => pcapRecord(ethernetUdpFrame(d), startMs + i))]);
}

// ---------------------------------------------------------------------------------------------
// Frames -> UDP datagrams

export interface CapturedUdp {
  ip: IpHeader;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
}

/** Offset of the IP header in a frame of `linkType`, or undefined when the frame is not IP. */
function ipOffset(linkType: number, f: Uint8Array): number | undefined {
  switch (linkType) {
    case LinkType.Ethernet: {
      let off = 12;
      if (f.length < off + 2) return undefined;
      let type = (f[off]! << 8) | f[off + 1]!;
      while (ETHERTYPE_VLAN.includes(type) && f.length >= off + 6) {
        off += 4;
        type = (f[off]! << 8) | f[off + 1]!;
      }
      return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? off + 2 : undefined;
    }
    case LinkType.LinuxSll: {
      if (f.length < 16) return undefined;
      const type = (f[14]! << 8) | f[15]!;
      return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? 16 : undefined;
    }
    case LinkType.LinuxSll2: {
      if (f.length < 20) return undefined;
      const type = (f[0]! << 8) | f[1]!;
      return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? 20 : undefined;
    }
    case LinkType.Null: {
      if (f.length < 4) return undefined;
      // the BSD address family in the capturing host's byte order
      const family = f[0] !== 0 ? f[0]! : f[3]!;
      return family === 2 || family === 10 || family === 24 || family === 28 || family === 30 ? 4 : undefined;
    }
    case LinkType.Raw:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
    case 12: // DLT_RAW on some systems
    case 14:
      return 0;
    default:
      return undefined;
  }
}

/** Whether `linkType` is one udpOfFrame understands. */
export function knownLinkType(linkType: number): boolean {
  return [0, 1, 12, 14, 101, 113, 228, 229, 276].includes(linkType);
}

/**
 * The UDP datagram in a captured frame; undefined when the frame is not UDP over IP (or a
 * non-first IPv4 fragment). Throws LispDecodeError when the IP/UDP headers are cut short.
 */
export function udpOfFrame(linkType: number, frame: Uint8Array): CapturedUdp | undefined {
  const off = ipOffset(linkType, frame);
  if (off === undefined || off >= frame.length) return undefined;
  const version = frame[off]! >> 4;
  if (version !== 4 && version !== 6) return undefined;
  const ip = readIpHeader(frame, off, frame.length);
  if (ip.protocol !== 17) return undefined;
  if (ip.family === 'ipv4' && ((frame[off + 6]! & 0x1f) | frame[off + 7]!) !== 0) return undefined; // a later fragment
  const u = ip.payloadOffset;
  if (u + UDP_HEADER_LENGTH > ip.payloadEnd) throw new LispDecodeError('TRUNCATED', u, 'UDP header is cut short');
  const udpLength = (frame[u + 4]! << 8) | frame[u + 5]!;
  const end = Math.min(ip.payloadEnd, udpLength >= UDP_HEADER_LENGTH ? u + udpLength : ip.payloadEnd);
  return {
    ip,
    sourcePort: (frame[u]! << 8) | frame[u + 1]!,
    destinationPort: (frame[u + 2]! << 8) | frame[u + 3]!,
    payload: frame.subarray(u + UDP_HEADER_LENGTH, end),
  };
}
