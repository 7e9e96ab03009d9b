import { describe, expect, it } from 'vitest';
import { type Cidr, cidrText, contains, formatIp, hostAt, hostNumber, inAllowedRange, ipText, isReservedHost, networkOf, parseCidr, parseIp } from './addr.js';
import { canonicalIp, formatPrefix, maskPrefix, parseIp as parseIpAddress, parsePrefix, prefixContains } from '../../src/ip/ip.js';
import { eidPrefixContains, formatEidPrefix, makeEidPrefix, parseEidPrefix } from '../../src/mapping/eid.js';
import { MappingDatabase } from '../../src/mapping/database.js';
import { parsePrefix as parseAgentPrefix, prefixCovers, type Prefix } from '../../src/xtr/config.js';
import { decodeMessage, eidOf, encodeMessage, type MapReply } from '../../src/lisp/index.js';
import { plainRecord } from '../../src/lisp/samples.js';
import { ipDestination } from '../../src/dataplane/ip.js';

const c = (t: string): Cidr => {
  const r = parseCidr(t);
  if (typeof r === 'string') throw new Error(r);
  return r;
};

describe('addresses', () => {
  it('parses and prints IPv4 and IPv6 (RFC 5952 compression)', () => {
    expect(ipText(c('198.18.0.1/24'))).toBe('198.18.0.1');
    for (const t of ['2001:db8::1', '2001:db8:0:1::', '::1', '2001:db8:1:2:3:4:5:6', '2001:0:0:1::1']) expect(formatIp('ipv6', parseIp(t)!.value)).toBe(t);
    expect(formatIp('ipv6', parseIp('2001:db8:0:0:1:0:0:1')!.value)).toBe('2001:db8::1:0:0:1');
    expect(formatIp('ipv4', parseIp(' 198.18.0.1 ')!.value)).toBe('198.18.0.1');
  });

  it('says what is wrong with a bad CIDR', () => {
    expect(parseCidr('198.18.0.300/24')).toMatch(/not an IPv4 or IPv6 address/);
    expect(parseCidr('198.18.0.1/33')).toMatch(/longer than an IPv4 address/);
    expect(parseCidr('198.18.0.1')).toMatch(/no prefix length/);
    expect(parseCidr('198.18.0.1/2/3')).toMatch(/more than one/);
    expect(parseCidr('198.18.0.1', () => 24)).toEqual(c('198.18.0.1/24'));
  });

  it('computes networks, containment and hosts', () => {
    expect(cidrText(networkOf(c('198.18.10.77/24')))).toBe('198.18.10.0/24');
    expect(contains(c('198.18.0.0/15'), c('198.19.3.0/24'))).toBe(true);
    expect(contains(c('198.18.0.0/24'), c('198.18.0.0/16'))).toBe(false);
    expect(contains(c('2001:db8::/32'), c('198.18.0.1/32'))).toBe(false);
    expect(cidrText(hostAt(c('198.18.20.0/24'), 10))).toBe('198.18.20.10/24');
    expect(hostNumber(c('198.18.10.10/24'))).toBe(10n);
    expect(() => hostAt(c('198.18.0.0/30'), 4)).toThrow(/no host number 4/);
    expect(isReservedHost(c('198.18.0.0/24'))).toBe(true);
    expect(isReservedHost(c('198.18.0.255/24'))).toBe(true);
    expect(isReservedHost(c('198.18.0.1/31'))).toBe(false);
  });

  it('allows only the benchmark, control and documentation ranges', () => {
    for (const ok of ['198.18.0.1/24', '198.19.255.1/32', '100.100.3.4/16', '2001:db8:1::1/64']) expect(inAllowedRange(c(ok))).toBe(true);
    for (const bad of ['10.0.0.1/8', '192.168.1.1/24', '198.20.0.1/24', '100.101.0.1/24', '198.18.0.0/14', '2001:db9::1/64']) expect(inAllowedRange(c(bad))).toBe(false);
  });
});

/**
 * One address, one text, one answer: every module that holds IP addresses (src/ip, the EID
 * prefixes and trie of src/mapping, the codec, the TUN miss path, the agent config, the lab's
 * address plans) prints the same input the same way and agrees on containment.
 */
describe('one IP model across the modules', () => {
  const agentPrefix = (t: string): Prefix => {
    const p = parseAgentPrefix(t);
    if (typeof p === 'string') throw new Error(p);
    return p;
  };
  const labCidr = (t: string): Cidr => c(t);
  // input (with its mask length) -> the network's canonical text
  const PREFIXES: [string, string][] = [
    ['::ffff:198.18.0.1/128', '::ffff:198.18.0.1/128'],
    ['0:0:0:0:0:FFFF:C612:0001/128', '::ffff:198.18.0.1/128'],
    ['::ffff:198.18.0.77/120', '::ffff:198.18.0.0/120'],
    ['::/0', '::/0'],
    ['::/128', '::/128'],
    ['::1/128', '::1/128'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:0DB8:0000::/32', '2001:db8::/32'],
    ['2001:db8:0:0:0:0:0:0/32', '2001:db8::/32'],
    ['2001:db8:ffff::1/32', '2001:db8::/32'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['198.18.0.1/32', '198.18.0.1/32'],
    ['198.18.7.9/15', '198.18.0.0/15'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/0', '0.0.0.0/0'],
  ];

  it.each(PREFIXES)('%s is %s everywhere', (input, network) => {
    const [addr, len] = input.split('/') as [string, string];
    const hostText = `${canonicalIp(addr)}/${len}`;
    expect(formatPrefix(maskPrefix(parsePrefix(input)))).toBe(network);
    expect(formatEidPrefix(parseEidPrefix(input))).toBe(network);
    expect(formatEidPrefix(parseEidPrefix(`[7]${input}`))).toBe(`[7]${network}`);
    const afi = parseIpAddress(addr).family;
    expect(formatEidPrefix(makeEidPrefix(afi, addr, Number(len)))).toBe(network);
    expect(cidrText(networkOf(labCidr(input)))).toBe(network);
    expect(cidrText(labCidr(input))).toBe(hostText);
    expect(agentPrefix(input).text).toBe(hostText);
    // the trie hands the prefix back in the same text
    const db = new MappingDatabase<string>();
    db.set(parseEidPrefix(input), 'x');
    expect(formatEidPrefix(db.lookup(0, afi, addr)!.prefix)).toBe(network);
    expect([...db.entries()].map((e) => formatEidPrefix(e.prefix))).toEqual([network]);
  });

  it.each(['::ffff:198.18.0.1', '::', '::1', '2001:0db8::0001', '198.18.0.1', '::198.18.0.1', '2001:db8::ffff:0:1'])(
    '%s reads back in the same text from the wire, from a packet and from every parser',
    (input) => {
      const text = canonicalIp(input);
      const reply: MapReply = { type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce: 1n, records: [plainRecord(input, input.includes(':') ? 128 : 32, input)] };
      const back = decodeMessage(encodeMessage(reply)) as MapReply;
      expect(eidOf(back.records[0]!.eid)?.address).toBe(text);
      expect(back.records[0]!.locators[0]!.address).toMatchObject({ address: text });
      const a = parseIpAddress(input);
      const packet = new Uint8Array(a.family === 'ipv4' ? 20 : 40);
      packet[0] = a.family === 'ipv4' ? 0x45 : 0x60;
      packet.set(a.bytes, a.family === 'ipv4' ? 16 : 24);
      expect(ipDestination(packet)).toBe(text);
      expect(ipText(labCidr(`${input}/${a.family === 'ipv4' ? 32 : 128}`))).toBe(text);
      expect(agentPrefix(`${input}/${a.family === 'ipv4' ? 32 : 128}`).address).toBe(text);
      expect(parseEidPrefix(input).address).toBe(text);
    },
  );

  it('agrees on containment', () => {
    const cases: [string, string, boolean][] = [
      ['::ffff:198.18.0.0/112', '::ffff:198.18.0.1/128', true],
      ['::ffff:198.18.0.0/112', '::ffff:198.19.0.1/128', false],
      ['198.18.0.0/15', '::ffff:198.18.0.1/128', false],
      ['::/0', '::1/128', true],
      ['::/0', '198.18.0.1/32', false],
      ['0.0.0.0/0', '198.18.0.1/32', true],
      ['::/128', '::1/128', false],
      ['::1/128', '::1/128', true],
      ['2001:db8::/32', '2001:db8:ffff::/48', true],
      ['2001:db8::/32', '2001:db9::/48', false],
      ['2001:db8::/48', '2001:db8::/32', false],
      ['198.18.0.0/15', '198.19.255.255/32', true],
      ['198.18.0.0/16', '198.19.0.0/16', false],
    ];
    for (const [outer, inner, inside] of cases) {
      const got = [
        prefixContains(parsePrefix(outer), parsePrefix(inner)),
        eidPrefixContains(parseEidPrefix(outer), parseEidPrefix(inner)),
        contains(labCidr(outer), labCidr(inner)),
        prefixCovers(agentPrefix(outer), { address: inner.split('/')[0]!, length: Number(inner.split('/')[1]) }),
      ];
      expect([outer, inner, got]).toEqual([outer, inner, [inside, inside, inside, inside]]);
    }
  });

  it.each(['198.18.0.256/32', '198.018.0.1/32', 'fe80::1%eth0/128', '1::2::3/64', '198.18.0.0/33', '2001:db8::/129', '2001:db8::/1x', '::ffff:198.18.0/128'])(
    'every parser refuses %s',
    (bad) => {
      expect(() => parsePrefix(bad)).toThrow(/is not|prefix length/);
      expect(() => parseEidPrefix(bad)).toThrow(/is not an EID prefix/);
      expect(typeof parseCidr(bad)).toBe('string');
      expect(typeof parseAgentPrefix(bad)).toBe('string');
    },
  );
});
