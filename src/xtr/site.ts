/**
 * The plumbing of a LISP site, whatever its data plane: the static WireGuard tunnel to the
 * Map-Server, the RLOCs read from the configured interfaces, the records registered for the
 * site's EID prefixes, and the TUN that holds the route for the EID space.
 */
import { eidAddress, wrapWireguardKey, type Locator, type MappingRecord } from '../lisp/index.js';
import type { Rtnetlink } from '../net/rtnetlink.js';
import type { Logger } from '../util/log.js';
import { openWireGuard, type WgDevice } from '../wg/wireguard.js';
import type { AgentConfig } from './config.js';
import { TunDevice } from '../dataplane/tun/tun.js';
import type { Plan } from './plan.js';
import type { StateFile } from './state.js';

export interface Rloc {
  interface: string;
  address: string;
  priority: number;
  weight: number;
}

/** The RLOCs: the addresses of the configured RLOC interfaces that exist (no tentative, no link-local). */
export function readRlocs(config: AgentConfig, rt: Rtnetlink): Rloc[] {
  const out: Rloc[] = [];
  for (const r of config.rlocInterfaces) {
    if (!rt.link(r.name)) continue;
    for (const a of rt.addresses(r.name)) {
      if (a.tentative || (a.family === 'ipv6' && a.address.toLowerCase().startsWith('fe80:'))) continue;
      out.push({ interface: r.name, address: a.address, priority: r.priority, weight: r.weight });
    }
  }
  return out;
}

export const sameRlocs = (a: readonly Rloc[], b: readonly Rloc[]): boolean => a.length === b.length && a.every((r, i) => r.address === b[i]!.address && r.interface === b[i]!.interface);

/** The Map-Register records of the site's EID prefixes; with `wireguardKey`, each EID carries it (Security Key LCAF). */
export function siteRecords(config: AgentConfig, rlocs: readonly Rloc[], wireguardKey?: Uint8Array): MappingRecord[] {
  const ttl = Math.max(1, Math.floor(config.timers.recordTtlMs / 60_000));
  return config.eidPrefixes.map((e) => {
    const eid = eidAddress(e.prefix.address, config.instanceId);
    return {
      ttl,
      maskLen: e.prefix.length,
      action: 0,
      authoritative: true,
      mapVersion: 0,
      eid: wireguardKey ? wrapWireguardKey(eid, wireguardKey) : eid,
      locators: rlocs.map((r): Locator => ({ priority: r.priority, weight: r.weight, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: r.address.includes(':') ? { afi: 'ipv6', address: r.address } : { afi: 'ipv4', address: r.address } })),
    };
  });
}

/**
 * The static WireGuard tunnel to the Map-Servers: its interface, a peer and a route for each (put
 * back if wireguard-go restarts).
 */
export async function openControlTunnel(config: AgentConfig, plan: Plan, privateKey: Uint8Array, state: StateFile, rt: Rtnetlink, log: Logger): Promise<WgDevice> {
  const ctl = plan.interfaces.find((i) => i.role === 'control')!;
  state.addInterface(ctl.name);
  const control = await openWireGuard({ name: ctl.name, privateKey, listenPort: config.control.listenPort, addresses: ctl.addresses, backend: config.wireguard.backend, log: log.child({ wg: ctl.name }) });
  for (const [i, m] of mapServers(config).entries()) {
    const peer = plan.controlPeers[i]!;
    await control.setPeer({ publicKey: Buffer.from(m.publicKey, 'base64'), endpoint: { address: m.address, port: m.port }, allowedIps: peer.allowedIps, persistentKeepalive: peer.persistentKeepalive });
  }
  for (const r of plan.controlRoutes) rt.replaceRoute(r);
  control.onRestart(() => {
    for (const r of plan.controlRoutes) rt.replaceRoute(r);
  });
  return control;
}

/**
 * A new WireGuard session with the Map-Server at `controlAddress`: its peer removed and set again
 * (keys dropped, so the next packet starts a handshake). A Map-Server that restarted lost its
 * session, and WireGuard drops what we send under the old one until our own rekey timer
 * (10 + 5 s of one-way traffic); a control message left unanswered is the sign.
 *
 * Renewed unless a handshake completed in the last RENEW_AFTER_MS (the message then went, or goes,
 * under that new session: removing the peer would only drop it from wireguard-go's queue, and the
 * Map-Server refuses a second handshake within about 20 ms). So also a session that completed after
 * the message (sent at `sentAt`, epoch ms) but long enough ago that it should have been answered,
 * and a handshake that never completed: two initiations that crossed (ours and the Map-Server's,
 * as when it retries to an endpoint of ours that comes back) leave both ends responders until
 * WireGuard's own 5-s retry. 'renewed' means what was queued is gone: the caller sends it again.
 */
export async function renewMapServerSession(control: WgDevice, config: AgentConfig, controlAddress: string, sentAt: number): Promise<'renewed' | 'newer-session' | 'fresh-session' | 'unknown'> {
  const m = mapServers(config).find((x) => x.controlAddress === controlAddress);
  if (!m) return 'unknown';
  const key = Buffer.from(m.publicKey, 'base64');
  const status = (await control.peers()).find((p) => Buffer.from(p.publicKey).equals(key));
  const last = status?.lastHandshake?.getTime();
  if (last !== undefined && Date.now() - last < RENEW_AFTER_MS) return last >= sentAt ? 'newer-session' : 'fresh-session';
  await control.removePeer(key);
  await control.setPeer({ publicKey: key, endpoint: { address: m.address, port: m.port }, allowedIps: [`${m.controlAddress}/${m.controlAddress.includes(':') ? 128 : 32}`], persistentKeepalive: config.control.persistentKeepaliveS });
  return 'renewed';
}

/** A session younger than this is not renewed: wireguard-go refuses a handshake within about 20 ms of the one before. */
const RENEW_AFTER_MS = 100;

/** The Map-Server and its replicas. */
const mapServers = (config: AgentConfig) => [config.mapServer, ...config.mapServer.replicas];

/**
 * Gives the Map-Servers' peers their endpoints again after our RLOC changed: wireguard-go pins the
 * source address it last sent from and keeps using it after that address is gone. The session is
 * kept: a fresh one here would start its handshake before the new network's route exists, and
 * wireguard-go retries a lost initiation only after 5 s (the Map-Register goes again when the
 * route appears: hurryRegistration). Measured and dropped for that reason; a session that a
 * restarted Map-Server no longer has is renewed when a Map-Register goes unanswered (above).
 */
export async function repointMapServer(control: WgDevice, config: AgentConfig): Promise<void> {
  for (const m of mapServers(config)) await control.setPeer({ publicKey: Buffer.from(m.publicKey, 'base64'), endpoint: { address: m.address, port: m.port }, allowedIps: [] });
}

/**
 * The TUN that holds the route for the EID space (the plan's routes after the control one):
 * what the kernel routes into it is a miss (WireGuard data plane) or is encapsulated (plain LISP).
 * `addresses` go on it first (a plain-LISP mobile node's EIDs).
 */
export function openMissTun(config: AgentConfig, plan: Plan, state: StateFile, rt: Rtnetlink, mtu: number, addresses: readonly string[] = []): TunDevice {
  const name = config.tun.interface;
  state.addInterface(name);
  const tun = TunDevice.open(name);
  rt.setMtu(name, mtu);
  for (const s of plan.sysctls) state.setSysctl(s.key, s.value, name);
  for (const a of addresses) rt.addAddress(name, a, { noDad: true });
  rt.setLinkUp(name);
  for (const r of plan.routes) rt.replaceRoute(r);
  return tun;
}
