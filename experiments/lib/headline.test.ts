import { describe, expect, it } from 'vitest';
import type { Sample } from './experiment.js';
import { headlineRows, type HeadlineSummary } from './headline.js';
import { round } from './stats.js';
import { syntheticSamples } from './synthetic.js';
import { experiments, findExperiment } from '../registry.js';

/** The summary an experiment's analysis gives for these samples, with its quick parameters. */
function summaryOf(name: string, samples: Sample[] = syntheticSamples(name)): HeadlineSummary {
  const exp = findExperiment(name)!;
  return exp.analyse(samples, exp.params('quick', {})) as unknown as HeadlineSummary;
}

describe('the headline of the report', () => {
  it('is declared by every experiment with variants, metrics and claims it has', () => {
    for (const exp of experiments) {
      const h = exp.headline;
      const variants = [...h.lispWg, ...(h.lisp ? [h.lisp] : []), ...(h.oor ? [h.oor] : []), ...(h.also ?? []).map((a) => a.variant)];
      for (const v of variants) expect(exp.labels[v], `${exp.name}: ${v}`).toBeDefined();
      expect(h.lisp ?? h.noLisp, exp.name).toBeDefined();
      if (h.metric) {
        for (const v of [...h.lispWg.slice(0, 1), ...(h.lisp ? [h.lisp] : [])]) expect(exp.paperValues.some((p) => p.metric === h.metric && p.variant === v), `${exp.name}: paper value of ${v}`).toBe(true);
      } else expect(h.noPaper, exp.name).toBeDefined();
      for (const a of h.also ?? []) expect(exp.paperValues.some((p) => p.metric === a.metric && p.variant === a.variant), `${exp.name}: ${a.metric}`).toBe(true);
    }
  });

  it('sets LISP+WG beside the paper\'s OOR+WG and plain LISP beside its OOR, with ours / paper', () => {
    const s = summaryOf('cache-add');
    const rows = headlineRows(findExperiment('cache-add')!, s);
    expect(rows.map((r) => [r.role, r.variant, r.paperLabel, r.paper])).toEqual([
      ['lisp-wg', 'lisp-wg', 'OOR+WG', 16.61],
      ['lisp', 'lisp', 'OOR', 13.24],
      ['claim', 'lisp-wg', '', 3.37],
    ]);
    const wg = s.variants!['lisp-wg']!.mean;
    expect(rows[0]).toMatchObject({ ours: wg, stat: 'mean', unit: 'ms', ratio: round(wg / 16.61, 3) });
    expect(rows[1]).toMatchObject({ ours: s.variants!.lisp!.mean, ratio: round(s.variants!.lisp!.mean / 13.24, 3) });
    expect(rows[2]!.ours).toBe(round(wg - s.variants!.lisp!.mean));
  });

  it('adds the real OOR beside the paper\'s OOR when the run measured it, and says so when not', () => {
    const e2e = findExperiment('e2e')!;
    const without = headlineRows(e2e, summaryOf('e2e'));
    expect(without.map((r) => r.role)).toEqual(['lisp-wg', 'lisp-wg', 'lisp']);
    expect(without[2]!.notes).toContain('the real OOR was not in this run');

    const oor = [0, 1, 2, 3].map((rep) => ({ variant: 'oor', rep, delayMs: 30 + rep, firstReplySeq: 3, firstPacketLost: true }));
    const s = summaryOf('e2e', [...syntheticSamples('e2e'), ...oor]);
    const rows = headlineRows(e2e, s);
    const real = rows.find((r) => r.role === 'oor')!;
    expect(real).toMatchObject({ variant: 'oor', ours: 31.5, stat: 'mean', paperLabel: 'OOR', paper: 31.17, ratio: round(31.5 / 31.17, 3) });
    expect(rows.find((r) => r.role === 'lisp')!.notes).not.toContain('the real OOR was not in this run');

    // throughput: the paper's saturation, ours from the summary's per-variant saturation
    const tp = [150, 400, 1000].map((inputMbps) => ({ variant: 'oor', rep: 0, inputMbps, outputMbps: Math.min(inputMbps, 280), payload: 1388 }));
    const t = headlineRows(findExperiment('throughput')!, summaryOf('throughput', [...syntheticSamples('throughput'), ...tp]));
    expect(t.find((r) => r.role === 'oor')).toMatchObject({ ours: 280, stat: 'saturation', paper: 750 });
  });

  it('says where the paper gives no number and shows ours', () => {
    const s = summaryOf('ms-failover');
    const rows = headlineRows(findExperiment('ms-failover')!, s);
    expect(rows.filter((r) => r.role === 'lisp-wg').map((r) => [r.variant, r.ours, r.paper, r.ratio])).toEqual(
      ['ms-replica', 'etcd-member', 'etcd-leader', 'lone-restart'].map((v) => [v, s.variants![v]!.median, null, null]),
    );
    expect(rows[0]!.notes[0]).toMatch(/^the paper gives no number: .*measures none/);
    expect(rows.at(-1)).toMatchObject({ role: 'lisp', label: 'no plain-LISP variant', ours: null, paper: null });
  });

  it('marks a variant the run did not measure', () => {
    const samples = syntheticSamples('e2e').filter((x) => x.variant !== 'lisp-wg-drop');
    const rows = headlineRows(findExperiment('e2e')!, summaryOf('e2e', samples));
    expect(rows[1]).toMatchObject({ variant: 'lisp-wg-drop', ours: null, paper: 32.57, ratio: null, notes: ['not measured in this run'] });
  });
});
