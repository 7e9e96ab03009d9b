/**
 * Bringing a paper topology up for one experiment run: per-node settings merged in (a variant's
 * miss policy, data plane, timers, a baseline's command), a unique lab name (runs never collide),
 * teardown registered before anything is created (it runs on failure and Ctrl-C too), and the
 * lab's backend recorded in the run's metadata.
 */
import { startScrape } from '../../lab/metrics.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../../src/util/project.js';
import { LispwgError } from '../../src/util/errors.js';
import { Lab, type UpOptions } from '../../lab/lab.js';
import { loadTopology } from '../../lab/topology/load.js';
import type { LabModel } from '../../lab/topology/model.js';
import { destroyLab } from '../../lab/down.js';
import type { RunContext, Sample } from './experiment.js';

/**
 * Per-node settings merged into the topology: `config` (agent YAML keys), `cmd`, and `kind`
 * (another kind for the node, `oor`: its `config` then replaces the node's own).
 */
export type NodeSettings = Record<string, { kind?: string; config?: Record<string, unknown>; cmd?: string[] }>;

/** The topology with `kind` / `config` / `cmd` merged into some nodes (before `Lab.up`). */
export function withNodeSettings(model: LabModel, settings: NodeSettings): LabModel {
  const raw = structuredClone(model.raw) as { nodes: Record<string, Record<string, unknown>> };
  for (const [node, s] of Object.entries(settings)) {
    const n = raw.nodes[node];
    if (!n) throw new LispwgError('EXP_NO_NODE', `the topology has no node '${node}'`);
    if (s.kind) {
      n.kind = s.kind;
      n.config = s.config ?? {};
    } else if (s.config) n.config = { ...((n.config as Record<string, unknown>) ?? {}), ...s.config };
    if (s.cmd) n.cmd = s.cmd;
  }
  return { ...model, raw: raw as LabModel['raw'] };
}

/**
 * The plain LISP baseline (data-plane lisp, dropping while resolving, as OOR) on `nodes`. With
 * `asOor` the Map-Server also pushes nothing and keeps no subscriptions, as OOR's (the paper's
 * baseline); without it the agents keep lispwg's control plane, pushes included, which isolates
 * what WireGuard adds. `extra`: more agent settings for some nodes.
 */
export function plainLispSettings(nodes: readonly string[], opts: { asOor: boolean; extra?: NodeSettings }): NodeSettings {
  const out: NodeSettings = Object.fromEntries(nodes.map((n) => [n, { config: { 'data-plane': 'lisp', 'miss-policy': 'drop', ...(opts.extra?.[n]?.config ?? {}) } }]));
  if (opts.asOor) out.ms = { config: { push: { order: 'off' }, subscriptions: { enabled: false } } };
  return out;
}

/** The Map-Server's gRPC front's port (the control-channel baseline). */
export const GRPC_PORT = 4343;

/**
 * The gRPC control-channel baseline: the Map-Server also serves resolution over gRPC
 * (`grpc-port` in its config), and the named agents resolve over it.
 */
export function grpcSettings(agents: readonly string[], extra: Record<string, unknown> = {}): NodeSettings {
  return {
    ms: { config: { 'grpc-port': GRPC_PORT } },
    ...Object.fromEntries(agents.map((a) => [a, { config: { 'control-channel': 'grpc', 'grpc-port': GRPC_PORT, ...extra } }])),
  };
}

export const topologyFile = (name: string): string => join(projectRoot(), 'topologies', `${name}.yaml`);

/** Brings `topologies/<name>.yaml` (or a model) up as lab `<prefix><random>`; it is torn down when the run ends. */
export async function upLab<S extends Sample, P>(
  ctx: RunContext<S, P>,
  topology: string | LabModel,
  prefix: string,
  opts: Omit<UpOptions, 'name'> & { settings?: NodeSettings | ((lab: string) => NodeSettings); scrapeMs?: number } = {},
): Promise<Lab> {
  const loaded = typeof topology === 'string' ? await loadTopology(topologyFile(topology)) : topology;
  const name = `${prefix}${randomBytes(2).toString('hex')}`;
  const settings = typeof opts.settings === 'function' ? opts.settings(name) : opts.settings;
  const model = settings ? withNodeSettings(loaded, settings) : loaded;
  ctx.onTeardown(async () => {
    const r = await destroyLab(name);
    if (r.notes.length) ctx.log(`lab ${name} down: ${r.notes.join('; ')}`);
  });
  const t0 = Date.now();
  const { settings: _settings, scrapeMs, ...up } = opts;
  const lab = await Lab.up(model, { ...up, name });
  // the daemons' counters over time, in the run directory beside the samples (lab/metrics.ts)
  if (scrapeMs) await startScrape(lab, { dir: ctx.run.dir, intervalMs: scrapeMs });
  ctx.log(`lab ${name} (${loaded.name}, ${lab.backendKind}) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  ctx.run.annotate({ labBackend: lab.backendKind, labs: [...((ctx.run.metadata.labs as string[] | undefined) ?? []), `${name} (${loaded.name})`] });
  return lab;
}
