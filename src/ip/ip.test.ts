import { describe, expect, it } from 'vitest';
import { SocketAddress } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  canonicalIp,
  formatIp,
  formatIpv6,
  formatPrefix,
  formatWords,
  ipFamily,
  ipWords,
  isNetwork,
  maskPrefix,
  maskWords,
  parseIp,
  parsePrefix,
  prefixContains,
  tryParseIp,
  writeIpv4,
  writeIpv6,
} from './ip.js';

/** input -> canonical text */
const CANONICAL: [string, string][] = [
  ['198.18.0.1', '198.18.0.1'],
  ['0.0.0.0', '0.0.0.0'],
  ['255.255.255.255', '255.255.255.255'],
  ['::', '::'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['::1', '::1'],
  ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
  ['::ffff:198.18.0.1', '::ffff:198.18.0.1'],
  ['::FFFF:c612:0001', '::ffff:198.18.0.1'],
  ['0:0:0:0:0:ffff:198.18.0.1', '::ffff:198.18.0.1'],
  ['::ffff:0:1', '::ffff:0.0.0.1'],
  ['::198.18.0.1', '::198.18.0.1'], // IPv4-compatible (deprecated), mixed as Node prints it
  ['::1:2', '::0.1.0.2'],
  ['::1:0', '::0.1.0.0'],
  ['::100', '::100'], // not IPv4-compatible: group 6 is zero
  ['::ffff:0:0:1', '::ffff:0:0:1'], // IPv4-translated: hex, as Node prints it
  ['64:ff9b::198.18.0.1', '64:ff9b::c612:1'],
  ['2001:DB8::', '2001:db8::'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
  ['2001:db8::0:1', '2001:db8::1'],
  ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], // the longest run
  ['fe80::1:2', 'fe80::1:2'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
];

const NOT_ADDRESSES = [
  '', ' 198.18.0.1', '198.18.0.1 ', '198.18.0', '198.18.0.1.2', '198.18.0.256', '198.018.0.1', '01.1.1.1',
  '198.18.0.', '.198.18.0.1', '198.18.0.1/24', '1.2.3.-4', '0x1.2.3.4',
  ':', ':::', '1:::2', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::',
  '12345::', 'g::1', 'fe80::1%eth0', '[::1]', '::ffff:198.18.0', '::ffff:198.18.0.01', '1:2:3:4:5:6:7:1.2.3.4',
  '::1.2.3.4:5', '1.2.3.4::',
];

describe('addresses', () => {
  it.each(CANONICAL)('%s is %s on every path (text, bytes, words)', (input, text) => {
    expect(canonicalIp(input)).toBe(text);
    const a = parseIp(input);
    expect(formatIp(a)).toBe(text);
    expect(ipFamily(input)).toBe(a.family);
    expect(formatWords(a.family, ipWords(a.family, input))).toBe(text);
    // the canonical text reads back as the same address
    expect(parseIp(text)).toEqual(a);
  });

  it('gives the bytes in network order', () => {
    expect(parseIp('198.18.0.1')).toEqual({ family: 'ipv4', bytes: Uint8Array.from([198, 18, 0, 1]) });
    expect(parseIp('::ffff:198.18.0.1').bytes).toEqual(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1]));
    expect([...ipWords('ipv6', '2001:db8::ff00:42:8329')]).toEqual([0x20010db8, 0, 0xff00, 0x00428329]);
    expect([...ipWords('ipv4', '255.255.255.255')]).toEqual([0xffffffff]);
  });

  it.each(NOT_ADDRESSES)('refuses %j, naming it', (input) => {
    expect(ipFamily(input)).toBeUndefined();
    expect(tryParseIp(input)).toBeUndefined();
    expect(() => parseIp(input)).toThrow(expect.objectContaining({ code: 'BAD_ADDRESS', input, message: `'${input}' is not an IPv4 or IPv6 address` }));
    expect(() => canonicalIp(input)).toThrow(expect.objectContaining({ code: 'BAD_ADDRESS' }));
    expect(writeIpv4(input, new Uint8Array(4), 0)).toBe(false);
    expect(writeIpv6(input, new Uint8Array(16), 0)).toBe(false);
  });

  it('reads every IPv6 form into trie words', () => {
    const hex = (t: string) => [...ipWords('ipv6', t)].map((w) => w.toString(16).padStart(8, '0')).join('');
    expect(hex('2001:db8::1')).toBe('20010db8000000000000000000000001');
    expect(hex('::')).toBe('0'.repeat(32));
    expect(hex('::1')).toBe('0'.repeat(31) + '1');
    expect(hex('fe80::')).toBe('fe80' + '0'.repeat(28));
    expect(hex('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(hex('2001:DB8:0:0:1::')).toBe('20010db8000000000001000000000000');
    expect(hex('::ffff:198.18.0.1')).toBe('00000000000000000000ffffc6120001');
    expect(hex('64:ff9b::198.18.0.1')).toBe('0064ff9b0000000000000000c6120001');
    expect(hex('1::2:3')).toBe('00010000000000000000000000020003');
    expect(hex('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255')).toBe('f'.repeat(32));
  });

  it('refuses the other family on the family-specific paths', () => {
    expect(() => ipWords('ipv4', '::1')).toThrow(/'::1' is not an IPv4 address/);
    expect(() => ipWords('ipv6', '198.18.0.1')).toThrow(/'198.18.0.1' is not an IPv6 address/);
    expect(writeIpv6('198.18.0.1', new Uint8Array(16), 0)).toBe(false);
  });

  it('prints what Node prints', () => {
    const shapes = [
      () => randomBytes(16),
      // zero runs of every length and place
      () => {
        const b = randomBytes(16);
        const start = b[0]! % 8;
        const len = 1 + (b[1]! % (8 - start));
        b.fill(0, 2 * start, 2 * (start + len));
        return b;
      },
      () => Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), randomBytes(4)]), // mapped
      () => Buffer.concat([Buffer.alloc(12), randomBytes(4)]), // compatible
      () => Buffer.concat([Buffer.alloc(14), randomBytes(2)]),
    ];
    for (let n = 0; n < 3000; n++) {
      const b = shapes[n % shapes.length]!();
      const node = new SocketAddress({ address: formatIpv6(b), family: 'ipv6' }).address;
      expect(formatIpv6(b)).toBe(node);
      expect(parseIp(node).bytes).toEqual(Uint8Array.from(b));
    }
  });
});

describe('prefixes', () => {
  it('parses and formats /0, /32, /128 and the 2001:db8::/32 forms alike', () => {
    for (const [input, text] of [
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['::/0', '::/0'],
      ['198.18.0.1/32', '198.18.0.1/32'],
      ['2001:db8::/32', '2001:db8::/32'],
      ['2001:0DB8::/32', '2001:db8::/32'],
      ['2001:db8:0:0:0:0:0:0/32', '2001:db8::/32'],
      ['2001:db8::1/128', '2001:db8::1/128'],
      ['::ffff:198.18.0.0/120', '::ffff:198.18.0.0/120'],
      ['::/128', '::/128'],
      ['::1/128', '::1/128'],
    ]) {
      expect(formatPrefix(parsePrefix(input!))).toBe(text);
    }
  });

  it('keeps host bits as written; masking clears them', () => {
    const p = parsePrefix('198.18.1.7/24');
    expect(formatPrefix(p)).toBe('198.18.1.7/24');
    expect(isNetwork(p)).toBe(false);
    expect(formatPrefix(maskPrefix(p))).toBe('198.18.1.0/24');
    expect(formatPrefix(p)).toBe('198.18.1.7/24'); // not changed in place
    expect(isNetwork(maskPrefix(p))).toBe(true);
    expect(formatPrefix(maskPrefix(parsePrefix('2001:db8:ffff::1/33')))).toBe('2001:db8:8000::/33');
    expect(formatPrefix(maskPrefix(parsePrefix('255.255.255.255/0')))).toBe('0.0.0.0/0');
    expect(formatPrefix(maskPrefix(parsePrefix('198.18.0.255/31')))).toBe('198.18.0.254/31');
    expect(isNetwork(parsePrefix('::/0'))).toBe(true);
    expect(isNetwork(parsePrefix('2001:db8::1/128'))).toBe(true);
    expect(isNetwork(parsePrefix('2001:db8::1/127'))).toBe(false);
  });

  it('masks the trie words as it masks the bytes', () => {
    for (const [text, len] of [['2001:db8:ffff:ffff::1', 33], ['198.18.255.255', 15], ['::ffff:198.18.0.1', 100], ['ffff::ffff', 0], ['1.2.3.4', 32]] as const) {
      const a = parseIp(text);
      const viaWords = formatWords(a.family, maskWords(ipWords(a.family, text), len));
      expect(`${viaWords}/${len}`).toBe(formatPrefix(maskPrefix({ ...a, maskLen: len })));
    }
  });

  it('accepts a bare address as a host prefix only when asked', () => {
    expect(formatPrefix(parsePrefix('198.18.0.1', { bareIsHost: true }))).toBe('198.18.0.1/32');
    expect(formatPrefix(parsePrefix('::ffff:198.18.0.1', { bareIsHost: true }))).toBe('::ffff:198.18.0.1/128');
    expect(() => parsePrefix('198.18.0.1')).toThrow(expect.objectContaining({ code: 'BAD_PREFIX', message: "'198.18.0.1' has no prefix length (write it as 198.18.0.1/32 for one address)" }));
  });

  it.each([
    ['198.18.0.0/33', 'BAD_PREFIX', "'198.18.0.0/33': prefix length /33 is longer than an IPv4 address (32 bits)"],
    ['2001:db8::/129', 'BAD_PREFIX', "'2001:db8::/129': prefix length /129 is longer than an IPv6 address (128 bits)"],
    ['198.18.0.0/1x', 'BAD_PREFIX', "'198.18.0.0/1x': '1x' is not a prefix length (0..32)"],
    ['198.18.0.0/', 'BAD_PREFIX', "'198.18.0.0/': '' is not a prefix length (0..32)"],
    ['198.18.0.0/0024', 'BAD_PREFIX', "'198.18.0.0/0024': '0024' is not a prefix length (0..32)"],
    ['198.18.0.0/-1', 'BAD_PREFIX', "'198.18.0.0/-1': '-1' is not a prefix length (0..32)"],
    ['198.18.0.1/2/3', 'BAD_PREFIX', "'198.18.0.1/2/3' has more than one '/'"],
    ['198.18.0.300/24', 'BAD_ADDRESS', "'198.18.0.300/24': '198.18.0.300' is not an IPv4 or IPv6 address"],
    ['fe80::%eth0/64', 'BAD_ADDRESS', "'fe80::%eth0/64': 'fe80::%eth0' is not an IPv4 or IPv6 address"],
    ['/24', 'BAD_ADDRESS', "'/24': '' is not an IPv4 or IPv6 address"],
  ])('refuses %j (%s), naming it', (input, code, message) => {
    expect(() => parsePrefix(input, { bareIsHost: true })).toThrow(expect.objectContaining({ code, input, message }));
  });

  it('contains by family, mask length and the first bits', () => {
    const p = (t: string) => parsePrefix(t, { bareIsHost: true });
    const cases: [string, string, boolean][] = [
      ['198.18.0.0/15', '198.19.255.255', true],
      ['198.18.0.0/15', '198.20.0.0', false],
      ['198.18.0.0/15', '198.18.0.0/15', true],
      ['198.18.0.0/15', '198.18.0.0/14', false], // shorter: not inside
      ['198.18.0.0/15', '198.18.0.0/16', true],
      ['198.18.0.7/15', '198.19.0.0/16', true], // host bits of the outer are ignored
      ['0.0.0.0/0', '255.255.255.255', true],
      ['0.0.0.0/0', '::', false], // another family
      ['::/0', '198.18.0.1', false],
      ['::/0', '::ffff:198.18.0.1', true],
      ['::ffff:0:0/96', '::ffff:198.18.0.1', true],
      ['::ffff:198.18.0.0/111', '::ffff:198.19.0.1', true],
      ['::ffff:198.18.0.0/111', '::ffff:198.20.0.1', false],
      ['198.18.0.0/15', '::ffff:198.18.0.1', false], // a mapped address is IPv6
      ['2001:db8::/32', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
      ['2001:db8::/32', '2001:db9::', false],
      ['2001:db8::/32', '2001:0DB8:0::1/64', true],
      ['2001:db8::1/128', '2001:db8::1', true],
      ['2001:db8::1/128', '2001:db8::2', false],
      ['::1/128', '::1', true],
      ['::/128', '::', true],
      ['::/128', '::1', false],
      ['2001:db8:8000::/33', '2001:db8:7fff::', false],
    ];
    for (const [outer, inner, inside] of cases) {
      expect([outer, inner, prefixContains(p(outer), p(inner))]).toEqual([outer, inner, inside]);
      if (!inner.includes('/')) expect(prefixContains(p(outer), parseIp(inner))).toBe(inside);
    }
  });
});
