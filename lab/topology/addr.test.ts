import { describe, expect, it } from 'vitest';
import { type Cidr, cidrText, contains, formatIp, hostAt, hostNumber, inAllowedRange, ipText, isReservedHost, networkOf, parseCidr, parseIp } from './addr.js';

const c = (t: string): Cidr => {
  const r = parseCidr(t);
  if (typeof r === 'string') throw new Error(r);
  return r;
};

describe('addresses', () => {
  it('parses and prints IPv4 and IPv6 (RFC 5952 compression)', () => {
    expect(ipText(c('198.18.0.1/24'))).toBe('198.18.0.1');
    for (const t of ['2001:db8::1', '2001:db8:0:1::', '::1', '2001:db8:1:2:3:4:5:6', '2001:0:0:1::1']) expect(formatIp(6, parseIp(t)!.value)).toBe(t);
    expect(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1')!.value)).toBe('2001:db8::1:0:0:1');
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
