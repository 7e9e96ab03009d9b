import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, parseSiteFlag, withSites, defaultConfig } from './config.js';
import { formatEidPrefix } from '../mapping/eid.js';
import { LispwgError } from '../util/errors.js';
import { headerExample } from '../testing/header-example.js';

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
        'registration-ttl: 3s',
        'push: { order: parallel, retry: 150ms }',
        'subscriptions: { max-ttl: 1h }',
        'negative-ttl: 5m',
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
      { onWarning: (w) => expect.unreachable(w.message) },
    );
    expect(c.listen).toEqual(['198.18.0.1']);
    expect(c.port).toBe(4342);
    expect(c.grpcPort).toBe(4343);
    expect(c.registrationTtl).toBe(3);
    expect(c.push).toEqual({ order: 'parallel', waitMs: 10, retries: 3, retryMs: 150 });
    expect(c.subscriptions.maxTtl).toBe(60);
    expect(c.negativeTtl).toBe(5);
    expect(c.unregisteredTtl).toBe(1);
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
    expect(e.message).toMatch(/^ms\.yaml:5:9: sites\[0\]\.prefixes\[0\]\.prefix: .*prefix length \/33 is longer/);
    expect(e.message).toMatch(/\nms\.yaml:6:5: sites\[1\]: give exactly one of key and key-file/);
    expect(e.message).toMatch(/\nms\.yaml:7:5: sites\[1\]\.kee: unknown key 'kee'\n    fix: did you mean 'key'\?/);
  });

  it('refuses a bad WireGuard key, a duplicate prefix and a YAML syntax error', () => {
    expect(errorOf(() => parseConfig('sites:\n  - {name: a, key: k, prefixes: [10.0.0.0/8], wireguard-keys: [nope]}', 'f.yaml')).message).toMatch(
      /f\.yaml:2:64: sites\[0\]\.wireguard-keys\[0\]: .*not a WireGuard key/,
    );
    expect(
      errorOf(() => parseConfig('sites:\n  - {name: a, key: k, prefixes: [10.0.0.0/8]}\n  - {name: b, key: k, prefixes: [10.0.0.0/8]}', 'f.yaml')).message,
    ).toMatch(/f\.yaml:3:34: .*10\.0\.0\.0\/8 is configured twice/);
    expect(errorOf(() => parseConfig('sites: [\n  {name: a', 'f.yaml')).message).toMatch(/^f\.yaml:\d+:\d+: YAML: /);
    expect(errorOf(() => parseConfig('push: { order: sometimes }', 'f.yaml')).message).toMatch(/f\.yaml:1:16: push\.order: "sometimes" is not allowed \(expected one of push-then-reply, reply-then-push, parallel, off\)/);
    expect(errorOf(() => parseConfig('push: { wait: 10 }', 'f.yaml')).message).toMatch(/f\.yaml:1:15: push\.wait: write the duration with its unit, e\.g\. '10ms'/);
    expect(errorOf(() => parseConfig('push: { wait: 1m }', 'f.yaml')).message).toMatch(/push\.wait: must be at most 10s/);
    expect(errorOf(() => parseConfig('negative-ttl: 90s', 'f.yaml')).message).toMatch(/negative-ttl: must be a whole number of minutes \(90s\)/);
  });

  it('accepts the old spellings for one release, each with a warning naming file:line and the new spelling', () => {
    const warnings: string[] = [];
    const c = parseConfig(
      ['registration-ttl: 3', 'negative-ttl: 15', 'push: { order: parallel, wait-ms: 20, retry-ms: 100 }', 'subscriptions:', '  retry-ms: 300', '  max-ttl: 60'].join('\n'),
      'old.yaml',
      { onWarning: (w) => warnings.push(w.message) },
    );
    expect(c.registrationTtl).toBe(3);
    expect(c.negativeTtl).toBe(15);
    expect(c.push).toEqual({ order: 'parallel', waitMs: 20, retries: 3, retryMs: 100 });
    expect(c.subscriptions).toMatchObject({ retryMs: 300, maxTtl: 60 });
    expect(warnings).toEqual([
      'old.yaml:1:1: registration-ttl: 3 is deprecated: write registration-ttl: 3s (the old spelling goes in the next release)',
      'old.yaml:2:1: negative-ttl: 15 is deprecated: write negative-ttl: 15m (the old spelling goes in the next release)',
      'old.yaml:3:26: push.wait-ms: 20 is deprecated: write wait: 20ms (the old spelling goes in the next release)',
      'old.yaml:3:39: push.retry-ms: 100 is deprecated: write retry: 100ms (the old spelling goes in the next release)',
      'old.yaml:5:3: subscriptions.retry-ms: 300 is deprecated: write retry: 300ms (the old spelling goes in the next release)',
      'old.yaml:6:3: subscriptions.max-ttl: 60 is deprecated: write max-ttl: 60m (the old spelling goes in the next release)',
    ]);
    expect(errorOf(() => parseConfig('push: { wait-ms: 20, wait: 10ms }', 'f.yaml', { onWarning: () => {} })).message).toMatch(
      /f\.yaml:1:9: push\.wait-ms: both 'wait-ms' \(the old spelling\) and 'wait' are given\n    fix: keep only 'wait'/,
    );
  });

  it('accepts the example in the module header (the documentation stays true)', () => {
    const yaml = headerExample(new URL('./config.ts', import.meta.url)).replaceAll('"base64..."', `"${KEY}"`);
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-ms-config-'));
    try {
      writeFileSync(join(dir, 'site-a.key'), 'shared secret\n', { mode: 0o600 });
      const c = parseConfig(yaml, join(dir, 'ms.yaml'), { onWarning: (w) => expect.unreachable(w.message) });
      expect(c.sites[0]!.key).toBe('shared secret');
      checkHeader(c);
      // the key file's mode is checked, and the error names the file and the config line
      chmodSync(join(dir, 'site-a.key'), 0o644);
      expect(() => parseConfig(yaml, join(dir, 'ms.yaml'))).toThrow(/ms\.yaml:\d+:\d+: sites\[0\]\.key-file: .*site-a\.key has mode 0644.*chmod 600/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function checkHeader(c: ReturnType<typeof parseConfig>): void {
  {
    expect(c.registrationTtl).toBe(180);
    expect(c.push).toEqual({ order: 'push-then-reply', waitMs: 10, retries: 3, retryMs: 200 });
    expect(c.subscriptions).toMatchObject({ retryMs: 500, maxTtl: 1440 });
    expect([c.negativeTtl, c.unregisteredTtl, c.static[0]!.ttl]).toEqual([15, 1, 1440]);
  }
}

describe('Map-Server config: bounds and flags', () => {
  it('reads the bounds, with their defaults, and names a bad one', () => {
    const d = defaultConfig();
    expect(d.rateLimit).toEqual({ rate: 1000, burst: 2000, tableSize: 65_536, strangers: { rate: 10_000, burst: 20_000 } });
    expect(d.limits).toEqual({ registrations: 2_000_000 });
    expect(d.subscriptions.max).toBe(100_000);
    const c = parseConfig('rate-limit: { strangers: { rate: 50 } }\nlimits: { registrations: 10 }\nsites:\n  - { name: a, key: k, prefixes: [10.0.0.0/8] }\n  - { name: b, key: k, max-registrations: 5, prefixes: [11.0.0.0/8] }');
    expect(c.rateLimit.strangers).toEqual({ rate: 50, burst: 20_000 });
    expect(c.limits.registrations).toBe(10);
    expect(c.sites.map((x) => x.maxRegistrations)).toEqual([1000, 5]);
    expect(errorOf(() => parseConfig('sites:\n  - { name: a, key: k, max-registrations: 0, prefixes: [10.0.0.0/8] }', 'f.yaml')).message).toMatch(/f\.yaml:2:\d+: sites\[0\]\.max-registrations: .*1/);
    expect(errorOf(() => parseConfig('rate-limit: { strangers: { rates: 5 } }', 'f.yaml')).message).toMatch(/rate-limit\.strangers\.rates: unknown key/);
    expect(errorOf(() => parseConfig('subscriptions: { max: 0 }', 'f.yaml')).message).toMatch(/subscriptions\.max/);
    expect(parseSiteFlag('name=a,key=k,prefix=10.0.0.0/8,max-registrations=7').maxRegistrations).toBe(7);
    expect(errorOf(() => parseSiteFlag('name=a,key=k,prefix=10.0.0.0/8,max-registrations=-1')).message).toMatch(/max-registrations must be 1\.\.100000000/);
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

  it('reads an etcd store, with its defaults, and names what is wrong with one', () => {
    const c = parseConfig('store: { kind: etcd, endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379] }');
    expect(c.store).toEqual({ kind: 'etcd', fsyncMs: 1000, etcd: { endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'], prefix: '/lispwg/ms/', timeoutMs: 2000, queue: 1_000_000 } });
    expect(parseConfig('store: { kind: etcd, endpoints: [http://e:2379], prefix: /lispwg/lab1/, timeout: 500ms, queue: 10 }').store.etcd).toEqual({ endpoints: ['http://e:2379'], prefix: '/lispwg/lab1/', timeoutMs: 500, queue: 10 });
    expect(errorOf(() => parseConfig('store: { kind: etcd }', 'ms.yaml')).message).toMatch(/store: store kind etcd needs endpoints/);
    expect(errorOf(() => parseConfig('store: { kind: etcd, endpoints: [10.0.0.1:2379] }', 'ms.yaml')).message).toMatch(/store\.endpoints\[0\]: an etcd endpoint is http:\/\/HOST:PORT/);
    expect(errorOf(() => parseConfig('store: { kind: etcd, endpoints: [http://e:2379], prefix: lispwg }', 'ms.yaml')).message).toMatch(/store\.prefix: a key prefix starts and ends with \//);
  });
});
