/**
 * The figure of a run's lab metrics scrape (lab/metrics.ts: `metrics-*.jsonl` in the run
 * directory): every daemon's CPU (the rate of process_cpu_seconds_total between two scrapes, in
 * % of one core) and resident memory over the run, one line per daemon. Rendered with the run's
 * own figure; nothing when the run was not scraped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sideBySide, type Spec } from './plot.js';

interface ScrapeLine {
  t: number;
  lab?: string;
  node: string;
  series?: Record<string, number>;
}

export interface ScrapePoint {
  /** seconds since the first scrape of the run */
  s: number;
  daemon: string;
  cpuPct?: number;
  rssMiB?: number;
}

export const scrapeFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /^metrics-.*\.jsonl$/.test(f)).sort();

/** The points of every scrape file in `dir` (a torn last line is skipped). */
export function scrapePoints(dir: string): ScrapePoint[] {
  const lines: ScrapeLine[] = [];
  for (const f of scrapeFiles(dir)) {
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) {
      try {
        const o = JSON.parse(l) as ScrapeLine;
        // lines written before they named their lab: the file's (metrics-<lab>-<ms>)
        if (o.series && typeof o.t === 'number') lines.push({ ...o, lab: o.lab ?? f.slice('metrics-'.length, -'.jsonl'.length) });
      } catch {
        // a line cut by a kill
      }
    }
  }
  if (!lines.length) return [];
  const t0 = Math.min(...lines.map((l) => l.t));
  const labs = new Set(lines.map((l) => l.lab));
  const last = new Map<string, { t: number; cpu: number }>();
  const out: ScrapePoint[] = [];
  for (const l of lines.sort((a, b) => a.t - b.t)) {
    const daemon = labs.size > 1 && l.lab ? `${l.node} (${l.lab})` : l.node;
    const cpu = l.series!.process_cpu_seconds_total;
    const rss = l.series!.process_resident_memory_bytes;
    const prev = last.get(daemon);
    const p: ScrapePoint = { s: Math.round((l.t - t0) / 100) / 10, daemon };
    // a restarted daemon starts its counter again: no rate across it
    if (prev && cpu !== undefined && cpu >= prev.cpu && l.t > prev.t) p.cpuPct = Math.round(((cpu - prev.cpu) / ((l.t - prev.t) / 1000)) * 1000) / 10;
    if (rss !== undefined) p.rssMiB = Math.round((rss / 2 ** 20) * 10) / 10;
    if (cpu !== undefined) last.set(daemon, { t: l.t, cpu });
    out.push(p);
  }
  return out;
}

export function scrapeSpec(points: readonly ScrapePoint[]): Spec {
  const line = (field: 'cpuPct' | 'rssMiB', title: string): Spec =>
    ({
      data: { values: points.filter((p) => p[field] !== undefined) },
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 's', type: 'quantitative', title: 'time in the run (s)' },
        y: { field, type: 'quantitative', title },
        color: { field: 'daemon', type: 'nominal', title: null },
      },
    }) as unknown as Spec;
  return sideBySide("The daemons over the run (the lab's metrics scrape)", line('cpuPct', 'CPU (% of one core)'), line('rssMiB', 'resident memory (MiB)'));
}
