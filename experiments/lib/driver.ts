/**
 * Runs one experiment end to end: parameters from the command line, the run folder (new or
 * resumed), the experiment's own run with teardown guaranteed (failure, Ctrl-C), then the
 * summary (ours beside the paper's) and the figure, both computed from the saved samples.
 */
import { scrapePoints, scrapeSpec } from './scrape-figure.js';
import { join } from 'node:path';
import { LispwgError } from '../../src/util/errors.js';
import type { Experiment, ExperimentSummary, Mode, RunContext, Sample } from './experiment.js';
import { parseOptions } from './experiment.js';
import { commandLine } from './command.js';
import { writeFigure } from './render.js';
import { ExperimentRun, type RunMetadata } from './run.js';

const FIGURE_BASENAME = 'figure';

/** The tools every experiment's measurements go through, whose versions its metadata records. */
export const COMMON_TOOLS: Record<string, string[]> = {
  'wireguard-go': ['wireguard-go', '--version'],
  tcpdump: ['tcpdump', '--version'],
  ping: ['ping', '-V'],
  iproute2: ['ip', '-V'],
};

export function usage(exp: Experiment<Sample, object>): string {
  return [
    `usage: lispwg exp ${exp.name} [--quick | --full] [--resume[=RUN-ID]] [--results DIR] [--key=value ...]`,
    '',
    `${exp.title} (${exp.reproduces})`,
    '',
    exp.method,
    '',
    '  --quick          CI mode: few repetitions, a few sizes (the default)',
    '  --full           the paper\'s repetitions, durations and sizes',
    '  --resume[=ID]    continue the newest unfinished run with the same parameters (or run ID)',
    '  --results DIR    where run folders go (default: <project>/results)',
    ...exp.options.map((o) => `  ${o}`),
    '',
    `quick: ${JSON.stringify(exp.params('quick', {}))}`,
    `full:  ${JSON.stringify(exp.params('full', {}))}`,
  ].join('\n');
}

/** The summary written to summary.json: the analysis plus who/what/how. */
export interface SavedSummary extends ExperimentSummary {
  experiment: string;
  runId: string;
  title: string;
  reproduces: string;
  mode: Mode;
  params: Record<string, unknown>;
  figure: { svg: string; png: string; spec: string };
  durationS?: number;
}

/** The summary and figure of a run folder, from its samples (used by the run and by `npm run figures`). */
export async function analyseAndPlot<S extends Sample, P extends object>(
  exp: Experiment<S, P>,
  dir: string,
  samples: readonly S[],
  params: P,
): Promise<{ summary: ExperimentSummary; figure: { svg: string; png: string; spec: string; metrics?: { svg: string; png: string; spec: string } } }> {
  const summary = exp.analyse(samples, params);
  const paths = await writeFigure(dir, FIGURE_BASENAME, exp.figure(samples, params));
  const rel = (p: string): string => p.slice(dir.length + 1);
  // the lab's metrics scrape, when the run kept one
  const scraped = scrapePoints(dir);
  const m = scraped.length ? await writeFigure(dir, 'metrics', scrapeSpec(scraped)) : undefined;
  return { summary, figure: { svg: rel(paths.svg), png: rel(paths.png), spec: rel(paths.spec), ...(m ? { metrics: { svg: rel(m.svg), png: rel(m.png), spec: rel(m.spec) } } : {}) } };
}

/** Prints ours beside the paper's, and the same-run ratios. */
function formatSummary(s: ExperimentSummary, labels: Record<string, string>): string {
  const lines: string[] = [`${s.metric} (${s.unit}):`];
  for (const [v, st] of Object.entries(s.variants)) {
    lines.push(`  ${(labels[v] ?? v).padEnd(26)} n=${String(st.n).padStart(4)}  median ${st.median}  p90 ${st.p90}  p99 ${st.p99}  mean ${st.mean}`);
  }
  for (const [k, r] of Object.entries(s.ratios)) lines.push(`  ratio ${k}: ${r}`);
  for (const c of s.paper) {
    lines.push(`  paper ${c.metric} [${labels[c.variant] ?? c.variant}]: ours ${c.ours ?? 'n/a'} vs paper ${c.paper} ${c.unit}` + (c.ratio !== null ? ` (x${c.ratio})` : '') + ` — ${c.source}`);
  }
  for (const n of s.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

export async function runExperiment<S extends Sample, P extends object>(exp: Experiment<S, P>, argv: readonly string[]): Promise<number> {
  const { flags, values } = parseOptions(argv);
  if (flags.has('help') || flags.has('h')) {
    process.stdout.write(usage(exp as unknown as Experiment<Sample, object>) + '\n');
    return 0;
  }
  if (flags.has('quick') && flags.has('full')) throw new LispwgError('EXP_OPTIONS', 'choose one of --quick and --full');
  const mode: Mode = flags.has('full') ? 'full' : 'quick';
  const overrides = { ...values };
  const resume = flags.has('resume') ? true : overrides.resume;
  const resultsDir = overrides.results;
  delete overrides.resume;
  delete overrides.results;
  for (const f of flags) if (!['quick', 'full', 'resume'].includes(f)) throw new LispwgError('EXP_OPTIONS', `unknown flag --${f} for ${exp.name} (see --help)`);
  const known = new Set(exp.options.map((o) => /^--([a-z-]+)/.exec(o)?.[1]));
  for (const k of Object.keys(overrides)) if (!known.has(k)) throw new LispwgError('EXP_OPTIONS', `unknown option --${k} for ${exp.name} (see --help)`);
  const params = exp.params(mode, overrides);

  const run = await ExperimentRun.start(exp.name, {
    params: { mode, ...(params as Record<string, unknown>) },
    command: commandLine(exp as unknown as Experiment<Sample, object>, mode, overrides),
    tools: { ...COMMON_TOOLS, ...(exp.tools ?? {}) },
    ...(resultsDir ? { resultsDir } : {}),
    ...(resume ? { resume } : {}),
  });
  process.stderr.write(`[${exp.name}] ${run.previous.length ? `resuming ${run.id} (${run.previous.length} samples kept)` : `run ${run.id}`} -> ${run.dir}\n`);

  const teardown: Array<() => Promise<void> | void> = [];
  let tornDown = false;
  const tearDown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    for (const fn of teardown.reverse()) {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`[${exp.name}] teardown: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`[${exp.name}] ${sig}: tearing down; resume with --resume\n`);
    void tearDown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const ctx: RunContext<S, P> = {
    run,
    params,
    mode,
    done: run.previous as unknown as S[],
    sample: (s) => run.sample(s),
    progress: (d, t, label) => run.progress(d, t, label),
    onTeardown: (fn) => void teardown.push(fn),
    log: (line) => process.stderr.write(`[${exp.name}] ${line}\n`),
  };
  try {
    await exp.run(ctx);
  } catch (e) {
    await tearDown();
    const kept = run.samples().length;
    process.stderr.write(`[${exp.name}] failed: ${e instanceof Error ? e.message : String(e)}\n[${exp.name}] ${kept} samples kept in ${run.dir}; continue with --resume\n`);
    throw e;
  } finally {
    await tearDown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  await finishRun(exp, run, params, mode);
  return 0;
}

/** Analyses the run's samples, renders its figure, writes summary.json and prints its JSON line. */
export async function finishRun<S extends Sample, P extends object>(exp: Experiment<S, P>, run: ExperimentRun, params: P, mode: Mode): Promise<void> {
  const { summary, figure } = await analyseAndPlot(exp, run.dir, run.samples<S>(), params);
  process.stderr.write(formatSummary(summary, exp.labels) + `\n[${exp.name}] figure: ${join(run.dir, figure.svg)}\n`);
  run.finish({ title: exp.title, reproduces: exp.reproduces, mode, params, ...summary, figure });
}

export type { RunMetadata };
