/**
 * The one IP model of lispwg: addresses and prefixes of both families, as text, bytes (network
 * order, 4 or 16) or trie words (32-bit, most significant first). Every package parses, formats,
 * masks and compares IP addresses here, so one address has one text everywhere. Pure, no I/O;
 * the bottom package (src/lisp imports it too).
 *
 * Text in: dotted quad (no leading zeros: `010` could be octal), RFC 4291 IPv6 in any case, with
 * or without leading zeros, `::` and an embedded IPv4 tail (`::ffff:198.18.0.1`); no zone
 * (`%eth0`), no brackets, no blanks. Text out (RFC 5952): lower case, no leading zeros, the
 * longest run of two or more zero groups (the first on ties) as `::`, and mixed notation (RFC
 * 5952 section 5) for the two well-known prefixes of RFC 4291: IPv4-mapped `::ffff:198.18.0.1`
 * and the deprecated IPv4-compatible `::198.18.0.1` (not `::` and `::1`). That is what Node
 * prints (libuv's inet_ntop), so an address formatted here equals the one dgram or
 * os.networkInterfaces() reports.
 *
 * The text <-> bytes and text <-> words paths are the codec's and the trie's hot paths: one pass
 * over the characters, table lookups, no regexes, no allocation but the result string.
 */
import { LispwgError } from '../util/errors.js';

export type IpFamily = 'ipv4' | 'ipv6';

export interface IpAddress {
  readonly family: IpFamily;
  /** Network order: 4 bytes (IPv4) or 16 (IPv6). */
  readonly bytes: Uint8Array;
}

/** An address with a mask length; the address is kept as written (see maskPrefix). */
export interface IpPrefix extends IpAddress {
  readonly maskLen: number;
}

/**
 * A bad address or prefix: code BAD_ADDRESS or BAD_PREFIX. The message quotes the input;
 * `reason` is the part after it, for callers that name the input themselves.
 */
export class IpError extends LispwgError {
  constructor(
    code: 'BAD_ADDRESS' | 'BAD_PREFIX',
    /** The text that was refused. */
    readonly input: string,
    readonly reason: string,
    /** What the input is, to start the message with: 'gateway', 'allowed IP of peer x'. */
    what?: string,
  ) {
    super(code, `${what ? `${what} ` : ''}${reason.startsWith(`'${input}'`) ? reason : `'${input}': ${reason}`}`);
  }
}

export const familyBits = (f: IpFamily): number => (f === 'ipv4' ? 32 : 128);
export const familyBytes = (f: IpFamily): number => (f === 'ipv4' ? 4 : 16);
/** 'IPv4' or 'IPv6', for messages. */
export const familyName = (f: IpFamily): string => (f === 'ipv4' ? 'IPv4' : 'IPv6');

// ---------------------------------------------------------------------------------------------
// Text -> groups (the one parser)

/** The eight 16-bit groups of the last IPv6 parse or format (scratch: one parse at a time). */
const G = new Uint16Array(8);

/** Dotted-quad text[start, end) as an unsigned 32-bit number, or -1 when it is not IPv4. */
function ipv4Value(text: string, start: number, end: number): number {
  let word = 0;
  let parts = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return -1; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || parts === 4) return -1;
      word = word * 256 + value;
      parts++;
      value = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return parts === 4 ? word : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses IPv6 text into G; false when it is not IPv6. */
function ipv6Groups(text: string): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false; // 45: ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255
  let count = 0;
  let gap = -1; // index in G where '::' stands
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let value = 0;
    let digits = 0;
    const start = i;
    for (let h; i < n && (h = hexValue(text.charCodeAt(i))) >= 0; i++) {
      value = value * 16 + h;
      digits++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // an IPv4 tail: the last 32 bits
      if (count > 6) return false;
      const v = ipv4Value(text, start, n);
      if (v < 0) return false;
      G[count++] = v >>> 16;
      G[count++] = v & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    G[count++] = value;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false;
  // move the groups after '::' to the end, zeros in between
  const tail = count - gap;
  for (let k = 1; k <= tail; k++) G[8 - k] = G[count - k]!;
  for (let k = gap; k < 8 - tail; k++) G[k] = 0;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Groups -> text (the one formatter)

const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));
const HEX16: string[] = Array.from({ length: 0x10000 }, (_, i) => i.toString(16));

const dottedQuad = (hi: number, lo: number): string => DEC[hi >>> 8]! + '.' + DEC[hi & 0xff]! + '.' + DEC[lo >>> 8]! + '.' + DEC[lo & 0xff]!;

/** RFC 5952 text of the groups in G. */
function formatGroups(): string {
  if (G[0] === 0 && G[1] === 0 && G[2] === 0 && G[3] === 0 && G[4] === 0) {
    if (G[5] === 0xffff) return '::ffff:' + dottedQuad(G[6]!, G[7]!); // IPv4-mapped
    if (G[5] === 0 && G[6] !== 0) return '::' + dottedQuad(G[6]!, G[7]!); // IPv4-compatible (not ::1)
  }
  let best = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (G[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && G[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  let s = '';
  let sep = false; // a ':' goes before the next group
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += '::';
      i += bestLen - 1;
      sep = false;
      continue;
    }
    if (sep) s += ':';
    s += HEX16[G[i]!]!;
    sep = true;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Bytes (the codec's form)

/** Dotted-quad text of the 4 bytes at `off`. */
export function formatIpv4(b: Uint8Array, off = 0): string {
  return DEC[b[off]!]! + '.' + DEC[b[off + 1]!]! + '.' + DEC[b[off + 2]!]! + '.' + DEC[b[off + 3]!]!;
}

/** RFC 5952 text of the 16 bytes at `off`. */
export function formatIpv6(b: Uint8Array, off = 0): string {
  for (let i = 0; i < 8; i++) G[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  return formatGroups();
}

/** Writes the 4 bytes of IPv4 text at `off`; false (nothing written) when the text is not IPv4. */
export function writeIpv4(text: string, buf: Uint8Array, off: number): boolean {
  const v = ipv4Value(text, 0, text.length);
  if (v < 0) return false;
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
  return true;
}

/** Writes the 16 bytes of IPv6 text at `off`; false (nothing written) when the text is not IPv6. */
export function writeIpv6(text: string, buf: Uint8Array, off: number): boolean {
  if (!ipv6Groups(text)) return false;
  for (let i = 0; i < 8; i++) {
    buf[off + 2 * i] = G[i]! >>> 8;
    buf[off + 2 * i + 1] = G[i]! & 0xff;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** The family of an address text, or undefined when it is neither (or not zone-less). */
export function ipFamily(text: string): IpFamily | undefined {
  if (ipv4Value(text, 0, text.length) >= 0) return 'ipv4';
  return ipv6Groups(text) ? 'ipv6' : undefined;
}

/** The family of an address text already known to be an address (IPv6 has a colon, IPv4 none). */
export const familyOf = (address: string): IpFamily => (address.includes(':') ? 'ipv6' : 'ipv4');

/** The address, or undefined when the text is not one. */
export function tryParseIp(text: string): IpAddress | undefined {
  const v4 = new Uint8Array(4);
  if (writeIpv4(text, v4, 0)) return { family: 'ipv4', bytes: v4 };
  const v6 = new Uint8Array(16);
  return writeIpv6(text, v6, 0) ? { family: 'ipv6', bytes: v6 } : undefined;
}

const notAnAddress = (text: string, what?: string): IpError => new IpError('BAD_ADDRESS', text, `'${text}' is not an IPv4 or IPv6 address`, what);

/** Parses an address; throws IpError BAD_ADDRESS quoting the text (after `what` it is, if given). */
export function parseIp(text: string, what?: string): IpAddress {
  const a = tryParseIp(text);
  if (!a) throw notAnAddress(text, what);
  return a;
}

export function formatIp(a: IpAddress): string {
  return a.family === 'ipv4' ? formatIpv4(a.bytes) : formatIpv6(a.bytes);
}

/** The text of a bare 4- or 16-byte address (as kernel APIs hand them over). */
export function formatIpBytes(b: Uint8Array): string {
  if (b.length === 4) return formatIpv4(b);
  if (b.length === 16) return formatIpv6(b);
  throw new LispwgError('BAD_ADDRESS', `an IP address is 4 or 16 bytes, got ${b.length}`);
}

/** The canonical text of an address text; throws IpError BAD_ADDRESS. */
export function canonicalIp(text: string, what?: string): string {
  if (ipv4Value(text, 0, text.length) >= 0) return text;
  if (!ipv6Groups(text)) throw notAnAddress(text, what);
  return formatGroups();
}

// ---------------------------------------------------------------------------------------------
// Prefixes

export interface ParsePrefixOptions {
  /** A bare address is a host prefix (/32, /128). Default: a mask length is required. */
  bareIsHost?: boolean;
  /** What the text is, to start error messages with ('route destination'). */
  what?: string;
}

/**
 * Parses `ADDRESS/LENGTH` (host bits kept as written). Throws IpError quoting the text:
 * BAD_ADDRESS for the address part, BAD_PREFIX for the rest.
 */
export function parsePrefix(text: string, opts: ParsePrefixOptions = {}): IpPrefix {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const a = tryParseIp(addrText);
  if (!a) throw new IpError('BAD_ADDRESS', text, `'${addrText}' is not an IPv4 or IPv6 address`, opts.what);
  const bits = familyBits(a.family);
  if (slash < 0) {
    if (opts.bareIsHost) return { ...a, maskLen: bits };
    throw new IpError('BAD_PREFIX', text, `'${text}' has no prefix length (write it as ${text}/${bits} for one address)`, opts.what);
  }
  const lenText = text.slice(slash + 1);
  if (lenText.includes('/')) throw new IpError('BAD_PREFIX', text, `'${text}' has more than one '/'`, opts.what);
  if (!/^\d{1,3}$/.test(lenText)) throw new IpError('BAD_PREFIX', text, `'${lenText}' is not a prefix length (0..${bits})`, opts.what);
  const maskLen = Number(lenText);
  if (maskLen > bits) throw new IpError('BAD_PREFIX', text, `prefix length /${maskLen} is longer than an ${familyName(a.family)} address (${bits} bits)`, opts.what);
  return { ...a, maskLen };
}

/** `ADDRESS/LENGTH`, the address as it is held (mask it first for the network). */
export const formatPrefix = (p: IpPrefix): string => `${formatIp(p)}/${p.maskLen}`;

/** Clears the bits after `len` of the bytes, in place; returns them. */
function maskBytes(bytes: Uint8Array, len: number): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    const keep = len - i * 8;
    if (keep >= 8) continue;
    bytes[i] = keep <= 0 ? 0 : bytes[i]! & (0xff << (8 - keep));
  }
  return bytes;
}

/** The prefix with its host bits cleared (a new object): 198.18.1.7/24 -> 198.18.1.0/24. */
export const maskPrefix = (p: IpPrefix): IpPrefix => ({ family: p.family, bytes: maskBytes(Uint8Array.from(p.bytes), p.maskLen), maskLen: p.maskLen });

/** True when the prefix has no host bits set. */
export function isNetwork(p: IpPrefix): boolean {
  for (let i = 0; i < p.bytes.length; i++) {
    const keep = p.maskLen - i * 8;
    if (keep < 8 && (p.bytes[i]! & (0xff >> Math.max(0, keep))) !== 0) return false;
  }
  return true;
}

/**
 * True when `inner` (an address, or a whole prefix) lies inside `outer`: same family, at least
 * as long a mask, and the same first `outer.maskLen` bits. Host bits of either are ignored.
 */
export function prefixContains(outer: IpPrefix, inner: IpAddress | IpPrefix): boolean {
  if (outer.family !== inner.family) return false;
  const innerLen = 'maskLen' in inner ? inner.maskLen : familyBits(inner.family);
  if (innerLen < outer.maskLen) return false;
  for (let i = 0; i < outer.bytes.length; i++) {
    const keep = outer.maskLen - i * 8;
    if (keep <= 0) break;
    const m = keep >= 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
    if ((outer.bytes[i]! & m) !== (inner.bytes[i]! & m)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Words (the trie's keys: 1 word for IPv4, 4 for IPv6, most significant first)

const familyWords = (f: IpFamily): number => (f === 'ipv4' ? 1 : 4);

/**
 * The key words of an address text, written into `out` (fresh when not given): the lookup path
 * of every Map-Request, so no allocation with `out`. Throws IpError BAD_ADDRESS.
 */
export function ipWords(family: IpFamily, text: string, out: Uint32Array = new Uint32Array(familyWords(family))): Uint32Array {
  if (family === 'ipv4') {
    const v = ipv4Value(text, 0, text.length);
    if (v < 0) throw new IpError('BAD_ADDRESS', text, `'${text}' is not an IPv4 address`);
    out[0] = v;
    return out;
  }
  if (!ipv6Groups(text)) throw new IpError('BAD_ADDRESS', text, `'${text}' is not an IPv6 address`);
  for (let i = 0; i < 4; i++) out[i] = (G[2 * i]! << 16) | G[2 * i + 1]!;
  return out;
}

/** The canonical text of key words. */
export function formatWords(family: IpFamily, w: ArrayLike<number>): string {
  if (family === 'ipv4') {
    const v = w[0]!;
    return dottedQuad(v >>> 16, v & 0xffff);
  }
  for (let i = 0; i < 4; i++) {
    G[2 * i] = w[i]! >>> 16;
    G[2 * i + 1] = w[i]! & 0xffff;
  }
  return formatGroups();
}

/** Clears the bits after `len` of the words, in place; returns them. */
export function maskWords(words: Uint32Array, len: number): Uint32Array {
  for (let i = 0; i < words.length; i++) {
    const keep = len - i * 32;
    if (keep >= 32) continue;
    words[i] = keep <= 0 ? 0 : words[i]! & (0xffffffff << (32 - keep));
  }
  return words;
}
