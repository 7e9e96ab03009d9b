import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExperiment } from './driver.js';
import type { Experiment, Sample } from './experiment.js';
import { analyseDelays, delayFigure, type DelaySample } from './delay.js';
import { readSamples } from './run.js';
import { quietly } from '../testing/quietly.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-driver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tiny experiment whose "measurement" is the repetition number; it can be told to die mid-way. */
function counting(failAt: number | undefined, torn: string[]): Experiment<DelaySample, { reps: number }> {
  return {
    name: 'counting',
    title: 'counting',
    reproduces: 'nothing',
    method: 'counts',
    labels: { a: 'A', b: 'B' },
    paperValues: [{ metric: 'delay', variant: 'a', stat: 'mean', value: 5, unit: 'ms', source: 'made up' }],
    headline: { metric: 'delay', lispWg: ['a'], lisp: 'b' },
    options: ['--reps=N  repetitions'],
    params: (_m, o) => ({ reps: Number(o.reps ?? 6) }),
    async run(ctx) {
      ctx.onTeardown(() => void torn.push('lab down'));
      const have = new Set(ctx.done.map((s) => `${s.variant}:${s.rep}`));
      for (let rep = 0; rep < ctx.params.reps; rep++) {
        for (const variant of ['a', 'b']) {
          if (have.has(`${variant}:${rep}`)) continue;
          if (rep === failAt && variant === 'b') throw new Error('the lab fell over');
          ctx.sample({ variant, rep, delayMs: rep + (variant === 'b' ? 10 : 0) });
        }
        ctx.progress(rep + 1, ctx.params.reps);
      }
    },
    analyse: (samples) => analyseDelays(samples, { metric: 'delay', pairs: [['b', 'a']], paper: [{ metric: 'delay', variant: 'a', stat: 'mean', value: 5, unit: 'ms', source: 'made up' }], notes: [] }),
    figure: (samples) => delayFigure(samples, { title: 'counting', xTitle: 'ms', labels: { a: 'A', b: 'B' }, paper: [] }),
  };
}

describe('runExperiment', () => {
  it('tears down on failure, keeps the samples, and --resume finishes the same run without repeating them', async () => {
    const torn: string[] = [];
    await expect(quietly(() => runExperiment(counting(3, torn) as unknown as Experiment<Sample, object>, ['--quick', '--results', dir]))).rejects.toThrow(/fell over/);
    expect(torn).toEqual(['lab down']);
    const runs = join(dir, 'counting');
    const [id] = readdirSync(runs);
    const first = readSamples<DelaySample>(join(runs, id!, 'samples.jsonl'));
    expect(first.length).toBe(7); // reps 0-2 both variants, rep 3 'a'
    expect(existsSync(join(runs, id!, 'summary.json'))).toBe(false);

    const torn2: string[] = [];
    expect(await quietly(() => runExperiment(counting(undefined, torn2) as unknown as Experiment<Sample, object>, ['--quick', '--resume', '--results', dir]))).toBe(0);
    expect(torn2).toEqual(['lab down']);
    const all = readSamples<DelaySample>(join(runs, id!, 'samples.jsonl'));
    expect(all.length).toBe(12);
    expect(new Set(all.map((s) => `${s.variant}:${s.rep}`)).size).toBe(12);
    const summary = JSON.parse(readFileSync(join(runs, id!, 'summary.json'), 'utf8'));
    expect(summary.variants.a.median).toBe(2.5);
    expect(summary.ratios['b / a (median)']).toBe(5);
    expect(summary.paper[0]).toMatchObject({ variant: 'a', ours: 2.5, paper: 5, ratio: 0.5 });
    const meta = JSON.parse(readFileSync(join(runs, id!, 'metadata.json'), 'utf8'));
    expect(meta.resumedAt).toHaveLength(1);
    expect(meta.command).toBe('npm run exp:counting -- --quick'); // where the run went, and the resume, are not part of it
    expect(existsSync(join(runs, id!, 'figure.svg'))).toBe(true);
  });

  it('records the command that reproduces the run, its options as given', async () => {
    const other = join(dir, 'command');
    expect(await quietly(() => runExperiment(counting(undefined, []) as unknown as Experiment<Sample, object>, ['--full', '--reps', '2', '--results', other]))).toBe(0);
    const [id] = readdirSync(join(other, 'counting'));
    const meta = JSON.parse(readFileSync(join(other, 'counting', id!, 'metadata.json'), 'utf8'));
    expect(meta.command).toBe('npm run exp:counting -- --full --reps=2');
    expect(meta.params).toEqual({ mode: 'full', reps: 2 });
  });

  it('refuses to resume when there is nothing unfinished with these parameters', async () => {
    await expect(quietly(() => runExperiment(counting(undefined, []) as unknown as Experiment<Sample, object>, ['--reps=3', '--resume', '--results', dir]))).rejects.toThrow(/no unfinished run/);
  });

  it('rejects unknown flags and --quick with --full', async () => {
    await expect(runExperiment(counting(undefined, []) as unknown as Experiment<Sample, object>, ['--fast'])).rejects.toThrow(/unknown flag --fast/);
    await expect(runExperiment(counting(undefined, []) as unknown as Experiment<Sample, object>, ['--quick', '--full'])).rejects.toThrow(/one of --quick and --full/);
    await expect(runExperiment(counting(undefined, []) as unknown as Experiment<Sample, object>, ['--repz=3'])).rejects.toThrow(/unknown option --repz/);
  });
});
