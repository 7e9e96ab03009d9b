import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from './config.js';
import { LispwgError } from '../util/errors.js';

const MS_KEY = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

const minimal = `
name: mn1
mode: mn
eid-prefixes:
  - prefix: 198.18.100.1/32
rloc-interfaces:
  - name: eth0
map-server:
  address: 198.18.0.1
  control-address: 100.100.0.1
  public-key: ${MS_KEY}
  shared-key: secret
control:
  address: 100.100.0.2/16
eid-space: [198.18.64.0/18]
`;

function errorOf(text: string): LispwgError {
  try {
    parseConfig(text, '/etc/lispwg/mn1.yaml');
  } catch (e) {
    if (e instanceof LispwgError) return e;
    throw e;
  }
  throw new Error('expected the config to be refused');
}

describe('agent config', () => {
  it('fills defaults and resolves a minimal mobile-node config', () => {
    const c = parseConfig(minimal, '/etc/lispwg/mn1.yaml');
    expect(c.mode).toBe('mn');
    expect(c.instanceId).toBe(0);
    expect(c.eidPrefixes).toEqual([{ prefix: { text: '198.18.100.1/32', address: '198.18.100.1', length: 32, family: 4 }, address: '198.18.100.1' }]);
    expect(c.rlocInterfaces).toEqual([{ name: 'eth0', priority: 1, weight: 100 }]);
    expect(c.data).toEqual({ interface: 'mn1-wg', port: 51820, privateKey: { file: '/run/lispwg/mn1-data.key' } });
    expect(c.control.interface).toBe('mn1-ctl');
    expect(c.tun.interface).toBe('mn1-tun');
    expect(c.table).toBe(254);
    expect(c.missPolicy).toBe('buffer');
    expect(c.timers.registerRefreshMs).toBe(60_000);
    expect(c.timers.resolve.firstTimeoutMs).toBe(250);
    expect(c.timers.smrHoldDownMs).toBe(0); // SMRs at once unless asked (OOR: 4 s)
    expect(c.missBuffer.maxAgeMs).toBe(3000);
    expect(c.mapServer.keyId).toBe(1);
    expect(c.adminSocket).toBe('/run/lispwg/mn1.sock');
  });

  it('parses durations with units, IPv6 prefixes in canonical form, relative paths', () => {
    const v6 = parseConfig(
      minimal
        .replace('  - prefix: 198.18.100.1/32', '  - prefix: 2001:0db8:0100:0000::/64\n    address: 2001:db8:100:0:0::1')
        .replace('[198.18.64.0/18]', '[198.18.64.0/18, "2001:db8:100::/48"]'),
      '/etc/lispwg/mn1.yaml',
    );
    expect(v6.eidPrefixes[0]).toEqual({ prefix: { text: '2001:db8:100::/64', address: '2001:db8:100::', length: 64, family: 6 }, address: '2001:db8:100::1' });
    expect(v6.eidSpace.map((p) => p.text)).toEqual(['198.18.64.0/18', '2001:db8:100::/48']);
    const full = parseConfig(minimal + `timers:\n  peer-silence: 1500ms\n  smr-hold-down: 4s\n  resolve:\n    first-timeout: 0.1\ndata:\n  private-key-file: keys/d.key\n`, '/etc/lispwg/mn1.yaml');
    expect(full.timers.peerSilenceMs).toBe(1500);
    expect(full.timers.smrHoldDownMs).toBe(4000);
    expect(full.timers.resolve.firstTimeoutMs).toBe(100);
    expect(full.timers.resolve.attempts).toBe(6);
    expect(full.data.privateKey).toEqual({ file: '/etc/lispwg/keys/d.key' });
  });

  it('names file, line and field of a bad value', () => {
    const e = errorOf(minimal.replace(`public-key: ${MS_KEY}`, 'public-key: nope'));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toMatch(/^mn1\.yaml:11: map-server\.public-key: public key is not a WireGuard key/);
  });

  it('names a missing field at its parent and an unknown field', () => {
    expect(errorOf(minimal.replace('  control-address: 100.100.0.1\n', '')).message).toMatch(/^mn1\.yaml:8: map-server\.control-address: required/);
    expect(errorOf(minimal + 'colour: blue\n').message).toMatch(/unknown field 'colour'/);
    expect(errorOf(minimal.replace('mode: mn', 'mode: router')).message).toMatch(/^mn1\.yaml:3: mode: /);
  });

  it('refuses bad durations, prefixes outside the EID space, host bits, wrong mode needs', () => {
    expect(errorOf(minimal + 'timers:\n  idle-timeout: soon\n').message).toMatch(/:\d+: timers\.idle-timeout: 'soon' is not a duration/);
    expect(errorOf(minimal.replace('198.18.100.1/32', '198.19.0.1/32')).message).toMatch(/mn1\.yaml:5: eid-prefixes\[0\]\.prefix: 198\.19\.0\.1\/32 is outside the eid-space/);
    expect(errorOf(minimal.replace('[198.18.64.0/18]', '[198.18.64.1/18]')).message).toMatch(/host bits set \(did you mean 198\.18\.64\.0\/18\?\)/);
    expect(errorOf(minimal.replace('198.18.100.1/32', '198.18.100.0/24')).message).toMatch(/eid-prefixes\[0\]\.address: a mobile node needs its own address/);
    expect(errorOf(minimal.replace('  shared-key: secret\n', '')).message).toMatch(/map-server: give the site key as exactly one of/);
    expect(errorOf(minimal.replace('name: mn1', 'name: this-name-is-too-long')).message).toMatch(/^mn1\.yaml:2: name: /);
    expect(errorOf(minimal + 'data:\n  interface: eth0\n').message).toMatch(/rloc-interfaces\[0\]\.name: eth0 is one of the agent's own interfaces/);
    expect(errorOf('mode: [').message).toMatch(/^mn1\.yaml:1: /);
  });

  it('accepts the example in the module header (the documentation stays true)', () => {
    const src = readFileSync(new URL('./config.ts', import.meta.url), 'utf8');
    const start = src.indexOf('```yaml') + '```yaml'.length + 1;
    const yaml = src
      .slice(start, src.indexOf('```', start))
      .split('\n')
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n')
      .replace('"base64..."', MS_KEY);
    const c = parseConfig(yaml, '/etc/lispwg/mn1.yaml');
    expect(c.eidPrefixes.map((e) => e.prefix.text)).toEqual(['198.18.100.1/32', '2001:db8:100::1/128']);
    expect(c.rlocInterfaces).toEqual([{ name: 'eth0', priority: 1, weight: 100 }, { name: 'wlan0', priority: 2, weight: 100 }]);
    expect(c.eventLog).toBe('/var/log/lispwg/mn1.events.jsonl');
  });

  it('reads a shared key from a file and reports an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-cfg-'));
    try {
      writeFileSync(join(dir, 'site.key'), 'from-file\n');
      const text = minimal.replace('shared-key: secret', 'shared-key-file: site.key');
      writeFileSync(join(dir, 'x.yaml'), text);
      expect(loadConfig(join(dir, 'x.yaml')).mapServer.sharedKey).toBe('from-file');
      writeFileSync(join(dir, 'y.yaml'), text.replace('site.key', 'missing.key'));
      expect(() => loadConfig(join(dir, 'y.yaml'))).toThrow(/y\.yaml:\d+: map-server\.shared-key-file: cannot read/);
      expect(() => loadConfig(join(dir, 'none.yaml'))).toThrow(/cannot read the agent config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
