/**
 * The report in a real browser: Debian's headless Chromium loads results/index.html built from
 * synthetic runs (written by this test into a temporary folder, never under results/), a script's
 * run among them, and must show every figure with no console error. Takes about 3 s.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { finishRun } from './lib/driver.js';
import { evaluateGates, type GateSummaries } from './lib/gates.js';
import { ExperimentRun } from './lib/run.js';
import { record } from './lib/script.js';
import { syntheticSamples } from './lib/synthetic.js';
import { experiments } from './registry.js';
import { buildReport } from './report.js';
import { quietly } from './testing/quietly.js';
import { prerequisites } from '../src/testing/prerequisites.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'lispwg-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Saves one synthetic run of every experiment but `skip` (the report must say "not run") and a gates run. */
async function writeRuns(skip: string): Promise<void> {
  const summaries: Record<string, unknown> = {};
  for (const exp of experiments) {
    if (exp.name === skip) continue;
    const params = exp.params('quick', {});
    const run = await ExperimentRun.start(exp.name, { resultsDir: dir, params: { mode: 'quick', ...params }, quiet: true });
    for (const s of syntheticSamples(exp.name)) run.sample(s);
    await quietly(() => finishRun(exp, run, params, 'quick'));
    summaries[exp.name] = JSON.parse(readFileSync(join(run.dir, 'summary.json'), 'utf8'));
  }
  // a researcher's script (experiments/lib/script.ts): after the paper's, with its own figure
  const rec = await quietly(() => record('my-probe', { resultsDir: dir, title: 'My own probe', metric: 'reply time', unit: 'ms' }));
  for (const v of [3.1, 2.7, 4.2, 3.3]) rec.sample(v);
  await quietly(() => rec.done());
  const gates = await ExperimentRun.start('gates', { resultsDir: dir, quiet: true });
  await quietly(async () => gates.finish({ pass: false, gates: evaluateGates(summaries as GateSummaries) }));
}

const missing = await prerequisites('the report in Chromium', { tools: [CHROMIUM] });

describe.skipIf(missing !== undefined)(`the report in headless Chromium (${CHROMIUM})`, () => {
  it('loads with no console error and shows every figure', async () => {
    const skipped = 'handover'; // a gated experiment: its gate must show as failed
    await writeRuns(skipped);
    const report = buildReport(dir);
    expect(report.missing).toEqual([skipped]);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
      await page.goto(pathToFileURL(report.file).href, { waitUntil: 'load' });
      const figures = await page.$$eval('figure img', (imgs) =>
        imgs.map((i) => {
          const img = i as HTMLImageElement;
          const box = img.getBoundingClientRect();
          return { src: img.getAttribute('src'), complete: img.complete, natural: img.naturalWidth, width: box.width, height: box.height };
        }),
      );
      expect(problems).toEqual([]);
      expect(figures.length).toBe(experiments.length - 1 + 1); // one skipped, the script's run added
      for (const f of figures) {
        expect(f.complete, f.src ?? '').toBe(true);
        expect(f.natural, f.src ?? '').toBeGreaterThan(0);
        expect(f.width * f.height, f.src ?? '').toBeGreaterThan(10_000);
      }
      const text = await page.innerText('body');
      expect(text).toContain('What differs from the paper');
      expect(text).toContain('wireguard-go');
      expect(text).toContain('Not run yet');
      expect(text).toContain('My own probe');
      expect(text).toContain('A script of its own');
      expect(text).toMatch(/16\.61/); // the paper's OOR+WG cache-add mean, beside ours
      expect(await page.$$eval('td.fail', (xs) => xs.length)).toBeGreaterThan(0); // the skipped experiment's gate
    } finally {
      await browser.close();
    }
  });
});
