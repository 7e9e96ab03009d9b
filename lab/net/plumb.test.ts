import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/util/project.js';
import { loadTopology } from '../topology/load.js';
import { nodeOf } from '../topology/model.js';
import { nodeLines, shapeLines, vethLines } from './plumb.js';

const topo = (name: string) => loadTopology(join(projectRoot(), 'topologies', `${name}.yaml`));

describe('plumbing lines', () => {
  it('creates every veth inside its namespaces, never in the root namespace', async () => {
    const m = await topo('handover');
    const lines = vethLines('x', m);
    expect(lines).toHaveLength(m.links.length + 2);
    for (const l of lines) expect(l).toMatch(/^link add name \S+ netns lw\.x\.\S+ type veth peer name \S+ netns lw\.x\.\S+$/);
    expect(lines.filter((l) => /^link add name wlan1 netns lw\.x\.mn type veth peer name s[0-9a-f]{10} netns lw\.x\.ap2$/.test(l))).toHaveLength(1);
  });

  it('configures a station: address, up, default route via its AP; the unassociated one stays down', async () => {
    const m = await topo('handover');
    const lines = nodeLines(m, nodeOf(m, 'mn'));
    expect(lines).toEqual([
      'link set dev lo up',
      'addr add 198.18.10.10/24 dev wlan0',
      'link set dev wlan0 up',
      'route replace default via 198.18.10.1 dev wlan0',
    ]);
    const ap = nodeLines(m, nodeOf(m, 'ap1'));
    expect(ap.slice(0, 4)).toEqual(['link set dev lo up', 'link add name br0 type bridge', 'link set dev br0 up', 'addr add 198.18.10.1/24 dev br0']);
    expect(ap).toContain('route add default via 198.18.1.1');
  });

  it('shapes a rate with tbf, and delay/loss with netem under htb', () => {
    expect(shapeLines('eth0', { rateBps: 50e6 }, 1500)).toEqual(['qdisc replace dev eth0 root tbf rate 50mbit burst 31250 latency 50ms']);
    expect(shapeLines('eth0', { rateBps: 1e6 }, 1500)).toEqual(['qdisc replace dev eth0 root tbf rate 1mbit burst 6056 latency 50ms']);
    expect(shapeLines('eth0', { delayMs: 10, lossPct: 1 }, 1500)).toEqual(['qdisc replace dev eth0 root netem delay 10ms loss 1%']);
    expect(shapeLines('eth0', { rateBps: 1e9, delayMs: 1 }, 1500)).toEqual([
      'qdisc replace dev eth0 root handle 1: htb default 1',
      'class add dev eth0 parent 1: classid 1:1 htb rate 1gbit ceil 1gbit',
      'qdisc add dev eth0 parent 1:1 handle 10: netem delay 1ms',
    ]);
    expect(shapeLines('eth0', {}, 1500)).toEqual([]);
  });
});
