/** Reading back the run folders under results/: what `npm run figures` and `npm run report` work from. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSamples, type RunMetadata } from './run.js';

export interface SavedRun {
  experiment: string;
  runId: string;
  dir: string;
  metadata: RunMetadata;
  /** summary.json, when the run finished */
  summary?: Record<string, unknown>;
}

const readJson = <T>(file: string): T | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined);

/** Every run folder of `experiment` (or of all experiments), oldest first. Scratch runs are skipped. */
export function listRuns(resultsDir: string, experiment?: string): SavedRun[] {
  if (!existsSync(resultsDir)) return [];
  const names = experiment ? [experiment] : readdirSync(resultsDir).filter((n) => statSync(join(resultsDir, n)).isDirectory());
  const out: SavedRun[] = [];
  for (const name of names) {
    const root = join(resultsDir, name);
    if (!existsSync(root)) continue;
    for (const id of readdirSync(root).sort()) {
      const dir = join(root, id);
      if (id.startsWith('scratch-') || !statSync(dir).isDirectory()) continue;
      const metadata = readJson<RunMetadata>(join(dir, 'metadata.json'));
      if (!metadata) continue;
      const summary = readJson<Record<string, unknown>>(join(dir, 'summary.json'));
      out.push({ experiment: name, runId: id, dir, metadata, ...(summary ? { summary } : {}) });
    }
  }
  return out;
}

/** The newest finished run of an experiment. */
export function latestFinished(resultsDir: string, experiment: string): SavedRun | undefined {
  return listRuns(resultsDir, experiment).filter((r) => r.summary).pop();
}

export function samplesOf<T>(run: SavedRun): T[] {
  return readSamples<T>(join(run.dir, 'samples.jsonl'));
}
