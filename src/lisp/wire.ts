/**
 * The cursor every codec reads with and the buffer every codec writes into. The Reader is where
 * bounds are enforced: each read first asks `need(n)`, which throws a LispDecodeError instead of
 * letting a read run past the message (or past the LCAF being read).
 */
import { LispDecodeError, LispEncodeError } from './errors.js';

export class Reader {
  readonly view: DataView;
  /** Nesting depth of the LCAF being read (0 outside any LCAF). */
  depth = 0;

  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    /** Reads stop here: the end of the message, or of the LCAF being read. */
    public end: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Throws unless n more bytes are there; `what` names the field for the error message. */
  need(n: number, what: string): void {
    if (this.pos + n <= this.end) return;
    if (this.depth > 0) {
      throw new LispDecodeError('LCAF_LENGTH', this.pos, `${what} runs past the end of its LCAF (Length too small for its content)`);
    }
    throw new LispDecodeError('TRUNCATED', this.pos, `${what} needs ${n} bytes, ${Math.max(0, this.end - this.pos)} left`);
  }

  u8(): number {
    return this.buf[this.pos++]!;
  }

  u16(): number {
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A copy of the next n bytes (never a view: callers may keep it after the buffer is reused). */
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(this.buf.subarray(this.pos, this.pos + n)); // plain Uint8Array, even from a Buffer
    this.pos += n;
    return b;
  }
}

export class Writer {
  readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
}

// Range checks for encoding: out-of-range values are refused, never silently truncated.

export function checkU8(v: number, what: string): number {
  if ((v & 0xff) !== v) throw new LispEncodeError(`${what} must be an integer 0..255, got ${v}`);
  return v;
}

export function checkU16(v: number, what: string): number {
  if ((v & 0xffff) !== v) throw new LispEncodeError(`${what} must be an integer 0..65535, got ${v}`);
  return v;
}

export function checkUint(v: number, bits: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new LispEncodeError(`${what} must be an integer 0..${2 ** bits - 1}, got ${v}`);
  return v;
}

export function checkU64(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new LispEncodeError(`${what} must be a 64-bit unsigned bigint, got ${String(v)}`);
  return v;
}
