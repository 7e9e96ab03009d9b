import { describe, expect, test } from 'vitest';
import {
  decodeDataHeader,
  decodeMessage,
  eidAddress,
  eidOf,
  encodeDataHeader,
  encodeMessage,
  encodingLength,
  LispDecodeError,
  LispEncodeError,
  MAX_LCAF_DEPTH,
  recordKey,
  wireguardKeyRecord,
  type Address,
  type DataHeader,
  type Ecm,
  type LispMessage,
  type MapReply,
  type MappingRecord,
  type MapRequest,
} from './index.js';
import { allSamples, keyRecord, plainRecord, SAMPLE_KEY, sampleEcm, sampleEcmV6, sampleMapReply, sampleMapRequest } from './samples.js';
import { foldChecksum, onesSum, writeIpUdpHeaders } from './ip.js';

function decodeError(bytes: Uint8Array): LispDecodeError {
  try {
    decodeMessage(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(LispDecodeError);
    return e as LispDecodeError;
  }
  throw new Error('decodeMessage accepted the bytes');
}

function replyWith(eid: Address, maskLen = 32): MapReply {
  return { ...sampleMapReply(), records: [{ ...plainRecord(), maskLen, eid }] };
}

describe('round trip', () => {
  for (const [name, msg] of Object.entries(allSamples())) {
    test(name, () => {
      const bytes = encodeMessage(msg);
      expect(bytes.length).toBe(encodingLength(msg));
      expect(decodeMessage(bytes)).toEqual(msg);
      // every byte is written: encoding over 0x00s and over 0xffs gives the same bytes
      const zeros = new Uint8Array(bytes.length + 8);
      const ones = new Uint8Array(bytes.length + 8).fill(0xff);
      expect(Buffer.compare(encodeMessage(msg, zeros, 3), encodeMessage(msg, ones, 3))).toBe(0);
      expect(Buffer.compare(encodeMessage(msg, zeros, 3), bytes)).toBe(0);
    });
  }

  const lcafs: Record<string, Address> = {
    'instance-id ipv4': eidAddress('198.18.1.1', 0xffffff),
    'instance-id ipv6': { afi: 'lcaf', lcaf: { type: 'instance-id', instanceId: 0xffffffff, iidMaskLen: 24, address: { afi: 'ipv6', address: '2001:db8::' } } },
    'afi-list with a nested instance-id': {
      afi: 'lcaf',
      lcaf: { type: 'afi-list', addresses: [{ afi: 'ipv4', address: '198.18.1.1' }, eidAddress('2001:db8::1', 3), { afi: 'none' }] },
    },
    'security-key over instance-id': wireguardKeyRecord({ ...plainRecord(), eid: eidAddress('198.18.1.1', 5) }, SAMPLE_KEY).eid,
    'security-key, revoked, 3 keys': {
      afi: 'lcaf',
      lcaf: { type: 'security-key', algorithm: 2, revoke: true, keys: [new Uint8Array(0), new Uint8Array(1).fill(9), SAMPLE_KEY], address: { afi: 'ipv6', address: '2001:db8::1' } },
    },
    'security-key, no keys': { afi: 'lcaf', lcaf: { type: 'security-key', algorithm: 0, revoke: false, keys: [], address: { afi: 'ipv4', address: '198.18.1.1' } } },
    'unknown (type 200, flags, rsvd2)': { afi: 'lcaf', lcaf: { type: 'unknown', lcafType: 200, flags: 0x81, rsvd2: 7, body: Uint8Array.from([1, 2, 3]) } },
    'unknown, empty body': { afi: 'lcaf', lcaf: { type: 'unknown', lcafType: 6, flags: 0, rsvd2: 0, body: new Uint8Array(0) } },
  };
  for (const [name, eid] of Object.entries(lcafs)) {
    test(`LCAF ${name}`, () => {
      const msg = replyWith(eid, 0);
      expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
    });
  }

  test(`LCAFs nested ${MAX_LCAF_DEPTH} deep decode, one more is LCAF_DEPTH`, () => {
    const nest = (depth: number): Address =>
      depth === 0 ? { afi: 'ipv4', address: '198.18.1.1' } : { afi: 'lcaf', lcaf: { type: 'afi-list', addresses: [nest(depth - 1)] } };
    const ok = replyWith(nest(MAX_LCAF_DEPTH));
    expect(decodeMessage(encodeMessage(ok))).toEqual(ok);
    const err = decodeError(encodeMessage(replyWith(nest(MAX_LCAF_DEPTH + 1))));
    expect(err.code).toBe('LCAF_DEPTH');
  });
});

describe('wire layout', () => {
  test('Map-Request bytes, field by field', () => {
    expect(encodeMessage(sampleMapRequest()).toString('hex')).toBe(
      [
        '10000001', // type 1, no flags, IRC 0, 1 record
        '0123456789abcdef', // nonce
        '0001c6120a01', // source EID 198.18.10.1
        '000164640001', // ITR-RLOC 100.100.0.1
        '0020', // reserved, mask-len 32
        '0001c6121401', // EID 198.18.20.1
      ].join(''),
    );
  });

  test('Map-Reply with the WireGuard key record', () => {
    const hex = encodeMessage(sampleMapReply()).toString('hex');
    expect(hex).toBe(
      [
        '20000001',
        '0123456789abcdef',
        '000005a0', // TTL 1440
        '01201000', // 1 locator, /32, ACT 0 + A, reserved
        '0000', // map-version 0
        '4003', // LCAF
        '00000b00002c', // rsvd1, flags, type 11, rsvd2, length 44
        '01000600', // 1 key, rsvd3, algorithm 6, R 0
        '0020' + Buffer.from(SAMPLE_KEY).toString('hex'), // key length 32, key
        '0001c6121401', // EID 198.18.20.1
        '0164ff000005', // priority 1, weight 100, M 255/0, flags L+R
        '0001c6120002', // RLOC 198.18.0.2
      ].join(''),
    );
  });

  test('ECM over IPv4: inner header checksum, UDP length and checksum', () => {
    const bytes = encodeMessage(sampleEcm());
    expect(bytes[0]).toBe(0x80);
    const ip = bytes.subarray(4, 24);
    expect(ip[0]).toBe(0x45);
    expect(foldChecksum(onesSum(ip, 0, 20))).toBe(0); // header checksum verifies
    expect(ip.readUInt16BE(2)).toBe(bytes.length - 4);
    const udp = bytes.subarray(24);
    expect(udp.readUInt16BE(2)).toBe(4342);
    expect(udp.readUInt16BE(4)).toBe(udp.length);
    const pseudo = onesSum(ip, 12, 20, 17 + udp.length);
    expect(foldChecksum(onesSum(udp, 0, udp.length, pseudo))).toBe(0);
  });

  test('ECM over IPv6: payload length, hop limit and the (mandatory) UDP checksum', () => {
    const m = sampleEcmV6();
    const bytes = encodeMessage(m);
    expect(bytes[0]).toBe(0x8c); // type 8, S, D
    const ip = bytes.subarray(4, 44);
    expect(ip[0]! >> 4).toBe(6);
    expect(ip[6]).toBe(17);
    expect(ip[7]).toBe(255);
    const udp = bytes.subarray(44);
    expect(ip.readUInt16BE(4)).toBe(udp.length);
    expect(udp.readUInt16BE(6)).not.toBe(0);
    const pseudo = onesSum(ip, 8, 40, 17 + udp.length);
    expect(foldChecksum(onesSum(udp, 0, udp.length, pseudo))).toBe(0);
    expect(decodeMessage(bytes)).toEqual(m);
  });
});

describe('data header', () => {
  const cases: Record<string, [DataHeader, string]> = {
    'nonce + instance ID + LSBs': [{ nonce: 0xabcdef, instanceId: 0x123456, lsb: 0x03, echoNonce: true }, 'e8abcdef12345603'],
    'map versions + 32-bit LSBs': [{ mapVersion: { source: 0xfff, dest: 1 }, lsb: 0xffffffff, echoNonce: false }, '50fff001ffffffff'],
    'instance ID only': [{ instanceId: 42, echoNonce: false }, '0800000000002a00'],
    'nothing': [{ echoNonce: false }, '0000000000000000'],
  };
  for (const [name, [h, hex]] of Object.entries(cases)) {
    test(name, () => {
      expect(encodeDataHeader(h).toString('hex')).toBe(hex);
      expect(decodeDataHeader(Buffer.from(hex, 'hex'))).toEqual(h);
    });
  }
  test('errors', () => {
    expect(() => decodeDataHeader(new Uint8Array(7))).toThrow(LispDecodeError);
    expect(() => decodeDataHeader(Buffer.from('9000000000000000', 'hex'))).toThrow(expect.objectContaining({ code: 'BAD_FLAGS' }));
    expect(() => encodeDataHeader({ nonce: 1, mapVersion: { source: 1, dest: 1 }, echoNonce: false })).toThrow(LispEncodeError);
    expect(() => encodeDataHeader({ instanceId: 1, lsb: 256, echoNonce: false })).toThrow(LispEncodeError);
    expect(() => encodeDataHeader({ nonce: 1 << 24, echoNonce: false })).toThrow(LispEncodeError);
  });
});

describe('hostile bytes', () => {
  test('every truncation of every sample is a LispDecodeError', () => {
    for (const msg of Object.values(allSamples())) {
      const bytes = encodeMessage(msg);
      for (let n = 0; n < bytes.length; n++) decodeError(bytes.subarray(0, n));
    }
    expect(decodeError(encodeMessage(sampleMapRequest()).subarray(0, 31)).code).toBe('TRUNCATED');
    expect(decodeError(new Uint8Array(0)).code).toBe('TRUNCATED');
  });

  test('too long, unknown type, trailing bytes', () => {
    expect(decodeError(new Uint8Array(65536)).code).toBe('TOO_LONG');
    for (const t of [0, 6, 7, 9, 15]) expect(decodeError(Uint8Array.of(t << 4, 0, 0, 0)).code).toBe('UNKNOWN_TYPE');
    const bytes = encodeMessage(sampleMapRequest());
    const err = decodeError(Buffer.concat([bytes, Buffer.of(0)]));
    expect(err.code).toBe('TRAILING_BYTES');
    expect(err.offset).toBe(bytes.length);
  });

  test('counts that lie', () => {
    const req = encodeMessage(sampleMapRequest());
    req[3] = 255; // record count
    expect(decodeError(req).code).toBe('TRUNCATED');
    const irc = encodeMessage(sampleMapRequest());
    irc[2] = 31; // 32 ITR-RLOCs
    expect(decodeError(irc).code).toMatch(/TRUNCATED|BAD_AFI/);
    const rep = encodeMessage(sampleMapReply());
    rep[16] = 255; // locator count
    expect(decodeError(rep).code).toBe('TRUNCATED');
    const reg = encodeMessage({ ...allSamples().mapRegisterXtr } as LispMessage);
    reg.writeUInt16BE(0xffff, 14); // auth data length
    expect(decodeError(reg).code).toBe('TRUNCATED');
  });

  test('an AFI of unknown length', () => {
    const bytes = encodeMessage(sampleMapRequest());
    bytes.writeUInt16BE(6, 18); // ITR-RLOC AFI
    const err = decodeError(bytes);
    expect(err.code).toBe('BAD_AFI');
    expect(err.offset).toBe(18);
  });

  test('a MAC-address EID (AFI 16389, 48 bits), as VPP sends it, is read and written', () => {
    const bytes = encodeMessage(sampleMapRequest());
    // the record's EID (AFI 1, 198.18.20.1 at the end) becomes AFI 16389, 02:00:5e:10:00:01
    const mac = Buffer.concat([bytes.subarray(0, bytes.length - 6), Buffer.from('4005' + '02005e100001', 'hex')]);
    const m = decodeMessage(mac) as MapRequest;
    expect(m.records[0]).toEqual({ maskLen: 32, eid: { afi: 'mac', address: '02:00:5e:10:00:01' } });
    expect(Buffer.from(encodeMessage(m))).toEqual(mac);
    expect(decodeError(mac.subarray(0, mac.length - 1)).code).toBe('TRUNCATED');
    expect(() => encodeMessage({ ...m, records: [{ maskLen: 48, eid: { afi: 'mac', address: '02:00:5e:10:00' } }] })).toThrow(/not a 48-bit MAC address/);
  });

  test('LCAF lengths that overrun their parent, or that their content overruns', () => {
    const over = encodeMessage(sampleMapReply());
    over.writeUInt16BE(0xffff, 28); // Security Key LCAF Length
    expect(decodeError(over).code).toBe('LCAF_OVERRUN');
    const short = encodeMessage(sampleMapReply());
    short.writeUInt16BE(10, 28);
    expect(decodeError(short).code).toBe('LCAF_LENGTH');
    // an Instance ID LCAF one byte longer than its content
    const b = encodeMessage(replyWith(eidAddress('198.18.1.1', 7)));
    b.writeUInt16BE(b.readUInt16BE(28) + 1, 28);
    expect(decodeError(b).code).toBe('LCAF_LENGTH');
  });

  test('mask-len longer than the address', () => {
    expect(decodeError(encodeMessage(replyWith({ afi: 'ipv4', address: '198.18.0.0' }, 33))).code).toBe('BAD_MASK_LEN');
    expect(decodeError(encodeMessage(replyWith(eidAddress('2001:db8::', 9), 129))).code).toBe('BAD_MASK_LEN');
    const req = encodeMessage(sampleMapRequest());
    req[25] = 40;
    expect(decodeError(req).code).toBe('BAD_MASK_LEN');
  });

  test('ECM: nested ECM, not UDP, not IP, UDP length past the end', () => {
    const inner = encodeMessage(sampleEcm());
    const nested = Buffer.alloc(4 + 28 + inner.length);
    nested[0] = 0x80;
    inner.copy(nested, 32);
    writeIpUdpHeaders({ family: 'ipv4', source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 1, destinationPort: 4342, ttl: 64 }, nested, 4, inner.length);
    expect(decodeError(nested).code).toBe('ECM_NESTED');
    const tcp = encodeMessage(sampleEcm());
    tcp[13] = 6;
    expect(decodeError(tcp).code).toBe('BAD_INNER_HEADER');
    const v5 = encodeMessage(sampleEcm());
    v5[4] = 0x55;
    expect(decodeError(v5).code).toBe('BAD_INNER_HEADER');
    const udpLen = encodeMessage(sampleEcm());
    udpLen.writeUInt16BE(0xfff0, 28);
    expect(decodeError(udpLen).code).toBe('TRUNCATED');
    const small = encodeMessage(sampleEcm());
    small.writeUInt16BE(4, 28);
    expect(decodeError(small).code).toBe('BAD_INNER_HEADER');
  });

  test('ECM: an inner UDP checksum that does not match is refused (as OOR); a zero one means none', () => {
    for (const m of [sampleEcm(), sampleEcmV6()]) {
      const good = encodeMessage(m);
      const bad = Buffer.from(good);
      bad[bad.length - 9]! ^= 0x01; // a bit of the inner Map-Request, checksum left as it was
      expect(decodeError(bad).code).toBe('BAD_CHECKSUM');
      const none = Buffer.from(bad);
      const udp = m.inner.source.includes(':') ? 44 : 24;
      none.writeUInt16BE(0, udp + 6);
      expect(() => decodeMessage(none)).not.toThrow();
    }
  });
});

describe('encoding refuses what the wire cannot carry', () => {
  const bad: Record<string, () => LispMessage> = {
    'IPv4 octet 256': () => replyWith({ afi: 'ipv4', address: '198.18.0.256' }),
    'IPv4 leading zero': () => replyWith({ afi: 'ipv4', address: '198.018.0.1' }),
    'IPv4 three parts': () => replyWith({ afi: 'ipv4', address: '198.18.0' }),
    'IPv6 two ::': () => replyWith({ afi: 'ipv6', address: '1::2::3' }),
    'IPv6 nine groups': () => replyWith({ afi: 'ipv6', address: '1:2:3:4:5:6:7:8:9' }),
    'IPv6 bad digit': () => replyWith({ afi: 'ipv6', address: '2001:db8::g' }),
    'IPv6 text in an ipv4 address': () => replyWith({ afi: 'ipv4', address: '2001:db8::1' }),
    '256 locators': () => ({ ...sampleMapReply(), records: [{ ...plainRecord(), locators: Array(256).fill(plainRecord().locators[0]) }] }),
    'priority 256': () => ({ ...sampleMapReply(), records: [{ ...plainRecord(), locators: [{ ...plainRecord().locators[0]!, priority: 256 }] }] }),
    'TTL below 0': () => ({ ...sampleMapReply(), records: [{ ...plainRecord(), ttl: -1 }] }),
    'ACT 8': () => ({ ...sampleMapReply(), records: [{ ...plainRecord(), action: 8 }] }),
    'negative nonce': () => ({ ...sampleMapReply(), nonce: -1n }),
    'no ITR-RLOC': () => ({ ...sampleMapRequest(), itrRlocs: [] }),
    'M bit without its record': () => ({ ...sampleMapRequest(), mapDataPresent: true }),
    'an unknown LCAF that is a known type': () => replyWith({ afi: 'lcaf', lcaf: { type: 'unknown', lcafType: 2, flags: 0, rsvd2: 0, body: new Uint8Array(0) } }),
    '256 keys': () => replyWith({ afi: 'lcaf', lcaf: { type: 'security-key', algorithm: 6, revoke: false, keys: Array(256).fill(new Uint8Array(0)), address: { afi: 'none' } } }),
    'ECM with mixed families': () => ({ ...sampleEcm(), inner: { ...sampleEcm().inner, destination: '2001:db8::1' } }),
    'ECM in an ECM': () => ({ ...sampleEcm(), message: sampleEcm() }),
    'xTR-ID of 15 bytes': () => ({ ...allSamples().mapRegisterXtr!, xtrId: new Uint8Array(15) }) as LispMessage,
    'xTR-ID without Site-ID': () => ({ ...allSamples().mapRegisterXtr!, siteId: undefined }) as LispMessage,
  };
  for (const [name, make] of Object.entries(bad)) {
    test(name, () => expect(() => encodeMessage(make())).toThrow(LispEncodeError));
  }
  test('a buffer too small', () => {
    expect(() => encodeMessage(sampleMapRequest(), new Uint8Array(10))).toThrow(LispEncodeError);
  });
});

describe('EIDs and WireGuard keys', () => {
  test('eidOf unwraps Security Key and Instance ID', () => {
    expect(eidOf(keyRecord('198.18.10.1', '198.18.0.1', 9).eid)).toEqual({ instanceId: 9, family: 'ipv4', address: '198.18.10.1' });
    expect(eidOf(keyRecord('2001:db8::5').eid)).toEqual({ instanceId: 0, family: 'ipv6', address: '2001:db8::5' });
    expect(eidOf({ afi: 'none' })).toBeUndefined();
    expect(eidOf({ afi: 'lcaf', lcaf: { type: 'afi-list', addresses: [] } })).toBeUndefined();
  });

  test('recordKey: the key, none for a plain record, an error for a bad Security Key', () => {
    const rec = decodeMessage(encodeMessage(sampleMapReply())) as MapReply;
    expect(recordKey(rec.records[0]!)).toEqual(SAMPLE_KEY);
    expect(recordKey(plainRecord())).toBeUndefined();
    const swapped = wireguardKeyRecord(keyRecord(), new Uint8Array(32).fill(3));
    expect(recordKey(swapped)).toEqual(new Uint8Array(32).fill(3));
    expect(eidOf(swapped.eid)).toEqual(eidOf(keyRecord().eid)); // replaced, not wrapped twice
    const bad = (lcaf: Partial<Extract<Address, { afi: 'lcaf' }>['lcaf']>): MappingRecord => ({
      ...plainRecord(),
      eid: { afi: 'lcaf', lcaf: { type: 'security-key', algorithm: 6, revoke: false, keys: [SAMPLE_KEY], address: { afi: 'none' }, ...lcaf } as Extract<Address, { afi: 'lcaf' }>['lcaf'] },
    });
    expect(() => recordKey(bad({ algorithm: 5 }))).toThrow(expect.objectContaining({ code: 'SECURITY_KEY' }));
    expect(() => recordKey(bad({ keys: [] }))).toThrow(expect.objectContaining({ code: 'SECURITY_KEY' }));
    expect(() => recordKey(bad({ keys: [new Uint8Array(31)] }))).toThrow(expect.objectContaining({ code: 'SECURITY_KEY' }));
    expect(() => wireguardKeyRecord(plainRecord(), new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'SECURITY_KEY' }));
  });

  test('eidAddress refuses text that is not an IP address', () => {
    expect(() => eidAddress('host.example')).toThrow(LispEncodeError);
  });

  test('a decoded ECM keeps its inner header', () => {
    const m = decodeMessage(encodeMessage(sampleEcm())) as Ecm;
    expect(m.inner).toEqual(sampleEcm().inner);
  });
});
