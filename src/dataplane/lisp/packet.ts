/**
 * The per-packet work of the plain LISP data plane, on raw bytes and without allocation:
 * where an IP packet goes (its destination as trie key words), writing the 8-byte LISP data
 * header in front of it, and checking a received one (RFC 9300 section 5.3; the codec's
 * data-header.ts is the authority on the format, and the unit tests hold these to it).
 */
import { encodeDataHeader, DATA_HEADER_LENGTH } from '../../lisp/index.js';

export { DATA_HEADER_LENGTH };

/** Outer IPv4 + UDP + LISP header: what encapsulation adds on an IPv4 underlay. */
export const ENCAP_OVERHEAD_IPV4 = 20 + 8 + DATA_HEADER_LENGTH;
/** Outer IPv6 + UDP + LISP header. */
export const ENCAP_OVERHEAD_IPV6 = 40 + 8 + DATA_HEADER_LENGTH;

const I_BIT = 0x08;

/**
 * Reads the destination of the IP packet at `off` into trie key words (1 word for IPv4 in `v4`,
 * 4 for IPv6 in `v6`). Returns the IP version (4 or 6), or 0 when the bytes are not an IP packet.
 */
export function destinationWords(buf: Uint8Array, off: number, len: number, v4: Uint32Array, v6: Uint32Array): 0 | 4 | 6 {
  if (len < 1) return 0;
  const version = buf[off]! >> 4;
  if (version === 4) {
    if (len < 20) return 0;
    v4[0] = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
    return 4;
  }
  if (version === 6) {
    if (len < 40) return 0;
    for (let w = 0, p = off + 24; w < 4; w++, p += 4) v6[w] = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
    return 6;
  }
  return 0;
}

/**
 * The header every packet of one data plane carries: the I bit with the instance ID when the
 * virtual network has one (as OOR does), no other flag. Built once by the codec; the packet loop
 * keeps it in front of its read buffer, so it is never written per packet.
 */
export function headerTemplate(instanceId: number): Buffer {
  return encodeDataHeader(instanceId ? { instanceId, echoNonce: false } : { echoNonce: false });
}

export type DecapVerdict = 'ok' | 'short' | 'instance' | 'not-ip' | 'length';

/**
 * Checks a received UDP 4341 payload (msg[0..len)): long enough for a header and an IP header, the instance
 * ID ours when the I bit is set (a packet of another virtual network must not leak into this
 * one; without the I bit it belongs to the default instance 0), the inner packet IPv4 or IPv6
 * whose own length is the datagram's (a cut or padded packet is not ours: LISP carries exactly one).
 */
export function checkDecap(msg: Uint8Array, len: number, instanceId: number): DecapVerdict {
  if (len < DATA_HEADER_LENGTH + 20) return 'short';
  const iid = msg[0]! & I_BIT ? (msg[4]! << 16) | (msg[5]! << 8) | msg[6]! : 0;
  if (iid !== instanceId) return 'instance';
  const o = DATA_HEADER_LENGTH;
  const inner = len - o;
  const v = msg[o]! >> 4;
  if (v === 4) return (msg[o]! & 0x0f) >= 5 && ((msg[o + 2]! << 8) | msg[o + 3]!) === inner ? 'ok' : 'length';
  if (v === 6) return inner >= 40 && ((msg[o + 4]! << 8) | msg[o + 5]!) + 40 === inner ? 'ok' : 'length';
  return 'not-ip';
}
