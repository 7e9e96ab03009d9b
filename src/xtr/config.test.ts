import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from './config.js';
import { LispwgError } from '../util/errors.js';
import { MINIMAL_MN_YAML, MS_KEY } from './testing/configs.js';
import { headerExample } from '../testing/header-example.js';

const minimal = MINIMAL_MN_YAML;

function errorOf(text: string, onWarning = (w: { message: string }) => expect.unreachable(w.message)): LispwgError {
  try {
    parseConfig(text, '/etc/lispwg/mn1.yaml', { onWarning });
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
    expect(c.eidPrefixes).toEqual([{ prefix: { text: '198.18.100.1/32', address: '198.18.100.1', length: 32, family: 'ipv4' }, address: '198.18.100.1' }]);
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
    expect(c.limits).toEqual({ peers: 1024, mapCache: 10_000, resolutions: 256, smrHoldDown: 4096, probeReplies: 100 });
    expect(c.timers.nonceFreshnessMs).toBe(60_000);
  });

  it('takes explicit limits and refuses a limit below 1', () => {
    expect(parseConfig(minimal + 'limits: { peers: 8, map-cache: 100, resolutions: 4, smr-hold-down: 64, probe-replies: 5 }\n').limits).toEqual({ peers: 8, mapCache: 100, resolutions: 4, smrHoldDown: 64, probeReplies: 5 });
    expect(errorOf(minimal + 'limits: { peers: 0 }\n').message).toMatch(/limits\.peers/);
    expect(errorOf(minimal + 'limits: { probe-replies: 0 }\n').message).toMatch(/limits\.probe-replies/);
  });

  it('parses durations with units, IPv6 prefixes in canonical form, relative paths', () => {
    const v6 = parseConfig(
      minimal
        .replace('  - prefix: 198.18.100.1/32', '  - prefix: 2001:0db8:0100:0000::/64\n    address: 2001:db8:100:0:0::1')
        .replace('[198.18.64.0/18]', '[198.18.64.0/18, "2001:db8:100::/48"]'),
      '/etc/lispwg/mn1.yaml',
    );
    expect(v6.eidPrefixes[0]).toEqual({ prefix: { text: '2001:db8:100::/64', address: '2001:db8:100::', length: 64, family: 'ipv6' }, address: '2001:db8:100::1' });
    expect(v6.eidSpace.map((p) => p.text)).toEqual(['198.18.64.0/18', '2001:db8:100::/48']);
    const full = parseConfig(minimal + `timers:\n  peer-silence: 1500ms\n  smr-hold-down: 4s\n  resolve:\n    first-timeout: 100ms\ndata:\n  private-key-file: keys/d.key\n`, '/etc/lispwg/mn1.yaml');
    expect(full.timers.peerSilenceMs).toBe(1500);
    expect(full.timers.smrHoldDownMs).toBe(4000);
    expect(full.timers.resolve.firstTimeoutMs).toBe(100);
    expect(full.timers.resolve.attempts).toBe(6);
    expect(full.data.privateKey).toEqual({ file: '/etc/lispwg/keys/d.key' });
  });

  it('names file, line and field of a bad value', () => {
    const e = errorOf(minimal.replace(`public-key: ${MS_KEY}`, 'public-key: nope'));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toMatch(/^\/etc\/lispwg\/mn1\.yaml:11:15: map-server\.public-key: public key is not a WireGuard key/);
  });

  it('names a missing field at its parent and an unknown field', () => {
    expect(errorOf(minimal.replace('  control-address: 100.100.0.1\n', '')).message).toMatch(/^\/etc\/lispwg\/mn1\.yaml:8:1: map-server: missing 'control-address'\n    fix: add 'control-address: <string>'/);
    expect(errorOf(minimal + 'colour: blue\n').message).toMatch(/mn1\.yaml:16:1: colour: unknown key 'colour'\n    fix: accepted here: name, mode, /);
    expect(errorOf(minimal + 'timers: { idle_timeout: 5m }\n').message).toMatch(/mn1\.yaml:16:11: timers\.idle_timeout: unknown key 'idle_timeout'\n    fix: did you mean 'idle-timeout'\?/);
    expect(errorOf(minimal + 'missPolicy: drop\n').message).toMatch(/missPolicy: unknown key 'missPolicy'\n    fix: did you mean 'miss-policy'\?/);
    expect(errorOf(minimal.replace('mode: mn', 'mode: router')).message).toMatch(/^\/etc\/lispwg\/mn1\.yaml:3:7: mode: "router" is not allowed \(expected one of xtr, mn\)/);
  });

  it('refuses bad durations, prefixes outside the EID space, host bits, wrong mode needs', () => {
    expect(errorOf(minimal + 'timers:\n  idle-timeout: soon\n').message).toMatch(/:\d+: timers\.idle-timeout: 'soon' is not a duration/);
    expect(errorOf(minimal.replace('198.18.100.1/32', '198.19.0.1/32')).message).toMatch(/mn1\.yaml:5:13: eid-prefixes\[0\]\.prefix: 198\.19\.0\.1\/32 is outside the eid-space/);
    expect(errorOf(minimal.replace('[198.18.64.0/18]', '[198.18.64.1/18]')).message).toMatch(/host bits set \(did you mean 198\.18\.64\.0\/18\?\)/);
    expect(errorOf(minimal.replace('198.18.100.1/32', '198.18.100.0/24')).message).toMatch(/eid-prefixes\[0\]\.address: a mobile node needs its own address/);
    expect(errorOf(minimal.replace('  shared-key: secret\n', '')).message).toMatch(/map-server: give the site key as exactly one of/);
    expect(errorOf(minimal.replace('name: mn1', 'name: this-name-is-too-long')).message).toMatch(/^\/etc\/lispwg\/mn1\.yaml:2:7: name: /);
    expect(errorOf(minimal + 'data:\n  interface: eth0\n').message).toMatch(/rloc-interfaces\[0\]\.name: eth0 is one of the agent's own interfaces/);
    expect(errorOf('mode: [').message).toMatch(/^\/etc\/lispwg\/mn1\.yaml:1:\d+: YAML: /);
    expect(errorOf(minimal + 'miss-buffer: { max-age: 3 sec }\n').message).toMatch(/mn1\.yaml:16:25: miss-buffer\.max-age: '3 sec' is not a duration \(write a number with its unit: 500us, 250ms, 1\.5s, 10m, 1h\)/);
  });

  it('accepts a bare number of seconds for one release, with a warning naming file:line and the new spelling', () => {
    const warnings: string[] = [];
    const c = parseConfig(minimal + 'timers:\n  idle-timeout: 3\n  resolve: { first-timeout: 0.25, backoff: 2 }\n', '/etc/lispwg/mn1.yaml', { onWarning: (w) => warnings.push(w.message) });
    expect(c.timers.idleTimeoutMs).toBe(3000);
    expect(c.timers.resolve.firstTimeoutMs).toBe(250);
    expect(warnings).toEqual([
      '/etc/lispwg/mn1.yaml:17:3: timers.idle-timeout: 3 is deprecated: write idle-timeout: 3s (the old spelling goes in the next release)',
      '/etc/lispwg/mn1.yaml:18:14: timers.resolve.first-timeout: 0.25 is deprecated: write first-timeout: 0.25s (the old spelling goes in the next release)',
    ]);
  });

  it('accepts the example in the module header (the documentation stays true)', () => {
    const yaml = headerExample(new URL('./config.ts', import.meta.url)).replace('"base64..."', MS_KEY).replace('public-key: "base64..."', `public-key: "${'R'.repeat(42)}E="`);
    const c = parseConfig(yaml, '/etc/lispwg/mn1.yaml');
    expect(c.eidPrefixes.map((e) => e.prefix.text)).toEqual(['198.18.100.1/32', '2001:db8:100::1/128']);
    expect(c.rlocInterfaces).toEqual([{ name: 'eth0', priority: 1, weight: 100 }, { name: 'wlan0', priority: 2, weight: 100 }]);
    expect(c.eventLog).toBe('/var/log/lispwg/mn1.events.jsonl');
  });

  it('reads a shared key from a file and reports an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-cfg-'));
    try {
      writeFileSync(join(dir, 'site.key'), 'from-file\n', { mode: 0o600 });
      const text = minimal.replace('shared-key: secret', 'shared-key-file: site.key');
      writeFileSync(join(dir, 'x.yaml'), text);
      expect(loadConfig(join(dir, 'x.yaml')).mapServer.sharedKey).toBe('from-file');
      // one its group or others may read is refused, with the fix
      chmodSync(join(dir, 'site.key'), 0o640);
      expect(() => loadConfig(join(dir, 'x.yaml'))).toThrow(/x\.yaml:12:20: map-server\.shared-key-file: the site key file .*site\.key has mode 0640: .*chmod 600 .*site\.key/);
      writeFileSync(join(dir, 'y.yaml'), text.replace('site.key', 'missing.key'));
      expect(() => loadConfig(join(dir, 'y.yaml'))).toThrow(/y\.yaml:12:20: map-server\.shared-key-file: cannot read/);
      expect(() => loadConfig(join(dir, 'none.yaml'))).toThrow(/cannot read the agent config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
