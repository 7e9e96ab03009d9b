import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig as parseMsConfig } from '../src/ms/config.js';
import { parseConfig as parseXtrConfig } from '../src/xtr/config.js';
import { projectRoot } from '../src/util/project.js';
import { generatePrivateKey, keyToBase64, publicKey } from '../src/wg/keys.js';
import { writeRoleConfigs } from './kinds/index.js';
import { eidSpace, rlocInterfaces } from './roles.js';
import { loadTopology, parseTopology } from './topology/load.js';
import { nodeOf } from './topology/model.js';

/** The generated configs are in the current spellings: a deprecation warning fails the test. */
const noWarning = { onWarning: (w: { message: string }) => expect.unreachable(w.message) };

let root: string;
const saved = process.env.LISPWG_LAB_ROOT;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lispwg-roles-'));
  process.env.LISPWG_LAB_ROOT = root;
});
afterAll(() => {
  if (saved === undefined) delete process.env.LISPWG_LAB_ROOT;
  else process.env.LISPWG_LAB_ROOT = saved;
  rmSync(root, { recursive: true, force: true });
});

const topo = (name: string) => loadTopology(join(projectRoot(), 'topologies', `${name}.yaml`));

describe('daemon configs generated at lab up', () => {
  it('paper-xtr: the Map-Server and both xTRs get configs their daemons accept, with the keys wired', async () => {
    const m = await topo('paper-xtr');
    const plans = await writeRoleConfigs('rt', m);
    expect(plans.map((p) => p.node)).toEqual(['ms', 'xtr1', 'xtr2']);
    const ms = parseMsConfig(readFileSync(plans[0]!.configFile, 'utf8'), plans[0]!.configFile, noWarning);
    const x1 = parseXtrConfig(readFileSync(plans[1]!.configFile, 'utf8'), plans[1]!.configFile, noWarning);
    expect(ms.sites.map((s) => s.name)).toEqual(['xtr1', 'xtr2']);
    expect(ms.sites[0]!.xtrs).toEqual([{ publicKey: plans[1]!.publicKeys.control, controlAddress: '100.100.0.2' }]);
    expect(ms.controlTunnel).toMatchObject({ address: '100.100.0.1/16', listenPort: 51820 });
    expect(x1).toMatchObject({ mode: 'xtr', mapServer: { address: '198.18.0.1', port: 51820, controlAddress: '100.100.0.1', publicKey: plans[0]!.publicKeys.control } });
    expect(x1.mapServer.sharedKey).toBe(ms.sites[0]!.key);
    expect(x1.rlocInterfaces.map((r) => r.name)).toEqual(['eth0']);
    expect(x1.eidPrefixes.map((e) => e.prefix.text)).toEqual(['198.19.1.0/24']);
    expect(x1.eidSpace.map((e) => e.text)).toEqual(['198.19.0.0/22']);
    // interface names are unique machine-wide (wireguard-go's sockets are shared)
    const ifs = plans.flatMap((p) => p.interfaces);
    expect(new Set(ifs).size).toBe(ifs.length);
    for (const i of ifs) expect(i.length).toBeLessThanOrEqual(15);
    expect(statSync(join(root, 'rt/nodes/xtr1/control.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(plans[1]!.configFile, 'utf8')).not.toContain(readFileSync(join(root, 'rt/nodes/xtr1/control.key'), 'utf8').trim());
    expect(plans[1]!.cmd.slice(-5)).toEqual(['xtr', '--config', plans[1]!.configFile, '--event-log', plans[1]!.eventLog]);
  });

  it('handover: the MN registers both Wi-Fi interfaces as RLOC interfaces', async () => {
    const m = await topo('handover');
    expect(rlocInterfaces(m, nodeOf(m, 'mn'))).toEqual(['wlan0', 'wlan1']);
    const plans = await writeRoleConfigs('rh', m);
    const mn = parseXtrConfig(readFileSync(plans.find((p) => p.node === 'mn')!.configFile, 'utf8'), 'mn.yaml', noWarning);
    expect(mn.mode).toBe('mn');
    expect(mn.eidPrefixes[0]).toMatchObject({ prefix: { text: '198.19.1.1/32' }, address: '198.19.1.1' });
  });

  it('keeps given keys and merges the node config over the generated one', async () => {
    const priv = generatePrivateKey();
    const m = parseTopology(`name: rk
nodes:
  ms: { kind: ms }
  a: { kind: mn, eid: 198.19.9.1/32, keys: { data: "${keyToBase64(priv)}" }, config: { timers: { register-refresh: 5s }, miss-policy: drop } }
links:
  - endpoints: ["ms:eth0", "a:eth0"]
    addresses: { ms: 198.18.0.1/24, a: 198.18.0.2/24 }
`);
    const [, a] = await writeRoleConfigs('rk', m);
    expect(a!.publicKeys.data).toBe(keyToBase64(publicKey(priv)));
    const cfg = parseXtrConfig(readFileSync(a!.configFile, 'utf8'), 'a.yaml', noWarning);
    expect(cfg.timers.registerRefreshMs).toBe(5000);
    expect(cfg.missPolicy).toBe('drop');
    expect(eidSpace(m)).toEqual(['198.19.9.1/32']);
  });

  it('gives the smallest EID space per family', () => {
    const m = parseTopology(`name: es
nodes:
  ms: { kind: ms }
  a: { kind: mn, eid: 198.19.9.1/32 }
  b: { kind: mn, eid: 198.19.10.1/32 }
  c: { kind: mn, eid: "2001:db8:9::1/128" }
  d: { kind: mn, eid: "2001:db8:9:1::1/128" }
links:
  - endpoints: ["ms:eth0", "a:eth0"]
    addresses: { ms: 198.18.0.1/24, a: 198.18.0.2/24 }
  - endpoints: ["ms:eth1", "b:eth0"]
    addresses: { ms: 198.18.1.1/24, b: 198.18.1.2/24 }
  - endpoints: ["ms:eth2", "c:eth0"]
    addresses: { ms: 198.18.2.1/24, c: 198.18.2.2/24 }
  - endpoints: ["ms:eth3", "d:eth0"]
    addresses: { ms: 198.18.3.1/24, d: 198.18.3.2/24 }
`);
    expect(eidSpace(m)).toEqual(['198.19.8.0/22', '2001:db8:9::/63']);
  });
});
