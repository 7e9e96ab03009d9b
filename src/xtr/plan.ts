/**
 * What the agent configures at start, computed from its config alone: interfaces, addresses,
 * the control peer, the routes into the TUN, sysctls, and what it registers. The agent brings
 * itself up from this plan, and `lispwg xtr --dry-run` prints it, so the two never disagree.
 */
import { formatListenAddress } from '../metrics/http.js';
import type { AgentConfig, Prefix } from './config.js';
import { familyBits, type IpFamily } from '../ip/ip.js';

export interface PlannedInterface {
  name: string;
  kind: 'wireguard' | 'tun';
  role: 'control' | 'data' | 'miss-capture';
  /** WireGuard listen port (0: any). */
  listenPort?: number;
  addresses: string[];
}

export interface PlannedRoute {
  dst: string;
  dev: string;
  table: number;
  src?: string;
}

export interface PlannedSysctl {
  /** The key as sysctl(8) names it. */
  key: string;
  value: string;
  why: string;
}

export interface Plan {
  name: string;
  mode: AgentConfig['mode'];
  instanceId: number;
  interfaces: PlannedInterface[];
  /** The Map-Server, then its replicas: each a peer of the control tunnel, with its route. */
  controlPeers: Array<{ interface: string; publicKey: string; endpoint: string; allowedIps: string[]; persistentKeepalive: number }>;
  /** The Map-Servers' control addresses: only through the control tunnel. */
  controlRoutes: PlannedRoute[];
  /** The EID space, into the TUN. */
  routes: PlannedRoute[];
  sysctls: PlannedSysctl[];
  registration: {
    mapServer: string;
    eidPrefixes: string[];
    rlocInterfaces: AgentConfig['rlocInterfaces'];
    keyId: number;
    refreshS: number;
    recordTtlMin: number;
  };
  /** How installed peers look: endpoint port, routes through the data interface. */
  install: { dataInterface: string; endpointPort: number; table: number; src: Partial<Record<IpFamily, string>> };
  missPolicy: AgentConfig['missPolicy'];
  adminSocket: string;
  stateFile: string;
  eventLog?: string;
  /** http://ADDR:PORT/metrics, when metrics-listen is set. */
  metrics?: string;
}

const hostLen = familyBits;

/** A bracketed endpoint for IPv6 (`[2001:db8::1]:51820`), plain for IPv4. */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** `address/32` or `address/128`. */
const hostPrefix = (address: string): string => `${address}/${hostLen(address.includes(':') ? 'ipv6' : 'ipv4')}`;

export function makePlan(c: AgentConfig): Plan {
  const servers = [c.mapServer, ...c.mapServer.replicas];
  // mn: the node's own EID addresses live on the data interface, and are the source of what
  // it sends into the overlay (prefsrc on every overlay route)
  const own = c.mode === 'mn' ? c.eidPrefixes.filter((e) => e.address !== undefined).map((e) => ({ address: e.address!, family: e.prefix.family })) : [];
  const src: Partial<Record<IpFamily, string>> = {};
  for (const o of own) src[o.family] ??= o.address;
  const families = new Set(c.eidSpace.map((p: Prefix) => p.family));

  const sysctls: PlannedSysctl[] = [];
  // released packets re-enter through the TUN and are forwarded into the data interface
  if (families.has('ipv4')) {
    sysctls.push({ key: `net.ipv4.conf.${c.tun.interface}.forwarding`, value: '1', why: 'forward packets released from the miss buffer' });
    sysctls.push({ key: `net.ipv4.conf.${c.tun.interface}.rp_filter`, value: '0', why: 'released packets come back in with the source they left with' });
    if (c.mode === 'mn') sysctls.push({ key: `net.ipv4.conf.${c.tun.interface}.accept_local`, value: '1', why: "released packets carry this node's own EID as source" });
    if (c.mode === 'xtr') sysctls.push({ key: 'net.ipv4.ip_forward', value: '1', why: 'route between the EID hosts and the overlay' });
  }
  if (families.has('ipv6')) sysctls.push({ key: 'net.ipv6.conf.all.forwarding', value: '1', why: 'IPv6 forwards only when enabled for all interfaces' });
  // no link-local address on the TUN: the kernel would send router solicitations and MLD into it
  sysctls.push({ key: `net.ipv6.conf.${c.tun.interface}.addr_gen_mode`, value: '1', why: 'no IPv6 link-local address (nor its MLD and router solicitations) on the TUN' });

  return {
    name: c.name,
    mode: c.mode,
    instanceId: c.instanceId,
    interfaces: [
      { name: c.control.interface, kind: 'wireguard', role: 'control', listenPort: c.control.listenPort, addresses: [c.control.address.text] },
      { name: c.data.interface, kind: 'wireguard', role: 'data', listenPort: c.data.port, addresses: own.map((o) => `${o.address}/${hostLen(o.family)}`) },
      { name: c.tun.interface, kind: 'tun', role: 'miss-capture', addresses: [] },
    ],
    controlPeers: servers.map((m) => ({
      interface: c.control.interface,
      publicKey: m.publicKey,
      endpoint: endpoint(m.address, m.port),
      allowedIps: [hostPrefix(m.controlAddress)],
      persistentKeepalive: c.control.persistentKeepaliveS,
    })),
    controlRoutes: servers.map((m) => ({ dst: hostPrefix(m.controlAddress), dev: c.control.interface, table: 254, src: c.control.address.address })),
    routes: c.eidSpace.map((p) => ({ dst: p.text, dev: c.tun.interface, table: c.table, ...(src[p.family] ? { src: src[p.family] } : {}) })),
    sysctls,
    registration: {
      mapServer: `${servers.map((m) => m.controlAddress).join(', ')} (udp 4342, through ${c.control.interface})`,
      eidPrefixes: c.eidPrefixes.map((e) => `${e.prefix.text} iid ${c.instanceId}`),
      rlocInterfaces: c.rlocInterfaces,
      keyId: c.mapServer.keyId,
      refreshS: c.timers.registerRefreshMs / 1000,
      recordTtlMin: Math.floor(c.timers.recordTtlMs / 60_000),
    },
    install: { dataInterface: c.data.interface, endpointPort: c.data.port, table: c.table, src },
    missPolicy: c.missPolicy,
    adminSocket: c.adminSocket,
    stateFile: c.stateFile,
    ...(c.eventLog ? { eventLog: c.eventLog } : {}),
    ...(c.metricsListen ? { metrics: `http://${formatListenAddress(c.metricsListen)}/metrics` } : {}),
  };
}

/** The plan as an operator reads it (`lispwg xtr --dry-run`). */
export function renderPlan(p: Plan, keys: { control: string; data: string }, rlocs: Record<string, string[]>): string {
  const out: string[] = [];
  out.push(`agent ${p.name}: mode ${p.mode}, instance ID ${p.instanceId} (dry run: nothing is changed)`);
  out.push('', 'interfaces:');
  for (const i of p.interfaces) {
    const port = i.listenPort !== undefined ? `, listen port ${i.listenPort || 'any'}` : '';
    const key = i.role === 'control' ? `, public key ${keys.control}` : i.role === 'data' ? `, public key ${keys.data}` : '';
    out.push(`  ${i.name}  ${i.kind} (${i.role}${port}${key})${i.addresses.length ? `  address ${i.addresses.join(', ')}` : ''}`);
  }
  for (const [i, peer] of p.controlPeers.entries()) {
    out.push('', `control peer on ${peer.interface} (${i === 0 ? 'the Map-Server' : `Map-Server replica ${i}`}):`);
    out.push(`  public key ${peer.publicKey}`, `  endpoint ${peer.endpoint}`, `  allowed ips ${peer.allowedIps.join(', ')}`);
    out.push(`  persistent keepalive ${peer.persistentKeepalive ? `every ${peer.persistentKeepalive} s` : 'off'}`);
  }
  out.push('', 'routes:');
  for (const r of [...p.controlRoutes, ...p.routes]) out.push(`  ${r.dst} dev ${r.dev}${r.table !== 254 ? ` table ${r.table}` : ''}${r.src ? ` src ${r.src}` : ''}`);
  out.push('', 'sysctls:');
  for (const s of p.sysctls) out.push(`  ${s.key} = ${s.value}  (${s.why})`);
  out.push('', `registration with ${p.registration.mapServer}, key id ${p.registration.keyId}, every ${p.registration.refreshS} s, record TTL ${p.registration.recordTtlMin} min:`);
  for (const e of p.registration.eidPrefixes) out.push(`  EID ${e}  key ${keys.data}`);
  for (const r of p.registration.rlocInterfaces) {
    const a = rlocs[r.name];
    out.push(`  RLOC ${r.name} priority ${r.priority} weight ${r.weight}: ${a === undefined ? 'no such interface now' : a.length ? a.join(', ') : 'no address now'}`);
  }
  const srcs = Object.values(p.install.src);
  out.push('', `on a Map-Reply or a pushed Map-Notify: peer on ${p.install.dataInterface} (endpoint RLOC:${p.install.endpointPort}, allowed ips = the EID prefix), route EID prefix dev ${p.install.dataInterface}${p.install.table !== 254 ? ` table ${p.install.table}` : ''}${srcs.length ? ` src ${srcs.join(' / ')}` : ''}`);
  out.push(`miss policy: ${p.missPolicy}`, `admin socket: ${p.adminSocket}`, `state file: ${p.stateFile}`, `event log: ${p.eventLog ?? 'off'}`, `metrics: ${p.metrics ?? 'off'}`);
  return out.join('\n');
}
