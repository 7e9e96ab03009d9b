import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CHROMIUM_MISSING } from './lib/browser-check.js';
import { main } from './report.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-report-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.LISPWG_CHROMIUM;
});

/** Runs `npm run report` with these arguments, its output captured. */
async function report(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const [o, e] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out, err };
  } finally {
    [process.stdout.write, process.stderr.write] = [o, e];
  }
}

describe('npm run report', () => {
  it('writes the page and says plainly that Chromium is missing, without failing', async () => {
    process.env.LISPWG_CHROMIUM = join(dir, 'no-chromium-here');
    const r = await report(['--results', dir]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(CHROMIUM_MISSING);
    expect(CHROMIUM_MISSING).toBe('chromium not found: install it with lab/setup.sh (package chromium)');
    expect(JSON.parse(r.out).browser).toEqual({ checked: false, why: CHROMIUM_MISSING });
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain('not run yet');
    expect(existsSync(join(dir, 'overview.png'))).toBe(false);
  });

  it('rejects an option it does not know', async () => {
    await expect(report(['--results', dir, '--no-brower'])).rejects.toThrow(/unknown flag --no-brower/);
  });
});
