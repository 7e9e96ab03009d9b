import { describe, expect, it } from 'vitest';
import { parseConfig, parseSiteFlag, withSites, defaultConfig } from './config.js';
import { formatEidPrefix } from '../mapping/eid.js';
import { LispwgError } from '../util/errors.js';

const KEY = 'WmB0zWYZDdGRinjTWNljaGbcixwbWb1BQ8zCHdmlzgA=';

function errorOf(fn: () => unknown): LispwgError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LispwgError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('Map-Server config', () => {
  it('reads a full file and applies defaults', () => {
    const c = parseConfig(
      [
        'listen: 198.18.0.1',
        'registration-ttl: 3',
        'push: { order: parallel }',
        'grpc-port: 4343',
        'sites:',
        '  - name: a',
        '    key: secret',
        '    prefixes:',
        '      - 198.18.1.0/24',
        '      - { prefix: 2001:db8:1::/48, iid: 7, accept-more-specifics: true }',
        '    xtrs: [ { public-key: "' + KEY + '", control-address: 100.100.0.2 } ]',
        'static:',
        '  - prefix: 198.18.9.0/24',
        '    key: "' + KEY + '"',
        '    rlocs: [ { address: 198.19.0.9 } ]',
      ].join('\n'),
      'ms.yaml',
    );
    expect(c.listen).toEqual(['198.18.0.1']);
    expect(c.port).toBe(4342);
    expect(c.grpcPort).toBe(4343);
    expect(c.registrationTtl).toBe(3);
    expect(c.push).toEqual({ order: 'parallel', waitMs: 10, retries: 3, retryMs: 200 });
    expect(c.sites[0]!.keyId).toBe(1);
    expect(c.sites[0]!.prefixes.map((p) => formatEidPrefix(p.prefix))).toEqual(['198.18.1.0/24', '[7]2001:db8:1::/48']);
    expect(c.sites[0]!.prefixes[1]!.acceptMoreSpecifics).toBe(true);
    expect(c.sites[0]!.xtrs[0]!.controlAddress).toBe('100.100.0.2');
    expect(c.static[0]!.rlocs[0]).toEqual({ address: '198.19.0.9', priority: 1, weight: 100 });
    expect(c.static[0]!.ttl).toBe(1440);
    expect(defaultConfig().listen).toEqual(['0.0.0.0', '::']);
  });

  it('names the file, line and key of each error', () => {
    const e = errorOf(() =>
      parseConfig(['sites:', '  - name: a', '    key: k', '    prefixes:', '      - 198.18.1.0/33', '  - name: b', '    kee: k', '    prefixes: [198.18.2.0/24]'].join('\n'), 'ms.yaml'),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toMatch(/ms\.yaml:5: sites\[0\]\.prefixes\[0\]\.prefix: .*prefix length \/33 is longer/);
    expect(e.message).toMatch(/ms\.yaml:6: sites\[1\]: .*kee/);
    expect(e.message).toMatch(/sites\[1\]\.key/);
  });

  it('refuses a bad WireGuard key, a duplicate prefix and a YAML syntax error', () => {
    expect(errorOf(() => parseConfig('sites:\n  - {name: a, key: k, prefixes: [10.0.0.0/8], wireguard-keys: [nope]}', 'f.yaml')).message).toMatch(
      /f\.yaml:2: sites\[0\]\.wireguard-keys\[0\]: .*not a WireGuard key/,
    );
    expect(
      errorOf(() => parseConfig('sites:\n  - {name: a, key: k, prefixes: [10.0.0.0/8]}\n  - {name: b, key: k, prefixes: [10.0.0.0/8]}', 'f.yaml')).message,
    ).toMatch(/f\.yaml:3: .*10\.0\.0\.0\/8 is configured twice/);
    expect(errorOf(() => parseConfig('sites: [\n  {name: a', 'f.yaml')).message).toMatch(/^f\.yaml:\d+: /);
    expect(errorOf(() => parseConfig('push: { order: sometimes }', 'f.yaml')).message).toMatch(/f\.yaml:1: push\.order/);
  });

  it('parses --site flags', () => {
    const s = parseSiteFlag('name=a,key=secret,key-id=2,prefix=198.18.1.0/24,prefix=2001:db8:1::/48,iid=3,ams=yes');
    expect(s.keyId).toBe(2);
    expect(s.prefixes.map((p) => formatEidPrefix(p.prefix))).toEqual(['[3]198.18.1.0/24', '[3]2001:db8:1::/48']);
    expect(s.prefixes[0]!.acceptMoreSpecifics).toBe(true);
    expect(errorOf(() => parseSiteFlag('name=a,prefix=10.0.0.0/8')).message).toMatch(/a key is required/);
    expect(errorOf(() => parseSiteFlag('name=a,key=k,prefix=10.0.0.0/8,colour=red')).message).toMatch(/unknown field 'colour'/);
    expect(errorOf(() => withSites(defaultConfig(), [s, { ...s }])).message).toMatch(/used twice/);
  });
});
