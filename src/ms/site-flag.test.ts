/** `--site` with the key in a file: read only when private, an inline key warned about, the key never in a message. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSiteFlag } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-site-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--site key-file', () => {
  it('reads the shared key from a 0600 file, without a warning', () => {
    const file = join(dir, 'a.key');
    writeFileSync(file, 'from-the-file\n', { mode: 0o600 });
    const warnings: string[] = [];
    const s = parseSiteFlag(`name=a,key-file=${file},key-id=2,prefix=198.18.1.0/24`, (m) => warnings.push(m));
    expect(s).toMatchObject({ name: 'a', key: 'from-the-file', keyId: 2 });
    expect(warnings).toEqual([]);
  });

  it('refuses a key file its group or others may read, naming the file, its mode and the fix', () => {
    const file = join(dir, 'b.key');
    writeFileSync(file, 'secret\n');
    chmodSync(file, 0o644);
    expect(() => parseSiteFlag(`name=b,key-file=${file},prefix=198.18.2.0/24`)).toThrow(new RegExp(`${file} has mode 0644.*chmod 600 ${file}`));
    expect(() => parseSiteFlag(`name=b,key-file=${join(dir, 'none.key')},prefix=198.18.2.0/24`)).toThrow(/cannot read the key file of site 'b'/);
  });

  it('takes an inline key with a warning about /proc/PID/cmdline; never prints the key in an error', () => {
    const warnings: string[] = [];
    expect(parseSiteFlag('name=c,key=hunter2,prefix=198.18.3.0/24', (m) => warnings.push(m)).key).toBe('hunter2');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/visible to every local user in \/proc\/\d+\/cmdline.*key-file=PATH/);
    expect(warnings[0]).not.toContain('hunter2');
    expect(() => parseSiteFlag('name=c,key=hunter2,prefix=198.18.3.0/24,colour=red')).toThrow(/unknown field 'colour'/);
    expect(() => parseSiteFlag('name=c,key=hunter2,prefix=198.18.3.0/24,colour=red')).not.toThrow(/hunter2/);
    expect(() => parseSiteFlag(`name=c,key=k,key-file=${join(dir, 'a.key')},prefix=198.18.3.0/24`)).toThrow(/key-file or key, not both/);
  });
});
