/**
 * One sample of every message shape lispwg sends, for tests, the tshark cross-check, the fuzz
 * corpus and the codec benchmark. Addresses follow the project's plan: 198.18.0.0/15 underlay
 * and EIDs, 100.100.0.0/16 control addresses, 2001:db8::/32 for IPv6.
 */
import type { Address, Ecm, Locator, LispMessage, MapNotify, MapNotifyAck, MapRegister, MapReply, MapRequest, MappingRecord } from './types.js';
import { eidAddress } from './eid.js';
import { wrapWireguardKey } from './wireguard-key.js';

/** A fixed WireGuard public key (32 bytes 0x01..0x20). */
export const SAMPLE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

function sampleLocator(address: string, over: Partial<Locator> = {}): Locator {
  const a: Address = address.includes(':') ? { afi: 'ipv6', address } : { afi: 'ipv4', address };
  return { priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: a, ...over };
}

/** The record lispwg registers: Security Key LCAF (WireGuard key) wrapping the EID, one RLOC. */
export function keyRecord(eid = '198.18.10.1', rloc = '198.18.0.1', instanceId = 0): MappingRecord {
  return {
    ttl: 1440,
    maskLen: eid.includes(':') ? 128 : 32,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: wrapWireguardKey(eidAddress(eid, instanceId), SAMPLE_KEY),
    locators: [sampleLocator(rloc)],
  };
}

/** The plain LISP record (the OOR baseline). */
export function plainRecord(eid = '198.18.20.0', maskLen = 24, rloc = '198.18.0.2'): MappingRecord {
  return { ttl: 10, maskLen, action: 0, authoritative: true, mapVersion: 0, eid: eidAddress(eid), locators: [sampleLocator(rloc)] };
}

export function sampleMapRequest(): MapRequest {
  return {
    type: 'map-request',
    authoritative: false,
    mapDataPresent: false,
    probe: false,
    smr: false,
    pitr: false,
    smrInvoked: false,
    nonce: 0x0123456789abcdefn,
    sourceEid: { afi: 'ipv4', address: '198.18.10.1' },
    itrRlocs: [{ afi: 'ipv4', address: '100.100.0.1' }],
    records: [{ maskLen: 32, eid: { afi: 'ipv4', address: '198.18.20.1' } }],
  };
}

/** IPv6, Instance IDs, two ITR-RLOCs, every flag, and the M bit's Map-Reply record. */
function sampleMapRequestV6(): MapRequest {
  return {
    type: 'map-request',
    authoritative: true,
    mapDataPresent: true,
    probe: true,
    smr: true,
    pitr: true,
    smrInvoked: true,
    nonce: 0xfedcba9876543210n,
    sourceEid: eidAddress('2001:db8:a::1', 42),
    itrRlocs: [
      { afi: 'ipv4', address: '100.100.0.1' },
      { afi: 'ipv6', address: '2001:db8:100::1' },
    ],
    records: [
      { maskLen: 128, eid: eidAddress('2001:db8:b::1', 42) },
      { maskLen: 0, eid: { afi: 'none' } },
    ],
    mapReply: keyRecord('2001:db8:a::1', '2001:db8:ff::1', 42),
  };
}

export function sampleMapReply(): MapReply {
  return { type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce: 0x0123456789abcdefn, records: [keyRecord('198.18.20.1', '198.18.0.2')] };
}

/** A negative Map-Reply, a plain record, an AFI-list locator and opaque (unknown) LCAFs. */
function sampleMapReplyMixed(): MapReply {
  return {
    type: 'map-reply',
    probe: true,
    echoNonceCapable: true,
    security: true,
    nonce: 1n,
    records: [
      { ttl: 15, maskLen: 16, action: 2, authoritative: false, mapVersion: 4095, eid: eidAddress('198.19.0.0'), locators: [] },
      plainRecord(),
      {
        ttl: 0xffffffff,
        maskLen: 24,
        action: 0,
        authoritative: true,
        mapVersion: 7,
        eid: eidAddress('198.18.30.0'),
        locators: [
          sampleLocator('198.18.0.3', { priority: 255, weight: 0, local: false, probed: true, reachable: false }),
          {
            ...sampleLocator('198.18.0.4'),
            address: { afi: 'lcaf', lcaf: { type: 'afi-list', addresses: [{ afi: 'ipv4', address: '198.18.0.4' }, { afi: 'ipv6', address: '2001:db8::4' }] } },
          },
          {
            ...sampleLocator('198.18.0.6'),
            // AS Number LCAF (type 3), which lispwg keeps opaque but tshark dissects: AS 64512, 198.18.0.6
            address: { afi: 'lcaf', lcaf: { type: 'unknown', lcafType: 3, flags: 0, rsvd2: 0, body: Uint8Array.from([0, 0, 0xfc, 0, 0, 1, 198, 18, 0, 6]) } },
          },
          {
            ...sampleLocator('198.18.0.5'),
            // Application Data LCAF (type 4): protocol UDP, ports 51820, then the RLOC
            address: { afi: 'lcaf', lcaf: { type: 'unknown', lcafType: 4, flags: 0, rsvd2: 0, body: Uint8Array.from([0, 0, 0, 17, 0xca, 0x6c, 0xca, 0x6c, 0xca, 0x6c, 0xca, 0x6c, 0, 1, 198, 18, 0, 5]) } },
          },
        ],
      },
    ],
  };
}

function authenticatedFields(): Pick<MapRegister, 'nonce' | 'keyId' | 'authData' | 'records'> {
  return { nonce: 0x1111222233334444n, keyId: 0, authData: new Uint8Array(0), records: [keyRecord()] };
}

export function sampleMapRegister(): MapRegister {
  return { type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, ...authenticatedFields() };
}

/** With the I bit (xTR-ID and Site-ID), two records (one plain), IPv6. */
function sampleMapRegisterXtr(): MapRegister {
  return {
    type: 'map-register',
    proxyReply: false,
    security: true,
    rtr: true,
    wantMapNotify: false,
    nonce: 0xffffffffffffffffn,
    keyId: 2,
    authData: new Uint8Array(32).fill(0xab),
    records: [keyRecord('2001:db8:a::1', '2001:db8:ff::1'), plainRecord()],
    xtrId: Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i),
    siteId: 0x0102030405060708n,
  };
}

export function sampleMapNotify(): MapNotify {
  return { type: 'map-notify', ...authenticatedFields(), keyId: 1, authData: new Uint8Array(20).fill(0x5a) };
}

export function sampleMapNotifyAck(): MapNotifyAck {
  return { type: 'map-notify-ack', ...authenticatedFields(), xtrId: new Uint8Array(16).fill(1), siteId: 9n };
}

export function sampleEcm(): Ecm {
  return {
    type: 'ecm',
    security: false,
    ddt: false,
    inner: { source: '198.18.10.1', destination: '198.18.20.1', sourcePort: 61001, destinationPort: 4342, ttl: 64 },
    message: sampleMapRequest(),
  };
}

export function sampleEcmV6(): Ecm {
  return {
    type: 'ecm',
    security: true,
    ddt: true,
    inner: { source: '2001:db8:a::1', destination: '2001:db8:b::1', sourcePort: 4342, destinationPort: 4342, ttl: 255 },
    message: sampleMapRequestV6(),
  };
}

/** An L2 EID (AFI 16389, a MAC in an Instance ID LCAF, mask-len 48) as VPP's L2 tests ask for it. */
function sampleMapRequestMac(): MapRequest {
  const mac = (address: string): Address => ({ afi: 'lcaf', lcaf: { type: 'instance-id', instanceId: 10, iidMaskLen: 0, address: { afi: 'mac', address } } });
  return { ...sampleMapRequest(), nonce: 0x0a0b0c0d0e0f1011n, sourceEid: mac('02:00:00:00:00:01'), records: [{ maskLen: 48, eid: mac('02:00:00:00:00:02') }] };
}

/** Every sample, by name. */
export function allSamples(): Record<string, LispMessage> {
  return {
    mapRequest: sampleMapRequest(),
    mapRequestV6: sampleMapRequestV6(),
    mapRequestMac: sampleMapRequestMac(),
    mapReply: sampleMapReply(),
    mapReplyMixed: sampleMapReplyMixed(),
    mapRegister: sampleMapRegister(),
    mapRegisterXtr: sampleMapRegisterXtr(),
    mapNotify: sampleMapNotify(),
    mapNotifyAck: sampleMapNotifyAck(),
    ecm: sampleEcm(),
    ecmV6: sampleEcmV6(),
  };
}
