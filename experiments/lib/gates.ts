/**
 * The CI performance gates, as a pure function over the summaries of one run of the quick
 * experiments. Every gate compares variants measured in the same run (a noisy, shared machine
 * shifts them together), never an absolute time.
 */
import type { ExperimentSummary } from './experiment.js';

const CACHE_ADD_MAX_RATIO = 1.5;
const MS_FLATNESS_MAX_RATIO = 1.5;

export interface GateResult {
  gate: string;
  experiment: string;
  pass: boolean;
  /** what was measured, in words and numbers */
  measured: string;
}

/** The per-N medians ms-response reports in `extra.perN`. */
export interface PerNMedian {
  variant: string;
  n: number;
  median: number;
}

export type GateSummaries = Partial<Record<'cache-add' | 'e2e' | 'ms-response' | 'handover' | 'control-channel', ExperimentSummary>>;

const fmt = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));

function median(s: ExperimentSummary | undefined, variant: string): number | undefined {
  const m = s?.variants[variant]?.median;
  return m !== undefined && Number.isFinite(m) && (s?.variants[variant]?.n ?? 0) > 0 ? m : undefined;
}

function missing(gate: string, experiment: string, what: string): GateResult {
  return { gate, experiment, pass: false, measured: `not measured: ${what}` };
}

function ratioGate(gate: string, experiment: string, s: ExperimentSummary | undefined, a: string, b: string, test: (a: number, b: number) => boolean, rel: string): GateResult {
  const x = median(s, a);
  const y = median(s, b);
  if (x === undefined || y === undefined) return missing(gate, experiment, `${experiment} has no median for ${x === undefined ? a : b}`);
  return { gate, experiment, pass: test(x, y), measured: `${a} median ${fmt(x)} ${s!.unit}, ${b} median ${fmt(y)} ${s!.unit} (${a} / ${b} = ${fmt(x / y)}; required ${rel})` };
}

export function evaluateGates(s: GateSummaries): GateResult[] {
  const out: GateResult[] = [];

  // against plain LISP on the same control plane (pushes included): what WireGuard adds. OOR's
  // Map-Server pushes nothing, so against it LISP+WG also pays the push round trip that keeps its
  // first handshake from meeting an unknown key (both are in the cache-add summary)
  out.push(ratioGate(`cache-add: LISP+WG within ${CACHE_ADD_MAX_RATIO}x of plain LISP (same control plane)`, 'cache-add', s['cache-add'], 'lisp-wg', 'lisp-push',
    (wg, lisp) => wg <= CACHE_ADD_MAX_RATIO * lisp, `<= ${CACHE_ADD_MAX_RATIO}`));

  {
    const gate = 'e2e: no first-packet loss with buffering';
    const e = s.e2e;
    const lost = (e?.extra?.firstPacketLost as Record<string, number> | undefined)?.['lisp-wg'];
    const runs = e?.variants['lisp-wg']?.n ?? 0;
    if (lost === undefined || runs === 0) out.push(missing(gate, 'e2e', 'no buffered LISP+WG runs with first-packet accounting'));
    else out.push({ gate, experiment: 'e2e', pass: lost === 0, measured: `the first echo request went unanswered in ${lost} of ${runs} buffered LISP+WG runs (required: 0)` });
  }

  {
    const gate = `ms-response: median at the largest N within ${MS_FLATNESS_MAX_RATIO}x of the smallest`;
    const perN = (s['ms-response']?.extra?.perN as PerNMedian[] | undefined) ?? [];
    const variants = [...new Set(perN.map((p) => p.variant))];
    if (variants.length === 0) out.push(missing(gate, 'ms-response', 'no per-N medians'));
    for (const v of variants) {
      const rows = perN.filter((p) => p.variant === v && Number.isFinite(p.median)).sort((a, b) => a.n - b.n);
      const lo = rows[0];
      const hi = rows[rows.length - 1];
      if (!lo || !hi || lo.n === hi.n) {
        out.push(missing(`${gate} [${v}]`, 'ms-response', `${v} was measured at fewer than two sizes`));
        continue;
      }
      const r = hi.median / lo.median;
      out.push({ gate: `${gate} [${v}]`, experiment: 'ms-response', pass: r <= MS_FLATNESS_MAX_RATIO, measured: `${v}: median ${fmt(hi.median)} at N=${hi.n} vs ${fmt(lo.median)} at N=${lo.n} (ratio ${fmt(r)}; required <= ${MS_FLATNESS_MAX_RATIO})` });
    }
  }

  out.push(ratioGate('handover: LISP+WG outage below plain LISP', 'handover', s.handover, 'lisp-wg', 'lisp', (wg, lisp) => wg < lisp, '< 1'));
  out.push(ratioGate('control-channel: gRPC slower than LISP', 'control-channel', s['control-channel'], 'grpc', 'lisp', (g, l) => g > l, '> 1'));
  return out;
}
