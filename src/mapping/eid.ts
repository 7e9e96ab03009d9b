/**
 * EID prefixes: an address family, an instance ID (the virtual network) and a prefix.
 * Text form as in LISP tools: `198.18.1.0/24`, `[5]198.18.1.0/24`, `[5]2001:db8::/48`.
 * Addresses, masks and containment are src/ip's; keys for the trie are its words (1 for IPv4, 4
 * for IPv6, most significant first), so a lookup never allocates a bigint.
 */
import { LispwgError } from '../util/errors.js';
import { IpError, formatIp, formatWords, ipWords, maskPrefix, maskWords, parsePrefix, prefixContains as ipPrefixContains, type IpFamily } from '../ip/ip.js';


export interface EidPrefix {
  /** Instance ID (24 bits used in practice; 0 when the network has none). */
  iid: number;
  afi: IpFamily;
  /** The network address (host bits zero), canonical text. */
  address: string;
  maskLen: number;
}

/** Builds a prefix, zeroing host bits (so 198.18.1.7/24 names 198.18.1.0/24). Throws IpError on bad text. */
export function makeEidPrefix(afi: IpFamily, address: string, maskLen: number, iid = 0): EidPrefix {
  return { iid, afi, address: formatWords(afi, maskWords(ipWords(afi, address), maskLen)), maskLen };
}

/**
 * Parses `[iid]address/len` (the `[iid]` part and `/len` optional: a bare address is a host
 * prefix). Throws EID_PREFIX_INVALID naming the text.
 */
export function parseEidPrefix(text: string, defaultIid = 0): EidPrefix {
  const bad = (why: string) =>
    new LispwgError('EID_PREFIX_INVALID', `'${text}' is not an EID prefix (${why}); expected e.g. 198.18.1.0/24, [5]198.18.1.0/24 or 2001:db8:1::/48`);
  const m = /^\s*(?:\[(\d+)\])?(\S*?)\s*$/.exec(text);
  if (!m) throw bad('syntax');
  const iid = m[1] !== undefined ? Number(m[1]) : defaultIid;
  if (!Number.isInteger(iid) || iid < 0 || iid > 0xffffffff) throw bad('instance ID out of range');
  let p;
  try {
    p = parsePrefix(m[2]!, { bareIsHost: true });
  } catch (e) {
    throw e instanceof IpError ? bad(e.reason) : e;
  }
  return { iid, afi: p.family, address: formatIp(maskPrefix(p)), maskLen: p.maskLen };
}

export function formatEidPrefix(p: EidPrefix): string {
  return `${p.iid ? `[${p.iid}]` : ''}${p.address}/${p.maskLen}`;
}

/** The IP prefix of an EID prefix, without its instance ID: the text of its route and allowed IP. */
export const eidPrefixText = (p: EidPrefix): string => `${p.address}/${p.maskLen}`;

/** A stable map key for a prefix (same as the text form). */
export const eidPrefixKey = formatEidPrefix;

/** True when `outer` contains `inner`: the same instance ID, and the prefix contains it (src/ip). */
export function eidPrefixContains(outer: EidPrefix, inner: EidPrefix): boolean {
  if (outer.iid !== inner.iid || outer.afi !== inner.afi) return false;
  return ipPrefixContains(parsePrefix(`${outer.address}/${outer.maskLen}`), parsePrefix(`${inner.address}/${inner.maskLen}`));
}
