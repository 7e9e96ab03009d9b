/**
 * The records inside control messages, one codec each (`encodingLength`, `encode`, `decode`):
 *
 * Locator:         | Priority | Weight | M Priority | M Weight |
 *                  | Unused Flags (13) |L|p|R| Loc-AFI | Locator ... |
 * Mapping record:  | Record TTL (32) |
 *                  | Locator Count | EID mask-len | ACT (3) |A| Reserved (12) |
 *                  | Rsvd (4) | Map-Version (12) | EID-Prefix-AFI | EID-Prefix ... | Locators ...
 * EID record:      | Reserved | EID mask-len | EID-Prefix-AFI | EID-Prefix ...   (Map-Request)
 */
import type { EidRecord, Locator, MappingRecord } from './types.js';
import { address, addressBits } from './address.js';
import { LispDecodeError, LispEncodeError } from './errors.js';
import { checkU8, checkUint, type Reader, type Writer } from './wire.js';

const L_BIT = 0x4;
const P_BIT = 0x2;
const R_BIT = 0x1;

export const locator = {
  encodingLength(l: Locator): number {
    return 6 + address.encodingLength(l.address);
  },
  encode(l: Locator, w: Writer, off: number): number {
    const b = w.buf;
    b[off] = checkU8(l.priority, 'locator priority');
    b[off + 1] = checkU8(l.weight, 'locator weight');
    b[off + 2] = checkU8(l.mPriority, 'locator M priority');
    b[off + 3] = checkU8(l.mWeight, 'locator M weight');
    b[off + 4] = 0;
    b[off + 5] = (l.local ? L_BIT : 0) | (l.probed ? P_BIT : 0) | (l.reachable ? R_BIT : 0);
    return address.encode(l.address, w, off + 6);
  },
  decode(r: Reader): Locator {
    r.need(6, 'locator');
    const b = r.buf;
    const p = r.pos;
    const flags = b[p + 5]!;
    r.pos += 6;
    return {
      priority: b[p]!,
      weight: b[p + 1]!,
      mPriority: b[p + 2]!,
      mWeight: b[p + 3]!,
      local: (flags & L_BIT) !== 0,
      probed: (flags & P_BIT) !== 0,
      reachable: (flags & R_BIT) !== 0,
      address: address.decode(r),
    };
  },
};

/** Refuses a mask-len longer than the EID's address (when the EID is an IP address). */
function checkMaskLen(rec: { maskLen: number; eid: MappingRecord['eid'] }, at: number): void {
  const bits = addressBits(rec.eid);
  if (bits !== undefined && rec.maskLen > bits) {
    throw new LispDecodeError('BAD_MASK_LEN', at, `EID mask-len ${rec.maskLen} is longer than the ${bits}-bit address`);
  }
}

export const mappingRecord = {
  encodingLength(m: MappingRecord): number {
    let n = 10 + address.encodingLength(m.eid);
    for (const l of m.locators) n += locator.encodingLength(l);
    return n;
  },
  encode(m: MappingRecord, w: Writer, off: number): number {
    const b = w.buf;
    if (m.locators.length > 255) throw new LispEncodeError(`a mapping record carries at most 255 locators, got ${m.locators.length}`);
    w.view.setUint32(off, checkUint(m.ttl, 32, 'record TTL'));
    b[off + 4] = m.locators.length;
    b[off + 5] = checkU8(m.maskLen, 'EID mask-len');
    b[off + 6] = (checkUint(m.action, 3, 'ACT') << 5) | (m.authoritative ? 0x10 : 0);
    b[off + 7] = 0;
    w.view.setUint16(off + 8, checkUint(m.mapVersion, 12, 'Map-Version'));
    off = address.encode(m.eid, w, off + 10);
    for (const l of m.locators) off = locator.encode(l, w, off);
    return off;
  },
  decode(r: Reader): MappingRecord {
    const at = r.pos;
    r.need(10, 'mapping record');
    const ttl = r.u32();
    const count = r.u8();
    const maskLen = r.u8();
    const actA = r.u8();
    r.pos++; // Reserved
    const mapVersion = r.u16() & 0x0fff;
    const eid = address.decode(r);
    const locators: Locator[] = [];
    for (let i = 0; i < count; i++) locators.push(locator.decode(r));
    const rec: MappingRecord = { ttl, maskLen, action: actA >> 5, authoritative: (actA & 0x10) !== 0, mapVersion, eid, locators };
    checkMaskLen(rec, at + 5);
    return rec;
  },
};

export const eidRecord = {
  encodingLength(e: EidRecord): number {
    return 2 + address.encodingLength(e.eid);
  },
  encode(e: EidRecord, w: Writer, off: number): number {
    w.buf[off] = 0;
    w.buf[off + 1] = checkU8(e.maskLen, 'EID mask-len');
    return address.encode(e.eid, w, off + 2);
  },
  decode(r: Reader): EidRecord {
    const at = r.pos;
    r.need(2, 'EID record');
    r.pos++; // Reserved
    const maskLen = r.u8();
    const rec: EidRecord = { maskLen, eid: address.decode(r) };
    checkMaskLen(rec, at + 1);
    return rec;
  },
};
