import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/util/project.js';
import { Topology } from './builder.js';
import { cidrText } from './addr.js';
import { loadTopology, parseTopology } from './load.js';
import { meshTopology } from './mesh.js';
import { TopologyError } from './validate.js';

const dir = join(projectRoot(), 'topologies');

/** The error a broken file gets: its whole text, and the problems. */
function broken(text: string, file = 'topologies/broken.yaml'): TopologyError {
  try {
    parseTopology(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return e as TopologyError;
  }
  throw new Error('the topology was accepted');
}

const base = `name: t
nodes:
  ms:  { kind: ms }
  mn1: { kind: mn, eid: 198.19.1.1/32 }
  sw:  { kind: switch }
links:
  - endpoints: ["ms:eth0", "sw:p1"]
    addresses: { ms: 198.18.0.1/24 }
  - endpoints: ["mn1:eth0", "sw:p2"]
    addresses: { mn1: 198.18.0.11/24 }
`;

describe('topology files: broken ones get a clear error naming file, line and fix', () => {
  it('unknown kind', () => {
    const e = broken(base.replace('mn1: { kind: mn,', 'mn1: { kind: mobile,'));
    expect(e.message).toMatch(/^topologies\/broken\.yaml:4:16: nodes\.mn1\.kind: unknown kind "mobile" \(expected one of ms, xtr, mn, oor, oor-ms, etcd, host, router, switch, ap\)/);
    expect(e.message).toMatch(/fix: /);
    expect(broken(base.replace('kind: switch', 'kind: swich')).message).toMatch(/:5:16: nodes\.sw\.kind: unknown kind "swich".*\n\s+fix: did you mean 'switch'\?/);
  });

  it('dangling endpoint', () => {
    const e = broken(base.replace('"mn1:eth0"', '"mn2:eth0"'));
    expect(e.message).toMatch(/^topologies\/broken\.yaml:9:17: links\[1\]\.endpoints\[0\]: dangling endpoint 'mn2:eth0': there is no node 'mn2'\n\s+fix: did you mean 'mn1:eth0'\?/);
    expect(broken(base.replace('"mn1:eth0"', '"mn1"')).message).toMatch(/links\[1\]\.endpoints\[0\]: endpoint 'mn1' is not node:interface/);
  });

  it('duplicate address', () => {
    const e = broken(base.replace('mn1: 198.18.0.11/24', 'mn1: 198.18.0.1/24'));
    expect(e.message).toMatch(/^topologies\/broken\.yaml:10:23: links\[1\]\.addresses\.mn1: duplicate address 198\.18\.0\.1: mn1:eth0 and ms:eth0 \(links\[0\]\.addresses\.ms\) both use it/);
  });

  it('bad CIDR', () => {
    expect(broken(base.replace('198.18.0.11/24', '198.18.0.311/24')).message).toMatch(/:10:23: links\[1\]\.addresses\.mn1: bad address: '198\.18\.0\.311' is not an IPv4 or IPv6 address\n\s+fix: /);
    expect(broken(base.replace('198.18.0.11/24', '198.18.0.11')).message).toMatch(/bad address: '198\.18\.0\.11' has no prefix length \(write it as 198\.18\.0\.11\/24\)/);
    expect(broken(base.replace('198.19.1.1/32', '198.19.1.0/33')).message).toMatch(/:4:25: nodes\.mn1\.eid: bad CIDR: prefix length \/33 is longer/);
    expect(broken(base.replace('198.19.1.1/32', '198.19.1.1/24')).message).toMatch(/nodes\.mn1\.eid: 198\.19\.1\.1\/24 has host bits set\n\s+fix: write the prefix as 198\.19\.1\.0\/24/);
  });

  it('addresses outside the allowed ranges are refused (safety rule)', () => {
    const e = broken(base.replace('198.18.0.11/24', '192.168.1.11/24'));
    expect(e.message).toMatch(/192\.168\.1\.11\/24 is outside the ranges a lab may use \(198\.18\.0\.0\/15, 100\.100\.0\.0\/16, 2001:db8::\/32\)/);
    expect(broken(base.replace('{ kind: ms }', '{ kind: ms, control: 100.101.0.1/16 }')).message).toMatch(/nodes\.ms\.control: 100\.101\.0\.1\/16 is outside/);
  });

  it('duplicate interface, unknown key, missing key, self link, switch address, bad rate', () => {
    expect(broken(base.replace('"sw:p2"', '"sw:p1"')).message).toMatch(/links\[1\]\.endpoints\[1\]: duplicate interface sw:p1 \(already used at links\[0\]\.endpoints\[1\]\)/);
    const unknown = broken(base.replace('{ kind: switch }', '{ kind: switch, subnet: 198.18.0.0/24 }'));
    expect(unknown.message).toMatch(/:5:24: nodes\.sw\.subnet: unknown key 'subnet' for a node of kind switch\n\s+fix: a switch node accepts: kind, exec, run, routes, forward/);
    expect(broken(base.replace('mn1: { kind: mn, eid: 198.19.1.1/32 }', 'mn1: { kind: mn }')).message).toMatch(/:4:3: nodes\.mn1: missing 'eid'/);
    expect(broken(base.replace('"sw:p2"', '"mn1:eth1"')).message).toMatch(/link joins mn1 to itself/);
    expect(broken(base.replace('addresses: { ms: 198.18.0.1/24 }', 'addresses: { sw: 198.18.0.1/24 }')).message).toMatch(/switch port sw:p1 cannot have an address/);
    expect(broken(base + '    rate: 50 mbps\n').message).toMatch(/links\[1\]\.rate: '50 mbps' is not a rate \(write it as tc does/);
    expect(broken(base.replace('{ kind: ms }', '{ kind: ms, routes: ["default via 198.18.5.1"] }')).message).toMatch(/gateway 198\.18\.5\.1 is on none of ms's subnets \(198\.18\.0\.0\/24\)/);
  });

  it('unknown keys name the key and the nearest accepted one, anywhere in the file', () => {
    expect(broken(base + 'defaults: { link: { delya: 20ms } }\n').message).toMatch(/:11:21: defaults\.link\.delya: unknown key 'delya'\n\s+fix: did you mean 'delay'\?/);
    expect(broken(base.replace('    addresses: { ms: 198.18.0.1/24 }', '    adresses: { ms: 198.18.0.1/24 }')).message).toMatch(/:8:5: links\[0\]\.adresses: unknown key 'adresses'\n\s+fix: did you mean 'addresses'\?/);
    expect(broken(base.replace('{ kind: ms }', '{ kind: ms, cmdd: [x] }')).message).toMatch(/nodes\.ms\.cmdd: unknown key 'cmdd' for a node of kind ms\n\s+fix: did you mean 'cmd'\?/);
  });

  it('durations carry their unit', () => {
    expect(broken(base + '    delay: 20\n').message).toMatch(/links\[1\]\.delay: write the duration with its unit, e\.g\. '20ms'/);
    const m = parseTopology(base + '    delay: 150us\n', 'x.yaml');
    expect(m.links[1]!.shaping.delayMs).toBe(0.15);
  });

  it('the camelCase keys of before are read for one release, each with a warning naming file:line and the new key', () => {
    const warnings: string[] = [];
    const text = base
      .replace('mn1: { kind: mn, eid: 198.19.1.1/32 }', 'mn1: { kind: mn, eid: 198.19.1.1/32, authKey: s3cret }')
      .replace('  sw:  { kind: switch }\n', '  sw:  { kind: switch }\n  ap:  { kind: ap, subnet: 198.18.9.0/24, associationDelay: 40ms }\n');
    const m = parseTopology(text, 'topologies/old.yaml', { onWarning: (w) => warnings.push(w.message) });
    expect(m.nodes.find((n) => n.name === 'mn1')!.role!.authKey).toBe('s3cret');
    expect(m.nodes.find((n) => n.name === 'ap')!.ap!.associationDelayMs).toBe(40);
    expect(warnings).toEqual([
      "topologies/old.yaml:4:40: nodes.mn1.authKey is deprecated: write auth-key (the old spelling goes in the next release)",
      "topologies/old.yaml:6:43: nodes.ap.associationDelay is deprecated: write association-delay (the old spelling goes in the next release)",
    ]);
    expect(broken(base.replace('{ kind: ms }', '{ kind: ms }').replace('eid: 198.19.1.1/32 }', 'eid: 198.19.1.1/32, authKey: a, auth-key: b }')).message).toMatch(/:4:40: nodes\.mn1\.authKey: both 'authKey' \(the old spelling\) and 'auth-key' are given\n\s+fix: keep only 'auth-key'/);
  });

  it('YAML syntax errors point at the line', () => {
    expect(broken('name: t\nnodes:\n  ms: { kind: ms\n').message).toMatch(/^topologies\/broken\.yaml:\d+:\d+: YAML: /);
  });

  it('every problem is listed, not only the first', () => {
    const e = broken(base.replace('"mn1:eth0"', '"mn2:eth0"').replace('kind: switch', 'kind: hub'));
    expect(e.problems.length).toBeGreaterThanOrEqual(1);
    const e2 = broken(base.replace('"mn1:eth0"', '"mn2:eth0"').replace('198.18.0.1/24', '10.0.0.1/24'));
    expect(e2.problems.map((p) => p.message).join('\n')).toMatch(/dangling[\s\S]*outside|outside[\s\S]*dangling/);
  });
});

describe('the shipped topologies', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('are all valid', async () => {
    expect(files.sort()).toEqual(['handover.yaml', 'mesh-50.yaml', 'ms-scale.yaml', 'paper-lan-ha.yaml', 'paper-lan.yaml', 'paper-xtr.yaml']);
    for (const f of files) {
      const m = await loadTopology(join(dir, f), { onWarning: (w) => expect.unreachable(w.message) });
      expect(m.name).toBe(f.replace('.yaml', ''));
    }
  });

  it('handover: an MN with two Wi-Fi interfaces on two APs in different subnets', async () => {
    const m = await loadTopology(join(dir, 'handover.yaml'));
    const mn = m.nodes.find((n) => n.name === 'mn')!;
    expect(mn.wifi.map((s) => [s.iface, s.ap, cidrText(s.address), s.associated])).toEqual([
      ['wlan0', 'ap1', '198.18.10.10/24', true],
      ['wlan1', 'ap2', '198.18.20.10/24', false],
    ]);
    const aps = m.nodes.filter((n) => n.ap).map((n) => [n.name, cidrText(n.ap!.subnet), cidrText(n.ap!.gateway), n.ap!.associationDelayMs]);
    expect(aps).toEqual([
      ['ap1', '198.18.10.0/24', '198.18.10.1/24', 50],
      ['ap2', '198.18.20.0/24', '198.18.20.1/24', 50],
    ]);
  });

  it('mesh-50.yaml is what meshTopology() builds, with at least 50 MNs', async () => {
    const file = parse(readFileSync(join(dir, 'mesh-50.yaml'), 'utf8'));
    const built = meshTopology();
    expect(file).toEqual(parse(built.toYaml()));
    const m = built.build();
    expect(m.nodes.filter((n) => n.kind === 'mn').length).toBeGreaterThanOrEqual(50);
    expect(new Set(m.nodes.map((n) => cidrText(n.role?.control ?? { family: 'ipv4', value: 0n, prefix: 0 }))).size).toBe(m.nodes.length - 6 + 1);
  });
});

describe('labs of hundreds of nodes', () => {
  it('plans a control address for each of 500 mobile nodes across the /16 (no /24 limit)', () => {
    const m = meshTopology({ sites: 10, mns: 500 }).build();
    const controls = m.nodes.filter((n) => n.role).map((n) => cidrText(n.role!.control));
    expect(controls).toHaveLength(501);
    expect(new Set(controls).size).toBe(501);
    expect(controls).toContain('100.100.1.1/16'); // past 100.100.0.254
    expect(controls.some((c) => /\.(0|255)\/16$/.test(c))).toBe(false);
  });

  it('refuses a mesh its address plan cannot hold, saying the limits', () => {
    expect(() => meshTopology({ sites: 2, mns: 600 })).toThrow(/at most 240 mobile nodes each \(asked: 600 in 2\)/);
  });
});

describe('the builder', () => {
  it('builds the same model as the equivalent file', () => {
    const t = new Topology('t')
      .addNode('ms', { kind: 'ms' })
      .addNode('mn1', { kind: 'mn', eid: '198.19.1.1/32' })
      .addNode('sw', { kind: 'switch' })
      .addLink(['ms:eth0', 'sw:p1'], { addresses: { ms: '198.18.0.1/24' } })
      .addLink(['mn1:eth0', 'sw:p2'], { addresses: { mn1: '198.18.0.11/24' } });
    expect(t.build()).toEqual({ ...parseTopology(base, 'x'), file: undefined, raw: t.build().raw });
    expect(parseTopology(t.toYaml()).nodes).toEqual(t.build().nodes);
  });

  it('reports problems by path', () => {
    const t = new Topology('t').addNode('a', { kind: 'host' }).addLink(['a:eth0', 'b:eth0']);
    expect(() => t.build()).toThrow(/^topology 't': links\[0\]\.endpoints\[1\]: dangling endpoint 'b:eth0'/);
  });
});
