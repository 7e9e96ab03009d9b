/**
 * EID prefixes: an address family, an instance ID (the virtual network) and a prefix.
 * Text form as in LISP tools: `198.18.1.0/24`, `[5]198.18.1.0/24`, `[5]2001:db8::/48`.
 *
 * Keys for the trie are 32-bit words (1 for IPv4, 4 for IPv6, most significant first), so a
 * lookup never allocates a bigint.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { LispwgError } from '../util/errors.js';
import { ipv6Text } from '../net/ip.js';

export type EidFamily = 'ipv4' | 'ipv6';

export interface EidPrefix {
  /** Instance ID (24 bits used in practice; 0 when the network has none). */
  iid: number;
  afi: EidFamily;
  /** The network address (host bits zero), canonical text. */
  address: string;
  maskLen: number;
}

export const familyBits = (afi: EidFamily): number => (afi === 'ipv4' ? 32 : 128);

/** IPv4 text -> unsigned 32-bit number. Assumes valid text (check with isIPv4 for untrusted input). */
export function ipv4ToWord(text: string): number {
  let word = 0;
  let part = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      word = (word << 8) | part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return ((word << 8) | part) >>> 0;
}

export function wordToIpv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}

const groupsScratch = new Uint16Array(8);

/**
 * IPv6 text (any valid form, also with an embedded IPv4 tail) -> 4 unsigned 32-bit words.
 * On the lookup path of every Map-Request: one pass over the characters, no allocation.
 */
export function ipv6ToWords(text: string, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  const g = groupsScratch;
  g.fill(0);
  let n = 0; // groups written
  let gap = -1; // index of '::' in groups
  let cur = 0;
  let digits = 0;
  const end = text.indexOf('%') >= 0 ? text.indexOf('%') : text.length;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) {
      // ':'
      if (digits) {
        g[n++] = cur;
        cur = 0;
        digits = 0;
      }
      if (i + 1 < end && text.charCodeAt(i + 1) === 58) {
        gap = n;
        i++;
      }
      continue;
    }
    if (c === 46) {
      // an IPv4 tail: re-read it as dotted quad from the start of this group
      let j = i;
      while (j > 0 && text.charCodeAt(j - 1) !== 58) j--;
      const w = ipv4ToWord(text.slice(j, end));
      g[n++] = w >>> 16;
      g[n++] = w & 0xffff;
      digits = 0;
      break;
    }
    cur = (cur << 4) | (c <= 57 ? c - 48 : (c | 32) - 87);
    digits++;
  }
  if (digits) g[n++] = cur;
  if (gap >= 0) {
    const tail = n - gap;
    for (let k = 0; k < tail; k++) g[7 - k] = g[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) g[k] = 0;
  }
  for (let i = 0; i < 4; i++) out[i] = ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0;
  return out;
}

/** 4 words -> canonical IPv6 text (RFC 5952: lower case, longest zero run compressed). */
export function wordsToIpv6(w: ArrayLike<number>): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[i]! >>> 16, w[i]! & 0xffff);
  return ipv6Text(g);
}

/** Address text -> trie key words. */
export function addressToWords(afi: EidFamily, address: string, out?: Uint32Array): Uint32Array {
  if (afi === 'ipv4') {
    const o = out ?? new Uint32Array(1);
    o[0] = ipv4ToWord(address);
    return o;
  }
  return ipv6ToWords(address, out);
}

export function wordsToAddress(afi: EidFamily, words: ArrayLike<number>): string {
  return afi === 'ipv4' ? wordToIpv4(words[0]!) : wordsToIpv6(words);
}

/** Zeroes the bits after `len` (in place) and returns the words. */
export function maskWords(words: Uint32Array, len: number): Uint32Array {
  for (let i = 0; i < words.length; i++) {
    const keep = len - i * 32;
    if (keep >= 32) continue;
    words[i] = keep <= 0 ? 0 : (words[i]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return words;
}

/** Builds a prefix, zeroing host bits (so 198.18.1.7/24 names 198.18.1.0/24). */
export function makeEidPrefix(afi: EidFamily, address: string, maskLen: number, iid = 0): EidPrefix {
  const words = maskWords(addressToWords(afi, address), maskLen);
  return { iid, afi, address: wordsToAddress(afi, words), maskLen };
}

/**
 * Parses `[iid]address/len` (the `[iid]` part and `/len` optional: a bare address is a host
 * prefix). Throws EID_PREFIX_INVALID naming the text.
 */
export function parseEidPrefix(text: string, defaultIid = 0): EidPrefix {
  const m = /^\s*(?:\[(\d+)\])?([0-9A-Fa-f.:]+)(?:\/(\d{1,3}))?\s*$/.exec(text);
  const bad = (why: string) =>
    new LispwgError('EID_PREFIX_INVALID', `'${text}' is not an EID prefix (${why}); expected e.g. 198.18.1.0/24, [5]198.18.1.0/24 or 2001:db8:1::/48`);
  if (!m) throw bad('syntax');
  const iid = m[1] !== undefined ? Number(m[1]) : defaultIid;
  if (!Number.isInteger(iid) || iid < 0 || iid > 0xffffffff) throw bad('instance ID out of range');
  const addr = m[2]!;
  const afi: EidFamily | undefined = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
  if (!afi) throw bad('not an IPv4 or IPv6 address');
  const maskLen = m[3] !== undefined ? Number(m[3]) : familyBits(afi);
  if (maskLen > familyBits(afi)) throw bad(`mask length ${maskLen} > ${familyBits(afi)}`);
  return makeEidPrefix(afi, addr, maskLen, iid);
}

export function formatEidPrefix(p: EidPrefix): string {
  return `${p.iid ? `[${p.iid}]` : ''}${p.address}/${p.maskLen}`;
}

/** A stable map key for a prefix (same as the text form). */
export const eidPrefixKey = formatEidPrefix;

/** True when `outer` contains `inner` (same instance ID and family). */
export function prefixContains(outer: EidPrefix, inner: EidPrefix): boolean {
  if (outer.iid !== inner.iid || outer.afi !== inner.afi || outer.maskLen > inner.maskLen) return false;
  const a = maskWords(addressToWords(outer.afi, outer.address), outer.maskLen);
  const b = maskWords(addressToWords(inner.afi, inner.address), outer.maskLen);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
