/**
 * The errors of the LISP codec. Decoding hostile bytes only ever throws LispDecodeError (the
 * fuzz test holds the codec to that), with a stable code and the byte offset where it stopped.
 */
import { LispwgError } from '../util/errors.js';

/** Why a message could not be decoded. */
export type LispDecodeErrorCode =
  /** A field runs past the end of the message. */
  | 'TRUNCATED'
  /** The message is longer than MAX_MESSAGE_LENGTH. */
  | 'TOO_LONG'
  /** The message type (first 4 bits) is not one lispwg speaks. */
  | 'UNKNOWN_TYPE'
  /** An AFI whose address length is unknown, so nothing after it can be read. */
  | 'BAD_AFI'
  /** An LCAF's Length runs past its parent (the message or the enclosing LCAF). */
  | 'LCAF_OVERRUN'
  /** A known LCAF's body does not fill its Length exactly. */
  | 'LCAF_LENGTH'
  /** LCAFs nested deeper than MAX_LCAF_DEPTH. */
  | 'LCAF_DEPTH'
  /** An EID mask-len longer than its address. */
  | 'BAD_MASK_LEN'
  /** The inner IP/UDP header of an ECM is not IPv4/IPv6 + UDP, or its lengths are wrong. */
  | 'BAD_INNER_HEADER'
  /** The inner UDP checksum of an ECM does not match its bytes (OOR drops these too). */
  | 'BAD_CHECKSUM'
  /** An ECM inside an ECM. */
  | 'ECM_NESTED'
  /** Bytes left after the message. */
  | 'TRAILING_BYTES'
  /** Flags that exclude each other (the N and V bits of a data header). */
  | 'BAD_FLAGS';

export class LispDecodeError extends LispwgError {
  constructor(
    override readonly code: LispDecodeErrorCode,
    /** Offset in the decoded buffer where decoding stopped. */
    readonly offset: number,
    message: string,
  ) {
    super(code, `${message} (at byte ${offset})`);
  }
}

/** A message that cannot be put on the wire (a bad address, a count over 255...). */
export class LispEncodeError extends LispwgError {
  constructor(message: string) {
    super('LISP_ENCODE', message);
  }
}

/** Why an authenticated message (Map-Register, Map-Notify, Map-Notify-Ack) was refused. */
export type LispAuthErrorCode = 'AUTH_TYPE' | 'AUTH_KEY_ID' | 'AUTH_LENGTH' | 'AUTH_MISMATCH';

export class LispAuthError extends LispwgError {
  constructor(
    override readonly code: LispAuthErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}
