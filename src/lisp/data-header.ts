/**
 * The 8-byte LISP data-plane header (RFC 9300, UDP 4341), used by the plain-LISP baseline:
 *
 *   |N|L|E|V|I|R|K|K|   Nonce (24) or Source/Dest Map-Version (12 + 12)   |
 *   |      Instance ID (24) + LSBs (8), or Locator-Status-Bits (32)       |
 *
 * followed by the inner IP packet. The R and K bits are written as 0 and ignored when read.
 */
import type { DataHeader } from './types.js';
import { LispDecodeError, LispEncodeError } from './errors.js';
import { checkUint } from './wire.js';

export const DATA_HEADER_LENGTH = 8;

const N = 0x80;
const L = 0x40;
const E = 0x20;
const V = 0x10;
const I = 0x08;

/** Writes the header (8 bytes) into buf at offset, or into a new Buffer. */
export function encodeDataHeader(h: DataHeader, buf?: Uint8Array, offset = 0): Buffer {
  if (h.nonce !== undefined && h.mapVersion !== undefined) throw new LispEncodeError('a data header carries a nonce (N bit) or map versions (V bit), not both');
  if (buf && (offset < 0 || offset + DATA_HEADER_LENGTH > buf.length)) throw new LispEncodeError(`the buffer has no room for an 8-byte data header at offset ${offset}`);
  const out = buf ? Buffer.from(buf.buffer, buf.byteOffset + offset, DATA_HEADER_LENGTH) : Buffer.alloc(DATA_HEADER_LENGTH);
  let first = 0;
  if (h.nonce !== undefined) first = checkUint(h.nonce, 24, 'data header nonce');
  if (h.mapVersion !== undefined) {
    first = (checkUint(h.mapVersion.source, 12, 'source map-version') << 12) | checkUint(h.mapVersion.dest, 12, 'destination map-version');
  }
  let second = 0;
  if (h.instanceId !== undefined) {
    second = checkUint(h.instanceId, 24, 'data header instance ID') * 256 + (h.lsb === undefined ? 0 : checkUint(h.lsb, 8, 'LSBs next to an instance ID'));
  } else if (h.lsb !== undefined) {
    second = checkUint(h.lsb, 32, 'Locator-Status-Bits');
  }
  const flags =
    (h.nonce !== undefined ? N : 0) |
    (h.lsb !== undefined ? L : 0) |
    (h.echoNonce ? E : 0) |
    (h.mapVersion !== undefined ? V : 0) |
    (h.instanceId !== undefined ? I : 0);
  out.writeUInt32BE(((flags << 24) >>> 0) + first, 0);
  out.writeUInt32BE(second, 4);
  return out;
}

/** Reads the header at offset (the inner packet starts at offset + 8). Throws LispDecodeError. */
export function decodeDataHeader(buf: Uint8Array, offset = 0): DataHeader {
  if (offset + DATA_HEADER_LENGTH > buf.length) {
    throw new LispDecodeError('TRUNCATED', offset, `a LISP data header is ${DATA_HEADER_LENGTH} bytes, ${Math.max(0, buf.length - offset)} left`);
  }
  const flags = buf[offset]!;
  if (flags & N && flags & V) throw new LispDecodeError('BAD_FLAGS', offset, 'data header has both the N (nonce) and V (map-version) bits');
  const first = (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!;
  const second = ((buf[offset + 4]! << 24) >>> 0) + (buf[offset + 5]! << 16) + (buf[offset + 6]! << 8) + buf[offset + 7]!;
  const h: DataHeader = { echoNonce: (flags & E) !== 0 };
  if (flags & N) h.nonce = first;
  if (flags & V) h.mapVersion = { source: first >> 12, dest: first & 0xfff };
  if (flags & I) h.instanceId = Math.floor(second / 256);
  if (flags & L) h.lsb = flags & I ? second & 0xff : second;
  return h;
}
