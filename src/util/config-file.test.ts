import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkConfig, ConfigError, closest, durationField, formatDuration, keysAt, parseDuration, readConfigText, type ConfigFormat, type ConfigWarning } from './config-file.js';

const schema = z.strictObject({
  name: z.string(),
  timers: z
    .strictObject({
      'idle-timeout': durationField({ positive: true }).default(300_000),
      'retry': durationField({ max: 60_000 }).default(200),
      ttl: durationField({ whole: 'm' }).default(60_000),
    })
    .prefault({}),
  peers: z.array(z.strictObject({ 'public-key': z.string(), weight: z.number().int().default(100) })).default([]),
  mode: z.enum(['xtr', 'mn']).default('mn'),
});

const format = (warnings: ConfigWarning[] = []): ConfigFormat => ({
  code: 'CONFIG_INVALID',
  deprecations: [
    { path: 'timers.retry-ms', rename: 'retry', unit: 'ms' },
    { path: 'timers.idle-timeout', unit: 's' },
    { path: 'peers.*.publicKey', rename: 'public-key' },
  ],
  onWarning: (w) => warnings.push(w),
});

/** Reads YAML text and checks it against `schema`, as the Map-Server and agent configs do. */
function parseConfigText(s: typeof schema, text: string, file: string, fmt: ConfigFormat) {
  const { data, doc } = readConfigText(text, file, fmt);
  return { value: checkConfig(s, data, doc) };
}

function refused(text: string): ConfigError {
  try {
    parseConfigText(schema, text, 'conf/a.yaml', format());
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('the file was accepted');
}

describe('durations: a number with its unit', () => {
  it('reads us, ms, s, m and h into milliseconds', () => {
    expect(parseDuration('500us')).toBe(0.5);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration(' 20 ms ')).toBe(20);
  });

  it('refuses a bare number and other units, saying what to write', () => {
    expect(parseDuration(10)).toBe("write the duration with its unit, e.g. '10ms' or '10s'");
    expect(parseDuration('10')).toMatch(/'10' is not a duration \(write a number with its unit: 500us, 250ms, 1\.5s, 10m, 1h\)/);
    expect(parseDuration('3 sec')).toMatch(/is not a duration/);
    expect(parseDuration('1d')).toMatch(/is not a duration/);
    expect(parseDuration('-1s')).toMatch(/is not a duration/);
  });

  it('formats the shortest exact text', () => {
    expect([600_000, 250, 1500, 0.15, 0, 86_400_000].map(formatDuration)).toEqual(['10m', '250ms', '1500ms', '150us', '0s', '24h']);
  });

  it('checks bounds and whole units in duration words', () => {
    expect(refused('name: a\ntimers: { retry: 2m }').message).toBe('conf/a.yaml:2:18: timers.retry: must be at most 1m');
    expect(refused('name: a\ntimers: { ttl: 90s }').message).toBe('conf/a.yaml:2:16: timers.ttl: must be a whole number of minutes (90s)');
    expect(refused('name: a\ntimers:\n  idle-timeout: 0s').message).toBe('conf/a.yaml:3:17: timers.idle-timeout: must be longer than 0');
    const v = parseConfigText(schema, 'name: a\ntimers: { retry: 150ms, ttl: 2h }', 'a.yaml', format()).value;
    expect(v.timers).toEqual({ 'idle-timeout': 300_000, retry: 150, ttl: 7_200_000 });
  });
});

describe('errors: file:line:col, the key, a fix', () => {
  it('an unknown key is named, with the nearest accepted key', () => {
    expect(refused('name: a\ntimers:\n  idle-timout: 5m\n').message).toBe("conf/a.yaml:3:3: timers.idle-timout: unknown key 'idle-timout'\n    fix: did you mean 'idle-timeout'?");
    expect(refused('name: a\nmdoe: xtr\n').message).toBe("conf/a.yaml:2:1: mdoe: unknown key 'mdoe'\n    fix: did you mean 'mode'?");
    expect(refused('name: a\npeers: [{ public-key: k, wieght: 1 }]\n').message).toMatch(/^conf\/a\.yaml:2:26: peers\[0\]\.wieght: unknown key 'wieght'\n    fix: did you mean 'weight'\?/);
    expect(refused('name: a\ncolour: blue\n').message).toBe("conf/a.yaml:2:1: colour: unknown key 'colour'\n    fix: accepted here: name, timers, peers, mode");
  });

  it('one key style: a camelCase or snake_case key is pointed to its kebab-case spelling', () => {
    expect(closest('idleTimeout', ['idle-timeout', 'retry'])).toBe('idle-timeout');
    expect(closest('idle_timeout', ['idle-timeout', 'retry'])).toBe('idle-timeout');
    expect(closest('zzz', ['idle-timeout', 'retry'])).toBeUndefined();
    expect(refused('name: a\ntimers: { idleTimeout: 5m }').message).toMatch(/timers\.idleTimeout: unknown key 'idleTimeout'\n    fix: did you mean 'idle-timeout'\?/);
  });

  it('a missing key is reported at its parent, a bad value at the value, a bad enum with the choices', () => {
    expect(refused('timers: {}\n').message).toBe("conf/a.yaml:1:1: missing 'name'\n    fix: add 'name: <string>'");
    expect(refused('name: a\npeers:\n  - weight: 1\n').message).toBe("conf/a.yaml:3:5: peers[0]: missing 'public-key'\n    fix: add 'public-key: <string>'");
    expect(refused('name: a\nmode: mm\n').message).toBe('conf/a.yaml:2:7: mode: "mm" is not allowed (expected one of xtr, mn)\n    fix: did you mean \'mn\'?');
    expect(refused('name: [a]\n').message).toBe('conf/a.yaml:1:7: name: expected a string, got a list');
  });

  it('every problem is listed', () => {
    const e = refused('mode: mm\ntimers: { retry: soon }\n');
    expect(e.problems.map((p) => p.message)).toEqual(["missing 'name'", "'soon' is not a duration (write a number with its unit: 500us, 250ms, 1.5s, 10m, 1h)", '"mm" is not allowed (expected one of xtr, mn)']);
  });

  it('a YAML syntax error or a duplicate key points at its line and column', () => {
    expect(refused('name: a\ntimers: { retry: 1s\n').message).toMatch(/^conf\/a\.yaml:\d+:\d+: YAML: .*\n    fix: check indentation and quoting/);
    expect(refused('name: a\nname: b\n').message).toMatch(/^conf\/a\.yaml:2:1: YAML: Map keys must be unique\n    fix: give each key once/);
  });

  it('the file is named relative to the working directory when inside it', () => {
    try {
      parseConfigText(schema, 'mode: mm', `${process.cwd()}/x/b.yaml`, format());
    } catch (e) {
      expect((e as Error).message).toMatch(/^x\/b\.yaml:1:1: /);
      return;
    }
    throw new Error('accepted');
  });
});

describe('deprecated spellings: accepted for one release, each with a warning', () => {
  it('renames a key and gives a bare number its old unit, warning with file:line:col and the new spelling', () => {
    const warnings: ConfigWarning[] = [];
    const text = 'name: a\ntimers:\n  retry-ms: 300\n  idle-timeout: 30\npeers:\n  - { publicKey: k1 }\n  - { public-key: k2 }\n';
    const { value } = parseConfigText(schema, text, 'conf/old.yaml', format(warnings));
    expect(value.timers).toMatchObject({ retry: 300, 'idle-timeout': 30_000 });
    expect(value.peers.map((p) => p['public-key'])).toEqual(['k1', 'k2']);
    expect(warnings.map((w) => [w.line, w.col, w.message])).toEqual([
      [3, 3, 'conf/old.yaml:3:3: timers.retry-ms: 300 is deprecated: write retry: 300ms (the old spelling goes in the next release)'],
      [4, 3, 'conf/old.yaml:4:3: timers.idle-timeout: 30 is deprecated: write idle-timeout: 30s (the old spelling goes in the next release)'],
      [6, 7, 'conf/old.yaml:6:7: peers[0].publicKey is deprecated: write public-key (the old spelling goes in the next release)'],
    ]);
  });

  it('the new spelling gets no warning; an old key beside its new one is refused', () => {
    const warnings: ConfigWarning[] = [];
    parseConfigText(schema, 'name: a\ntimers: { retry: 300ms, idle-timeout: 30s }', 'a.yaml', format(warnings));
    expect(warnings).toEqual([]);
    expect(refused('name: a\ntimers: { retry-ms: 300, retry: 1s }').message).toBe("conf/a.yaml:2:11: timers.retry-ms: both 'retry-ms' (the old spelling) and 'retry' are given\n    fix: keep only 'retry'");
  });

  it('problems after a rename point at the old key in the file', () => {
    expect(refused('name: a\ntimers:\n  retry-ms: 90000\n').message).toBe('conf/a.yaml:3:13: timers.retry: must be at most 1m');
  });
});

describe('keysAt', () => {
  it('walks defaults, arrays, preprocess and discriminated unions', () => {
    const u = z.strictObject({
      nodes: z.record(z.string(), z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('a'), x: z.number() }), z.strictObject({ kind: z.literal('b'), y: z.number() })])),
      list: z.array(z.preprocess((v) => v, z.strictObject({ p: z.string() }))).default([]),
    });
    expect(keysAt(u, [], {})).toEqual(['nodes', 'list']);
    expect(keysAt(u, ['nodes', 'n1'], { nodes: { n1: { kind: 'b' } } })).toEqual(['kind', 'y']);
    expect(keysAt(u, ['list', 0], { list: [{}] })).toEqual(['p']);
    expect(keysAt(schema, ['timers'], {})).toEqual(['idle-timeout', 'retry', 'ttl']);
  });
});
