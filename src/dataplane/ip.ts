/**
 * Fast parsing of the IP header of a packet read from the TUN: only what miss handling needs
 * (family, source, destination), straight from the bytes. Addresses come out as text in the
 * codec's canonical form (dotted quad, RFC 5952), the form the map-cache is keyed with.
 */
import { formatIpv4, formatIpv6 } from '../ip/ip.js';

export interface IpHeader {
  family: 4 | 6;
  source: string;
  destination: string;
  /** Protocol (IPv4) or Next Header (IPv6). */
  protocol: number;
}

/** Parses the header of an IPv4 or IPv6 packet; undefined when the bytes are not one. */
export function parseIpHeader(packet: Uint8Array): IpHeader | undefined {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4) {
    if (packet.length < 20 || (packet[0]! & 0x0f) < 5) return undefined;
    return { family: 4, source: formatIpv4(packet, 12), destination: formatIpv4(packet, 16), protocol: packet[9]! };
  }
  if (version === 6) {
    if (packet.length < 40) return undefined;
    return { family: 6, source: formatIpv6(packet, 8), destination: formatIpv6(packet, 24), protocol: packet[6]! };
  }
  return undefined;
}

/** The destination address only (the miss path's one question); undefined for a non-IP packet. */
export function ipDestination(packet: Uint8Array): string | undefined {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4) return packet.length >= 20 && (packet[0]! & 0x0f) >= 5 ? formatIpv4(packet, 16) : undefined;
  if (version === 6) return packet.length >= 40 ? formatIpv6(packet, 24) : undefined;
  return undefined;
}
