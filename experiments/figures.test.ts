import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderAll } from './figures.js';
import { finishRun } from './lib/driver.js';
import { ExperimentRun } from './lib/run.js';
import { syntheticSamples } from './lib/synthetic.js';
import { experiments } from './registry.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-figures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('figures from saved samples', () => {
  it.each(experiments.map((e) => [e.name, e] as const))('%s: a run renders its figure as SVG and PNG and a summary beside the paper', async (_name, exp) => {
    const params = exp.params('quick', {});
    const run = await ExperimentRun.start(exp.name, { resultsDir: dir, params: { mode: 'quick', ...params }, quiet: true });
    for (const s of syntheticSamples(exp.name)) run.sample(s);
    const write = process.stdout.write;
    process.stdout.write = () => true; // the run's JSON line
    const err = process.stderr.write;
    process.stderr.write = () => true;
    try {
      await finishRun(exp, run, params, 'quick');
    } finally {
      process.stdout.write = write;
      process.stderr.write = err;
    }
    const svg = readFileSync(join(run.dir, 'figure.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]+width="\d+"/);
    expect(svg).toContain(exp.labels[Object.keys(exp.labels)[0]!]!.slice(0, 12).replace(/&/g, '&amp;'));
    const png = readFileSync(join(run.dir, 'figure.png'));
    expect(png.subarray(0, 8).equals(PNG)).toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
    const summary = JSON.parse(readFileSync(join(run.dir, 'summary.json'), 'utf8')) as { variants: Record<string, { median: number; p90: number; p99: number; mean: number }>; paper: unknown[]; figure: { svg: string } };
    for (const v of Object.values(summary.variants)) for (const k of ['median', 'p90', 'p99', 'mean'] as const) expect(Number.isFinite(v[k])).toBe(true);
    expect(summary.paper.length).toBe(exp.paperValues.length);
    expect(summary.figure.svg).toBe('figure.svg');
  });

  it('re-renders every figure from samples.jsonl alone (no re-run)', async () => {
    const svgs = experiments.map((e) => {
      const runDir = join(dir, e.name, readdirSync(join(dir, e.name))[0]!);
      return join(runDir, 'figure.svg');
    });
    for (const f of svgs) rmSync(f);
    const done = await renderAll(dir);
    expect(done.map((d) => d.experiment).sort()).toEqual(experiments.map((e) => e.name).sort());
    for (const f of svgs) expect(existsSync(f) && statSync(f).size > 1000).toBe(true);
  });

  it('rejects an unknown experiment name', async () => {
    await expect(renderAll(dir, ['no-such'])).rejects.toThrow(/no experiment 'no-such'/);
  });
});

