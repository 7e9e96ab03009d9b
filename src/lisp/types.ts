/**
 * The shapes of every LISP control message lispwg speaks (RFC 9301, RFC 6833 as OOR speaks it,
 * RFC 8060 LCAF, RFC 8061 Security Key). Pure data: `messages.ts` encodes and decodes them.
 *
 * Conventions: IP addresses are text ('198.18.0.1', '2001:db8::1'); 64-bit nonces are bigint;
 * keys and authentication data are Uint8Array; record TTLs are in minutes, as on the wire.
 */

/** Message types (the first 4 bits of every control message). */
export const MessageType = {
  MapRequest: 1,
  MapReply: 2,
  MapRegister: 3,
  MapNotify: 4,
  MapNotifyAck: 5,
  Ecm: 8,
} as const;

/** Address Family Identifiers used here (IANA). */
export const Afi = { None: 0, Ipv4: 1, Ipv6: 2, Lcaf: 16387, Mac: 16389 } as const;

/** LCAF types (RFC 8060) lispwg understands; every other type is kept opaque. */
export const LcafType = { AfiList: 1, InstanceId: 2, SecurityKey: 11 } as const;

/** Authentication key IDs of Map-Register / Map-Notify. */
export const KeyId = { None: 0, HmacSha1_96: 1, HmacSha256_128: 2 } as const;
export type KeyIdValue = (typeof KeyId)[keyof typeof KeyId];

/** Negative Map-Reply actions (ACT field). */
export const Action = { NoAction: 0, NativelyForward: 1, SendMapRequest: 2, Drop: 3 } as const;

/**
 * RFC 8061 cipher suite carried as the Key Algorithm of a Security Key LCAF for WireGuard keys.
 * RFC 8061 section 6 lists "Cipher Suite 6: LISP_EC25519_CHACHA20_POLY1305" (Curve25519 DH,
 * ChaCha20-Poly1305 AEAD); lispers.net (RFC 8061's implementation) has LISP_CS_25519_CHACHA = 6.
 */
export const CIPHER_SUITE_EC25519_CHACHA20_POLY1305 = 6;

export const LISP_CONTROL_PORT = 4342;
export const LISP_DATA_PORT = 4341;

// ---------------------------------------------------------------------------------------------
// Addresses

export type Address =
  | { afi: 'none' }
  | { afi: 'ipv4'; address: string }
  | { afi: 'ipv6'; address: string }
  /** AFI 16389, a 48-bit MAC address (L2 EIDs, as VPP's tests send): 'aa:bb:cc:dd:ee:ff', lower case. */
  | { afi: 'mac'; address: string }
  | { afi: 'lcaf'; lcaf: Lcaf };

export type Lcaf = AfiListLcaf | InstanceIdLcaf | SecurityKeyLcaf | UnknownLcaf;

export interface AfiListLcaf {
  type: 'afi-list';
  addresses: Address[];
}

/** Instance ID (type 2): keeps overlapping address spaces (virtual networks) apart. */
export interface InstanceIdLcaf {
  type: 'instance-id';
  /** 24 bits are used in practice; the wire field is 32. */
  instanceId: number;
  /** The IID mask-len, carried in Rsvd2. */
  iidMaskLen: number;
  address: Address;
}

/**
 * Security Key (type 11): lispwg carries a site's WireGuard public key here, wrapping its EID.
 * On the wire (RFC 8060 section 4.11 / RFC 8061) one Key Algorithm covers all keys of the LCAF:
 * Key Count, Rsvd3, Key Algorithm, Rsvd4+R, then Key Count times (Key Length, Key Material),
 * then the AFI-encoded address it wraps.
 */
export interface SecurityKeyLcaf {
  type: 'security-key';
  /** RFC 8061 cipher suite (6 = EC25519 + ChaCha20-Poly1305, used for WireGuard keys). */
  algorithm: number;
  /** The R bit ("revoke"). */
  revoke: boolean;
  /** Key Material of each key (Key Count of them, at most 255). */
  keys: Uint8Array[];
  address: Address;
}

/** Any other LCAF type: kept as opaque bytes so it round-trips. */
export interface UnknownLcaf {
  type: 'unknown';
  lcafType: number;
  flags: number;
  rsvd2: number;
  body: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Records

export interface Locator {
  priority: number;
  weight: number;
  mPriority: number;
  mWeight: number;
  /** L: the locator is local to the sender. */
  local: boolean;
  /** p: the locator was RLOC-probed. */
  probed: boolean;
  /** R: the locator is reachable. */
  reachable: boolean;
  address: Address;
}

/** A mapping record (EID-Record with its locators), as in Map-Reply, Map-Register and Map-Notify. */
export interface MappingRecord {
  /** Record TTL in minutes (0xffffffff: forever). */
  ttl: number;
  maskLen: number;
  /** ACT (0..7), meaningful in negative replies. */
  action: number;
  authoritative: boolean;
  mapVersion: number;
  eid: Address;
  locators: Locator[];
}

/** An EID-Record of a Map-Request: just the prefix asked for. */
export interface EidRecord {
  maskLen: number;
  eid: Address;
}

// ---------------------------------------------------------------------------------------------
// Messages

export interface MapRequest {
  type: 'map-request';
  authoritative: boolean; // A
  mapDataPresent: boolean; // M (a mapping record follows the EID records)
  probe: boolean; // P
  smr: boolean; // S
  pitr: boolean; // p
  smrInvoked: boolean; // s
  nonce: bigint;
  /** The requester's own EID (afi none when it has none): lispwg's Map-Server pushes to it. */
  sourceEid: Address;
  /** Where the reply goes; at least one (IRC + 1 on the wire). */
  itrRlocs: Address[];
  records: EidRecord[];
  /** Present when mapDataPresent. */
  mapReply?: MappingRecord;
}

export interface MapReply {
  type: 'map-reply';
  probe: boolean; // P
  echoNonceCapable: boolean; // E
  security: boolean; // S
  nonce: bigint;
  records: MappingRecord[];
}

/** The fields shared by authenticated messages (Map-Register, Map-Notify, Map-Notify-Ack). */
export interface Authenticated {
  nonce: bigint;
  keyId: number;
  /** Authentication data as on the wire (20 bytes for key ID 1, 32 for key ID 2). */
  authData: Uint8Array;
  records: MappingRecord[];
  /** The I bit: both present, or both absent. xTR-ID is 16 bytes, Site-ID 64 bits. */
  xtrId?: Uint8Array;
  siteId?: bigint;
}

export interface MapRegister extends Authenticated {
  type: 'map-register';
  proxyReply: boolean; // P
  security: boolean; // S
  rtr: boolean; // R
  wantMapNotify: boolean; // M
}

/** Map-Notify (type 4). Its R bit (MS-RTR authentication data follows) is not supported. */
export interface MapNotify extends Authenticated {
  type: 'map-notify';
}

/** Map-Notify-Ack (type 5, RFC 9301): the same body as Map-Notify. */
export interface MapNotifyAck extends Authenticated {
  type: 'map-notify-ack';
}

/**
 * Inner IP + UDP header of an Encapsulated Control Message. Lengths and checksums are computed
 * by the encoder (IPv4 header checksum, UDP checksum for both families). The decoder checks the
 * UDP checksum when one is present (lig sends 0: none) and leaves the IPv4 header checksum alone.
 */
export interface EcmInner {
  source: string; // IPv4 or IPv6 text; both ends the same family
  destination: string;
  sourcePort: number;
  destinationPort: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
}

export interface Ecm {
  type: 'ecm';
  security: boolean; // S
  ddt: boolean; // D
  inner: EcmInner;
  /** The encapsulated control message (a Map-Request in practice). */
  message: LispMessage;
}

export type LispMessage = MapRequest | MapReply | MapRegister | MapNotify | MapNotifyAck | Ecm;

/** The 8-byte header of the LISP data plane (UDP 4341). */
export interface DataHeader {
  nonce?: number; // N bit, 24 bits
  /** L bit: Locator-Status-Bits, 32 bits, or 8 bits when instanceId is present. */
  lsb?: number;
  instanceId?: number; // I bit, 24 bits; the low 8 bits then carry LSBs
  echoNonce: boolean; // E
  mapVersion?: { source: number; dest: number }; // V bit, two 12-bit versions (exclusive with nonce)
}
