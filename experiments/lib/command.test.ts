import { describe, expect, it } from 'vitest';
import { commandLine, rebuildCommand, runCommand } from './command.js';
import { parseOptions, type Mode } from './experiment.js';
import { listRuns } from './results.js';
import { resultsRoot } from './run.js';
import { experiments, findExperiment } from '../registry.js';

/** The parameters a command gives, read back as the driver reads it. */
function paramsOfCommand(command: string): { mode: Mode; params: Record<string, unknown> } {
  const [npm, run, script, dashes, ...args] = command.split(' ');
  expect([npm, run, dashes]).toEqual(['npm', 'run', '--']);
  const exp = findExperiment(script!.replace(/^exp:/, ''))!;
  const { flags, values } = parseOptions(args);
  const mode: Mode = flags.has('full') ? 'full' : 'quick';
  return { mode, params: exp.params(mode, values) as Record<string, unknown> };
}

/** Options away from every default, one set per experiment. */
const OVERRIDES: Record<string, Record<string, string>> = {
  'ms-response': { sizes: '10,100', queries: '7', variants: 'lisp' },
  'cache-add': { reps: '5', variants: 'lisp-wg,lisp', 'inject-delay': 'lisp-wg:20' },
  e2e: { reps: '3', variants: 'lisp-wg,lisp' },
  'control-channel': { reps: '4', 'inject-delay': 'grpc:5' },
  handover: { reps: '2', variants: 'lisp', 'smr-delay': '100', timeout: '5' },
  'double-jump': { reps: '3', timeout: '9000' },
  throughput: { rates: '100,200', duration: '3', reps: '2', variants: 'plain' },
  state: { nodes: '20,40', flows: '2', seed: '7' },
  'ms-failover': { reps: '2', variants: 'etcd-leader', window: '2' },
};

describe('the command that reproduces a run', () => {
  it('is the mode alone for the default parameters', () => {
    for (const exp of experiments) {
      for (const mode of ['quick', 'full'] as const) {
        const r = rebuildCommand(exp, mode, { mode, ...exp.params(mode, {}) });
        expect(r).toEqual({ command: `npm run exp:${exp.name} -- --${mode}`, unset: [] });
      }
    }
  });

  it('is rebuilt from recorded parameters into options that give them back, for every experiment', () => {
    expect(Object.keys(OVERRIDES).sort()).toEqual(experiments.map((e) => e.name).sort());
    for (const exp of experiments) {
      const given = OVERRIDES[exp.name]!;
      const params = exp.params('quick', given) as Record<string, unknown>;
      const r = rebuildCommand(exp, 'quick', { mode: 'quick', ...params });
      expect(r.unset, exp.name).toEqual([]);
      expect(r.command, exp.name).toBe(commandLine(exp, 'quick', given));
      expect(paramsOfCommand(r.command), exp.name).toEqual({ mode: 'quick', params });
    }
  });

  it('names the recorded parameters no option gives (fixed in code)', () => {
    const e2e = findExperiment('e2e')!;
    const r = rebuildCommand(e2e, 'full', { mode: 'full', ...e2e.params('full', { reps: '9' }), count: 50 });
    expect(r.command).toBe('npm run exp:e2e -- --full --reps=9');
    expect(r.unset).toEqual(['count']);
  });

  it('prefers the command a run recorded', () => {
    const exp = findExperiment('cache-add')!;
    expect(runCommand(exp, { params: { mode: 'quick', reps: 3 }, command: 'npm run exp:cache-add -- --quick --reps=3' })).toEqual({ command: 'npm run exp:cache-add -- --quick --reps=3', unset: [], recorded: true });
    expect(runCommand(exp, { params: { mode: 'quick', ...exp.params('quick', { reps: '3' }) } })).toEqual({ command: 'npm run exp:cache-add -- --quick --reps=3', unset: [], recorded: false });
  });

  it('quotes what the shell would split, and leaves out where the run went', () => {
    const exp = findExperiment('cache-add')!;
    expect(commandLine(exp, 'quick', { variants: "a b'c", results: '/tmp/x', resume: 'true' })).toBe(`npm run exp:cache-add -- --quick '--variants=a b'\\''c'`);
  });

  it('gives back the parameters of every saved reference run, but those it names', () => {
    const runs = listRuns(resultsRoot()).filter((r) => findExperiment(r.experiment));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      const exp = findExperiment(run.experiment)!;
      const r = runCommand(exp, run.metadata);
      const back = paramsOfCommand(r.command);
      expect(back.mode, run.runId).toBe(run.metadata.params.mode);
      for (const [k, v] of Object.entries(run.metadata.params)) if (k !== 'mode' && !r.unset.includes(k)) expect(back.params[k], `${run.experiment} ${k}`).toEqual(v);
    }
  });
});
