/**
 * A script's run without a lab: record() writes the framework's layout, done() its summary and
 * figure, and `npm run figures` / `npm run report` take the run in from its metadata alone, while
 * folders that record() did not write (a driver's, a benchmark's) stay out. No root needed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderAll } from '../figures.js';
import { buildReport } from '../report.js';
import { scriptExperiments } from '../registry.js';
import { quietly } from '../testing/quietly.js';
import { ExperimentRun } from './run.js';
import { record } from './script.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-script-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('record(): a script experiment in the results layout', () => {
  it('writes metadata, samples, a summary per variant and a figure', async () => {
    const rec = await quietly(() => record('my-probe', { resultsDir: dir, params: { n: 4 }, metric: 'reply time', unit: 'ms', title: 'My probe' }));
    rec.sample(5); // the value alone
    rec.sample({ value: 7, rep: 1 });
    rec.sample({ variant: 'drop', value: 14, rep: 0 });
    rec.sample({ variant: 'drop', value: 10, rep: 1 });
    rec.sample({ variant: 'drop', value: Number.NaN, rep: 2, error: 'no reply' });
    rec.sample({ value: 1000, warmup: true });
    const summary = await quietly(() => rec.done());

    const meta = JSON.parse(readFileSync(join(rec.dir, 'metadata.json'), 'utf8'));
    expect(meta).toMatchObject({ experiment: 'my-probe', params: { mode: 'quick', n: 4 }, script: { metric: 'reply time', unit: 'ms', value: 'value', title: 'My probe' } });
    for (const k of ['host', 'kernel', 'cpu', 'node', 'lispwg', 'startedAt']) expect(meta[k], k).toBeTruthy();
    expect(Object.keys(meta.tools)).toEqual(expect.arrayContaining(['wireguard-go', 'ping', 'iproute2']));
    expect(readFileSync(join(rec.dir, 'samples.jsonl'), 'utf8').trim().split('\n')).toHaveLength(6);

    expect(summary.variants['my-probe']).toMatchObject({ n: 2, median: 6, min: 5, max: 7 }); // the warm-up left out
    expect(summary.variants.drop).toMatchObject({ n: 2, median: 12 });
    expect(summary.ratios).toEqual({ 'drop / my-probe (median)': 2 });
    expect(summary.extra).toEqual({ samplesWithoutValue: { drop: 1 } });
    expect(summary.notes.join(' ')).toMatch(/1 warm-up/);
    expect(readFileSync(join(rec.dir, 'figure.svg'), 'utf8')).toMatch(/^<svg[\s\S]*My probe/);
    expect(existsSync(join(rec.dir, 'figure.png'))).toBe(true);
    expect(() => rec.sample(1)).toThrow(/done/);
  });

  it('refuses the names of registered experiments, drivers and benchmarks, and names that are no folder', async () => {
    for (const n of ['e2e', 'handover', 'paper', 'gates', 'bench-xtr']) await expect(record(n, { resultsDir: dir })).rejects.toThrow(/taken/);
    for (const n of ['My Probe', '../x', '']) await expect(record(n, { resultsDir: dir })).rejects.toThrow(/not an experiment name/);
  });

  it('figures and report take script runs in, and leave out folders record() did not write', async () => {
    // a driver's run (as results/paper/): metadata and samples, but no script description
    const other = await quietly(() => ExperimentRun.start('some-driver', { resultsDir: dir, quiet: true }));
    other.sample({ variant: 'x', value: 1 });
    writeFileSync(join(other.dir, 'summary.json'), '{}\n');

    expect(scriptExperiments(dir).map((e) => e.name)).toEqual(['my-probe']);
    const done = await quietly(() => renderAll(dir));
    expect(done.map((d) => d.experiment)).toEqual(['my-probe']);
    expect((await quietly(() => renderAll(dir, ['my-probe']))).length).toBe(1);
    await expect(renderAll(dir, ['some-driver'])).rejects.toThrow(/no experiment 'some-driver'/);

    const report = buildReport(dir);
    expect(report.included).toEqual(['my-probe']);
    const html = readFileSync(report.file, 'utf8');
    expect(html).toContain('A script of its own');
    expect(html).toContain('My probe');
    expect(html).toMatch(/my-probe\/[^"]+\/figure\.svg/);
    expect(html).not.toContain('some-driver');
  });
});
