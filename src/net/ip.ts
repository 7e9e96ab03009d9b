/**
 * IP addresses and prefixes as kernel APIs want them: network-order bytes plus a family.
 * Text in, bytes out, with an error that names the bad input.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { LispwgError } from '../util/errors.js';

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  bytes: Buffer;
}

export interface IpPrefix extends IpAddress {
  prefixLen: number;
}

/** Parses a dotted-quad or RFC 4291 text address (no zone, no brackets). */
export function parseIp(text: string, what = 'address'): IpAddress {
  if (isIPv4(text)) return { family: 4, bytes: Buffer.from(text.split('.').map(Number)) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, bytes: ipv6Bytes(text) };
  throw new LispwgError('BAD_ADDRESS', `${what} '${text}' is not an IPv4 or IPv6 address`);
}

function ipv6Bytes(text: string): Buffer {
  let t = text;
  if (t.includes('.')) {
    // an embedded IPv4 tail (::ffff:198.18.0.1) becomes two hex groups
    const colon = t.lastIndexOf(':');
    const v4 = t.slice(colon + 1).split('.').map(Number);
    t = `${t.slice(0, colon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const groups = (s: string) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const [head = '', rest] = t.split('::') as [string, string | undefined];
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

/** Parses `ADDR/LEN` (a bare address is a host prefix). Host bits are kept as given. */
export function parseCidr(text: string, what = 'prefix'): IpPrefix {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash), what);
  const max = addr.family === 4 ? 32 : 128;
  if (slash < 0) return { ...addr, prefixLen: max };
  const lenText = text.slice(slash + 1);
  const prefixLen = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || prefixLen > max) {
    throw new LispwgError('BAD_PREFIX', `${what} '${text}' has an invalid prefix length (0..${max} for IPv${addr.family})`);
  }
  return { ...addr, prefixLen };
}

/** Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new LispwgError('BAD_ADDRESS', `an IP address is 4 or 16 bytes, got ${bytes.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  return ipv6Text(g);
}

/** Eight 16-bit groups -> RFC 5952 text: lower case, the longest run (>= 2) of zero groups as '::'. */
export function ipv6Text(g: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = (a: readonly number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The prefix with its host bits cleared. */
export function maskPrefix(p: IpPrefix): IpPrefix {
  const bytes = Buffer.from(p.bytes);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, p.prefixLen - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { family: p.family, bytes, prefixLen: p.prefixLen };
}

/** `ADDR/LEN` text of a prefix. */
export const formatCidr = (p: IpPrefix): string => `${formatIp(p.bytes)}/${p.prefixLen}`;
