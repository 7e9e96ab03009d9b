/** The LISP control-message codec: the public API (see types.ts for the message shapes). */
export * from './types.js';
export { LispDecodeError, LispEncodeError, LispAuthError } from './errors.js';
export type { LispDecodeErrorCode, LispAuthErrorCode } from './errors.js';
export { encodeMessage, decodeMessage, encodingLength, MAX_MESSAGE_LENGTH } from './messages.js';
export { MAX_LCAF_DEPTH } from './address.js';
export { encodeDataHeader, decodeDataHeader, DATA_HEADER_LENGTH } from './data-header.js';
export { signMessage, verifyMessage, authDataLength } from './auth.js';
export type { AuthenticatedMessage } from './auth.js';
export { eidOf, eidAddress } from './eid.js';
export type { Eid } from './eid.js';
export { wrapWireguardKey, wireguardKeyRecord, plainRecord, recordKey, recordJson, WIREGUARD_KEY_LENGTH } from './wireguard-key.js';
export { rewriteEcmNonce } from './ecm-nonce.js';
export type { EcmNonceOffsets } from './ecm-nonce.js';
