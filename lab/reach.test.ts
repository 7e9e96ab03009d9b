import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../src/util/project.js';
import { expectedPairs, initialStations, samplePairs } from './reach.js';
import { meshTopology } from './topology/mesh.js';
import { parseCidr, type Cidr } from './topology/addr.js';
import { loadTopology } from './topology/load.js';

const topo = (name: string) => loadTopology(join(projectRoot(), 'topologies', `${name}.yaml`));
const pairs = (p: ReturnType<typeof expectedPairs>) => p.map((x) => `${x.from}>${x.address}`).sort();

describe('expected reachability (what lab check pings)', () => {
  it('paper-lan: everyone on the switch reaches everyone', async () => {
    expect(pairs(expectedPairs(await topo('paper-lan')))).toEqual(
      ['ms>198.18.0.11', 'ms>198.18.0.12', 'mn1>198.18.0.1', 'mn1>198.18.0.12', 'mn2>198.18.0.1', 'mn2>198.18.0.11'].sort(),
    );
  });

  it('paper-xtr: hosts reach their xTR, not the other site (that takes the overlay)', async () => {
    const p = pairs(expectedPairs(await topo('paper-xtr')));
    expect(p).toContain('h1>198.19.1.1');
    expect(p).toContain('h1>198.18.0.2'); // the xTR's own RLOC, local delivery
    expect(p).not.toContain('h1>198.19.2.10');
    expect(p).not.toContain('h1>198.18.0.1'); // the Map-Server has no route back to the site
  });

  it('handover: follows the station to its new AP', async () => {
    const m = await topo('handover');
    const before = pairs(expectedPairs(m));
    expect(before).toContain('cn>198.18.10.10');
    expect(before).toContain('mn>198.18.0.2');
    const moved = initialStations(m);
    moved.set('mn:wlan0', { ap: 'ap1', associated: false });
    moved.set('mn:wlan1', { ap: 'ap2', associated: true, address: parseCidr('198.18.20.10/24') as Cidr });
    const after = pairs(expectedPairs(m, moved));
    expect(after).not.toContain('cn>198.18.10.10');
    expect(after).toContain('cn>198.18.20.10');
    expect(after).toContain('mn>198.18.0.2');
  });

  it('a large lab is checked on a sample: every source, targets spread, the same each time', () => {
    const all = expectedPairs(meshTopology({ sites: 4, mns: 120 }).build());
    const s = samplePairs(all, 1000);
    expect(all.length).toBeGreaterThan(10_000);
    expect(s.length).toBeLessThanOrEqual(1000);
    expect(s.length).toBeGreaterThan(900);
    expect(new Set(s.map((p) => p.from))).toEqual(new Set(all.map((p) => p.from)));
    expect(new Set(s.map((p) => p.to)).size).toBeGreaterThan(100); // not the first few targets of every list
    expect(samplePairs(all, 1000)).toEqual(s);
  });
});
