/**
 * Authentication of Map-Register, Map-Notify and Map-Notify-Ack (RFC 6833 / RFC 9301): an HMAC
 * over the whole LISP message with the Authentication Data field zeroed, keyed with the site's
 * shared secret.
 *
 * Key ID 1 (HMAC-SHA-1-96) carries the full 20-byte SHA-1 digest and key ID 2 (HMAC-SHA-256-128)
 * the full 32-byte SHA-256 digest, as OOR writes them (oor/lib/hmac.c, LISP_SHA1_AUTH_DATA_LEN =
 * 20) and as the thesis' capture shows (a 110-byte Map-Register). Anything else is refused:
 * key ID 0 (unauthenticated), other key IDs, other lengths.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MapNotify, MapNotifyAck, MapRegister } from './types.js';
import { KeyId, MessageType } from './types.js';
import { LispAuthError, LispEncodeError } from './errors.js';
import { AUTH_DATA_OFFSET, encodeMessage } from './messages.js';

export type AuthenticatedMessage = MapRegister | MapNotify | MapNotifyAck;

/** Key ID -> hash and Authentication Data length. */
const ALGORITHMS = new Map<number, { hash: 'sha1' | 'sha256'; length: number; name: string }>([
  [KeyId.HmacSha1_96, { hash: 'sha1', length: 20, name: 'HMAC-SHA-1-96' }],
  [KeyId.HmacSha256_128, { hash: 'sha256', length: 32, name: 'HMAC-SHA-256-128' }],
]);

/** The Authentication Data length a key ID carries on the wire (20 or 32). */
export function authDataLength(keyId: number): number {
  const alg = ALGORITHMS.get(keyId);
  if (!alg) throw new LispEncodeError(`key ID ${keyId} is not supported (1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128)`);
  return alg.length;
}

function hmac(hash: 'sha1' | 'sha256', secret: string | Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac(hash, secret).update(bytes).digest();
}

/**
 * Encodes `msg` with key ID `keyId` and its HMAC keyed with `secret` (a string is used as its
 * UTF-8 bytes, as OOR uses its configured key). `msg.keyId` and `msg.authData` are ignored.
 */
export function signMessage(msg: AuthenticatedMessage, keyId: number, secret: string | Uint8Array): Buffer {
  const alg = ALGORITHMS.get(keyId);
  if (!alg) throw new LispEncodeError(`cannot sign with key ID ${keyId} (1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128)`);
  const bytes = encodeMessage({ ...msg, keyId, authData: new Uint8Array(alg.length) });
  hmac(alg.hash, secret, bytes).copy(bytes, AUTH_DATA_OFFSET);
  return bytes;
}

const AUTHENTICATED_TYPES = new Set<number>([MessageType.MapRegister, MessageType.MapNotify, MessageType.MapNotifyAck]);

/**
 * Checks the HMAC of an encoded Map-Register / Map-Notify / Map-Notify-Ack against `secret`.
 * Returns nothing when it verifies; throws LispAuthError otherwise: AUTH_TYPE (not one of those
 * messages), AUTH_KEY_ID (key ID not 1 or 2), AUTH_LENGTH (Authentication Data length wrong for
 * the key ID, or the message too short for it), AUTH_MISMATCH (wrong digest).
 */
export function verifyMessage(bytes: Uint8Array, secret: string | Uint8Array): void {
  if (bytes.length < AUTH_DATA_OFFSET) {
    throw new LispAuthError('AUTH_LENGTH', `a ${bytes.length}-byte message is too short to carry authentication data`);
  }
  const type = bytes[0]! >> 4;
  if (!AUTHENTICATED_TYPES.has(type)) {
    throw new LispAuthError('AUTH_TYPE', `message type ${type} carries no authentication data (only Map-Register, Map-Notify, Map-Notify-Ack do)`);
  }
  const keyId = (bytes[12]! << 8) | bytes[13]!;
  const length = (bytes[14]! << 8) | bytes[15]!;
  const alg = ALGORITHMS.get(keyId);
  if (!alg) {
    throw new LispAuthError('AUTH_KEY_ID', `key ID ${keyId} is not accepted (1 HMAC-SHA-1-96, 2 HMAC-SHA-256-128${keyId === 0 ? '; 0 means unauthenticated' : ''})`);
  }
  if (length !== alg.length) {
    throw new LispAuthError('AUTH_LENGTH', `${alg.name} (key ID ${keyId}) carries ${alg.length} bytes of authentication data, the message says ${length}`);
  }
  if (bytes.length < AUTH_DATA_OFFSET + length) {
    throw new LispAuthError('AUTH_LENGTH', `the message ends inside its ${length}-byte authentication data`);
  }
  const zeroed = Buffer.from(bytes); // a copy: the caller's bytes stay as received
  zeroed.fill(0, AUTH_DATA_OFFSET, AUTH_DATA_OFFSET + length);
  const expected = hmac(alg.hash, secret, zeroed);
  const received = bytes.subarray(AUTH_DATA_OFFSET, AUTH_DATA_OFFSET + length);
  if (!timingSafeEqual(expected, received)) {
    throw new LispAuthError('AUTH_MISMATCH', `${alg.name} authentication data does not match: wrong shared secret, or the message was altered`);
  }
}
