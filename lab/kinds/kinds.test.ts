import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LispwgError } from '../../src/util/errors.js';
import { parseTopology } from '../topology/load.js';
import { NODE_KINDS, NodeSchema } from '../topology/schema.js';
import { TopologyError } from '../topology/validate.js';
import { checkRequirements, KINDS, kindNames, kindOf, writeRoleConfigs } from './index.js';
import { tool } from './kind.js';

const topo = (extra = '', ms = '{ kind: ms }') => `name: t
nodes:
  ms: ${ms}
  mn1: { kind: mn, eid: 198.19.1.1/32 }
  sw: { kind: switch }
${extra}links:
  - endpoints: ["ms:eth0", "sw:p1"]
    addresses: { ms: 198.18.0.1/24 }
  - endpoints: ["mn1:eth0", "sw:p2"]
    addresses: { mn1: 198.18.0.11/24 }
`;

describe('the kinds table', () => {
  it('has exactly one entry for every kind the topology schema accepts, under its own name', () => {
    const schemaKinds = NodeSchema.options.map((o) => o.shape.kind.value);
    expect([...schemaKinds].sort()).toEqual([...NODE_KINDS].sort());
    expect(kindNames().sort()).toEqual([...NODE_KINDS].sort());
    for (const [name, k] of Object.entries(KINDS)) expect(k.name).toBe(name);
  });

  it('an unknown kind in a topology is refused, naming it and listing every known kind', () => {
    let err: unknown;
    try {
      parseTopology(topo('  oor1: { kind: vpp }\n'), 'topologies/t.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyError);
    const text = (err as Error).message;
    expect(text).toMatch(/^topologies\/t\.yaml:6:\d+: nodes\.oor1\.kind: unknown kind "vpp" \(expected one of ([a-z-]+, )+[a-z-]+\)/);
    for (const k of kindNames()) expect(text).toContain(k);
    expect(text).toMatch(/fix: a node is one of: ms \(Map-Server\), .*ap \(access point\)/);
  });

  it('looking up an unknown kind names it and the known kinds', () => {
    expect(() => kindOf('vpp')).toThrow(LispwgError);
    expect(() => kindOf('vpp')).toThrow(/unknown node kind "vpp": the known kinds are ms \(Map-Server\), xtr \(xTR\), mn \(mobile node\), oor \(OOR xTR\), oor-ms \(OOR Map-Server\), etcd \(etcd member\), host, router, switch, ap \(access point\)/);
    expect(() => kindOf('toString')).toThrow(/unknown node kind "toString"/);
    expect(kindOf('switch').bridge).toBe('ports');
  });
});

describe('what a kind needs', () => {
  const missing = tool('lispwg-no-such-tool', 'the test kind runs it');
  // the real kinds, with the Map-Server's daemon needing a tool this machine cannot have
  const table = { ...KINDS, ms: { ...KINDS.ms, daemon: { ...KINDS.ms.daemon!, needs: [missing, tool('sh', 'it is there')] } }, mn: { ...KINDS.mn, daemon: { ...KINDS.mn.daemon!, needs: [missing] } } };

  it('a missing binary stops lab up before anything exists, naming it, its nodes and kinds, and the fix', async () => {
    const err = await checkRequirements(parseTopology(topo()), { daemons: true, kinds: table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LispwgError);
    expect((err as LispwgError).code).toBe('LAB_REQUIREMENT_MISSING');
    expect((err as Error).message).toBe(
      "lab t cannot come up:\n  lispwg-no-such-tool is missing (lispwg-no-such-tool is not on PATH): ms, mn1 (kind ms/mn) need it, as the test kind runs it; fix: run 'bash lab/setup.sh', which installs it",
    );
  });

  it('without daemons, or for a node whose cmd replaces its daemon, the daemon needs nothing', async () => {
    await expect(checkRequirements(parseTopology(topo()), { daemons: false, kinds: table })).resolves.toBeUndefined();
    const custom = topo('', '{ kind: ms, cmd: ["sleep", "60"] }').replace('mn1: { kind: mn,', 'mn1: { kind: mn, cmd: ["sleep", "60"],');
    await expect(checkRequirements(parseTopology(custom), { daemons: true, kinds: table })).resolves.toBeUndefined();
  });
});

describe('kind oor (the real Open Overlay Router as an xTR)', () => {
  const oorTopo = `name: t
nodes:
  ms: { kind: ms }
  mn1: { kind: mn, eid: 198.19.1.1/32 }
  o1: { kind: oor, eid: 198.19.3.0/24, rloc: eth0, auth-key: k-o1, config: { probe-interval: 5 } }
  sw: { kind: switch }
links:
  - endpoints: ["ms:eth0", "sw:p1"]
    addresses: { ms: 198.18.0.1/24 }
  - endpoints: ["mn1:eth0", "sw:p2"]
    addresses: { mn1: 198.18.0.11/24 }
  - endpoints: ["o1:eth0", "sw:p3"]
    addresses: { o1: 198.18.0.13/24 }
`;

  it('without a binary, lab up stops naming what is missing and how to get it', async () => {
    const saved = process.env.LISPWG_OOR;
    process.env.LISPWG_OOR = '/nonexistent/oor';
    try {
      const err = await checkRequirements(parseTopology(oorTopo), { daemons: true, kinds: { ...KINDS, ms: { ...KINDS.ms, daemon: { ...KINDS.ms.daemon!, needs: [] } }, mn: { ...KINDS.mn, daemon: { ...KINDS.mn.daemon!, needs: [] } } } }).catch((e: unknown) => e);
      expect((err as LispwgError).code).toBe('LAB_REQUIREMENT_MISSING');
      expect((err as Error).message).toMatch(/the OOR binary \(Open Overlay Router\) is missing \(LISPWG_OOR=\/nonexistent\/oor does not exist\): o1 \(kind oor\) need it, .*fix: build OOR from its public source .*--oor PATH/);
    } finally {
      if (saved === undefined) delete process.env.LISPWG_OOR;
      else process.env.LISPWG_OOR = saved;
    }
  });

  it("writes OOR's config from the topology; the Map-Server lists it as a plain site and listens on its underlay", async () => {
    const root = mkdtempSync(join(tmpdir(), 'lispwg-oor-kind-'));
    const saved = process.env.LISPWG_LAB_ROOT;
    process.env.LISPWG_LAB_ROOT = root;
    try {
      const plans = await writeRoleConfigs('t', parseTopology(oorTopo));
      const o1 = plans.find((p) => p.node === 'o1')!;
      const conf = readFileSync(o1.configFile, 'utf8');
      for (const line of ['operating-mode = "xTR"', 'rloc-probe-interval = 5', 'map-resolver = { "198.18.0.1" }', 'address = "198.18.0.1"', 'key = "k-o1"', 'proxy-reply = on', 'eid-prefix = "198.19.3.0/24"', 'interface = "eth0"', 'ip_version = 4']) expect(conf).toContain(line);
      expect(o1.cmd[0]).toBe('stdbuf');
      expect(o1.cmd.slice(-2)).toEqual(['-f', o1.configFile]);
      expect(o1.readyLog).toEqual({ file: join(root, 't', 'nodes', 'o1', 'oor.log'), text: '): started...' });
      const ms = parse(readFileSync(plans.find((p) => p.node === 'ms')!.configFile, 'utf8')) as { listen?: string[]; sites: Array<Record<string, unknown>> };
      expect(ms.listen).toEqual(['198.18.0.1']);
      expect(ms.sites.find((s) => s.name === 'o1')).toEqual({ name: 'o1', key: 'k-o1', 'key-id': 1, prefixes: ['198.19.3.0/24'], 'replay-protection': 'nonce-cache' });
      expect(ms.sites.find((s) => s.name === 'mn1')).toHaveProperty('xtrs');
    } finally {
      if (saved === undefined) delete process.env.LISPWG_LAB_ROOT;
      else process.env.LISPWG_LAB_ROOT = saved;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('mode mn makes OOR a mobile node; a bad mode, probe-interval or another config key is refused naming the node', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lispwg-oor-kind-'));
    process.env.LISPWG_LAB_ROOT = root;
    try {
      const plans = await writeRoleConfigs('t', parseTopology(oorTopo.replace('probe-interval: 5', 'mode: mn')));
      expect(readFileSync(plans.find((p) => p.node === 'o1')!.configFile, 'utf8')).toContain('operating-mode = "MN"');
      await expect(writeRoleConfigs('t', parseTopology(oorTopo.replace('probe-interval: 5', 'mode: rtr')))).rejects.toThrow(/o1: config.mode is xtr or mn, not "rtr"/);
      await expect(writeRoleConfigs('t', parseTopology(oorTopo.replace('probe-interval: 5', 'debug: 3')))).rejects.toThrow(/o1: an oor node's config takes only mode and probe-interval, not debug/);
    } finally {
      delete process.env.LISPWG_LAB_ROOT;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a bad probe-interval is refused naming the node', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lispwg-oor-kind-'));
    process.env.LISPWG_LAB_ROOT = root;
    try {
      await expect(writeRoleConfigs('t', parseTopology(oorTopo.replace('probe-interval: 5', 'probe-interval: 5s')))).rejects.toThrow(/o1: config.probe-interval must be a whole number of seconds/);
    } finally {
      delete process.env.LISPWG_LAB_ROOT;
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('kind oor in lab inspect', () => {
  it("reads OOR's log: registered, map-cache entries, probes answered, locators down", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-oor-log-'));
    try {
      const log = join(dir, 'oor.log');
      writeFileSync(log, ['Map-Notify message confirms correct registration of 198.19.1.0/24', 'Added Map Cache entry with EID prefix 198.19.2.0/24 in the database.', ' Successfully probed RLOC 198.18.0.3 of cache entry with EID 198.19.2.0/24', ''].join('\n'));
      expect(await KINDS.oor.daemon!.status!(log)).toBe('registered, 1 map-cache entries added, 1 RLOC probes answered, 0 locators down');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kind oor-ms (the real OOR as Map-Server and Map-Resolver)', () => {
  const topo = (site: string) => `name: t
nodes:
  oms: { kind: oor-ms }
  o1: ${site}
  sw: { kind: switch }
links:
  - endpoints: ["oms:eth0", "sw:p1"]
    addresses: { oms: 198.18.0.1/24 }
  - endpoints: ["o1:eth0", "sw:p2"]
    addresses: { o1: 198.18.0.13/24 }
`;

  it('writes an MS config accepting each OOR site with its key, proxy-replied; the site points at it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lispwg-oor-ms-'));
    process.env.LISPWG_LAB_ROOT = root;
    try {
      const plans = await writeRoleConfigs('t', parseTopology(topo('{ kind: oor, eid: 198.19.3.0/24, rloc: eth0, auth-key: k-o1 }')));
      const conf = readFileSync(plans.find((p) => p.node === 'oms')!.configFile, 'utf8');
      for (const line of ['operating-mode = "MS"', 'control-iface = "eth0"', 'eid-prefix = "198.19.3.0/24"', 'key-type = 1', 'key = "k-o1"', 'proxy-reply = true']) expect(conf).toContain(line);
      expect(readFileSync(plans.find((p) => p.node === 'o1')!.configFile, 'utf8')).toContain('address = "198.18.0.1"');
      expect(kindOf('oor-ms').daemon!.stage).toBe(1);
    } finally {
      delete process.env.LISPWG_LAB_ROOT;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a lispwg site (its control tunnel) on an OOR Map-Server is refused with the fix', () => {
    for (const site of ['{ kind: mn, eid: 198.19.1.1/32 }', '{ kind: xtr, ms: oms, eid: 198.19.1.0/24, rloc: eth0 }']) {
      const err = (() => {
        try {
          parseTopology(topo(site));
        } catch (e) {
          return e as TopologyError;
        }
      })();
      expect(err).toBeInstanceOf(TopologyError);
      expect(err!.message).toMatch(/o1 \(kind (mn|xtr)\) talks to its Map-Server through a control WireGuard tunnel, which oms \(kind oor-ms, OOR\) does not have.*make o1 kind oor/s);
    }
  });
});

describe('replicated Map-Servers on etcd (topologies/paper-lan-ha.yaml)', () => {
  it('etcd members form one cluster; each Map-Server keeps its state there and lists every site; a site has every replica as a peer', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lispwg-ha-'));
    process.env.LISPWG_LAB_ROOT = root;
    try {
      const model = parseTopology(readFileSync(join(__dirname, '../../topologies/paper-lan-ha.yaml'), 'utf8'));
      const plans = await writeRoleConfigs('ha', model);
      const etcd1 = plans.find((p) => p.node === 'etcd1')!;
      expect(etcd1.cmd.slice(0, 3)).toEqual(['etcd', '--name', 'etcd1']);
      expect(etcd1.cmd[etcd1.cmd.indexOf('--initial-cluster') + 1]).toBe('etcd1=http://198.18.0.21:2380,etcd2=http://198.18.0.22:2380,etcd3=http://198.18.0.23:2380');
      expect(etcd1.cmd[etcd1.cmd.indexOf('--listen-client-urls') + 1]).toBe('http://198.18.0.21:2379');
      expect(kindOf('etcd').daemon!.stage).toBeGreaterThan(kindOf('ms').daemon!.stage!);
      const ms2 = parse(readFileSync(plans.find((p) => p.node === 'ms2')!.configFile, 'utf8')) as { store: Record<string, unknown>; sites: Array<{ name: string }> };
      expect(ms2.store).toEqual({ kind: 'etcd', endpoints: ['http://198.18.0.21:2379', 'http://198.18.0.22:2379', 'http://198.18.0.23:2379'], prefix: '/lispwg/ha/' });
      expect(ms2.sites.map((s) => s.name)).toEqual(['mn1', 'mn2', 'mn3', 'mn4']);
      const mn1 = parse(readFileSync(plans.find((p) => p.node === 'mn1')!.configFile, 'utf8')) as { 'map-server': { address: string; replicas: Array<{ address: string }> } };
      expect(mn1['map-server'].address).toBe('198.18.0.1');
      expect(mn1['map-server'].replicas.map((r) => r.address)).toEqual(['198.18.0.2', '198.18.0.3']);
    } finally {
      delete process.env.LISPWG_LAB_ROOT;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a Map-Server listed twice, or several for an OOR site, is refused naming the entry', () => {
    const topo = (ms: string, kind = 'mn') => `name: t
nodes:
  ms1: { kind: ms }
  ms2: { kind: ms }
  s1: { kind: ${kind}, eid: 198.19.1.1/32, rloc: eth0, ms: ${ms} }
  sw: { kind: switch }
links:
  - endpoints: ["ms1:eth0", "sw:p1"]
    addresses: { ms1: 198.18.0.1/24 }
  - endpoints: ["ms2:eth0", "sw:p2"]
    addresses: { ms2: 198.18.0.2/24 }
  - endpoints: ["s1:eth0", "sw:p3"]
    addresses: { s1: 198.18.0.11/24 }
`;
    expect(parseTopology(topo('[ms1, ms2]')).nodes.find((n) => n.name === 's1')!.role).toMatchObject({ ms: 'ms1', msReplicas: ['ms2'] });
    expect(() => parseTopology(topo('[ms1, ms1]'))).toThrow(/nodes\.s1\.ms\[1\]: ms1 is listed twice/);
    expect(() => parseTopology(topo('[ms1, ms2]', 'oor'))).toThrow(/nodes\.s1\.ms\[1\]: only lispwg sites register with several Map-Servers/);
  });
});
