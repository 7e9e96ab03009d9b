/**
 * The larger mesh: N mobile nodes in a few sites (one switch each) joined by a core router, with
 * the Map-Server on the core. Every MN may talk to every other (a full mesh of possible tunnels),
 * so the push model would give each MN N-1 peers; the pull model installs only the peers in use.
 * topologies/mesh-50.yaml is meshTopology() with the defaults (checked by a test).
 */
import { Topology } from './builder.js';
import { LispwgError } from '../../src/util/errors.js';

export interface MeshOptions {
  name?: string;
  /** Mobile nodes (at most MESH_LIMITS.perSite per site). */
  mns?: number;
  sites?: number;
}

/** What the address plan holds: a /24 per site (198.18.S.0/24, EIDs 198.19.S.0/24). */
export const MESH_LIMITS = { sites: 250, perSite: 240 } as const;

export function meshTopology(opts: MeshOptions = {}): Topology {
  const mns = opts.mns ?? 50;
  const sites = opts.sites ?? 5;
  if (sites < 1 || sites > MESH_LIMITS.sites || Math.ceil(mns / sites) > MESH_LIMITS.perSite) {
    throw new LispwgError('MESH_TOO_LARGE', `a mesh holds 1-${MESH_LIMITS.sites} sites of at most ${MESH_LIMITS.perSite} mobile nodes each (asked: ${mns} in ${sites})`);
  }
  const t = new Topology(opts.name ?? `mesh-${mns}`, {
    description: `Map-Server and ${mns} mobile nodes in ${sites} sites behind a core router`,
    defaults: { link: { rate: '1gbit' } },
  });
  t.addNode('ms', { kind: 'ms', routes: ['default via 198.18.0.254'] });
  t.addNode('core', { kind: 'router' });
  t.addLink(['ms:eth0', 'core:eth0'], { addresses: { ms: '198.18.0.1/24', core: '198.18.0.254/24' } });
  for (let s = 1; s <= sites; s++) {
    t.addNode(`sw${s}`, { kind: 'switch' });
    t.addLink([`core:eth${s}`, `sw${s}:p0`], { addresses: { core: `198.18.${s}.1/24` } });
  }
  const perSite = Math.ceil(mns / sites);
  for (let k = 1; k <= mns; k++) {
    const s = Math.ceil(k / perSite);
    const i = k - (s - 1) * perSite;
    t.addNode(`mn${k}`, { kind: 'mn', eid: `198.19.${s}.${i}/32`, routes: [`default via 198.18.${s}.1`] });
    t.addLink([`mn${k}:eth0`, `sw${s}:p${i}`], { addresses: { [`mn${k}`]: `198.18.${s}.${10 + i}/24` } });
  }
  return t;
}
