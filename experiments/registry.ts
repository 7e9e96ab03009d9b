/** Every experiment, in the order `npm run paper` runs them (fast and self-contained first). */
import type { Experiment, Sample } from './lib/experiment.js';
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

export function findExperiment(name: string): AnyExperiment | undefined {
  return experiments.find((e) => e.name === name);
}
