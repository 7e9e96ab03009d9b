/**
 * The analysis shared by the delay experiments (cache-add, e2e, control-channel): per-variant
 * statistics of one delay, same-run ratios, the paper's values beside ours, and the CDF figure.
 */
import type { Comparison, ExperimentSummary, PaperValue, Sample } from './experiment.js';
import { compareStats, ratiosOf, statsBy } from './experiment.js';
import { cdfSpec, type PaperMark, type Spec } from './plot.js';

export interface DelaySample extends Sample {
  rep: number;
  /** the delay, ms; absent when the repetition produced none (then `error` says why) */
  delayMs?: number;
  error?: string;
  /** a warm-up repetition: kept on disk, left out of every statistic and figure */
  warmup?: boolean;
}

function delaySeries(samples: readonly DelaySample[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of samples) if (typeof s.delayMs === 'number' && Number.isFinite(s.delayMs)) (out[s.variant] ??= []).push(s.delayMs);
  return out;
}

export function analyseDelays(
  samples: readonly DelaySample[],
  o: { metric: string; pairs: ReadonlyArray<[string, string]>; paper: readonly PaperValue[]; extraComparisons?: Comparison[]; notes: string[]; extra?: Record<string, unknown> },
): ExperimentSummary {
  const variants = statsBy(samples, (s) => s.delayMs);
  const failed = samples.filter((s) => s.delayMs === undefined);
  const failures: Record<string, number> = {};
  for (const f of failed) failures[f.variant] = (failures[f.variant] ?? 0) + 1;
  return {
    metric: o.metric,
    unit: 'ms',
    variants,
    ratios: ratiosOf(variants, o.pairs),
    paper: [...compareStats(o.paper.filter((p) => p.stat !== 'value'), variants), ...(o.extraComparisons ?? [])],
    extra: { ...(failed.length ? { failedRepetitions: failures } : {}), ...(o.extra ?? {}) },
    notes: o.notes,
  };
}

/** The CDF with the paper's means as dashed rules. */
export function delayFigure(samples: readonly DelaySample[], o: { title: string; xTitle: string; labels: Record<string, string>; paper: readonly PaperValue[]; logX?: boolean }): Spec {
  const marks: PaperMark[] = o.paper
    .filter((p) => p.stat !== 'value' && p.unit === 'ms')
    .map((p) => ({ label: `${o.labels[p.variant] ?? p.variant} ${p.stat} ${p.value} ms${p.metric.includes('this machine') ? ' (OOR 1.3 on this machine)' : ''}`, value: p.value, variant: p.variant }));
  return cdfSpec({ title: o.title, xTitle: o.xTitle, series: delaySeries(samples), labels: o.labels, paper: marks, ...(o.logX ? { logX: true } : {}) });
}
