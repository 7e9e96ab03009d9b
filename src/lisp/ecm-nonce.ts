/**
 * Rewriting the nonce of an encoded ECM Map-Request in place, inner UDP checksum included, so a
 * flood generator can send one prebuilt message with a new nonce each time (`lispwg query --rate`)
 * and every copy is still a valid datagram: OOR drops an ECM whose inner checksum fails.
 */

/** Byte offsets inside an encoded ECM: the inner Map-Request's nonce and the inner UDP checksum. */
export interface EcmNonceOffsets {
  nonceOffset: number;
  checksumOffset: number;
}

/**
 * Writes `nonce` at `nonceOffset` and updates the UDP checksum incrementally (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m') over each changed 16-bit word). The nonce sits at an even offset from the
 * UDP header, so its four words are the checksum's words. A zero checksum (IPv4 "none") stays zero.
 */
export function rewriteEcmNonce(buf: Buffer, o: EcmNonceOffsets, nonce: bigint): void {
  const hc = buf.readUInt16BE(o.checksumOffset);
  if (hc === 0) {
    buf.writeBigUInt64BE(nonce, o.nonceOffset);
    return;
  }
  let sum = ~hc & 0xffff;
  for (let i = 0; i < 8; i += 2) sum += ~buf.readUInt16BE(o.nonceOffset + i) & 0xffff;
  buf.writeBigUInt64BE(nonce, o.nonceOffset);
  for (let i = 0; i < 8; i += 2) sum += buf.readUInt16BE(o.nonceOffset + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  let c = ~sum & 0xffff;
  if (c === 0) c = 0xffff; // UDP sends a computed 0 as all ones (0 means "no checksum")
  buf.writeUInt16BE(c, o.checksumOffset);
}
