/**
 * Address plans as the test-bed needs them: enumerate hosts of a network, and the project's
 * safety rule that a lab only ever uses the documentation/benchmark ranges. Parsing, text,
 * masks and containment are src/ip's; the plan keeps an address as a number to count hosts.
 */
import {
  familyBits,
  familyBytes,
  formatIp as formatAddress,
  IpError,
  maskPrefix,
  parsePrefix,
  prefixContains,
  tryParseIp,
  type IpFamily,
  type IpPrefix,
} from '../../src/ip/ip.js';

/** An address with its prefix length: `198.18.0.1/24` (an interface address) or a network. */
export interface Cidr {
  family: IpFamily;
  /** The address as written (host bits kept), as a number: address plans count hosts. */
  value: bigint;
  prefix: number;
}

/** The only ranges a lab may use (project rule): benchmark, control and documentation space. */
export const ALLOWED_RANGES: readonly string[] = ['198.18.0.0/15', '100.100.0.0/16', '2001:db8::/32'];

// the numeric form of src/ip's bytes, and back
const toValue = (bytes: Uint8Array): bigint => bytes.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
function toBytes(family: IpFamily, value: bigint): Uint8Array {
  const b = new Uint8Array(familyBytes(family));
  for (let i = b.length - 1; i >= 0; i--, value >>= 8n) b[i] = Number(value & 0xffn);
  return b;
}
const toPrefix = (c: { family: IpFamily; value: bigint; prefix?: number }): IpPrefix => ({ family: c.family, bytes: toBytes(c.family, c.value), maskLen: c.prefix ?? familyBits(c.family) });

/** Parses an IPv4/IPv6 address (no prefix; blanks around it allowed); undefined when it is not one. */
export function parseIp(text: string): { family: IpFamily; value: bigint } | undefined {
  const a = tryParseIp(text.trim());
  return a && { family: a.family, value: toValue(a.bytes) };
}

/**
 * Parses `addr/len`; with `defaultPrefix` a bare address is accepted (a host address).
 * Returns a string describing the problem instead of throwing, so validators can place it.
 */
export function parseCidr(text: string, defaultPrefix?: (f: IpFamily) => number): Cidr | string {
  if (typeof text !== 'string') return `expected an address like 198.18.0.1/24, got ${JSON.stringify(text)}`;
  const t = text.trim();
  let p: IpPrefix;
  try {
    p = parsePrefix(t, { bareIsHost: true });
  } catch (e) {
    if (e instanceof IpError) return e.reason;
    throw e;
  }
  let prefix = p.maskLen;
  if (!t.includes('/')) {
    // an interface address, most likely: suggest a subnet's length
    if (!defaultPrefix) return `'${t}' has no prefix length (write it as ${t}/${p.family === 'ipv4' ? 24 : 64})`;
    prefix = defaultPrefix(p.family);
  }
  return { family: p.family, value: toValue(p.bytes), prefix };
}

export function formatIp(family: IpFamily, value: bigint): string {
  return formatAddress({ family, bytes: toBytes(family, value) });
}

/** `198.18.0.1` */
export const ipText = (c: Cidr): string => formatIp(c.family, c.value);
/** `198.18.0.1/24` */
export const cidrText = (c: Cidr): string => `${ipText(c)}/${c.prefix}`;

/** The network of an interface address: `198.18.0.1/24` -> `198.18.0.0/24`. */
export const networkOf = (c: Cidr): Cidr => ({ ...c, value: toValue(maskPrefix(toPrefix(c)).bytes) });

/** True when `c` (an address or a whole prefix) lies inside `net`. */
export function contains(net: Cidr, c: { family: IpFamily; value: bigint; prefix?: number }): boolean {
  return prefixContains(toPrefix(net), toPrefix(c));
}

/** The n-th address of a network, with the network's prefix: hostAt(198.18.0.0/24, 1) = 198.18.0.1/24. */
export function hostAt(net: Cidr, n: number): Cidr {
  const size = 1n << BigInt(familyBits(net.family) - net.prefix);
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
  if (c.family === 'ipv6' || c.prefix >= 31) return false;
  const host = hostNumber(c);
  return host === 0n || host === (1n << BigInt(32 - c.prefix)) - 1n;
}
