/**
 * Decodes one captured frame into the event an experiment reads: ICMP echo (id, seq), WireGuard
 * (message type, by the first byte and the length, on any port), LISP control (4342: type, and the
 * message decoded by src/lisp), LISP data (4341: the data header and the inner
 * packet), other UDP, TCP. Bounded reads only: a short or odd frame becomes `other`, never a throw.
 */
import { type DataHeader, decodeDataHeader, decodeMessage, type LispMessage } from '../../src/lisp/index.js';
import { LinkType } from '../../src/pcap/pcap.js';
import { formatIpv4, formatIpv6 } from '../../src/ip/ip.js';

export interface Base {
  /** Capture time, microseconds since the epoch (the same clock as Date.now() * 1000). */
  timeUs: number;
  /** Frame length on the wire. */
  length: number;
  src: string;
  dst: string;
  /** IP time-to-live / hop limit. */
  ttl: number;
}

export type IcmpEvent = Base & { kind: 'icmp'; type: 'echo-request' | 'echo-reply' | 'other'; icmpType: number; code: number; id?: number; seq?: number };
export type WireGuardMessage = 'handshake-initiation' | 'handshake-response' | 'cookie-reply' | 'transport';
export type WireGuardEvent = Base & { kind: 'wireguard'; message: WireGuardMessage; sport: number; dport: number; receiver?: number; counter?: bigint };
export type LispControlEvent = Base & { kind: 'lisp-control'; type: number; name: string; sport: number; dport: number; payload: Uint8Array; message?: LispMessage; decodeError?: string };
export type LispDataEvent = Base & { kind: 'lisp-data'; sport: number; dport: number; header?: DataHeader; inner?: PacketEvent };
export type UdpEvent = Base & { kind: 'udp'; sport: number; dport: number; payload: Uint8Array };
export type TcpEvent = Base & { kind: 'tcp'; sport: number; dport: number; flags: number };
export type OtherEvent = { kind: 'other'; timeUs: number; length: number; why: string };

export type PacketEvent = IcmpEvent | WireGuardEvent | LispControlEvent | LispDataEvent | UdpEvent | TcpEvent | OtherEvent | (Base & { kind: 'ip'; protocol: number });

/** LINKTYPE_RAW as some libpcaps write it (DLT_RAW = 12); src/lisp's LinkType has the rest. */
const LINKTYPE_RAW_DLT = 12;

const LISP_TYPES: Record<number, string> = { 1: 'Map-Request', 2: 'Map-Reply', 3: 'Map-Register', 4: 'Map-Notify', 5: 'Map-Notify-Ack', 8: 'ECM' };

/** Where the IP packet starts in a frame of this link type, and its version; undefined if not IP. */
function ipStart(linkType: number, f: Buffer): number | undefined {
  switch (linkType) {
    case LinkType.Ethernet: {
      let off = 12;
      let type = f.length >= 14 ? f.readUInt16BE(12) : 0;
      while ((type === 0x8100 || type === 0x88a8) && f.length >= off + 6) {
        off += 4;
        type = f.readUInt16BE(off);
      }
      return type === 0x0800 || type === 0x86dd ? off + 2 : undefined;
    }
    case LinkType.LinuxSll:
      return f.length >= 16 && [0x0800, 0x86dd].includes(f.readUInt16BE(14)) ? 16 : undefined;
    case LinkType.LinuxSll2:
      return f.length >= 20 && [0x0800, 0x86dd].includes(f.readUInt16BE(0)) ? 20 : undefined;
    case LinkType.Null:
      return f.length >= 4 ? 4 : undefined;
    case LinkType.Raw:
    case LINKTYPE_RAW_DLT:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
      return 0;
    default:
      return undefined;
  }
}

function wireguard(p: Buffer): { message: WireGuardMessage; receiver?: number; counter?: bigint } | undefined {
  if (p.length < 4 || p[1] !== 0 || p[2] !== 0 || p[3] !== 0) return undefined;
  switch (p[0]) {
    case 1:
      return p.length === 148 ? { message: 'handshake-initiation' } : undefined;
    case 2:
      return p.length === 92 ? { message: 'handshake-response', receiver: p.readUInt32LE(8) } : undefined;
    case 3:
      return p.length === 64 ? { message: 'cookie-reply', receiver: p.readUInt32LE(4) } : undefined;
    case 4:
      return p.length >= 32 && (p.length - 32) % 16 === 0 ? { message: 'transport', receiver: p.readUInt32LE(4), counter: p.readBigUInt64LE(8) } : undefined;
    default:
      return undefined;
  }
}

/** Decodes an IP packet (v4 or v6) that starts at `off`. */
function decodeIp(buf: Buffer, off: number, timeUs: number, length: number): PacketEvent {
  const other = (why: string): OtherEvent => ({ kind: 'other', timeUs, length, why });
  if (buf.length < off + 1) return other('empty');
  const version = buf[off]! >> 4;
  let proto: number;
  let l4: number;
  let end: number;
  let src: string;
  let dst: string;
  let ttl: number;
  if (version === 4) {
    if (buf.length < off + 20) return other('truncated IPv4 header');
    const ihl = (buf[off]! & 15) * 4;
    const total = buf.readUInt16BE(off + 2);
    if ((buf.readUInt16BE(off + 6) & 0x1fff) !== 0) return other('IPv4 fragment');
    proto = buf[off + 9]!;
    ttl = buf[off + 8]!;
    src = formatIpv4(buf, off + 12);
    dst = formatIpv4(buf, off + 16);
    l4 = off + ihl;
    end = Math.min(buf.length, off + total);
  } else if (version === 6) {
    if (buf.length < off + 40) return other('truncated IPv6 header');
    proto = buf[off + 6]!;
    ttl = buf[off + 7]!;
    src = formatIpv6(buf, off + 8);
    dst = formatIpv6(buf, off + 24);
    l4 = off + 40;
    end = Math.min(buf.length, l4 + buf.readUInt16BE(off + 4));
    // hop-by-hop, routing, destination options: skip; a fragment header ends decoding
    while ((proto === 0 || proto === 43 || proto === 60) && end >= l4 + 8) {
      proto = buf[l4]!;
      l4 += (buf[l4 + 1]! + 1) * 8;
    }
    if (proto === 44) return other('IPv6 fragment');
  } else return other(`not IP (version ${version})`);
  const base: Base = { timeUs, length, src, dst, ttl };
  const p = buf.subarray(l4, Math.max(l4, end));
  if ((proto === 1 && version === 4) || (proto === 58 && version === 6)) {
    if (p.length < 4) return other('truncated ICMP');
    const [req, rep] = version === 4 ? [8, 0] : [128, 129];
    const t = p[0]!;
    const type = t === req ? 'echo-request' : t === rep ? 'echo-reply' : 'other';
    const echo = type !== 'other' && p.length >= 8 ? { id: p.readUInt16BE(4), seq: p.readUInt16BE(6) } : {};
    return { ...base, kind: 'icmp', type, icmpType: t, code: p[1]!, ...echo };
  }
  if (proto === 6) {
    if (p.length < 14) return other('truncated TCP');
    return { ...base, kind: 'tcp', sport: p.readUInt16BE(0), dport: p.readUInt16BE(2), flags: p[13]! };
  }
  if (proto !== 17) return { ...base, kind: 'ip', protocol: proto };
  if (p.length < 8) return other('truncated UDP');
  const sport = p.readUInt16BE(0);
  const dport = p.readUInt16BE(2);
  const payload = p.subarray(8);
  if (sport === 4342 || dport === 4342) {
    const type = payload.length ? payload[0]! >> 4 : 0;
    const ev: LispControlEvent = { ...base, kind: 'lisp-control', type, name: LISP_TYPES[type] ?? `type ${type}`, sport, dport, payload };
    try {
      ev.message = decodeMessage(payload);
    } catch (e) {
      ev.decodeError = (e as Error).message;
    }
    return ev;
  }
  if (sport === 4341 || dport === 4341) {
    if (payload.length < 8) return { ...base, kind: 'lisp-data', sport, dport };
    const header = decodeDataHeader(payload);
    return { ...base, kind: 'lisp-data', sport, dport, header, inner: decodeIp(payload, 8, timeUs, payload.length - 8) };
  }
  const wg = wireguard(payload);
  if (wg) return { ...base, kind: 'wireguard', sport, dport, ...wg };
  return { ...base, kind: 'udp', sport, dport, payload };
}

/** Decodes a captured frame of the given pcap link type. */
export function decodeFrame(linkType: number, frame: Buffer, timeUs: number, length = frame.length): PacketEvent {
  const off = ipStart(linkType, frame);
  if (off === undefined) return { kind: 'other', timeUs, length, why: `not IP (link type ${linkType})` };
  return decodeIp(frame, off, timeUs, length);
}
