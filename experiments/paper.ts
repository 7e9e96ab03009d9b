/**
 * `npm run paper`: the main job. Every experiment of the paper in quick mode, each in its own
 * process, the CI gates checked on their summaries (results/gates/<run-id>/, no extra runs), then
 * the report (results/index.html). An experiment that fails is reported as failed (never as zeros)
 * and the others still run; the exit code says whether all ran (the gates are `npm run gates`').
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
import { evaluateGates, type GateSummaries } from './lib/gates.js';
import type { ExperimentSummary } from './lib/experiment.js';
import { GATED } from './gates.js';

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
  const run = await ExperimentRun.start('paper', { params: { mode, skip: [...skip] }, command: `npm run paper -- --${mode}${skip.size ? ` --skip=${[...skip].join(',')}` : ''}`, resultsDir });
  const outcome: Record<string, unknown> = {};
  const ok: Record<string, Record<string, unknown>> = {};
  for (const [i, exp] of todo.entries()) {
    run.progress(i, todo.length, exp.name);
    const r = await runExperimentProcess(exp.name, [`--${mode}`, '--results', resultsDir]);
    outcome[exp.name] = r.ok ? { runId: r.summary.runId, seconds: r.seconds, paper: r.summary.paper, ratios: r.summary.ratios } : { error: r.error, seconds: r.seconds };
    if (r.ok) ok[exp.name] = r.summary;
    run.sample({ experiment: exp.name, ok: r.ok, seconds: r.seconds, ...(r.ok ? { runId: r.summary.runId } : { error: r.error }) });
  }
  run.progress(todo.length, todo.length, 'gates and report');
  const summaries: GateSummaries = {};
  for (const name of GATED) if (ok[name]) summaries[name] = ok[name] as unknown as ExperimentSummary;
  const gates = evaluateGates(summaries);
  const gatesRun = await ExperimentRun.start('gates', { params: { from: `paper ${run.id}` }, resultsDir, quiet: true });
  for (const g of gates) process.stderr.write(`${g.pass ? 'PASS' : 'FAIL'}  ${g.gate}: ${g.measured}\n`);
  gatesRun.finish({ pass: gates.every((g) => g.pass), gates, errors: {} });
  const report = buildReport(resultsDir);
  const failed = Object.entries(outcome).filter(([, o]) => (o as { error?: string }).error).map(([n]) => n);
  for (const n of failed) process.stderr.write(`paper: ${n}: ${(outcome[n] as { error: string }).error}\n`);
  process.stderr.write(`paper: report ${report.file}\n`);
  run.finish({ mode, experiments: outcome, failed, gatesPass: gates.every((g) => g.pass), report: report.file });
  return failed.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c), (e: unknown) => {
    process.stderr.write(`paper: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
