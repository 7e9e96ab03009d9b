/**
 * The table of node kinds. A topology's `kind: X` is looked up here and nowhere else: adding a
 * kind is adding its file beside this one, its line in KINDS, and its keys in
 * lab/topology/schema.ts (NODE_KINDS types this table, so a kind the schema accepts and the
 * table lacks does not compile; kinds.test.ts checks the two agree at run time too).
 */
import { LispwgError } from '../../src/util/errors.js';
import { type RolePlan, writeRoleConfigs as writeConfigs } from '../roles.js';
import type { LabModel, NodeKind, NodeModel } from '../topology/model.js';
import { ap } from './ap.js';
import { host } from './host.js';
import type { Daemon, Kind, Requirement } from './kind.js';
import { mn } from './mn.js';
import { ms } from './ms.js';
import { oor, oorMs } from './oor.js';
import { etcd } from './etcd.js';
import { router } from './router.js';
import { sw } from './switch.js';
import { xtr } from './xtr.js';

export type { Daemon, Kind, Requirement, SettleContext } from './kind.js';

export const KINDS: Readonly<Record<NodeKind, Kind>> = {
  ms,
  xtr,
  mn,
  oor,
  'oor-ms': oorMs,
  etcd,
  host,
  router,
  switch: sw,
  ap,
};

/** The kinds a topology may use, in table order. */
export const kindNames = (): string[] => Object.keys(KINDS);

/** `ms (Map-Server), xtr (xTR), mn (mobile node), host, router, switch, ap (access point)` */
export const kindList = (): string => Object.values(KINDS).map((k) => (k.title === k.name ? k.name : `${k.name} (${k.title})`)).join(', ');

/** The kind named `name`; LAB_UNKNOWN_KIND naming it and every known kind otherwise. */
export function kindOf(name: string): Kind {
  const k = Object.hasOwn(KINDS, name) ? KINDS[name as NodeKind] : undefined;
  if (!k) throw new LispwgError('LAB_UNKNOWN_KIND', `unknown node kind ${JSON.stringify(name)}: the known kinds are ${kindList()}`);
  return k;
}

/** The nodes whose kind has this lispwg role (`ms`: the Map-Servers). */
export const nodesWithRole = (model: LabModel, role: 'ms' | 'site'): NodeModel[] => model.nodes.filter((n) => kindOf(n.kind).role === role);

/** The daemon a node runs at `lab up`, if its kind has one. */
export const daemonOf = (node: NodeModel): Daemon | undefined => kindOf(node.kind).daemon;

/** Writes keys and configs of every node whose kind runs a daemon; returns how to start each. */
export const writeRoleConfigs = (lab: string, model: LabModel): Promise<RolePlan[]> => writeConfigs(lab, model, daemonOf);

/**
 * Probes what the model's kinds need (each requirement once, whichever nodes need it) and throws
 * LAB_REQUIREMENT_MISSING listing every missing one: what, which nodes of which kind need it and
 * why, and how to get it. `daemons: false` (`lab up --no-daemons`) skips the daemons' needs, as
 * does a node whose `cmd` replaces its daemon. `kinds`: the table to ask (a kind under test).
 */
export async function checkRequirements(model: LabModel, opts: { daemons: boolean; kinds?: Readonly<Record<string, Kind>> }): Promise<void> {
  const users = new Map<Requirement, NodeModel[]>();
  for (const n of model.nodes) {
    const d = opts.kinds ? opts.kinds[n.kind]?.daemon : daemonOf(n);
    if (!d || !opts.daemons || n.role?.cmd) continue;
    for (const r of d.needs) users.set(r, [...(users.get(r) ?? []), n]);
  }
  const missing: string[] = [];
  for (const [r, nodes] of users) {
    const why = await r.probe();
    if (why === undefined) continue;
    const kinds = [...new Set(nodes.map((n) => n.kind))].join('/');
    const names = nodes.length > 4 ? `${nodes.slice(0, 3).map((n) => n.name).join(', ')} and ${nodes.length - 3} more` : nodes.map((n) => n.name).join(', ');
    missing.push(`${r.what} is missing (${why}): ${names} (kind ${kinds}) need it, as ${r.why}; fix: ${r.fix}`);
  }
  if (missing.length) throw new LispwgError('LAB_REQUIREMENT_MISSING', `lab ${model.name} cannot come up:\n  ${missing.join('\n  ')}`);
}
