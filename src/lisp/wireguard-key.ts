/**
 * How lispwg carries a site's WireGuard public key: the EID-Prefix of its mapping record is a
 * Security Key LCAF (RFC 8060, type 11) holding one 32-byte Curve25519 key with Key Algorithm
 * EC25519 + ChaCha20-Poly1305 (RFC 8061 cipher suite 6), wrapping the EID (as in the thesis'
 * capture, "Map-Register for Security Key/32"). A record without the LCAF is a plain LISP record.
 */
import type { Address, MappingRecord, SecurityKeyLcaf } from './types.js';
import { CIPHER_SUITE_EC25519_CHACHA20_POLY1305 } from './types.js';
import { LispwgError } from '../util/errors.js';
import { eidOf } from './eid.js';

export const WIREGUARD_KEY_LENGTH = 32;

/** `eid` wrapped in a Security Key LCAF carrying `publicKey`. */
export function wrapWireguardKey(eid: Address, publicKey: Uint8Array): Address {
  if (publicKey.length !== WIREGUARD_KEY_LENGTH) {
    throw new LispwgError('SECURITY_KEY', `a WireGuard public key is ${WIREGUARD_KEY_LENGTH} bytes, got ${publicKey.length}`);
  }
  return {
    afi: 'lcaf',
    lcaf: { type: 'security-key', algorithm: CIPHER_SUITE_EC25519_CHACHA20_POLY1305, revoke: false, keys: [publicKey], address: eid },
  };
}

/** A copy of `record` whose EID carries `publicKey` (replacing a key it already carried). */
export function wireguardKeyRecord(record: MappingRecord, publicKey: Uint8Array): MappingRecord {
  const inner = securityKeyOf(record.eid)?.address ?? record.eid;
  return { ...record, eid: wrapWireguardKey(inner, publicKey) };
}

/** A copy of `record` without its WireGuard key: the plain LISP record (the same object when it has none). */
export function plainRecord(record: MappingRecord): MappingRecord {
  const sk = securityKeyOf(record.eid);
  return sk?.address ? { ...record, eid: sk.address } : record;
}

function securityKeyOf(eid: Address): SecurityKeyLcaf | undefined {
  return eid.afi === 'lcaf' && eid.lcaf.type === 'security-key' ? eid.lcaf : undefined;
}

/**
 * The WireGuard public key a record carries; undefined for a plain record (no Security Key
 * LCAF). Throws LispwgError SECURITY_KEY when the LCAF is there but holds no WireGuard key
 * (another algorithm, no key, a key that is not 32 bytes), so a bad key is never mistaken for
 * a plain record.
 */
export function recordKey(record: MappingRecord): Uint8Array | undefined {
  const sk = securityKeyOf(record.eid);
  if (!sk) return undefined;
  if (sk.algorithm !== CIPHER_SUITE_EC25519_CHACHA20_POLY1305) {
    throw new LispwgError('SECURITY_KEY', `Security Key algorithm ${sk.algorithm} is not EC25519 + ChaCha20-Poly1305 (${CIPHER_SUITE_EC25519_CHACHA20_POLY1305})`);
  }
  const key = sk.keys[0];
  if (sk.keys.length !== 1 || !key || key.length !== WIREGUARD_KEY_LENGTH) {
    throw new LispwgError('SECURITY_KEY', `a WireGuard Security Key LCAF holds one ${WIREGUARD_KEY_LENGTH}-byte key, found ${sk.keys.map((k) => `${k.length} bytes`).join(', ') || 'none'}`);
  }
  return key;
}

/** A record as plain JSON (CLI output, test drivers): EID prefix, instance ID, TTL, action, key (base64 or null), locators. */
export function recordJson(r: MappingRecord): { eid: string | null; iid: number; ttl: number; action: number; key: string | null; rlocs: Array<{ address: string | null; priority: number; weight: number; reachable: boolean }> } {
  const eid = eidOf(r.eid);
  let key: string | null = null;
  try {
    const k = recordKey(r);
    key = k ? Buffer.from(k).toString('base64') : null;
  } catch {
    key = null; // a malformed key is shown as none
  }
  return {
    eid: eid ? `${eid.address}/${r.maskLen}` : null,
    iid: eid?.instanceId ?? 0,
    ttl: r.ttl,
    action: r.action,
    key,
    rlocs: r.locators.map((l) => ({ address: l.address.afi === 'ipv4' || l.address.afi === 'ipv6' ? l.address.address : null, priority: l.priority, weight: l.weight, reachable: l.reachable })),
  };
}
