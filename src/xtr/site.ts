/**
 * What both agents share of a LISP site (the LISP+WireGuard agent, src/xtr/agent.ts, and the
 * plain LISP one, src/dataplane/lisp/xtr.ts): the static WireGuard tunnel to the Map-Server, the
 * control channel (the LISP control client, and the gRPC client when configured), the RLOCs read
 * from the configured interfaces, and the records registered for the site's EID prefixes.
 */
import { eidAddress, wrapWireguardKey, type Locator, type MappingRecord } from '../lisp/index.js';
import type { Rtnetlink } from '../net/rtnetlink.js';
import type { Logger } from '../util/log.js';
import { openWireGuard, type WgDevice } from '../wg/wireguard.js';
import type { GrpcControlClient } from '../grpc/client.js';
import type { AgentConfig } from './config.js';
import { ControlClient, type ControlClientOptions, type MappingEvent } from './control-client.js';
import type { EventLog } from './events.js';
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

/** The static WireGuard tunnel to the Map-Server: its interface, the Map-Server's peer and the route (put back if wireguard-go restarts). */
export async function openControlTunnel(config: AgentConfig, plan: Plan, privateKey: Uint8Array, state: StateFile, rt: Rtnetlink, log: Logger): Promise<WgDevice> {
  const ctl = plan.interfaces.find((i) => i.role === 'control')!;
  state.addInterface(ctl.name);
  const control = await openWireGuard({ name: ctl.name, privateKey, listenPort: config.control.listenPort, addresses: ctl.addresses, backend: config.wireguard.backend, log: log.child({ wg: ctl.name }) });
  await control.setPeer({
    publicKey: Buffer.from(config.mapServer.publicKey, 'base64'),
    endpoint: { address: config.mapServer.address, port: config.mapServer.port },
    allowedIps: plan.controlPeer.allowedIps,
    persistentKeepalive: plan.controlPeer.persistentKeepalive,
  });
  const route = plan.routes[0]!;
  rt.replaceRoute(route);
  control.onRestart(() => rt.replaceRoute(route));
  return control;
}

/**
 * Gives the Map-Server's peer its endpoint again after our RLOC changed: wireguard-go pins the
 * source address it last sent from and keeps using it after that address is gone.
 */
export function repointMapServer(control: WgDevice, config: AgentConfig): Promise<void> {
  return control.setPeer({ publicKey: Buffer.from(config.mapServer.publicKey, 'base64'), endpoint: { address: config.mapServer.address, port: config.mapServer.port }, allowedIps: [] });
}

export interface ControlChannelHooks {
  /** Pushed Map-Notifies (their Ack goes back when the promise resolves). */
  onPush: NonNullable<ControlClientOptions['onPush']>;
  /** A mapping pushed over gRPC (control-channel: grpc); acked when the promise resolves. */
  onGrpcPush: (e: MappingEvent) => Promise<void> | void;
  /** The Map-Server acknowledged our registration (at performance.now() `t`). */
  onRegistered: (t: number) => void;
  count: (what: string) => void;
}

/**
 * The control channel to the Map-Server: the LISP control client (its registrations and dropped
 * packets go to the event log and the counters) and, with `control-channel: grpc`, the gRPC client
 * (loaded only then: grpc-js is not small).
 */
export async function openControlChannel(config: AgentConfig, log: Logger, events: EventLog, hooks: ControlChannelHooks): Promise<{ client: ControlClient; grpc?: GrpcControlClient }> {
  const round = (v: number) => Math.round(v * 1000) / 1000;
  const client = await ControlClient.open({
    mapServer: { address: config.mapServer.controlAddress },
    localAddress: config.control.address.address,
    site: { key: config.mapServer.sharedKey, keyId: config.mapServer.keyId },
    registerIntervalMs: config.timers.registerRefreshMs,
    registerRetryMs: config.timers.registerRetryMs,
    onPush: hooks.onPush,
    logger: log.child({ component: 'control-client' }),
  });
  client.on('registered', (e) => {
    hooks.onRegistered(e.t);
    events.emit('registered', { rttMs: round(e.rttMs), attempts: e.attempts }, e.t);
  });
  client.on('register-timeout', (e) => log.warn('no Map-Notify from the Map-Server yet: still trying', { attempts: e.attempts }));
  client.on('drop', (e) => {
    hooks.count(`control-drop-${e.reason}`);
    if (e.reason === 'bad-hmac') events.emit('map-notify-rejected', { from: e.from.address, reason: e.reason }, e.t);
  });
  if (config.controlChannel.protocol !== 'grpc') return { client };
  const { GrpcControlClient, pushedMappingEvent } = await import('../grpc/client.js');
  const server = { address: config.mapServer.controlAddress, port: config.controlChannel.grpcPort };
  const grpc = new GrpcControlClient({ server, log });
  grpc.watch(async (record) => {
    const e = pushedMappingEvent(record, server);
    if (e) await hooks.onGrpcPush(e);
  });
  return { client, grpc };
}
