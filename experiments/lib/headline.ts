/**
 * The report's headline per experiment: the comparison the paper makes. Our LISP+WG beside the
 * paper's OOR+WG; plain LISP (lispwg set up as OOR, and the real OOR when it ran) beside the
 * paper's OOR; each with ours / paper. Where the paper gives no number the row says why and shows
 * ours. Every number comes from the run's summary and the experiment's `paperValues`; the
 * experiment's `headline` only says which variant plays which part.
 */
import type { Comparison, Experiment, Headline, PaperValue, Sample } from './experiment.js';
import { round, type Summary } from './stats.js';

export interface HeadlineRow {
  /** the side of the paper's comparison: LISP+WG, plain LISP, the real OOR, or another of its claims */
  role: 'lisp-wg' | 'lisp' | 'oor' | 'claim';
  /** our variant as the figure names it, or the claim's metric */
  label: string;
  variant?: string;
  /** what our number is: "mean", "median", "saturation" */
  stat?: string;
  ours: number | null;
  unit: string;
  /** what the paper's number is of: "OOR+WG", "OOR" ('' for a claim: the number is the claim's) */
  paperLabel: string;
  paper: number | null;
  /** where the paper's number is stated */
  source?: string;
  /** ours / paper */
  ratio: number | null;
  /** why a number is missing, or how to read it */
  notes: string[];
}

/** What the headline reads of a saved summary.json. */
export interface HeadlineSummary {
  unit: string;
  variants?: Record<string, Summary>;
  paper?: Comparison[];
  extra?: Record<string, unknown>;
}

type HeadlineExperiment = Pick<Experiment<Sample, object>, 'headline' | 'paperValues' | 'labels'>;

/** The paper's name for each side. */
const PAPER_NAME = { 'lisp-wg': 'OOR+WG', lisp: 'OOR', oor: 'OOR' } as const;

const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** Our number for `variant`: the paper's statistic where it names one, else the headline's source. */
function oursOf(h: Headline, s: HeadlineSummary, variant: string, p: PaperValue | undefined): { value: number | null; stat: string } {
  const from = p && p.stat !== 'value' ? { stat: p.stat } : (h.ours ?? { stat: 'median' as const });
  if ('extra' in from) {
    const field = s.extra?.[from.extra];
    return { value: field && typeof field === 'object' ? finite((field as Record<string, unknown>)[variant]) : null, stat: from.what };
  }
  return { value: finite(s.variants?.[variant]?.[from.stat]), stat: from.stat };
}

/** One side: `variant` of ours beside the paper's number for `paperVariant` (its own, or OOR's for the real OOR). */
function side(exp: HeadlineExperiment, s: HeadlineSummary, role: 'lisp-wg' | 'lisp' | 'oor', variant: string, paperVariant: string | undefined): HeadlineRow {
  const h = exp.headline;
  const p = h.metric && paperVariant ? exp.paperValues.find((x) => x.metric === h.metric && x.variant === paperVariant) : undefined;
  const label = exp.labels[variant] ?? variant;
  // the run's own comparison, when it made this one: the number its section shows
  const made = p && paperVariant === variant ? s.paper?.find((c) => c.metric === p.metric && c.variant === variant) : undefined;
  const { value, stat } = oursOf(h, s, variant, p);
  const ours = made ? made.ours : value;
  const paper = made ? made.paper : (p?.value ?? null);
  const ratio = made ? made.ratio : ours !== null && paper ? round(ours / paper, 3) : null;
  const note = ours === null ? 'not measured in this run' : p ? (made?.note ?? p.note) : h.noPaper ? `the paper gives no number: ${h.noPaper}` : 'the paper gives no number';
  const source = made?.source ?? p?.source;
  return { role, label, variant, stat, ours, unit: made?.unit ?? p?.unit ?? s.unit, paperLabel: PAPER_NAME[role], paper, ratio, ...(source ? { source } : {}), notes: note ? [note] : [] };
}

/**
 * The headline rows of one run: every LISP+WG variant, plain LISP (or why there is none), the real
 * OOR when the run measured it (else the plain-LISP row says it did not run), then the paper's
 * further claims.
 */
export function headlineRows(exp: HeadlineExperiment, s: HeadlineSummary): HeadlineRow[] {
  const h = exp.headline;
  const rows = h.lispWg.map((v) => side(exp, s, 'lisp-wg', v, v));
  if (h.lisp) rows.push(side(exp, s, 'lisp', h.lisp, h.lisp));
  else rows.push({ role: 'lisp', label: 'no plain-LISP variant', ours: null, unit: s.unit, paperLabel: PAPER_NAME.lisp, paper: null, ratio: null, notes: h.noLisp ? [h.noLisp] : [] });
  if (h.oor) {
    const real = side(exp, s, 'oor', h.oor, h.lisp);
    if (real.ours !== null) rows.push(real);
    else rows[rows.length - 1]!.notes.push('the real OOR was not in this run');
  }
  for (const a of h.also ?? []) {
    const made = s.paper?.find((c) => c.metric === a.metric && c.variant === a.variant);
    const p = exp.paperValues.find((x) => x.metric === a.metric && x.variant === a.variant);
    rows.push({
      role: 'claim',
      // the headline's metric for another variant is named by the variant, another metric by itself
      label: a.metric === h.metric ? (exp.labels[a.variant] ?? a.variant) : a.metric,
      variant: a.variant,
      ours: made?.ours ?? null,
      unit: made?.unit ?? p?.unit ?? s.unit,
      paperLabel: '',
      paper: made?.paper ?? p?.value ?? null,
      ratio: made?.ratio ?? null,
      ...((made?.source ?? p?.source) ? { source: made?.source ?? p?.source } : {}),
      notes: made ? (made.note ? [made.note] : []) : ['not in this run\'s summary'],
    });
  }
  return rows;
}
