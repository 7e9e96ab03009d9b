import { describe, expect, it } from 'vitest';
import { LispwgError } from '../../src/util/errors.js';
import { parseTopology } from '../topology/load.js';
import { NODE_KINDS, NodeSchema } from '../topology/schema.js';
import { TopologyError } from '../topology/validate.js';
import { checkRequirements, KINDS, kindNames, kindOf } from './index.js';
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
      parseTopology(topo('  oor1: { kind: oor }\n'), 'topologies/t.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyError);
    const text = (err as Error).message;
    expect(text).toMatch(/^topologies\/t\.yaml:6:\d+: nodes\.oor1\.kind: unknown kind "oor" \(expected one of ([a-z]+, )+[a-z]+\)/);
    for (const k of kindNames()) expect(text).toContain(k);
    expect(text).toMatch(/fix: a node is one of: ms \(Map-Server\), .*ap \(access point\)/);
  });

  it('looking up an unknown kind names it and the known kinds', () => {
    expect(() => kindOf('oor')).toThrow(LispwgError);
    expect(() => kindOf('oor')).toThrow(/unknown node kind "oor": the known kinds are ms \(Map-Server\), xtr \(xTR\), mn \(mobile node\), host, router, switch, ap \(access point\)/);
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
