import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/util/project.js';
import { mermaid } from './graph.js';
import { loadTopology } from './load.js';

describe('lab graph', () => {
  it('draws every node with its kind and every link with its ends, addresses and rate', async () => {
    const m = await loadTopology(join(projectRoot(), 'topologies/handover.yaml'));
    const g = mermaid(m);
    expect(g.split('\n')[0]).toBe('flowchart LR');
    expect(g).toContain('n_ms[["ms<br/>Map-Server"]]');
    expect(g).toContain('n_mn(["mn<br/>MN<br/>EID 198.19.1.1/32"])');
    expect(g).toContain('n_ap2>"ap2<br/>AP 198.18.20.0/24"]');
    expect(g).toContain('n_ap1 ---|"eth0 198.18.1.2/24 — eth1 198.18.1.1/24<br/>1gbit"| n_r1');
    expect(g).toContain('n_mn -.-|"wlan1 198.18.20.10/24 (not associated)"| n_ap2');
    expect(g.trim().split('\n')).toHaveLength(2 + m.nodes.length + m.links.length + 2);
  });
});
