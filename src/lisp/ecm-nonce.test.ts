import { describe, expect, it } from 'vitest';
import { encodeMessage, encodingLength, rewriteEcmNonce, type Ecm, type MapRequest } from './index.js';
import { eidAddress } from './eid.js';
import { rng } from '../util/random.js';

function ecm(nonce: bigint, v6: boolean): { bytes: Buffer; nonceOffset: number; checksumOffset: number } {
  const eid = v6 ? '2001:db8::1' : '198.18.10.1';
  const req: MapRequest = {
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
    nonce, sourceEid: { afi: 'none' }, itrRlocs: [eidAddress(v6 ? '2001:db8::2' : '198.18.0.2')], records: [{ maskLen: v6 ? 128 : 32, eid: eidAddress(eid) }],
  };
  const msg: Ecm = { type: 'ecm', security: false, ddt: false, inner: { source: v6 ? '2001:db8::2' : '198.18.0.2', destination: eid, sourcePort: 40123, destinationPort: 4342, ttl: 64 }, message: req };
  const bytes = Buffer.from(encodeMessage(msg));
  const nonceOffset = bytes.length - encodingLength(req) + 4;
  return { bytes, nonceOffset, checksumOffset: nonceOffset - 6 };
}

describe('rewriteEcmNonce', () => {
  it('gives the same bytes as encoding with that nonce (inner UDP checksum included), IPv4 and IPv6', () => {
    const r = rng(7);
    for (const v6 of [false, true]) {
      const { bytes, ...o } = ecm(0n, v6);
      for (let i = 0; i < 2000; i++) {
        const n = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
        rewriteEcmNonce(bytes, o, n);
        expect(bytes.equals(ecm(n, v6).bytes), `nonce ${n.toString(16)} v6=${v6}`).toBe(true);
      }
    }
  });
});
