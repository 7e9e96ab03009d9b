/**
 * Every experiment, in the order `npm run paper` runs them (fast and self-contained first), and
 * the experiments of researchers' scripts, found from their saved runs (never registered here).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Experiment, Sample } from './lib/experiment.js';
import { listRuns, type SavedRun } from './lib/results.js';
import { scriptExperiment, scriptOf, type ScriptExperiment } from './lib/script-experiment.js';
import msResponse from './ms-response.js';
import cacheAdd from './cache-add.js';
import e2e from './e2e.js';
import controlChannel from './control-channel.js';
import handover from './handover.js';
import doubleJump from './double-jump.js';
import throughput from './throughput.js';
import state from './state.js';
import msFailover from './ms-failover.js';

export type AnyExperiment = Experiment<Sample, object>;

export const experiments: readonly AnyExperiment[] = [msResponse, cacheAdd, e2e, controlChannel, handover, doubleJump, throughput, state, msFailover] as unknown as AnyExperiment[];

/** Names a script may not record under: the experiments', the drivers' (paper, gates) and the benchmarks' (bench-*). */
export const reservedName = (name: string): boolean => !!findExperiment(name) || name === 'paper' || name === 'gates' || name.startsWith('bench-');

export function findExperiment(name: string): AnyExperiment | undefined {
  return experiments.find((e) => e.name === name);
}

/** The experiment of one saved run: the registered one of its name, else its script's (from its own metadata). */
export function experimentOf(run: SavedRun): AnyExperiment | undefined {
  const registered = findExperiment(run.experiment);
  if (registered) return registered;
  const d = scriptOf(run.metadata);
  return d && !reservedName(run.experiment) ? (scriptExperiment(run.experiment, d) as unknown as AnyExperiment) : undefined;
}

/**
 * The script experiments with runs under `resultsDir`, by name: folders no registered experiment
 * owns whose runs `record()` wrote, each described by its newest run.
 */
export function scriptExperiments(resultsDir: string): ScriptExperiment[] {
  if (!existsSync(resultsDir)) return [];
  const out: ScriptExperiment[] = [];
  for (const name of readdirSync(resultsDir).sort()) {
    if (reservedName(name) || !statSync(join(resultsDir, name)).isDirectory()) continue;
    const newest = listRuns(resultsDir, name).filter((r) => scriptOf(r.metadata)).pop();
    if (newest) out.push(scriptExperiment(name, scriptOf(newest.metadata)!));
  }
  return out;
}
