/**
 * The lab's metrics: every lispwg daemon of a lab serves Prometheus metrics on its control
 * address, port METRICS_PORT (lab/kinds: `metrics-listen`), which its Map-Server reaches through
 * the control tunnel, as an operator's Prometheus would on a management network. `startScrape`
 * runs one scraper (lab/scrape.ts) in each Map-Server's namespace, for itself and the sites that
 * ask it first, writing `<dir>/metrics-<lab>-<ms>.jsonl`: one line per target and scrape, its counters
 * and gauges by series (histogram buckets left out: their _sum and _count stay), so that a run
 * keeps its daemons' counters over time beside its samples, without Prometheus installed.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { projectRoot } from '../src/util/project.js';
import { LispwgError } from '../src/util/errors.js';
import type { Lab } from './lab.js';
import type { LabProcess } from './process.js';
import { daemonOf, nodesWithRole } from './kinds/index.js';
import type { LabModel, NodeModel } from './topology/model.js';
import { ipText } from './topology/addr.js';
import { METRICS_PORT } from './roles.js';

export { METRICS_PORT };


/** Where a node's daemon serves its metrics (its control address), when it runs a lispwg daemon. */
export function metricsUrl(node: NodeModel): string | undefined {
  if (!node.role || node.role.cmd || daemonOf(node)?.process !== 'lispwg') return undefined;
  return `http://${ipText(node.role.control)}:${METRICS_PORT}/metrics`;
}

/** Per Map-Server node, what its scraper reads: itself, and the sites that ask it first. */
export function scrapeTargets(model: LabModel): Map<string, Array<{ node: string; url: string }>> {
  const out = new Map<string, Array<{ node: string; url: string }>>();
  for (const ms of nodesWithRole(model, 'ms')) {
    const url = metricsUrl(ms);
    if (!url) continue;
    const targets = [{ node: ms.name, url }];
    for (const s of model.nodes) {
      const u = s.role?.ms === ms.name ? metricsUrl(s) : undefined;
      if (u) targets.push({ node: s.name, url: u });
    }
    out.set(ms.name, targets);
  }
  return out;
}

export interface ScrapeOptions {
  /** the folder the files go to (a run directory) */
  dir: string;
  intervalMs?: number;
  /** bytes each file may grow to; the scraper then stops, saying so (default 256 MiB) */
  maxBytes?: number;
}

// the built one, also when this module runs from source (the tests)
const scraper = () => join(projectRoot(), 'dist', 'lab', 'scrape.js');

/** Starts the scrapers of a lab that is up; they stop at `lab down`, or with `stop()`. */
export async function startScrape(lab: Lab, opts: ScrapeOptions): Promise<{ files: string[]; stop: () => Promise<void> }> {
  const targets = scrapeTargets(lab.model);
  if (!targets.size) throw new LispwgError('LAB_NO_METRICS', `lab ${lab.name} has no lispwg Map-Server to scrape from`);
  const intervalMs = opts.intervalMs ?? 1000;
  if (!(intervalMs >= 50)) throw new LispwgError('LAB_SCRAPE_INTERVAL', `a scrape interval of ${intervalMs} ms is too short (at least 50 ms)`);
  if (!existsSync(scraper())) throw new LispwgError('LAB_NOT_BUILT', `the metrics scraper ${scraper()} is not built: run 'npm run build'`);
  const procs: LabProcess[] = [];
  const files: string[] = [];
  for (const [ms, list] of targets) {
    const file = join(opts.dir, `metrics-${lab.name}-${ms}.jsonl`);
    procs.push(await lab.spawn(ms, 'scrape', [process.execPath, scraper(), '--out', file, '--lab', lab.name, '--interval', String(intervalMs), '--max-bytes', String(opts.maxBytes ?? 256 << 20), '--targets', JSON.stringify(list)]));
    files.push(file);
  }
  return {
    files,
    stop: async () => {
      for (const p of procs) await p.stop('SIGTERM', 2000);
    },
  };
}
