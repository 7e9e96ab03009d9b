/**
 * The Map-Server benches' EID space: entry i of a region gets a random-looking but unique IPv6 /80
 * in 2001:db8::/32 (the documentation prefix, the only space here large enough for 10^6 entries).
 */
import { eidAddress, wrapWireguardKey, type MappingRecord } from '../../src/lisp/index.js';

/** A bijection on 32-bit integers, so entry i gets a random-looking but unique /80. */
export function perm(i: number): number {
  let x = i >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Entry i's /80 (region 0: keyed records; region 1: plain records; region 2: Map-Register run). */
export function prefixText(i: number, region: number): string {
  const h = perm(i);
  return `2001:db8:${region.toString(16)}:${(h >>> 16).toString(16)}:${(h & 0xffff).toString(16)}::`;
}
export const PREFIX_LEN = 80;

export function record(i: number, region: number, withKey: boolean): MappingRecord {
  const eid = eidAddress(prefixText(i, region));
  const key = Buffer.alloc(32);
  for (let w = 0; w < 8; w++) key.writeUInt32BE(perm(i * 8 + w + region * 0x10000000), w * 4);
  return {
    ttl: 1440,
    maskLen: PREFIX_LEN,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: withKey ? wrapWireguardKey(eid, key) : eid,
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: 'ipv4', address: `198.18.${(i >>> 8) & 255}.${i & 255}` } }],
  };
}
