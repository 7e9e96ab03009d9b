import { describe, expect, it } from 'vitest';
import { evaluateGates, type GateSummaries } from './gates.js';
import { syntheticSamples } from './synthetic.js';
import { findExperiment } from '../registry.js';
import type { ExperimentSummary } from './experiment.js';

const GATED = ['cache-add', 'e2e', 'ms-response', 'handover', 'control-channel'] as const;

/** The summaries the experiments' own analysis makes of synthetic samples (one variant slowed, maybe). */
function summaries(slow?: { experiment: string; variant: string; by: number }): GateSummaries {
  const out: GateSummaries = {};
  for (const name of GATED) {
    const exp = findExperiment(name)!;
    const samples = syntheticSamples(name, 7, slow?.experiment === name ? slow : undefined);
    out[name] = exp.analyse(samples, exp.params('quick', {})) as ExperimentSummary;
  }
  return out;
}

describe('evaluateGates', () => {
  it('passes every gate on a healthy run', () => {
    const gates = evaluateGates(summaries());
    expect(gates.map((g) => [g.gate, g.pass]).filter(([, p]) => !p)).toEqual([]);
    expect(gates.length).toBeGreaterThanOrEqual(6);
  });

  it.each([
    ['cache-add', 'lisp-wg', 5, 'cache-add: LISP+WG within'],
    ['ms-response', 'lisp-wg', 80, 'ms-response: median at the largest N'],
    ['handover', 'lisp-wg', 5000, 'handover: LISP+WG outage below'],
    ['control-channel', 'lisp', 5, 'control-channel: gRPC slower'],
  ])('fails when %s slows its %s variant by %d', (experiment, variant, by, gate) => {
    const gates = evaluateGates(summaries({ experiment, variant, by }));
    const failed = gates.filter((g) => !g.pass);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((g) => g.gate.startsWith(gate))).toBe(true);
    expect(failed[0]!.measured).toMatch(/median/);
  });

  it('fails the e2e gate when a buffered run lost its first packet', () => {
    const s = summaries();
    (s.e2e!.extra!.firstPacketLost as Record<string, number>)['lisp-wg'] = 1;
    const g = evaluateGates(s).find((x) => x.experiment === 'e2e')!;
    expect(g.pass).toBe(false);
    expect(g.measured).toContain('1 of');
  });

  it('fails, naming what is missing, when an experiment did not run', () => {
    const s = summaries();
    delete s.handover;
    const g = evaluateGates(s).find((x) => x.experiment === 'handover')!;
    expect(g.pass).toBe(false);
    expect(g.measured).toMatch(/not measured/);
  });
});
