/**
 * The experiment of a researcher's script (experiments/lib/script.ts): a run folder written by
 * `record()` names no registered experiment, and its metadata says what its samples measure
 * (`script`: the sample field holding the value, its metric and unit). From that alone a
 * generic experiment is built, so that `npm run figures` and `npm run report` analyse and plot the
 * run as any other: per-variant statistics of the value and their CDFs, no paper to compare with.
 */
import { LispwgError } from '../../src/util/errors.js';
import { ratiosOf, statsBy, type Experiment, type ExperimentSummary, type Sample } from './experiment.js';
import { cdfSpec } from './plot.js';
import type { RunMetadata } from './run.js';

/** What `record()` writes under `script` in metadata.json. */
export interface ScriptDescription {
  /** the script's file, relative to the project when inside it */
  file: string;
  title: string;
  /** what the value measures, e.g. "first echo reply after a cold start" */
  metric: string;
  unit: string;
  /** the sample field holding the value */
  value: string;
  /** one paragraph on the method, shown in the report */
  description?: string;
}

export type ScriptExperiment = Experiment<Sample, Record<string, unknown>> & { script: ScriptDescription };

/** The description of a saved run written by `record()`, if it is one. */
export function scriptOf(metadata: RunMetadata): ScriptDescription | undefined {
  const d = metadata.script as Partial<ScriptDescription> | undefined;
  return d && typeof d.value === 'string' && typeof d.metric === 'string' ? (d as ScriptDescription) : undefined;
}

const valueOf = (s: Sample, field: string): number | undefined => {
  const v = s[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

/** The generic experiment of the script runs named `name`, as `d` describes them. */
export function scriptExperiment(name: string, d: ScriptDescription): ScriptExperiment {
  return {
    name,
    title: d.title,
    reproduces: `no figure of the paper: a script of its own (${d.file})`,
    method: d.description ?? `Written as a script (${d.file}) with experiments/lib/script.ts: each sample's \`${d.value}\` is the ${d.metric} (${d.unit}); per variant, its statistics and CDF.`,
    labels: {},
    paperValues: [],
    // the overview lists the paper's experiments only
    headline: { lispWg: [], noLisp: 'a script of its own', noPaper: 'a script of its own' },
    options: [],
    script: d,
    params: () => ({}),
    run() {
      throw new LispwgError('EXP_SCRIPT', `${name} is a script's experiment: run ${d.file} itself`);
    },
    analyse(samples): ExperimentSummary {
      const counted = samples.filter((s) => !s.warmup);
      const variants = statsBy(counted, (s) => valueOf(s, d.value));
      const order = [...new Set(counted.map((s) => s.variant))];
      const failed: Record<string, number> = {};
      for (const s of counted) if (valueOf(s, d.value) === undefined) failed[s.variant] = (failed[s.variant] ?? 0) + 1;
      const warmups = samples.length - counted.length;
      return {
        metric: d.metric,
        unit: d.unit,
        variants,
        // every variant against the first one recorded, measured in the same run
        ratios: ratiosOf(variants, order.slice(1).map((v) => [v, order[0]!] as [string, string])),
        paper: [],
        ...(Object.keys(failed).length ? { extra: { samplesWithoutValue: failed } } : {}),
        notes: [
          ...(warmups ? [`${warmups} warm-up sample(s) excluded.`] : []),
          ...Object.entries(failed).map(([v, n]) => `${v}: ${n} sample(s) without a finite \`${d.value}\` (see their \`error\` in samples.jsonl).`),
        ],
      };
    },
    figure(samples) {
      const series: Record<string, number[]> = {};
      for (const s of samples) {
        const v = valueOf(s, d.value);
        if (!s.warmup && v !== undefined) (series[s.variant] ??= []).push(v);
      }
      return cdfSpec({ title: d.title, xTitle: `${d.metric} (${d.unit})`, series });
    },
  };
}
