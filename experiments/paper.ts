/**
 * `npm run paper`: the main job. Every experiment of the paper in quick mode, each in its own
 * process, then the figures' report (results/index.html). An experiment that fails is reported
 * as failed (never as zeros) and the others still run; the exit code says whether all ran.
 *
 *   --full            the paper's repetitions and sizes instead (hours)
 *   --skip a,b        leave these experiments out
 *   --results DIR     where the runs and the report go
 */
import { fileURLToPath } from 'node:url';
import { runExperimentProcess } from './lib/child.js';
import { parseOptions } from './lib/experiment.js';
import { ExperimentRun, resultsRoot } from './lib/run.js';
import { buildReport } from './report.js';
import { experiments } from './registry.js';

export async function main(argv: string[]): Promise<number> {
  const { flags, values } = parseOptions(argv);
  if (flags.has('help')) {
    process.stdout.write('usage: npm run paper [-- --full] [--skip a,b] [--results DIR]\nevery experiment in quick mode (or --full), then results/index.html\n');
    return 0;
  }
  const mode = flags.has('full') ? 'full' : 'quick';
  const skip = new Set(values.skip ? values.skip.split(',') : []);
  const resultsDir = values.results ?? resultsRoot();
  const todo = experiments.filter((e) => !skip.has(e.name));
  const run = await ExperimentRun.start('paper', { params: { mode, skip: [...skip] }, resultsDir });
  const outcome: Record<string, unknown> = {};
  for (const [i, exp] of todo.entries()) {
    run.progress(i, todo.length, exp.name);
    const r = await runExperimentProcess(exp.name, [`--${mode}`, '--results', resultsDir]);
    outcome[exp.name] = r.ok ? { runId: r.summary.runId, seconds: r.seconds, paper: r.summary.paper, ratios: r.summary.ratios } : { error: r.error, seconds: r.seconds };
    run.sample({ experiment: exp.name, ok: r.ok, seconds: r.seconds, ...(r.ok ? { runId: r.summary.runId } : { error: r.error }) });
  }
  run.progress(todo.length, todo.length, 'report');
  const report = buildReport(resultsDir);
  const failed = Object.entries(outcome).filter(([, o]) => (o as { error?: string }).error).map(([n]) => n);
  for (const n of failed) process.stderr.write(`paper: ${n}: ${(outcome[n] as { error: string }).error}\n`);
  process.stderr.write(`paper: report ${report.file}\n`);
  run.finish({ mode, experiments: outcome, failed, report: report.file });
  return failed.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c), (e: unknown) => {
    process.stderr.write(`paper: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
