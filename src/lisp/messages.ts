/**
 * The LISP control messages (RFC 9301 / RFC 6833 as OOR and Wireshark read them), one codec per
 * message type with `encodingLength`, `encode` and `decode` side by side, and the entry points
 * `encodeMessage`, `decodeMessage`, `encodingLength`.
 *
 * Decoding policy (hostile bytes): every read is bounded by the message; a message longer than
 * MAX_MESSAGE_LENGTH is refused (TOO_LONG) before any parsing; counts are only loop bounds,
 * never allocation sizes; bytes left after the message are refused (TRAILING_BYTES), because the
 * HMAC of a Map-Register covers the whole datagram and lispwg sends nothing after a message.
 * Every failure is a LispDecodeError with a stable code and the offset where decoding stopped.
 */
import type { Authenticated, Ecm, EidRecord, LispMessage, MapNotify, MapNotifyAck, MapRegister, MapReply, MapRequest, MappingRecord } from './types.js';
import { MessageType } from './types.js';
import { address } from './address.js';
import { eidRecord, mappingRecord } from './records.js';
import { LispDecodeError, LispEncodeError } from './errors.js';
import { ipFamily } from '../ip/ip.js';
import { ipUdpHeaderLength, readIpHeader, udpChecksumValid, writeIpUdpHeaders, UDP_HEADER_LENGTH } from './ip.js';
import { checkU16, checkU64, checkU8, Reader, Writer } from './wire.js';

/**
 * The largest control message decoded or encoded, 64 KiB - 1: no UDP payload can be longer (the
 * UDP length field is 16 bits). Larger input is refused (TOO_LONG) before any parsing.
 */
export const MAX_MESSAGE_LENGTH = 65535;

/** Byte offset of the Authentication Data in Map-Register, Map-Notify and Map-Notify-Ack. */
export const AUTH_DATA_OFFSET = 16;

interface MessageCodec<T extends LispMessage> {
  encodingLength(m: T): number;
  encode(m: T, w: Writer, off: number): number;
  /** r.pos is at the first byte of the message (its type nibble). */
  decode(r: Reader): T;
}

function tooMany(what: string, n: number, max: number): LispEncodeError {
  return new LispEncodeError(`a message carries at most ${max} ${what}, got ${n}`);
}

// ---------------------------------------------------------------------------------------------
// Map-Request (type 1)
//   |Type=1 |A|M|P|S|p|s| Reserved (9) | IRC (5) | Record Count |
//   | Nonce (64) | Source-EID-AFI + EID | ITR-RLOC-AFI + RLOC (IRC + 1) | EID records | [Map-Reply record]

export const mapRequest: MessageCodec<MapRequest> = {
  encodingLength(m) {
    let n = 12 + address.encodingLength(m.sourceEid);
    for (const a of m.itrRlocs) n += address.encodingLength(a);
    for (const e of m.records) n += eidRecord.encodingLength(e);
    if (m.mapReply) n += mappingRecord.encodingLength(m.mapReply);
    return n;
  },
  encode(m, w, off) {
    const b = w.buf;
    if (m.itrRlocs.length < 1 || m.itrRlocs.length > 32) throw new LispEncodeError(`a Map-Request carries 1 to 32 ITR-RLOCs, got ${m.itrRlocs.length}`);
    if (m.records.length > 255) throw tooMany('EID records', m.records.length, 255);
    if (m.mapDataPresent !== (m.mapReply !== undefined)) throw new LispEncodeError('a Map-Request has a mapReply record exactly when mapDataPresent (M bit) is set');
    b[off] = (MessageType.MapRequest << 4) | (m.authoritative ? 8 : 0) | (m.mapDataPresent ? 4 : 0) | (m.probe ? 2 : 0) | (m.smr ? 1 : 0);
    b[off + 1] = (m.pitr ? 0x80 : 0) | (m.smrInvoked ? 0x40 : 0);
    b[off + 2] = m.itrRlocs.length - 1;
    b[off + 3] = m.records.length;
    w.view.setBigUint64(off + 4, checkU64(m.nonce, 'nonce'));
    off = address.encode(m.sourceEid, w, off + 12);
    for (const a of m.itrRlocs) off = address.encode(a, w, off);
    for (const e of m.records) off = eidRecord.encode(e, w, off);
    if (m.mapReply) off = mappingRecord.encode(m.mapReply, w, off);
    return off;
  },
  decode(r) {
    r.need(12, 'Map-Request header');
    const f0 = r.u8();
    const f1 = r.u8();
    const irc = r.u8() & 0x1f;
    const count = r.u8();
    const nonce = r.u64();
    const sourceEid = address.decode(r);
    const itrRlocs = [];
    for (let i = 0; i <= irc; i++) itrRlocs.push(address.decode(r));
    const records: EidRecord[] = [];
    for (let i = 0; i < count; i++) records.push(eidRecord.decode(r));
    const m: MapRequest = {
      type: 'map-request',
      authoritative: (f0 & 8) !== 0,
      mapDataPresent: (f0 & 4) !== 0,
      probe: (f0 & 2) !== 0,
      smr: (f0 & 1) !== 0,
      pitr: (f1 & 0x80) !== 0,
      smrInvoked: (f1 & 0x40) !== 0,
      nonce,
      sourceEid,
      itrRlocs,
      records,
    };
    if (m.mapDataPresent) m.mapReply = mappingRecord.decode(r);
    return m;
  },
};

// ---------------------------------------------------------------------------------------------
// Map-Reply (type 2)
//   |Type=2 |P|E|S| Reserved (17) | Record Count | Nonce (64) | Records ...

function recordsLength(records: MappingRecord[]): number {
  let n = 0;
  for (const rec of records) n += mappingRecord.encodingLength(rec);
  return n;
}

function encodeRecords(records: MappingRecord[], w: Writer, off: number): number {
  for (const rec of records) off = mappingRecord.encode(rec, w, off);
  return off;
}

function decodeRecords(r: Reader, count: number): MappingRecord[] {
  const records: MappingRecord[] = [];
  for (let i = 0; i < count; i++) records.push(mappingRecord.decode(r));
  return records;
}

export const mapReply: MessageCodec<MapReply> = {
  encodingLength(m) {
    return 12 + recordsLength(m.records);
  },
  encode(m, w, off) {
    const b = w.buf;
    if (m.records.length > 255) throw tooMany('records', m.records.length, 255);
    b[off] = (MessageType.MapReply << 4) | (m.probe ? 8 : 0) | (m.echoNonceCapable ? 4 : 0) | (m.security ? 2 : 0);
    b[off + 1] = 0;
    b[off + 2] = 0;
    b[off + 3] = m.records.length;
    w.view.setBigUint64(off + 4, checkU64(m.nonce, 'nonce'));
    return encodeRecords(m.records, w, off + 12);
  },
  decode(r) {
    r.need(12, 'Map-Reply header');
    const f0 = r.u8();
    r.pos += 2;
    const count = r.u8();
    const nonce = r.u64();
    return {
      type: 'map-reply',
      probe: (f0 & 8) !== 0,
      echoNonceCapable: (f0 & 4) !== 0,
      security: (f0 & 2) !== 0,
      nonce,
      records: decodeRecords(r, count),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// The authenticated body shared by Map-Register, Map-Notify and Map-Notify-Ack:
//   | Nonce (64) | Key ID (16) | Auth Data Length (16) | Auth Data | Records | [xTR-ID (128) Site-ID (64)]

const XTR_ID_LENGTH = 16;

const authenticatedBody = {
  encodingLength(m: Authenticated): number {
    return 12 + m.authData.length + recordsLength(m.records) + (m.xtrId ? XTR_ID_LENGTH + 8 : 0);
  },
  /** Writes from the nonce on (off = 4 bytes into the message). */
  encode(m: Authenticated, w: Writer, off: number): number {
    if (m.records.length > 255) throw tooMany('records', m.records.length, 255);
    if ((m.xtrId === undefined) !== (m.siteId === undefined)) throw new LispEncodeError('xtrId and siteId go together (the I bit)');
    if (m.xtrId && m.xtrId.length !== XTR_ID_LENGTH) throw new LispEncodeError(`an xTR-ID is ${XTR_ID_LENGTH} bytes, got ${m.xtrId.length}`);
    w.view.setBigUint64(off, checkU64(m.nonce, 'nonce'));
    w.view.setUint16(off + 8, checkU16(m.keyId, 'Key ID'));
    w.view.setUint16(off + 10, checkU16(m.authData.length, 'authentication data length'));
    w.buf.set(m.authData, off + 12);
    off = encodeRecords(m.records, w, off + 12 + m.authData.length);
    if (m.xtrId && m.siteId !== undefined) {
      w.buf.set(m.xtrId, off);
      w.view.setBigUint64(off + XTR_ID_LENGTH, checkU64(m.siteId, 'Site-ID'));
      off += XTR_ID_LENGTH + 8;
    }
    return off;
  },
  decode(r: Reader, count: number, iBit: boolean): Authenticated {
    r.need(12, 'nonce and authentication header');
    const nonce = r.u64();
    const keyId = r.u16();
    const authLength = r.u16();
    r.need(authLength, 'authentication data');
    const authData = r.bytes(authLength);
    const body: Authenticated = { nonce, keyId, authData, records: decodeRecords(r, count) };
    if (iBit) {
      r.need(XTR_ID_LENGTH + 8, 'xTR-ID and Site-ID (I bit)');
      body.xtrId = r.bytes(XTR_ID_LENGTH);
      body.siteId = r.u64();
    }
    return body;
  },
};

// Map-Register (type 3): |Type=3 |P|S|I|R| Reserved (15) |M| Record Count |

export const mapRegister: MessageCodec<MapRegister> = {
  encodingLength(m) {
    return 4 + authenticatedBody.encodingLength(m);
  },
  encode(m, w, off) {
    const b = w.buf;
    b[off] = (MessageType.MapRegister << 4) | (m.proxyReply ? 8 : 0) | (m.security ? 4 : 0) | (m.xtrId ? 2 : 0) | (m.rtr ? 1 : 0);
    b[off + 1] = 0;
    b[off + 2] = m.wantMapNotify ? 1 : 0;
    b[off + 3] = m.records.length & 0xff;
    return authenticatedBody.encode(m, w, off + 4);
  },
  decode(r) {
    r.need(4, 'Map-Register header');
    const f0 = r.u8();
    r.pos++;
    const f2 = r.u8();
    const count = r.u8();
    return {
      type: 'map-register',
      proxyReply: (f0 & 8) !== 0,
      security: (f0 & 4) !== 0,
      rtr: (f0 & 1) !== 0,
      wantMapNotify: (f2 & 1) !== 0,
      ...authenticatedBody.decode(r, count, (f0 & 2) !== 0),
    };
  },
};

// Map-Notify (type 4) and Map-Notify-Ack (type 5): |Type |I|R| Reserved (18) | Record Count |

function notifyCodec<T extends MapNotify | MapNotifyAck>(typeNumber: number, type: T['type']): MessageCodec<T> {
  return {
    encodingLength(m) {
      return 4 + authenticatedBody.encodingLength(m);
    },
    encode(m, w, off) {
      const b = w.buf;
      b[off] = (typeNumber << 4) | (m.xtrId ? 8 : 0);
      b[off + 1] = 0;
      b[off + 2] = 0;
      b[off + 3] = m.records.length & 0xff;
      return authenticatedBody.encode(m, w, off + 4);
    },
    decode(r) {
      r.need(4, 'Map-Notify header');
      const f0 = r.u8();
      r.pos += 2;
      const count = r.u8();
      return { type, ...authenticatedBody.decode(r, count, (f0 & 8) !== 0) } as T;
    },
  };
}

export const mapNotify = notifyCodec<MapNotify>(MessageType.MapNotify, 'map-notify');
export const mapNotifyAck = notifyCodec<MapNotifyAck>(MessageType.MapNotifyAck, 'map-notify-ack');

// ---------------------------------------------------------------------------------------------
// ECM (type 8): |Type=8 |S|D| Reserved (26) | inner IPv4/IPv6 header | UDP header | message

function ecmFamily(m: Ecm): 'ipv4' | 'ipv6' {
  const family = ipFamily(m.inner.source);
  if (!family) throw new LispEncodeError(`ECM inner source '${m.inner.source}' is not an IP address`);
  if (ipFamily(m.inner.destination) !== family) throw new LispEncodeError(`ECM inner destination '${m.inner.destination}' is not ${family === 'ipv4' ? 'IPv4' : 'IPv6'} like the source`);
  return family;
}

export const ecm: MessageCodec<Ecm> = {
  encodingLength(m) {
    return 4 + ipUdpHeaderLength(ecmFamily(m)) + encodingLength(m.message);
  },
  encode(m, w, off) {
    const b = w.buf;
    if (m.message.type === 'ecm') throw new LispEncodeError('an ECM cannot carry another ECM');
    const family = ecmFamily(m);
    b[off] = (MessageType.Ecm << 4) | (m.security ? 8 : 0) | (m.ddt ? 4 : 0);
    b[off + 1] = 0;
    b[off + 2] = 0;
    b[off + 3] = 0;
    const ipStart = off + 4;
    const msgStart = ipStart + ipUdpHeaderLength(family);
    const end = encodeInto(m.message, w, msgStart);
    writeIpUdpHeaders(
      {
        family,
        source: m.inner.source,
        destination: m.inner.destination,
        sourcePort: checkU16(m.inner.sourcePort, 'ECM inner source port'),
        destinationPort: checkU16(m.inner.destinationPort, 'ECM inner destination port'),
        ttl: checkU8(m.inner.ttl, 'ECM inner TTL'),
      },
      b,
      ipStart,
      end - msgStart,
    );
    return end;
  },
  decode(r) {
    r.need(4, 'ECM header');
    const f0 = r.u8();
    r.pos += 3;
    const ipStart = r.pos;
    const ip = readIpHeader(r.buf, r.pos, r.end);
    if (ip.protocol !== 17) throw new LispDecodeError('BAD_INNER_HEADER', r.pos, `ECM inner protocol ${ip.protocol} is not UDP (17)`);
    r.pos = ip.payloadOffset;
    r.need(UDP_HEADER_LENGTH, 'ECM inner UDP header');
    const sourcePort = r.u16();
    const destinationPort = r.u16();
    const udpLength = r.u16();
    r.pos += 2; // checksum, checked below once the length is known good
    const udpStart = r.pos - UDP_HEADER_LENGTH;
    if (udpLength < UDP_HEADER_LENGTH) throw new LispDecodeError('BAD_INNER_HEADER', udpStart + 4, `ECM inner UDP length ${udpLength} is below 8`);
    if (udpStart + udpLength > r.end) throw new LispDecodeError('TRUNCATED', udpStart + 4, `ECM inner UDP length ${udpLength} runs past the message`);
    if (!udpChecksumValid(r.buf, ipStart, ip.family, udpStart, udpLength)) throw new LispDecodeError('BAD_CHECKSUM', udpStart + 6, 'ECM inner UDP checksum does not match');
    if (r.pos >= udpStart + udpLength) throw new LispDecodeError('TRUNCATED', r.pos, 'ECM carries no inner message');
    if (r.buf[r.pos]! >> 4 === MessageType.Ecm) throw new LispDecodeError('ECM_NESTED', r.pos, 'an ECM inside an ECM');
    const outerEnd = r.end;
    r.end = udpStart + udpLength;
    const message = decodeAt(r);
    r.end = outerEnd;
    return {
      type: 'ecm',
      security: (f0 & 8) !== 0,
      ddt: (f0 & 4) !== 0,
      inner: { source: ip.source, destination: ip.destination, sourcePort, destinationPort, ttl: ip.ttl },
      message,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Entry points

const BY_TYPE: Record<LispMessage['type'], MessageCodec<LispMessage>> = {
  'map-request': mapRequest as MessageCodec<LispMessage>,
  'map-reply': mapReply as MessageCodec<LispMessage>,
  'map-register': mapRegister as MessageCodec<LispMessage>,
  'map-notify': mapNotify as MessageCodec<LispMessage>,
  'map-notify-ack': mapNotifyAck as MessageCodec<LispMessage>,
  ecm: ecm as MessageCodec<LispMessage>,
};

const BY_NUMBER: (MessageCodec<LispMessage> | undefined)[] = [];
BY_NUMBER[MessageType.MapRequest] = BY_TYPE['map-request'];
BY_NUMBER[MessageType.MapReply] = BY_TYPE['map-reply'];
BY_NUMBER[MessageType.MapRegister] = BY_TYPE['map-register'];
BY_NUMBER[MessageType.MapNotify] = BY_TYPE['map-notify'];
BY_NUMBER[MessageType.MapNotifyAck] = BY_TYPE['map-notify-ack'];
BY_NUMBER[MessageType.Ecm] = BY_TYPE.ecm;

function codecOf(msg: LispMessage): MessageCodec<LispMessage> {
  const codec = BY_TYPE[msg.type];
  if (!codec) throw new LispEncodeError(`'${String((msg as { type: unknown }).type)}' is not a LISP message type`);
  return codec;
}

/** The number of bytes `encodeMessage(msg)` writes. */
export function encodingLength(msg: LispMessage): number {
  return codecOf(msg).encodingLength(msg);
}

function encodeInto(msg: LispMessage, w: Writer, off: number): number {
  return codecOf(msg).encode(msg, w, off);
}

/**
 * Encodes a message. With `buf`, writes it there at `offset` (and returns a Buffer view of those
 * bytes); without, allocates. Throws LispEncodeError when the message cannot be put on the wire.
 */
export function encodeMessage(msg: LispMessage, buf?: Uint8Array, offset = 0): Buffer {
  const length = encodingLength(msg);
  if (length > MAX_MESSAGE_LENGTH) throw new LispEncodeError(`a ${msg.type} of ${length} bytes exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`);
  if (buf && (offset < 0 || offset + length > buf.length)) throw new LispEncodeError(`the buffer has ${buf.length - offset} bytes from offset ${offset}, the message needs ${length}`);
  const out = buf ? Buffer.from(buf.buffer, buf.byteOffset + offset, length) : Buffer.allocUnsafe(length);
  const end = encodeInto(msg, new Writer(out), 0);
  if (end !== length) throw new LispEncodeError(`internal: ${msg.type} encoded ${end} bytes, measured ${length}`);
  return out;
}

function decodeAt(r: Reader): LispMessage {
  const start = r.pos;
  r.need(1, 'message type');
  const typeNumber = r.buf[start]! >> 4;
  const codec = BY_NUMBER[typeNumber];
  if (!codec) throw new LispDecodeError('UNKNOWN_TYPE', start, `message type ${typeNumber} is not one lispwg speaks (1-5, 8)`);
  const msg = codec.decode(r);
  if (r.pos !== r.end) throw new LispDecodeError('TRAILING_BYTES', r.pos, `${r.end - r.pos} bytes after the ${msg.type}`);
  return msg;
}

/** Decodes one control message (a whole UDP payload). Throws only LispDecodeError. */
export function decodeMessage(buf: Uint8Array): LispMessage {
  if (buf.length > MAX_MESSAGE_LENGTH) throw new LispDecodeError('TOO_LONG', MAX_MESSAGE_LENGTH, `a ${buf.length}-byte message exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`);
  return decodeAt(new Reader(buf, 0, buf.length));
}
