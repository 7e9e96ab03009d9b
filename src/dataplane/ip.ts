/**
 * The destination of a packet read from the TUN, straight from the bytes: all that miss
 * handling needs. It comes out as src/ip's canonical text, the form the map-cache is keyed with.
 */
import { formatIpv4, formatIpv6 } from '../ip/ip.js';

/** The destination address only (the miss path's one question); undefined for a non-IP packet. */
export function ipDestination(packet: Uint8Array): string | undefined {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (version === 4) return packet.length >= 20 && (packet[0]! & 0x0f) >= 5 ? formatIpv4(packet, 16) : undefined;
  if (version === 6) return packet.length >= 40 ? formatIpv6(packet, 24) : undefined;
  return undefined;
}
