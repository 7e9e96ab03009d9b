/**
 * What `lispwg show` prints: the agent's status as its admin socket returns it (`AgentStatus`),
 * rendered like `wg show` — one block per interface and peer, times as ages, bytes with units.
 */
import type { ResolverStats } from './resolver.js';

export interface PeerStatus {
  publicKey: string;
  /** EID prefixes routed to this peer ("198.18.100.2/32"). */
  eidPrefixes: string[];
  endpoint?: string;
  /** Seconds since the last completed handshake; undefined: none yet. */
  latestHandshakeS?: number;
  rxBytes: number;
  txBytes: number;
  /** How the peer was learnt. */
  source: 'map-reply' | 'map-notify';
  installedAgoS: number;
}

export interface MapCacheStatus {
  prefix: string;
  instanceId: number;
  kind: 'positive' | 'negative';
  rlocs: string[];
  publicKey?: string;
  /** Negative entries: the ACT of the reply. */
  action?: string;
  expiresInS: number;
  source: 'map-reply' | 'map-notify';
}

export interface Latency {
  n: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface BufferStatus {
  buffered: number;
  destinations: number;
  released: number;
  dropped: Record<string, number>;
}

/** The control tunnel to the Map-Server (both data planes have it). */
export interface ControlInterfaceStatus {
  control: string;
  controlPublicKey: string;
  /** The WireGuard backend of the control tunnel. */
  controlBackend: string;
}

/** What the WireGuard data plane adds to a status. */
export interface WireGuardStatusPart {
  dataPlane: 'wireguard';
  /** The data interface's backend. */
  wireguardBackend: string;
  interfaces: { data: string; tun: string; dataPort: number; publicKey: string };
  peers: PeerStatus[];
  buffer: BufferStatus;
  counters: Record<string, number>;
}

/** What the plain LISP data plane adds to a status: no key, no peers. */
export interface LispStatusPart {
  dataPlane: 'lisp';
  /** The TUN packets are encapsulated from, and the LISP data port. */
  interfaces: { tun: string; dataPort: number };
  buffer: BufferStatus;
  counters: Record<string, number>;
}

interface StatusBase {
  name: string;
  mode: 'xtr' | 'mn';
  pid: number;
  instanceId: number;
  uptimeS: number;
  missPolicy: 'buffer' | 'drop';
  controlChannel: 'lisp' | 'grpc';
  registration: {
    mapServer: string;
    state: 'registered' | 'registering';
    lastRegisteredAgoS?: number;
    /** With replicas: each Map-Server, the one Map-Requests go to first, its last Map-Notify. */
    mapServers?: Array<{ controlAddress: string; preferred: boolean; lastNotifyAgoS?: number }>;
    eidPrefixes: string[];
    rlocs: Array<{ interface: string; address: string; priority: number; weight: number }>;
  };
  mapCache: MapCacheStatus[];
  resolver: {
    inFlight: number;
    requestsSent: number;
    retransmissions: number;
    answered: number;
    negativeReplies: number;
    giveUps: number;
    /** First Map-Request sent to answer. */
    resolution: Latency;
    /** Miss to peer and route installed. */
    missToInstalled: Latency;
  };
}

export type WireGuardAgentStatus = StatusBase & Omit<WireGuardStatusPart, 'interfaces'> & { interfaces: WireGuardStatusPart['interfaces'] & ControlInterfaceStatus };
export type LispAgentStatus = StatusBase & Omit<LispStatusPart, 'interfaces'> & { interfaces: LispStatusPart['interfaces'] & ControlInterfaceStatus };
/** An agent's status, as its admin socket returns it; `dataPlane` says which fields it has. */
export type AgentStatus = WireGuardAgentStatus | LispAgentStatus;

/** The `resolver` block of a status, from the resolver's counters and the agent's own. */
export function resolverStatus(r: ResolverStats, negativeReplies: number, missToInstalledMs: readonly number[]): StatusBase['resolver'] {
  const { latenciesMs, ...counts } = r;
  return { ...counts, negativeReplies, resolution: latency(latenciesMs), missToInstalled: latency(missToInstalledMs) };
}

export function latency(samples: readonly number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => {
    if (s.length === 0) return NaN;
    const pos = (s.length - 1) * p;
    const lo = Math.floor(pos);
    return s[lo]! + (s[Math.ceil(pos)]! - s[lo]!) * (pos - lo);
  };
  return { n: s.length, medianMs: q(0.5), p99Ms: q(0.99), maxMs: s.length ? s[s.length - 1]! : NaN };
}

export function ago(s: number | undefined): string {
  if (s === undefined) return 'never';
  if (s < 1) return 'just now';
  const parts: string[] = [];
  let r = Math.floor(s);
  for (const [unit, len] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]] as const) {
    const n = Math.floor(r / len);
    if (n > 0) parts.push(`${n} ${unit}${n > 1 ? 's' : ''}`);
    r -= n * len;
  }
  return parts.join(', ') + ' ago';
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(3)} ms`);
const lat = (l: Latency) => (l.n === 0 ? 'none yet' : `median ${ms(l.medianMs)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)} (n=${l.n})`);
const duration = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s` : `${Math.max(0, Math.floor(s))} s`);

export function renderStatus(st: AgentStatus): string {
  const o: string[] = [];
  o.push(`agent: ${st.name}`);
  const dataPlane = st.dataPlane === 'wireguard' ? `wireguard ${st.wireguardBackend}` : `plain LISP (UDP ${st.interfaces.dataPort})`;
  o.push(`  mode: ${st.mode}, instance ID ${st.instanceId}, pid ${st.pid}, up ${duration(st.uptimeS)}, data plane ${dataPlane}, control channel ${st.controlChannel}, miss policy ${st.missPolicy}`);
  const r = st.registration;
  o.push(`  map-server: ${r.mapServer} (${r.state}${r.lastRegisteredAgoS !== undefined ? `, last Map-Notify ${ago(r.lastRegisteredAgoS)}` : ''})`);
  if (r.mapServers) {
    o.push(`  map-servers: ${r.mapServers.map((m) => `${m.controlAddress} (${[m.preferred ? 'asked first' : '', m.lastNotifyAgoS !== undefined ? `last Map-Notify ${ago(m.lastNotifyAgoS)}` : 'no Map-Notify yet'].filter(Boolean).join(', ')})`).join(', ')}`);
  }
  o.push(`  eid prefixes: ${r.eidPrefixes.join(', ')}`);
  o.push(`  rlocs: ${r.rlocs.length ? r.rlocs.map((x) => `${x.address} (${x.interface}, priority ${x.priority}, weight ${x.weight})`).join(', ') : 'none'}`);
  o.push('');
  const control = `control: ${st.interfaces.control} (${st.interfaces.controlBackend}, public key ${st.interfaces.controlPublicKey})`;
  if (st.dataPlane === 'lisp') {
    o.push(`interface: ${st.interfaces.tun} (plain LISP: encapsulated to UDP ${st.interfaces.dataPort})`);
    o.push(`  ${control}`);
  } else {
    o.push(`interface: ${st.interfaces.data}`);
    o.push(`  public key: ${st.interfaces.publicKey}`);
    o.push(`  listening port: ${st.interfaces.dataPort}`);
    o.push(`  ${control}, miss capture: ${st.interfaces.tun}`);
    for (const p of st.peers) {
      o.push('');
      o.push(`peer: ${p.publicKey}`);
      if (p.endpoint) o.push(`  endpoint: ${p.endpoint}`);
      o.push(`  allowed ips: ${p.eidPrefixes.join(', ')}`);
      o.push(`  latest handshake: ${ago(p.latestHandshakeS)}`);
      o.push(`  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
      o.push(`  learnt from: ${p.source}, ${ago(p.installedAgoS)}`);
    }
  }
  o.push('');
  o.push(`map-cache: ${st.mapCache.length} entr${st.mapCache.length === 1 ? 'y' : 'ies'}`);
  for (const e of st.mapCache) {
    const what = e.kind === 'negative' ? `negative (${e.action ?? 'drop'})` : `rloc ${e.rlocs.join(', ') || '-'}${e.publicKey ? `, key ${e.publicKey.slice(0, 8)}...` : ''}`;
    o.push(`  [${e.instanceId}] ${e.prefix}  ${what}, expires in ${duration(e.expiresInS)}, from ${e.source}`);
  }
  o.push('');
  const b = st.buffer;
  const drops = Object.entries(b.dropped).filter(([, n]) => n > 0);
  o.push(`miss buffer: ${b.buffered} packets held for ${b.destinations} destinations, ${b.released} released, dropped ${drops.length ? drops.map(([k, n]) => `${n} (${k})`).join(', ') : '0'}`);
  const v = st.resolver;
  o.push(`resolution: ${v.requestsSent} Map-Requests (${v.retransmissions} retransmitted), ${v.answered} answered, ${v.negativeReplies} negative, ${v.giveUps} unanswered, ${v.inFlight} in flight`);
  o.push(`  request to reply: ${lat(v.resolution)}`);
  o.push(`  miss to installed: ${lat(v.missToInstalled)}`);
  const c = Object.entries(st.counters).filter(([, n]) => n > 0);
  if (c.length) o.push(`counters: ${c.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return o.join('\n');
}
