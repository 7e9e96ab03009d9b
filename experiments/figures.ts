/**
 * `npm run figures [-- NAME ...] [--results DIR]`: re-renders the figure of every saved run
 * (SVG, PNG and the vega-lite spec) from its samples.jsonl, never by re-running; a finished
 * run's summary.json gets the analysis of the same samples again (timing and parameters kept).
 * Runs of researchers' scripts (experiments/lib/script.ts) are included, each analysed as its
 * metadata describes it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyseAndPlot } from './lib/driver.js';
import { parseOptions } from './lib/experiment.js';
import { listRuns, samplesOf } from './lib/results.js';
import { resultsRoot } from './lib/run.js';
import { experimentOf, experiments, scriptExperiments } from './registry.js';
import type { Sample } from './lib/experiment.js';
import { LispwgError } from '../src/util/errors.js';

export async function renderAll(resultsDir: string, names: readonly string[] = []): Promise<Array<{ experiment: string; runId: string; svg: string }>> {
  const known = [...experiments.map((e) => e.name), ...scriptExperiments(resultsDir).map((e) => e.name)];
  for (const n of names) if (!known.includes(n)) throw new LispwgError('EXP_UNKNOWN', `no experiment '${n}' (known: ${known.join(', ')})`);
  const out: Array<{ experiment: string; runId: string; svg: string }> = [];
  for (const name of known) {
    if (names.length && !names.includes(name)) continue;
    for (const r of listRuns(resultsDir, name)) {
      const exp = experimentOf(r);
      if (!exp) continue; // in a script's folder, a run record() did not write
      const samples = samplesOf<Sample>(r);
      if (samples.length === 0) continue;
      const params = exp.params((r.metadata.params.mode as 'quick' | 'full') ?? 'quick', {});
      const saved = { ...params, ...r.metadata.params } as object;
      const { summary, figure } = await analyseAndPlot(exp, r.dir, samples, saved);
      if (r.summary) writeFileSync(join(r.dir, 'summary.json'), JSON.stringify({ ...r.summary, ...summary, figure }, null, 2) + '\n');
      out.push({ experiment: exp.name, runId: r.runId, svg: join(r.dir, figure.svg) });
    }
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const { flags, values, rest } = parseOptions(argv);
  if (flags.has('help')) {
    process.stdout.write('usage: npm run figures [-- NAME ...] [--results DIR]\nre-renders every saved run\'s figure from its samples (never re-runs)\n');
    return 0;
  }
  const done = await renderAll(values.results ?? resultsRoot(), rest);
  for (const d of done) process.stderr.write(`figures: ${d.experiment} ${d.runId} -> ${d.svg}\n`);
  process.stdout.write(JSON.stringify({ figures: done.length, rendered: done }) + '\n');
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c), (e: unknown) => {
    process.stderr.write(`figures: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
