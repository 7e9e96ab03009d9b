import { describe, expect, test } from 'vitest';
import { decodeMessage, encodeMessage, LispAuthError, verifyMessage, type Ecm, type MapRegister } from './index.js';
import { LIG_INNER_SOURCE_PORT, ligEcmMapRequest, OOR_SECRET, oorMapRegister } from './testing/foreign.js';

describe('a Map-Register as OOR builds it', () => {
  const bytes = oorMapRegister();

  test('is 64 bytes (16 header + 20 HMAC-SHA1 + 28 record), verifies and decodes', () => {
    expect(bytes.length).toBe(64);
    verifyMessage(bytes, OOR_SECRET);
    const m = decodeMessage(bytes) as MapRegister;
    expect(m).toEqual({
      type: 'map-register',
      proxyReply: true,
      security: false,
      rtr: false,
      wantMapNotify: true,
      nonce: 0x8c1f3e270091a45bn,
      keyId: 1,
      authData: new Uint8Array(bytes.subarray(16, 36)),
      records: [
        {
          ttl: 10,
          maskLen: 32,
          action: 0,
          authoritative: true,
          mapVersion: 0,
          eid: { afi: 'ipv4', address: '198.18.10.2' },
          locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: 'ipv4', address: '198.18.0.1' } }],
        },
      ],
    });
    // and our encoder writes the same bytes back
    expect(encodeMessage(m).equals(bytes)).toBe(true);
  });

  test('is refused with another key', () => {
    expect(() => verifyMessage(bytes, 'password')).toThrow(LispAuthError);
  });
});

describe('an encapsulated Map-Request as lig builds it', () => {
  test('decodes with its inner header (the inner source port, where a Map-Server answers)', () => {
    const m = decodeMessage(ligEcmMapRequest()) as Ecm;
    expect(m).toEqual({
      type: 'ecm',
      security: false,
      ddt: false,
      inner: { source: '198.18.10.1', destination: '198.18.20.1', sourcePort: LIG_INNER_SOURCE_PORT, destinationPort: 4342, ttl: 255 },
      message: {
        type: 'map-request',
        authoritative: false,
        mapDataPresent: false,
        probe: false,
        smr: false,
        pitr: false,
        smrInvoked: false,
        nonce: 0x3a6b9d0100c0ffeen,
        sourceEid: { afi: 'none' },
        itrRlocs: [{ afi: 'ipv4', address: '100.100.0.1' }],
        records: [{ maskLen: 32, eid: { afi: 'ipv4', address: '198.18.20.1' } }],
      },
    });
  });
});
