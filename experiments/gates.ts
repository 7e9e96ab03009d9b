/**
 * `npm run gates`: runs the quick experiments that have a gate, each in its own process, then
 * checks the gates (lib/gates.ts) on their summaries and exits 1 on any failure. The summary,
 * with every gate's measured numbers, goes to results/gates/<run-id>/.
 *
 *   --results DIR                 where the runs go (default results/)
 *   --only a,b                    run these experiments only, and check only their gates
 *   --slow EXPERIMENT:VARIANT:MS  inject MS ms into one variant of one experiment (proves the gates bite)
 *   --exp-args "ARGS"             extra options for every experiment run (e.g. "--reps=6")
 *   --no-retry                    a failed gate fails at once (by default it is measured once more)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LispwgError } from '../src/util/errors.js';
import { runExperimentProcess } from './lib/child.js';
import { parseOptions, type ExperimentSummary } from './lib/experiment.js';
import { evaluateGates, type GateSummaries } from './lib/gates.js';
import { ExperimentRun } from './lib/run.js';

export const GATED: ReadonlyArray<keyof GateSummaries> = ['ms-response', 'cache-add', 'e2e', 'control-channel', 'handover'];

/**
 * Options of a gate's own run: cache-add measures only the two variants its gate compares, twice
 * as often as its quick run (the same minutes), so that the ratio of their medians is steadier;
 * the others run lispwg's variants only.
 */
const GATE_RUN_ARGS: Partial<Record<keyof GateSummaries, string[]>> = {
  'cache-add': ['--variants=lisp-wg,lisp-push', '--reps=80'],
  // the gates judge lispwg: the real OOR's variant (where its binary exists) is left to the paper's runs
  'ms-response': ['--variants=lisp-wg,lisp'],
  e2e: ['--variants=lisp-wg,lisp-wg-drop,lisp'],
  handover: ['--variants=lisp-wg,lisp'],
};

/** Busy share of all CPUs over `ms` (from /proc/stat), in percent. */
async function cpuBusy(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return b.total === a.total ? 0 : Math.round((100 * (1 - (b.idle - a.idle) / (b.total - a.total))));
}

/** Waits until the machine has been quiet (CPU under 10 % busy) for 3 half-seconds in a row, 30 s at most. */
async function waitForQuiet(say: (busy: number) => void): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < 60 && quiet < 3; i++) {
    const busy = await cpuBusy(500);
    quiet = busy < 10 ? quiet + 1 : 0;
    if (busy >= 10 && i % 4 === 0) say(busy);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { flags, values } = parseOptions(argv);
  if (flags.has('help')) {
    process.stdout.write('usage: npm run gates [-- --only a,b] [--slow EXPERIMENT:VARIANT:MS] [--exp-args "--reps=6"] [--results DIR] [--no-retry]\n');
    return 0;
  }
  const only = values.only ? values.only.split(',') : [...GATED];
  for (const n of only) if (!GATED.includes(n as keyof GateSummaries)) throw new LispwgError('EXP_OPTIONS', `--only: '${n}' has no gate (gated: ${GATED.join(', ')})`);
  const slow = values.slow ? /^([a-z-]+):([a-z-]+):(\d+(?:\.\d+)?)$/.exec(values.slow) : undefined;
  if (values.slow && !slow) throw new LispwgError('EXP_OPTIONS', `--slow wants EXPERIMENT:VARIANT:MS (e.g. cache-add:lisp-wg:30), not '${values.slow}'`);
  const resultsDir = values.results;
  const run = await ExperimentRun.start('gates', { params: { only, ...(values.slow ? { slow: values.slow } : {}) }, ...(resultsDir ? { resultsDir } : {}) });

  const summaries: GateSummaries = {};
  const errors: Record<string, string> = {};
  // a fresh `npm ci` and build leave work behind (hundreds of MB to write back, caches to
  // reclaim) that competes with the cold starts being measured: flush, and wait for quiet
  spawnSync('sync');
  await waitForQuiet((busy) => process.stderr.write(`[gates] waiting for a quiet machine (CPU ${busy} % busy)\n`));
  const measure = async (names: readonly string[], attempt: number) => {
    for (const [i, name] of names.entries()) {
      run.progress(i, names.length, attempt > 1 ? `${name} (again)` : name);
      const args = ['--quick', ...(GATE_RUN_ARGS[name as keyof GateSummaries] ?? []), ...(resultsDir ? ['--results', resultsDir] : []), ...(slow && slow[1] === name ? [`--inject-delay=${slow[2]}:${slow[3]}`] : []), ...(values['exp-args']?.split(/\s+/).filter(Boolean) ?? [])];
      const r = await runExperimentProcess(name, args);
      run.sample({ experiment: name, attempt, ok: r.ok, seconds: r.seconds, ...(r.ok ? { runId: r.summary.runId } : { error: r.error }) });
      delete errors[name];
      if (r.ok) summaries[name as keyof GateSummaries] = r.summary as unknown as ExperimentSummary;
      else errors[name] = r.error;
    }
  };
  const check = () =>
    evaluateGates(summaries)
      .filter((g) => only.includes(g.experiment))
      .map((g) => (errors[g.experiment] ? { ...g, measured: `${g.measured} (${errors[g.experiment]})` } : g));
  await measure(only, 1);
  let gates = check();
  // a quick run on a shared 2-core machine is noisy: a failed gate is measured once more, and
  // fails only if it fails again (a real regression does; noise seldom does twice)
  const failed = [...new Set(gates.filter((g) => !g.pass).map((g) => g.experiment))];
  const firstFailures = gates.filter((g) => !g.pass);
  if (failed.length && !flags.has('no-retry')) {
    for (const g of firstFailures) process.stderr.write(`FAIL (first run)  ${g.gate}\n      ${g.measured}\n`);
    process.stderr.write(`[gates] measuring ${failed.join(', ')} once more\n`);
    await measure(failed, 2);
    gates = check();
  }
  run.progress(only.length, only.length, 'gates');
  for (const g of gates) process.stderr.write(`${g.pass ? 'PASS' : 'FAIL'}  ${g.gate}\n      ${g.measured}\n`);
  const pass = gates.every((g) => g.pass);
  run.finish({ pass, gates, errors, ...(firstFailures.length ? { failedFirst: firstFailures } : {}), ...(values.slow ? { injected: values.slow } : {}) });
  return pass ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c), (e: unknown) => {
    process.stderr.write(`gates: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
