/**
 * IP addresses and prefixes as the test-bed needs them: parse, contain, enumerate, and the
 * project's safety rule that a lab only ever uses the documentation/benchmark ranges.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** An address with its prefix length: `198.18.0.1/24` (an interface address) or a network. */
export interface Cidr {
  family: Family;
  /** The address as written (host bits kept). */
  value: bigint;
  prefix: number;
}

/** The only ranges a lab may use (project rule): benchmark, control and documentation space. */
export const ALLOWED_RANGES: readonly string[] = ['198.18.0.0/15', '100.100.0.0/16', '2001:db8::/32'];

export const bits = (f: Family): number => (f === 4 ? 32 : 128);

/** Parses an IPv4/IPv6 address (no prefix); undefined when it is not one. */
export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  const t = text.trim();
  if (isIPv4(t)) {
    const v = t.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { family: 4, value: v };
  }
  if (isIPv6(t)) {
    if (t.includes('.')) return undefined; // IPv4-mapped forms are not used in labs
    const [head, tail] = t.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
    const v = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
    return { family: 6, value: v };
  }
  return undefined;
}

/**
 * Parses `addr/len`; with `defaultPrefix` a bare address is accepted (a host address).
 * Returns a string describing the problem instead of throwing, so validators can place it.
 */
export function parseCidr(text: string, defaultPrefix?: (f: Family) => number): Cidr | string {
  if (typeof text !== 'string') return `expected an address like 198.18.0.1/24, got ${JSON.stringify(text)}`;
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return `'${text}' has more than one '/'`;
  const ip = parseIp(addr ?? '');
  if (!ip) return `'${addr}' is not an IPv4 or IPv6 address`;
  let prefix: number;
  if (len === undefined) {
    if (!defaultPrefix) return `'${text}' has no prefix length (write it as ${addr}/${ip.family === 4 ? 24 : 64})`;
    prefix = defaultPrefix(ip.family);
  } else {
    if (!/^\d{1,3}$/.test(len)) return `'${len}' is not a prefix length`;
    prefix = Number(len);
  }
  if (prefix > bits(ip.family)) return `prefix length /${prefix} is longer than an IPv${ip.family} address (${bits(ip.family)} bits)`;
  return { family: ip.family, value: ip.value, prefix };
}

const mask = (f: Family, prefix: number): bigint => {
  const all = (1n << BigInt(bits(f))) - 1n;
  return all ^ ((1n << BigInt(bits(f) - prefix)) - 1n);
};

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** `198.18.0.1` */
export const ipText = (c: Cidr): string => formatIp(c.family, c.value);
/** `198.18.0.1/24` */
export const cidrText = (c: Cidr): string => `${ipText(c)}/${c.prefix}`;

/** The network of an interface address: `198.18.0.1/24` -> `198.18.0.0/24`. */
export const networkOf = (c: Cidr): Cidr => ({ ...c, value: c.value & mask(c.family, c.prefix) });

/** True when `c` (an address or a whole prefix) lies inside `net`. */
export function contains(net: Cidr, c: { family: Family; value: bigint; prefix?: number }): boolean {
  if (net.family !== c.family) return false;
  if (c.prefix !== undefined && c.prefix < net.prefix) return false;
  const m = mask(net.family, net.prefix);
  return (c.value & m) === (net.value & m);
}

/** The n-th address of a network, with the network's prefix: hostAt(198.18.0.0/24, 1) = 198.18.0.1/24. */
export function hostAt(net: Cidr, n: number): Cidr {
  const size = 1n << BigInt(bits(net.family) - net.prefix);
  if (BigInt(n) >= size) throw new RangeError(`${cidrText(networkOf(net))} has no host number ${n}`);
  return { family: net.family, value: networkOf(net).value + BigInt(n), prefix: net.prefix };
}

/** The host number of an address inside its network (198.18.0.10/24 -> 10). */
export const hostNumber = (c: Cidr): bigint => c.value - networkOf(c).value;

const allowed = ALLOWED_RANGES.map((r) => parseCidr(r) as Cidr);

/** True when the whole prefix lies in one of ALLOWED_RANGES. */
export const inAllowedRange = (c: Cidr): boolean => allowed.some((r) => contains(r, c));

/** True when the address is the network address or the IPv4 broadcast address of its prefix. */
export function isReservedHost(c: Cidr): boolean {
  if (c.family === 6 || c.prefix >= 31) return false;
  const host = hostNumber(c);
  return host === 0n || host === (1n << BigInt(32 - c.prefix)) - 1n;
}
