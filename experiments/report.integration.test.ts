/**
 * The report in a real browser: Debian's headless Chromium (lib/browser-check.ts, what `npm run
 * report` runs) loads results/index.html built from synthetic runs, and from a copy of the
 * committed reference runs (a researcher's script run among the synthetic ones), all in temporary folders (never under results/). It must show every
 * figure, with every link resolving and no console error, and must fail when a figure or a
 * linked file is missing. About 10 s.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from './lib/browser-check.js';
import { finishRun } from './lib/driver.js';
import { evaluateGates, type GateSummaries } from './lib/gates.js';
import { latestFinished } from './lib/results.js';
import { ExperimentRun, resultsRoot } from './lib/run.js';
import { record } from './lib/script.js';
import { syntheticSamples } from './lib/synthetic.js';
import { experiments } from './registry.js';
import { buildReport, checkBuiltReport } from './report.js';
import { quietly } from './testing/quietly.js';
import { prerequisites } from '../src/testing/prerequisites.js';

const tmp = mkdtempSync(join(tmpdir(), 'lispwg-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Saves one synthetic run of every experiment but `skip` (the report must say "not run") and a gates run. */
async function writeRuns(dir: string, skip: string): Promise<void> {
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

const isPng = (file: string): boolean => readFileSync(file).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

const missing = await prerequisites('the report in Chromium', { tools: [CHROMIUM] });

describe.skipIf(missing !== undefined)(`the report in headless Chromium (${CHROMIUM})`, () => {
  it('shows every figure of synthetic runs with no console error, the headline rows and a screenshot of the overview', async () => {
    const dir = join(tmp, 'synthetic');
    const skipped = 'handover'; // a gated experiment: its gate must show as failed
    await writeRuns(dir, skipped);
    const report = buildReport(dir);
    expect(report.missing).toEqual([skipped]);

    const c = await checkBuiltReport(report, dir);
    expect(c.problems).toEqual([]);
    expect(c.figures.length).toBe(experiments.length - 1 + 1); // one skipped, the script's run added
    for (const f of c.figures) expect(f.width * f.height, f.src).toBeGreaterThan(10_000);
    expect(c.screenshot).toBe(join(dir, 'overview.png'));
    expect(isPng(c.screenshot!)).toBe(true);

    expect(c.text).toContain('What differs from the paper');
    expect(c.text).toContain('wireguard-go');
    expect(c.text).toContain('not run yet');
    expect(c.text).toContain('My own probe');
    expect(c.text).toContain('A script of its own');
    expect(c.text).toMatch(/OOR\+WG\s+16\.61\s+ms/); // the paper's OOR+WG cache-add mean in the overview
    expect(c.text).toMatch(/OOR\s+13\.24\s+ms/); // and its OOR
    expect(c.text).toContain('Reproduce: npm run exp:cache-add -- --quick');
    expect(readFileSync(report.file, 'utf8')).toContain('class="fail"'); // the skipped experiment's gate
  });

  it('passes on the committed reference runs, and fails when one figure or one linked file is missing', async () => {
    const dir = join(tmp, 'reference');
    cpSync(resultsRoot(), dir, { recursive: true });
    const report = buildReport(dir);
    expect(report.missing).toEqual([]);
    expect((await checkBuiltReport(report, dir)).problems).toEqual([]);

    const cacheAdd = latestFinished(dir, 'cache-add')!;
    rmSync(join(cacheAdd.dir, 'figure.svg'));
    rmSync(join(latestFinished(dir, 'state')!.dir, 'samples.jsonl'));
    const broken = await checkBuiltReport(report, dir);
    const svg = `cache-add/${cacheAdd.runId}/figure.svg`;
    expect(broken.problems).toContainEqual(expect.stringMatching(new RegExp(`^figure did not load: img ${svg}`)));
    expect(broken.problems).toContainEqual(expect.stringMatching(new RegExp(`^request failed: .*${svg} \\(HTTP 404\\)`)));
    expect(broken.problems).toContainEqual(expect.stringMatching(/^link to a missing file: state\/.*\/samples\.jsonl$/));
  });
});
