import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { makePlan, renderPlan } from './plan.js';

const base = (mode: 'mn' | 'xtr', prefixes: string[], space: string) => `
name: n1
mode: ${mode}
eid-prefixes:
${prefixes.map((p) => `  - prefix: "${p}"`).join('\n')}
rloc-interfaces: [{ name: eth0 }]
map-server:
  address: 198.18.0.2
  port: 51821
  control-address: 100.100.0.1
  public-key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
  shared-key: very-secret-site-key
control: { address: 100.100.0.2/16 }
eid-space: ${space}
`;

describe('the plan', () => {
  it('mobile node: EIDs on the data interface, prefsrc on the overlay routes, TUN sysctls', () => {
    const p = makePlan(parseConfig(base('mn', ['198.18.100.1/32', '2001:db8:100::1/128'], '[198.18.64.0/18, "2001:db8:100::/48"]'), '/x/n1.yaml'));
    expect(p.interfaces).toEqual([
      { name: 'n1-ctl', kind: 'wireguard', role: 'control', listenPort: 0, addresses: ['100.100.0.2/16'] },
      { name: 'n1-wg', kind: 'wireguard', role: 'data', listenPort: 51820, addresses: ['198.18.100.1/32', '2001:db8:100::1/128'] },
      { name: 'n1-tun', kind: 'tun', role: 'miss-capture', addresses: [] },
    ]);
    expect(p.controlPeers).toEqual([{ interface: 'n1-ctl', publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=', endpoint: '198.18.0.2:51821', allowedIps: ['100.100.0.1/32'], persistentKeepalive: 25 }]);
    expect(p.controlRoutes).toEqual([{ dst: '100.100.0.1/32', dev: 'n1-ctl', table: 254, src: '100.100.0.2' }]);
    expect(p.routes).toEqual([
      { dst: '198.18.64.0/18', dev: 'n1-tun', table: 254, src: '198.18.100.1' },
      { dst: '2001:db8:100::/48', dev: 'n1-tun', table: 254, src: '2001:db8:100::1' },
    ]);
    expect(p.sysctls.map((s) => `${s.key}=${s.value}`)).toEqual([
      'net.ipv4.conf.n1-tun.forwarding=1',
      'net.ipv4.conf.n1-tun.rp_filter=0',
      'net.ipv4.conf.n1-tun.accept_local=1',
      'net.ipv6.conf.all.forwarding=1',
      'net.ipv6.conf.n1-tun.addr_gen_mode=1',
    ]);
    expect(p.install).toEqual({ dataInterface: 'n1-wg', endpointPort: 51820, table: 254, src: { ipv4: '198.18.100.1', ipv6: '2001:db8:100::1' } });
  });

  it('tunnel router: no EID on the node, forwarding on, no prefsrc', () => {
    const p = makePlan(parseConfig(base('xtr', ['198.18.101.0/24'], '[198.18.64.0/18]') + 'table: 100\n', '/x/n1.yaml'));
    expect(p.interfaces[1]!.addresses).toEqual([]);
    expect(p.routes[0]).toEqual({ dst: '198.18.64.0/18', dev: 'n1-tun', table: 100 });
    expect(p.sysctls.map((s) => s.key)).toContain('net.ipv4.ip_forward');
    expect(p.sysctls.map((s) => s.key)).not.toContain('net.ipv4.conf.n1-tun.accept_local');
    expect(p.install.src).toEqual({});
  });

  it('renders what an operator needs to check, public keys only', () => {
    const c = parseConfig(base('mn', ['198.18.100.1/32'], '[198.18.64.0/18]'), '/x/n1.yaml');
    const text = renderPlan(makePlan(c), { control: 'CTLPUB', data: 'DATAPUB' }, { eth0: ['198.18.1.2'] });
    expect(text).toContain('n1-wg  wireguard (data, listen port 51820, public key DATAPUB)  address 198.18.100.1/32');
    expect(text).toContain('198.18.64.0/18 dev n1-tun src 198.18.100.1');
    expect(text).toContain('EID 198.18.100.1/32 iid 0  key DATAPUB');
    expect(text).toContain('RLOC eth0 priority 1 weight 100: 198.18.1.2');
    expect(text).toContain('endpoint RLOC:51820');
    expect(text).not.toContain(c.mapServer.sharedKey);
  });

  it('Map-Server replicas: one control tunnel, a peer and a route for each; their keys and addresses must differ', () => {
    const replicas = `  replicas:
    - { address: 198.18.0.3, control-address: 100.100.0.3, public-key: "${'A'.repeat(42)}E=" }
    - { address: 198.18.0.4, port: 51822, control-address: 100.100.0.4, public-key: "${'B'.repeat(42)}E=" }
`;
    const text = base('mn', ['198.18.100.1/32'], '[198.18.64.0/18]').replace('control: {', `${replicas}control: {`);
    const p = makePlan(parseConfig(text, '/x/n1.yaml'));
    expect(p.controlPeers.map((c) => [c.endpoint, c.allowedIps[0]])).toEqual([['198.18.0.2:51821', '100.100.0.1/32'], ['198.18.0.3:51820', '100.100.0.3/32'], ['198.18.0.4:51822', '100.100.0.4/32']]);
    expect(p.controlRoutes.map((r) => `${r.dst} dev ${r.dev} src ${r.src}`)).toEqual(['100.100.0.1/32 dev n1-ctl src 100.100.0.2', '100.100.0.3/32 dev n1-ctl src 100.100.0.2', '100.100.0.4/32 dev n1-ctl src 100.100.0.2']);
    expect(p.registration.mapServer).toBe('100.100.0.1, 100.100.0.3, 100.100.0.4 (udp 4342, through n1-ctl)');
    expect(() => parseConfig(text.replace('control-address: 100.100.0.4', 'control-address: 100.100.0.3'), '/x/n1.yaml')).toThrow(/map-server\.replicas\[1\]\.control-address: 100\.100\.0\.3 is already map-server\.replicas\[0\]\.control-address/);
    expect(() => parseConfig(text.replace(`${'B'.repeat(42)}E=`, 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw='), '/x/n1.yaml')).toThrow(/replicas\[1\]\.public-key: each Map-Server has its own control key/);
  });
});
