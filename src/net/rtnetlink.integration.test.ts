// rtnetlink against the real kernel in a namespace of its own, checked with iproute2's view.
// Run under: flock /tmp/lispwg-netns.lock npx vitest run src/net/rtnetlink.integration.test.ts
import { beforeAll, describe, expect, it } from 'vitest';
import { netnsLab } from '../testing/netns.js';
import { prerequisites } from '../testing/prerequisites.js';
import { monitorAddresses, Rtnetlink, type AddressEvent } from './rtnetlink.js';

const skip = await prerequisites('rtnetlink tests', { root: true, tools: ['ip'] });
const lab = netnsLab({ prefix: 'lwgrt' });
const ns = lab.ns('a');
const ip = (args: string) => lab.ip('a', ...args.split(' '));
let rt: Rtnetlink;

beforeAll(async () => {
  if (skip) return;
  await lab.addNs('a');
  await lab.ip('a', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'); // left down: the first test sets them up
  rt = Rtnetlink.open({ netns: ns });
  lab.defer(() => rt.close());
});

describe.skipIf(skip !== undefined)('Rtnetlink', () => {
  it('sets links up and down and changes the MTU', async () => {
    rt.setLinkUp('v0');
    rt.setLinkUp('v1');
    rt.setMtu('v0', 1380);
    expect(await ip('link show v0')).toMatch(/<[^>]*\bUP\b[^>]*> mtu 1380/);
    expect(rt.link('v0')).toMatchObject({ name: 'v0', up: true, mtu: 1380 });
    expect(rt.links().map((l) => l.name).sort()).toEqual(['lo', 'v0', 'v1']);
    rt.setLinkUp('v0', false);
    expect(await ip('link show v0')).not.toMatch(/<[^>]*\bUP\b/);
    rt.setLinkUp('v0');
  });

  it('adds and removes IPv4 and IPv6 addresses', async () => {
    rt.addAddress('v0', '198.18.10.1/24');
    rt.addAddress('v0', '2001:db8:10::1/64', { noDad: true });
    const shown = await ip('addr show v0');
    expect(shown).toContain('inet 198.18.10.1/24');
    expect(shown).toContain('inet6 2001:db8:10::1/64');
    expect(rt.addresses('v0')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: 'ipv4', address: '198.18.10.1', prefixLen: 24 }),
        expect.objectContaining({ family: 'ipv6', address: '2001:db8:10::1', prefixLen: 64, tentative: false }),
      ]),
    );
    expect(() => rt.addAddress('v0', '198.18.10.1/24')).toThrow(expect.objectContaining({ code: 'NETLINK_EEXIST' }));
    rt.delAddress('v0', '198.18.10.1/24');
    rt.delAddress('v0', '2001:db8:10::1/64');
    const after = await ip('addr show v0');
    expect(after).not.toContain('198.18.10.1');
    expect(after).not.toContain('2001:db8:10::1');
  });

  it('adds, replaces and removes routes (dev, gateway, metric, table; IPv4 and IPv6)', async () => {
    rt.addAddress('v0', '198.18.11.1/24');
    rt.addAddress('v0', '2001:db8:11::1/64', { noDad: true });
    rt.addRoute({ dst: '198.18.12.0/24', dev: 'v0' });
    rt.addRoute({ dst: '198.18.13.0/24', gateway: '198.18.11.2', metric: 7 });
    rt.addRoute({ dst: '198.18.14.0/24', dev: 'v0', gateway: '198.18.11.3', table: 1234 });
    rt.addRoute({ dst: '2001:db8:12::/48', dev: 'v0', gateway: '2001:db8:11::2', metric: 9 });
    rt.addRoute({ dst: '2001:db8:13::/48', dev: 'v0', table: 1234 });
    expect(await ip('route show')).toMatch(/198\.18\.12\.0\/24 dev v0 proto static scope link/);
    expect(await ip('route show')).toMatch(/198\.18\.13\.0\/24 via 198\.18\.11\.2 dev v0 proto static metric 7/);
    expect(await ip('route show table 1234')).toMatch(/198\.18\.14\.0\/24 via 198\.18\.11\.3 dev v0/);
    expect(await ip('-6 route show')).toMatch(/2001:db8:12::\/48 via 2001:db8:11::2 dev v0 proto static metric 9/);
    expect(await ip('-6 route show table 1234')).toMatch(/2001:db8:13::\/48 dev v0/);
    expect(rt.routes('ipv4', 1234)).toEqual([expect.objectContaining({ dst: '198.18.14.0', prefixLen: 24, gateway: '198.18.11.3', table: 1234 })]);

    // the same route again is refused, with the kernel's reason; replace moves it
    expect(() => rt.addRoute({ dst: '198.18.12.0/24', dev: 'v0' })).toThrow(/adding route 198\.18\.12\.0\/24 dev v0 .*File exists \(EEXIST\)/);
    rt.replaceRoute({ dst: '198.18.12.0/24', gateway: '198.18.11.9' });
    expect(await ip('route show 198.18.12.0/24')).toMatch(/via 198\.18\.11\.9/);
    // host bits set: the kernel's extended ack explains
    expect(() => rt.addRoute({ dst: '198.18.15.1/24', dev: 'v0' })).toThrow(/Invalid prefix for given prefix length/);

    rt.delRoute({ dst: '198.18.12.0/24' });
    rt.delRoute({ dst: '198.18.13.0/24', metric: 7 });
    rt.delRoute({ dst: '198.18.14.0/24', table: 1234 });
    rt.delRoute({ dst: '2001:db8:12::/48', metric: 9 });
    rt.delRoute({ dst: '2001:db8:13::/48', table: 1234 });
    expect(await ip('route show')).not.toMatch(/198\.18\.1[234]\./);
    expect(await ip('route show table 1234')).toBe('');
    expect(await ip('-6 route show')).not.toMatch(/2001:db8:1[23]::/);
    expect(() => rt.delRoute({ dst: '198.18.12.0/24' })).toThrow(expect.objectContaining({ code: 'NETLINK_ESRCH' }));
  });

  it('names what is wrong with bad input', () => {
    expect(() => rt.linkIndex('nosuch0')).toThrow(expect.objectContaining({ code: 'LINK_NOT_FOUND', message: expect.stringContaining(`no interface named 'nosuch0' (namespace ${ns})`) }));
    expect(() => rt.addRoute({ dst: '198.18.300.0/24', dev: 'v0' })).toThrow(expect.objectContaining({ code: 'BAD_ADDRESS' }));
    expect(() => rt.addRoute({ dst: '198.18.16.0/33', dev: 'v0' })).toThrow(expect.objectContaining({ code: 'BAD_PREFIX' }));
    expect(() => rt.addRoute({ dst: '198.18.16.0/24' })).toThrow(expect.objectContaining({ code: 'BAD_ROUTE' }));
    expect(() => rt.addRoute({ dst: '198.18.16.0/24', gateway: '2001:db8::1' })).toThrow(expect.objectContaining({ code: 'BAD_ROUTE' }));
    expect(() => rt.setMtu('v0', 20)).toThrow(expect.objectContaining({ code: 'BAD_MTU' }));
    expect(() => Rtnetlink.open({ netns: 'lwg-no-such-ns' })).toThrow(expect.objectContaining({ code: 'NETNS_NOT_FOUND' }));
  });

  it('monitors address changes made by anyone (here: ip addr)', async () => {
    const events: AddressEvent[] = [];
    let wake: (() => void) | undefined;
    const mon = monitorAddresses(
      (e) => {
        events.push(e);
        wake?.();
      },
      { netns: ns },
    );
    const waitFor = async (pred: (e: AddressEvent) => boolean) => {
      const deadline = Date.now() + 2000;
      while (!events.some(pred) && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
      return events.find(pred);
    };
    try {
      await ip('addr add 198.18.17.5/24 dev v1');
      expect(await waitFor((e) => e.type === 'add' && e.address === '198.18.17.5')).toMatchObject({ family: 'ipv4', prefixLen: 24, ifindex: rt.linkIndex('v1'), label: 'v1' });
      await ip('addr add 2001:db8:17::5/64 dev v1 nodad');
      expect(await waitFor((e) => e.type === 'add' && e.address === '2001:db8:17::5')).toMatchObject({ family: 'ipv6', prefixLen: 64, tentative: false });
      await ip('addr del 198.18.17.5/24 dev v1');
      expect(await waitFor((e) => e.type === 'del' && e.address === '198.18.17.5')).toBeDefined();
      // changes in other namespaces are not seen
      expect(events.every((e) => e.type === 'overrun' || ('ifindex' in e && e.ifindex === rt.linkIndex('v1')))).toBe(true);
    } finally {
      mon.close();
    }
  });

  it('with routes, also reports a route being added (the default route after the address)', async () => {
    const seen: AddressEvent[] = [];
    const plain: AddressEvent[] = [];
    const mon = monitorAddresses((e) => seen.push(e), { netns: ns, routes: true });
    const addressesOnly = monitorAddresses((e) => plain.push(e), { netns: ns });
    try {
      await ip('link set v1 up');
      await ip('addr add 198.18.19.5/24 dev v1');
      const before = seen.filter((e) => e.type === 'route').length;
      await ip('route add 198.18.99.0/24 via 198.18.19.1');
      const deadline = Date.now() + 2000;
      while (seen.filter((e) => e.type === 'route').length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen.filter((e) => e.type === 'route').length).toBeGreaterThan(before);
      await new Promise((r) => setTimeout(r, 50));
      expect(plain.some((e) => e.type === 'route')).toBe(false);
    } finally {
      mon.close();
      addressesOnly.close();
      await ip('addr flush dev v1');
    }
  });
});
