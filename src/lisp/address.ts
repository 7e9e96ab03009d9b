/**
 * AFI-encoded addresses and the LCAFs lispwg reads (RFC 8060): one codec per shape, each with
 * `encodingLength`, `encode` and `decode` side by side, field for field.
 *
 *   | AFI (16) | address ...            AFI 0: none, 1: IPv4, 2: IPv6, 16389: 48-bit MAC
 *   | AFI = 16387 | Rsvd1 | Flags | Type | Rsvd2 | Length | body (Length bytes) ...
 *
 * Decoding is bounded: an LCAF's Length must fit in its parent (LCAF_OVERRUN), a known LCAF's
 * body must fill its Length exactly (LCAF_LENGTH), nesting stops at MAX_LCAF_DEPTH (LCAF_DEPTH),
 * and an AFI of unknown length stops decoding (BAD_AFI). Unknown LCAF types round-trip as
 * opaque bytes.
 */
import type { Address, AfiListLcaf, InstanceIdLcaf, Lcaf, SecurityKeyLcaf, UnknownLcaf } from './types.js';
import { Afi, LcafType } from './types.js';
import { LispDecodeError, LispEncodeError } from './errors.js';
import { formatIpv4, formatIpv6 } from '../ip/ip.js';
import { putIpv4, putIpv6 } from './ip.js';
import { checkU16, checkU8, checkUint, type Reader, type Writer } from './wire.js';

/** LCAFs nested deeper than this are refused (Security Key > Instance ID > address is depth 2). */
export const MAX_LCAF_DEPTH = 4;

const LCAF_HEADER_LENGTH = 6; // Rsvd1, Flags, Type, Rsvd2, Length (after the AFI)

/** Encodes, decodes and measures the body of one LCAF type (what follows its Length field). */
interface LcafBodyCodec<T extends Lcaf> {
  encodingLength(l: T): number;
  /** Writes the body at off; returns the offset after it. */
  encode(l: T, w: Writer, off: number): number;
  /** Reads the body; r.end is the end of the body. */
  decode(r: Reader, header: { type: number; flags: number; rsvd2: number }): T;
  /** Type, Flags and Rsvd2 to put in the header. */
  header(l: T): { type: number; flags: number; rsvd2: number };
}

// ---------------------------------------------------------------------------------------------
// Address (AFI + address)

export const address = {
  encodingLength(a: Address): number {
    switch (a.afi) {
      case 'ipv4':
        return 6;
      case 'ipv6':
        return 18;
      case 'none':
        return 2;
      case 'mac':
        return 8;
      case 'lcaf':
        return 2 + LCAF_HEADER_LENGTH + lcafCodec(a.lcaf).encodingLength(a.lcaf);
    }
  },

  encode(a: Address, w: Writer, off: number): number {
    const b = w.buf;
    switch (a.afi) {
      case 'ipv4':
        w.view.setUint16(off, Afi.Ipv4);
        putIpv4(a.address, b, off + 2);
        return off + 6;
      case 'ipv6':
        w.view.setUint16(off, Afi.Ipv6);
        putIpv6(a.address, b, off + 2);
        return off + 18;
      case 'none':
        w.view.setUint16(off, Afi.None);
        return off + 2;
      case 'mac':
        w.view.setUint16(off, Afi.Mac);
        putMac(a.address, b, off + 2);
        return off + 8;
      case 'lcaf': {
        const codec = lcafCodec(a.lcaf);
        const length = codec.encodingLength(a.lcaf);
        if (length > 0xffff) throw new LispEncodeError(`an LCAF body of ${length} bytes does not fit its 16-bit Length`);
        const h = codec.header(a.lcaf);
        w.view.setUint16(off, Afi.Lcaf);
        b[off + 2] = 0; // Rsvd1
        b[off + 3] = checkU8(h.flags, 'LCAF flags');
        b[off + 4] = checkU8(h.type, 'LCAF type');
        b[off + 5] = checkU8(h.rsvd2, 'LCAF Rsvd2');
        w.view.setUint16(off + 6, length);
        return codec.encode(a.lcaf, w, off + 8);
      }
    }
  },

  decode(r: Reader): Address {
    r.need(2, 'AFI');
    const afi = r.u16();
    switch (afi) {
      case Afi.Ipv4: {
        r.need(4, 'IPv4 address');
        const a = formatIpv4(r.buf, r.pos);
        r.pos += 4;
        return { afi: 'ipv4', address: a };
      }
      case Afi.Ipv6: {
        r.need(16, 'IPv6 address');
        const a = formatIpv6(r.buf, r.pos);
        r.pos += 16;
        return { afi: 'ipv6', address: a };
      }
      case Afi.None:
        return { afi: 'none' };
      case Afi.Lcaf:
        return { afi: 'lcaf', lcaf: decodeLcaf(r) };
      case Afi.Mac: {
        r.need(6, 'MAC address');
        const a = Array.from(r.buf.subarray(r.pos, r.pos + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
        r.pos += 6;
        return { afi: 'mac', address: a };
      }
      default:
        throw new LispDecodeError('BAD_AFI', r.pos - 2, `AFI ${afi} is not one lispwg reads (0 none, 1 IPv4, 2 IPv6, 16387 LCAF, 16389 MAC)`);
    }
  },
};

function putMac(text: string, b: Uint8Array, off: number): void {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) throw new LispEncodeError(`'${text}' is not a 48-bit MAC address (expected e.g. 02:00:00:00:00:01)`);
  for (let i = 0; i < 6; i++) b[off + i] = parseInt(m[i + 1]!, 16);
}

/** Reads an LCAF after its AFI: header, then the body bounded by Length. */
function decodeLcaf(r: Reader): Lcaf {
  const start = r.pos - 2;
  r.need(LCAF_HEADER_LENGTH, 'LCAF header');
  r.pos++; // Rsvd1
  const flags = r.u8();
  const type = r.u8();
  const rsvd2 = r.u8();
  const length = r.u16();
  const bodyEnd = r.pos + length;
  if (bodyEnd > r.end) {
    throw new LispDecodeError('LCAF_OVERRUN', start, `LCAF type ${type} claims ${length} bytes, only ${r.end - r.pos} left in its parent`);
  }
  if (r.depth >= MAX_LCAF_DEPTH) {
    throw new LispDecodeError('LCAF_DEPTH', start, `LCAFs nested more than ${MAX_LCAF_DEPTH} deep`);
  }
  const parentEnd = r.end;
  r.end = bodyEnd;
  r.depth++;
  const codec = LCAF_CODECS.get(type) ?? unknownLcaf;
  const lcaf = codec.decode(r, { type, flags, rsvd2 });
  if (r.pos !== bodyEnd) {
    throw new LispDecodeError('LCAF_LENGTH', r.pos, `LCAF type ${type} has ${bodyEnd - r.pos} bytes after its content (Length ${length})`);
  }
  r.depth--;
  r.end = parentEnd;
  return lcaf;
}

function lcafCodec(l: Lcaf): LcafBodyCodec<Lcaf> {
  switch (l.type) {
    case 'afi-list':
      return afiListLcaf as LcafBodyCodec<Lcaf>;
    case 'instance-id':
      return instanceIdLcaf as LcafBodyCodec<Lcaf>;
    case 'security-key':
      return securityKeyLcaf as LcafBodyCodec<Lcaf>;
    case 'unknown':
      return unknownLcaf as LcafBodyCodec<Lcaf>;
  }
}

// ---------------------------------------------------------------------------------------------
// Type 1, AFI List: | AFI | address | AFI | address | ... (until Length)

const afiListLcaf: LcafBodyCodec<AfiListLcaf> = {
  encodingLength(l) {
    let n = 0;
    for (const a of l.addresses) n += address.encodingLength(a);
    return n;
  },
  encode(l, w, off) {
    for (const a of l.addresses) off = address.encode(a, w, off);
    return off;
  },
  decode(r) {
    const addresses: Address[] = [];
    while (r.pos < r.end) addresses.push(address.decode(r));
    return { type: 'afi-list', addresses };
  },
  header: () => ({ type: LcafType.AfiList, flags: 0, rsvd2: 0 }),
};

// ---------------------------------------------------------------------------------------------
// Type 2, Instance ID: Rsvd2 = IID mask-len | Instance ID (32) | AFI | address

const instanceIdLcaf: LcafBodyCodec<InstanceIdLcaf> = {
  encodingLength(l) {
    return 4 + address.encodingLength(l.address);
  },
  encode(l, w, off) {
    w.view.setUint32(off, checkUint(l.instanceId, 32, 'Instance ID'));
    return address.encode(l.address, w, off + 4);
  },
  decode(r, h) {
    r.need(4, 'Instance ID');
    const instanceId = r.u32();
    return { type: 'instance-id', instanceId, iidMaskLen: h.rsvd2, address: address.decode(r) };
  },
  header: (l) => ({ type: LcafType.InstanceId, flags: 0, rsvd2: l.iidMaskLen }),
};

// ---------------------------------------------------------------------------------------------
// Type 11, Security Key:
//   | Key Count | Rsvd3 | Key Algorithm | Rsvd4 (7) |R|
//   | Key Length | Key Material ...   (Key Count times)
//   | AFI | address ...

const securityKeyLcaf: LcafBodyCodec<SecurityKeyLcaf> = {
  encodingLength(l) {
    let n = 4;
    for (const k of l.keys) n += 2 + k.length;
    return n + address.encodingLength(l.address);
  },
  encode(l, w, off) {
    const b = w.buf;
    b[off] = checkU8(l.keys.length, 'Key Count');
    b[off + 1] = 0;
    b[off + 2] = checkU8(l.algorithm, 'Key Algorithm');
    b[off + 3] = l.revoke ? 1 : 0;
    off += 4;
    for (const k of l.keys) {
      w.view.setUint16(off, checkU16(k.length, 'Key Length'));
      b.set(k, off + 2);
      off += 2 + k.length;
    }
    return address.encode(l.address, w, off);
  },
  decode(r) {
    r.need(4, 'Security Key header');
    const count = r.u8();
    r.pos++; // Rsvd3
    const algorithm = r.u8();
    const revoke = (r.u8() & 1) === 1;
    const keys: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      r.need(2, 'Key Length');
      const n = r.u16();
      r.need(n, 'Key Material');
      keys.push(r.bytes(n));
    }
    return { type: 'security-key', algorithm, revoke, keys, address: address.decode(r) };
  },
  header: () => ({ type: LcafType.SecurityKey, flags: 0, rsvd2: 0 }),
};

// ---------------------------------------------------------------------------------------------
// Any other type: the body as opaque bytes, with Flags and Rsvd2, so it round-trips.

const unknownLcaf: LcafBodyCodec<UnknownLcaf> = {
  encodingLength(l) {
    return l.body.length;
  },
  encode(l, w, off) {
    w.buf.set(l.body, off);
    return off + l.body.length;
  },
  decode(r, h) {
    return { type: 'unknown', lcafType: h.type, flags: h.flags, rsvd2: h.rsvd2, body: r.bytes(r.end - r.pos) };
  },
  header: (l) => {
    if (LCAF_CODECS.has(l.lcafType)) throw new LispEncodeError(`LCAF type ${l.lcafType} has its own shape; it cannot be sent as 'unknown'`);
    return { type: l.lcafType, flags: l.flags, rsvd2: l.rsvd2 };
  },
};

const LCAF_CODECS = new Map<number, LcafBodyCodec<Lcaf>>([
  [LcafType.AfiList, afiListLcaf as LcafBodyCodec<Lcaf>],
  [LcafType.InstanceId, instanceIdLcaf as LcafBodyCodec<Lcaf>],
  [LcafType.SecurityKey, securityKeyLcaf as LcafBodyCodec<Lcaf>],
]);

/** The address length in bits of an IP address, unwrapping Security Key / Instance ID LCAFs. */
export function addressBits(a: Address): number | undefined {
  for (let i = 0; i <= MAX_LCAF_DEPTH; i++) {
    if (a.afi === 'ipv4') return 32;
    if (a.afi === 'ipv6') return 128;
    if (a.afi !== 'lcaf') return undefined;
    if (a.lcaf.type === 'security-key' || a.lcaf.type === 'instance-id') a = a.lcaf.address;
    else return undefined;
  }
  return undefined;
}
