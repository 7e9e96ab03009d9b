/**
 * The tunnel router / mobile node agent (`lispwg xtr`): the paper's endpoint (Fig. 4).
 *
 * - Bootstrap: a control WireGuard tunnel to the Map-Server (LISP control messages only travel
 *   inside it), the data WireGuard interface, a TUN holding the route for the EID space.
 * - Registration: every EID prefix, wrapped in a Security Key LCAF with the data interface's
 *   public key, with the RLOCs of the RLOC interfaces; again at once when an address changes.
 * - Miss: a packet read from the TUN has no map-cache entry: it is buffered (bounded) and one
 *   Map-Request goes out (retransmitted with backoff). On the Map-Reply, or on a Map-Notify the
 *   Map-Server pushes, the peer and a route more specific than the TUN's are installed, and the
 *   buffered packets are written back into the TUN: the kernel now routes them into WireGuard.
 * - Upkeep: entries expire with their TTL unless used in their last `refresh-before-expiry`
 *   (then re-resolved); idle peers are removed; a peer sent to that stays silent is re-resolved
 *   (double jump); withdrawals remove peer and route at once.
 */
import { writeFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import type { ControlClient, MappingEvent, Resolution, WithdrawnEvent } from './control-client.js';
import { openControlChannel, openControlTunnel, readRlocs, repointMapServer, sameRlocs, siteRecords, type Rloc } from './site.js';
import { eidOf, recordKey, type MappingRecord } from '../lisp/index.js';
import { MapCache, refreshDue } from '../mapping/map-cache.js';
import { prefixOf } from '../mapping/database.js';
import { familyBits, type EidPrefix } from '../mapping/eid.js';
import { openWireGuard, type WgDevice, type WgPeerStatus } from '../wg/wireguard.js';
import { keyToBase64, keyToHex } from '../wg/keys.js';
import { Rtnetlink, monitorAddresses, type AddressMonitor } from '../net/rtnetlink.js';
import { TunDevice } from '../dataplane/tun/tun.js';
import { ipDestination } from '../dataplane/ip.js';
import { PacketBuffer } from '../dataplane/packet-buffer.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import type { AgentConfig } from './config.js';
import { makePlan, type Plan } from './plan.js';
import { loadOrCreateKey, type AgentKey } from './key-source.js';
import { Resolver } from './resolver.js';
import { Installer } from './install.js';
import { EventLog } from './events.js';
import { StateFile, currentNetns, processMatches } from './state.js';
import { serveAdmin } from './admin.js';
import type { GrpcControlClient } from '../grpc/client.js';
import { resolverStatus, type AgentStatus, type MapCacheStatus, type PeerStatus } from './show.js';

type CacheValue =
  | {
      kind: 'positive';
      key: Uint8Array;
      /** The RLOC the endpoint points at, and all the record's usable RLOCs. */
      rloc: string;
      rlocs: string[];
      source: 'map-reply' | 'map-notify';
      /** False while the peer and route are being installed (misses are then buffered). */
      installed: boolean;
      installedAt: number;
      /** A re-resolution for this entry is in flight, and why. */
      refreshing: false | 'expiry' | 'silent';
    }
  | { kind: 'negative'; action: number; source: 'map-reply' };

interface PeerActivity {
  rx: number;
  tx: number;
  /** Last time rx or tx moved (monotonic ms). */
  activeAt: number;
  /** Last time rx moved. */
  rxAt: number;
  /** Last time the Map-Server pushed this peer's mapping (its site is about to send: not idle). */
  pushedAt: number;
  /** Silence probes: the next allowed one, and the current backoff. */
  probeAt: number;
  probeBackoff: number;
}

const ACTIONS = ['no-action', 'natively-forward', 'send-map-request', 'drop'];
const FOREVER_TTL = 0xffffffff;
const MAX_PROBE_BACKOFF_MS = 60_000;
/** Re-creations of a peer whose first handshake does not complete (see watchHandshake). */
const HANDSHAKE_RETRIES = 3;
/** A packet for an installed prefix still arriving on the TUN this long after install: the route is gone. */
const ROUTE_RACE_MS = 1000;

const prefixText = (p: EidPrefix): string => `${p.address}/${p.maskLen}`;
const afiOf = (address: string) => (address.includes(':') ? ('ipv6' as const) : ('ipv4' as const));

export class Agent {
  private readonly cache = new MapCache<CacheValue>();
  private readonly activity = new Map<string, PeerActivity>();
  private readonly counters: Record<string, number> = {};
  private readonly missToInstalled: number[] = [];
  private readonly started = performance.now();
  private rlocs: Rloc[] = [];
  private registeredAt: number | undefined;
  /** Peers whose first handshake is being watched (see watchHandshake). */
  private readonly handshakeWatch = new Map<string, NodeJS.Timeout>();
  /** RLOC changes are handled one after the other. */
  private rlocWork: Promise<void> = Promise.resolve();
  private tick: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopping: Promise<void> | undefined;
  private monitor: AddressMonitor | undefined;
  private admin: Server | undefined;
  private readonly buffer: PacketBuffer;
  private readonly resolver: Resolver;
  private installer!: Installer;
  private client!: ControlClient;
  /** control-channel: grpc: resolution and pushes over gRPC (registration stays LISP). */
  private grpc: GrpcControlClient | undefined;
  private tun!: TunDevice;
  private data!: WgDevice;
  private control!: WgDevice;
  private readonly plan: Plan;
  private readonly ownEids: Partial<Record<'ipv4' | 'ipv6', string>> = {};
  private readonly eidSpace: EidPrefix[];

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    readonly events: EventLog,
    private readonly state: StateFile,
    private readonly rt: Rtnetlink,
    private readonly keys: { control: AgentKey; data: AgentKey },
  ) {
    this.plan = makePlan(config);
    this.buffer = new PacketBuffer({
      maxPackets: config.missBuffer.packets,
      maxBytes: config.missBuffer.bytes,
      maxDestinations: config.missBuffer.destinations,
      maxAgeMs: config.missBuffer.maxAgeMs,
    });
    this.resolver = new Resolver(config.timers.resolve, {
      send: (dest, attempt) => this.sendMapRequest(dest, attempt),
      giveUp: (dest, attempts) => this.onGiveUp(dest, attempts),
    });
    this.eidSpace = config.eidSpace.map((p) => prefixOf(0, p.family === 4 ? 'ipv4' : 'ipv6', p.address, p.length));
    for (const e of config.eidPrefixes) this.ownEids[e.prefix.family === 4 ? 'ipv4' : 'ipv6'] ??= e.address ?? e.prefix.address;
  }

  /** Brings the agent up (cleaning what a crashed predecessor left first); throws what failed, after undoing what was done. */
  static async start(config: AgentConfig, log: Logger = createLogger({ component: 'xtr', agent: config.name })): Promise<Agent> {
    const rt = Rtnetlink.open();
    cleanupLeftovers(config.stateFile, rt, log);
    const state = new StateFile(config.stateFile);
    state.save();
    const events = new EventLog(config.eventLog, { agent: config.name });
    let agent: Agent | undefined;
    try {
      const keys = { control: await loadOrCreateKey(config.control.privateKey, 'control'), data: await loadOrCreateKey(config.data.privateKey, 'data') };
      for (const [what, k] of Object.entries(keys)) {
        if (k.generated) log.info(`generated the ${what} key`, { file: 'file' in config[what as 'control' | 'data'].privateKey ? (config[what as 'control' | 'data'].privateKey as { file: string }).file : undefined });
        if (k.warning) log.warn(k.warning);
      }
      agent = new Agent(config, log, events, state, rt, keys);
      await agent.bringUp();
      return agent;
    } catch (e) {
      if (agent) await agent.stop();
      else {
        await events.close();
        state.remove();
        rt.close();
      }
      throw e;
    }
  }

  private async bringUp(): Promise<void> {
    const c = this.config;
    const p = this.plan;
    const [ctlIf, dataIf, tunIf] = p.interfaces as [Plan['interfaces'][0], Plan['interfaces'][0], Plan['interfaces'][0]];

    // control tunnel to the Map-Server
    this.control = await openControlTunnel(c, p, this.keys.control.privateKey, this.state, this.rt, this.log);

    // data interface
    this.state.addInterface(dataIf.name);
    this.data = await openWireGuard({ name: dataIf.name, privateKey: this.keys.data.privateKey, listenPort: c.data.port, addresses: dataIf.addresses, backend: c.wireguard.backend, log: this.log.child({ wg: dataIf.name }) });
    this.installer = new Installer(this.data, this.rt, { dataInterface: dataIf.name, port: c.data.port, table: c.table, src: p.install.src });
    this.data.onRestart(() => {
      this.log.warn('the data interface was re-created: putting its routes back');
      this.installer.reinstallRoutes();
    });

    // miss capture
    this.state.addInterface(tunIf.name);
    this.tun = TunDevice.open(tunIf.name);
    this.rt.setMtu(tunIf.name, 1420); // as the data interface: what is released must fit into it
    for (const s of p.sysctls) this.state.setSysctl(s.key, s.value, c.tun.interface);
    this.rt.setLinkUp(tunIf.name);
    for (const r of p.routes.slice(1)) this.rt.replaceRoute(r);

    // control plane: the Map-Server replies to a requester after our Map-Notify-Ack (push-then-reply)
    const channel = await openControlChannel(c, this.log, this.events, {
      onPush: async (events) => {
        for (const e of events) {
          if ('record' in e) await this.takePush(e, 'pushed mapping');
          else await this.onWithdrawn(e).catch((err: unknown) => this.fault('withdrawal', err));
        }
      },
      onGrpcPush: (e) => this.takePush(e, 'pushed mapping (gRPC)'),
      onRegistered: (t) => (this.registeredAt = t),
      count: (what) => this.count(what),
    });
    this.client = channel.client;
    this.grpc = channel.grpc;

    this.monitor = monitorAddresses(
      (e) => {
        try {
          if (e.type === 'route') this.client.hurryRegistration();
          else this.refreshRlocs('address change');
        } catch (err) {
          this.fault('reading the RLOC addresses', err);
        }
      },
      { routes: true },
    );
    this.refreshRlocs('start');

    this.tun.onPacket(
      (pkt) => {
        try {
          this.onTunPacket(pkt);
        } catch (e) {
          this.fault('packet from the TUN', e);
        }
      },
      (e) => this.fault('reading the TUN', e),
    );

    const tickMs = Math.max(100, Math.min(1000, Math.floor(c.timers.peerSilenceMs / 3)));
    this.tick = setInterval(() => void this.upkeep(), tickMs);

    this.admin = await serveAdmin(c.adminSocket, (cmd) => this.onAdmin(cmd));
    this.state.addFile(c.adminSocket);
    this.events.emit('agent-started', { mode: c.mode, instanceId: c.instanceId, backend: this.data.backend, pid: process.pid });
    this.log.info('agent up', { mode: c.mode, backend: this.data.backend, data: dataIf.name, control: ctlIf.name, tun: tunIf.name, publicKey: keyToBase64(this.keys.data.publicKey) });
  }

  // --- registration -----------------------------------------------------------------------------

  /** Reads the RLOC interfaces' addresses; registers at once when they changed. */
  private refreshRlocs(why: string): void {
    if (this.stopping) return;
    const next = readRlocs(this.config, this.rt);
    if (sameRlocs(next, this.rlocs)) return;
    const before = this.rlocs.map((r) => r.address);
    this.rlocs = next;
    this.events.emit('rloc-changed', { why, from: before, to: next.map((r) => r.address) });
    // no RLOC (between two networks in a handover): register when the next one appears
    if (next.length === 0) return;
    this.rlocWork = this.rlocWork
      .then(() => this.unstickSources())
      .catch((e: unknown) => this.fault('re-setting endpoints after an RLOC change', e))
      .then(() => this.register());
  }

  /** After an RLOC change every peer (the Map-Server's included) is given its endpoint again (see repointMapServer). */
  private async unstickSources(): Promise<void> {
    const c = this.config;
    await repointMapServer(this.control, c);
    if (this.installer.size() === 0) return;
    const current = new Map((await this.data.peers()).map((s) => [keyToHex(s.publicKey), s.endpoint]));
    for (const peer of this.installer.all()) {
      const ep = current.get(keyToHex(peer.publicKey)) ?? (peer.rloc ? { address: peer.rloc, port: c.data.port } : undefined);
      if (ep) await this.data.setPeer({ publicKey: peer.publicKey, endpoint: ep, allowedIps: [] });
    }
  }

  private register(): void {
    this.events.emit('register-sent', { rlocs: this.rlocs.map((r) => r.address), eidPrefixes: this.config.eidPrefixes.map((e) => e.prefix.text) });
    this.client.register(siteRecords(this.config, this.rlocs, this.keys.data.publicKey)).catch(() => {
      // REGISTER_TIMEOUT is logged by the listener; the client keeps trying
    });
  }

  // --- miss path --------------------------------------------------------------------------------

  private onTunPacket(pkt: Buffer): void {
    const dst = ipDestination(pkt);
    if (!dst) return this.count('tun-not-ip');
    const afi = afiOf(dst);
    // only the EID space is ours to resolve (not what the kernel sends on any interface: MLD...)
    if (!this.eidSpace.some((p) => p.afi === afi && prefixOf(0, afi, dst, p.maskLen).address === p.address)) return this.count('tun-outside-eid-space');
    const iid = this.config.instanceId;
    const entry = this.cache.lookup(iid, afi, dst);
    if (entry) {
      const v = entry.value;
      if (v.kind === 'negative') return this.buffer.dropUnbuffered('negative');
      const key = prefixText(entry.prefix);
      if (!v.installed) {
        if (this.config.missPolicy === 'buffer') this.buffer.push(key, pkt);
        else this.buffer.dropUnbuffered('policy');
        return;
      }
      // installed: a packet that was queued on the TUN before the route went in; past the race
      // window the route must have gone missing: put it back
      if (performance.now() - v.installedAt > ROUTE_RACE_MS) {
        this.count('route-repaired');
        this.installer.repairRoute(key);
        v.installedAt = performance.now();
      }
      this.tun.write(pkt);
      this.count('rerouted');
      return;
    }
    const key = `${dst}/${familyBits(afi)}`;
    if (this.config.missPolicy === 'buffer') this.buffer.push(key, pkt);
    else this.buffer.dropUnbuffered('policy');
    if (!this.resolver.pending(key)) {
      this.count('misses');
      this.events.emit('miss', { eid: dst, bytes: pkt.length });
      this.resolver.resolve(key);
    }
  }

  /** One Map-Request for `dest` (an EID prefix "address/len"); the resolver retransmits. */
  private sendMapRequest(dest: string, attempt: number): void {
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const r = this.config.timers.resolve;
    // a late answer to an earlier attempt is as good as any: each attempt waits the whole budget
    const budget = r.firstTimeoutMs * r.attempts + r.maxTimeoutMs * r.attempts;
    const sourceEid = this.ownEids[afiOf(address)];
    this.events.emit('map-request-sent', { eid: dest, attempt, ...(this.grpc ? { channel: 'grpc' } : {}) });
    if (this.grpc) {
      this.grpc
        .resolve(address, { instanceId: this.config.instanceId, ...(sourceEid ? { sourceEid } : {}) })
        .then(
          (res) => this.onResolution(dest, { ...res, nonce: 0n, attempts: 1, elapsedMs: res.rttMs }),
          () => undefined, // failed or timed out: the resolver decides what comes next
        )
        .catch((e: unknown) => this.fault('gRPC reply', e));
      return;
    }
    this.client
      .resolve(address, { iid: this.config.instanceId, ...(sourceEid ? { sourceEid } : {}), retries: 0, timeoutMs: budget })
      .then(
        (res) => this.onResolution(dest, res),
        () => undefined, // this attempt timed out: the resolver decides what comes next
      )
      .catch((e: unknown) => this.fault('Map-Reply', e));
  }

  private async onResolution(dest: string, res: Resolution): Promise<void> {
    if (this.stopping) return;
    const started = this.resolver.startedAt(dest);
    if (this.resolver.answered(dest) === undefined) return; // another attempt already answered
    this.events.emit('map-reply-received', { eid: dest, rttMs: round(res.rttMs), attempts: res.attempts, records: res.records.length }, res.t);
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const afi = afiOf(address);
    const record = res.records.find((r) => {
      const e = eidOf(r.eid);
      return e && e.family === afi && e.instanceId === this.config.instanceId && prefixOf(e.instanceId, e.family, e.address, r.maskLen).address === prefixOf(e.instanceId, e.family, address, r.maskLen).address;
    });
    if (!record) {
      this.count('reply-without-matching-record');
      return this.cacheNegative(prefixOf(this.config.instanceId, afi, address, familyBits(afi)), 0, this.config.timers.resolve.negativeTtlMs);
    }
    const e = eidOf(record.eid)!;
    const prefix = prefixOf(e.instanceId, e.family, e.address, record.maskLen);
    const ttlMs = record.ttl === FOREVER_TTL ? Infinity : record.ttl * 60_000;
    if (record.locators.length === 0) return this.cacheNegative(prefix, record.action, ttlMs || this.config.timers.resolve.negativeTtlMs);
    let key: Uint8Array | undefined;
    try {
      key = recordKey(record);
    } catch (err) {
      this.log.warn('a record with an unusable Security Key', { prefix: prefixText(prefix), error: (err as Error).message });
    }
    if (!key) {
      // a plain LISP record: nothing to build a WireGuard tunnel with
      this.count('reply-without-key');
      return this.cacheNegative(prefix, 0, this.config.timers.resolve.negativeTtlMs);
    }
    // a refresh of an installed entry is not a miss: it does not count in miss-to-installed
    const installed = this.cache.get(prefix)?.value;
    const miss = !(installed?.kind === 'positive' && installed.installed);
    await this.applyMapping(prefix, record, key, ttlMs, 'map-reply', miss ? started : undefined);
  }

  private onGiveUp(dest: string, attempts: number): void {
    const dropped = this.buffer.discard(dest, 'unresolved');
    this.events.emit('resolve-gave-up', { eid: dest, attempts, dropped });
    const v = this.cache.get(this.prefixFromKey(dest))?.value;
    if (v?.kind === 'positive') v.refreshing = false;
  }

  private cacheNegative(prefix: EidPrefix, action: number, ttlMs: number): void {
    const text = prefixText(prefix);
    this.count('negative-replies');
    this.events.emit('negative-reply', { prefix: text, action: ACTIONS[action] ?? action, ttlS: ttlMs / 1000 });
    // a negative answer replaces a mapping we held (the site is gone): the peer goes too
    if (this.installer.peerOf(text)) void this.removePrefix(prefix, 'negative-reply');
    this.cache.set(prefix, { kind: 'negative', action, source: 'map-reply' }, ttlMs);
    for (const k of this.bufferedKeysIn(prefix)) this.buffer.discard(k, 'negative');
  }

  // --- install ----------------------------------------------------------------------------------

  /** Installs (or updates) the mapping of `prefix`, then releases what was buffered for it. */
  private async applyMapping(prefix: EidPrefix, record: MappingRecord, key: Uint8Array, ttlMs: number, source: 'map-reply' | 'map-notify', missAt?: number, onPeerSet?: () => void): Promise<void> {
    const text = prefixText(prefix);
    const refuse = (why: string) => {
      this.count(why);
      this.log.warn('a mapping the agent cannot use: ignored', { prefix: text, why });
      for (const k of this.bufferedKeysIn(prefix)) this.buffer.discard(k, 'unresolved');
    };
    if (this.isOwn(prefix)) return refuse('mapping-for-own-eid');
    // only the overlay is routed into WireGuard: a record for 0.0.0.0/0 must not take the underlay
    if (!this.eidSpace.some((s) => s.afi === prefix.afi && s.maskLen <= prefix.maskLen && prefixOf(0, prefix.afi, prefix.address, s.maskLen).address === s.address)) {
      return refuse('mapping-outside-eid-space');
    }
    const rlocs = usableRlocs(record);
    const rloc = rlocs[0];
    if (!rloc) return refuse('mapping-without-usable-rloc');
    const prev = this.cache.get(prefix)?.value;
    const known = prev?.kind === 'positive' && prev.installed && Buffer.compare(Buffer.from(prev.key), Buffer.from(key)) === 0;
    const silent = prev?.kind === 'positive' && prev.refreshing === 'silent';
    const value: CacheValue = { kind: 'positive', key, rloc, rlocs, source: known ? prev.source : source, installed: known, installedAt: known ? prev.installedAt : 0, refreshing: false };
    this.cache.set(prefix, value, ttlMs);
    let timing;
    try {
      timing = await this.installer.install(text, key, rloc, source, onPeerSet);
    } catch (e) {
      this.cache.delete(prefix);
      for (const k of this.bufferedKeysIn(prefix)) this.buffer.discard(k, 'unresolved');
      throw e;
    }
    if (timing.change !== 'none' || !known) {
      const ev = timing.change === 'endpoint' ? 'peer-updated' : 'peer-installed';
      this.events.emit(ev, { prefix: text, rloc, endpointPort: this.config.data.port, source, change: timing.change, publicKey: keyToBase64(key), wgSetMs: round(timing.peerAt - timing.requestedAt) }, timing.peerAt);
      if (timing.routeAt !== undefined) this.events.emit('route-installed', { prefix: text, dev: this.config.data.interface }, timing.routeAt);
      const act = this.activity.get(keyToHex(key));
      if (act && timing.change === 'endpoint') {
        // a new endpoint: give the peer a fresh chance before calling it silent again
        act.rxAt = performance.now();
        act.probeBackoff = this.config.timers.peerSilenceMs;
      }
    }
    if (source === 'map-notify') {
      // a push means its site is about to send to us: restart the idle clock, or an upkeep round
      // could remove the peer in the few ms before that site's handshake arrives
      const act = this.activity.get(keyToHex(key));
      if (act) act.pushedAt = performance.now();
    }
    if (!known) {
      value.installed = true;
      value.installedAt = timing.peerAt;
    }
    if (silent && timing.change === 'none' && (await this.installer.reset(key))) {
      // same key, same RLOC, and still silent: the peer lost our session (it restarted); a
      // fresh handshake brings it back (WireGuard alone would wait for its 15-s rekey timeout)
      this.events.emit('peer-reset', { prefix: text, rloc });
    }
    if (missAt !== undefined && timing.change !== 'none') {
      this.missToInstalled.push((timing.routeAt ?? timing.peerAt) - missAt);
      if (this.missToInstalled.length > 1024) this.missToInstalled.shift();
    }
    const released = this.release(prefix);
    if (released.length && timing.change === 'new-peer') this.watchHandshake(key, released, 1);
  }

  /**
   * We initiate the handshake of a peer we resolved. If the destination did not hold our key yet
   * when our initiation arrived (its push came late), WireGuard drops it silently and retries only
   * after 5 s. So: no handshake completed after `handshake-retry` (doubling, a few times) -> the
   * peer is re-created, which makes the next packet start a new handshake, and the released
   * packets (none of which could have been delivered without a session) are released again.
   */
  private watchHandshake(key: Uint8Array, packets: Uint8Array[], attempt: number): void {
    const id = keyToHex(key);
    if (this.handshakeWatch.has(id) || this.stopping) return;
    const wait = this.config.timers.handshakeRetryMs * 2 ** (attempt - 1);
    const timer = setTimeout(() => {
      this.handshakeWatch.delete(id);
      void (async () => {
        if (this.stopping) return;
        const s = (await this.data.peers()).find((p) => keyToHex(p.publicKey) === id);
        if (!s || s.lastHandshake) return;
        if (attempt > HANDSHAKE_RETRIES) {
          this.events.emit('handshake-gave-up', { publicKey: keyToBase64(key), attempts: attempt - 1 });
          return;
        }
        if (!(await this.installer.reset(key))) return;
        this.count('handshake-retries');
        this.events.emit('handshake-retry', { publicKey: keyToBase64(key), attempt, afterMs: wait, packets: packets.length });
        for (const p of packets) this.tun.write(p);
        this.watchHandshake(key, packets, attempt + 1);
      })().catch((e: unknown) => this.fault('handshake watch', e));
    }, wait);
    this.handshakeWatch.set(id, timer);
  }

  /** Writes the packets buffered for destinations inside `prefix` back into the TUN; returns them. */
  private release(prefix: EidPrefix): Uint8Array[] {
    const all: Uint8Array[] = [];
    let first = true;
    for (const k of this.bufferedKeysIn(prefix)) {
      this.resolver.answered(k); // a covering answer also settles the narrower requests
      const pkts = this.buffer.take(k);
      for (const p of pkts) {
        this.tun.write(p);
        if (first) {
          this.events.emit('first-packet-released', { prefix: prefixText(prefix), eid: k });
          first = false;
        }
      }
      if (pkts.length) this.events.emit('packets-released', { prefix: prefixText(prefix), eid: k, packets: pkts.length });
      all.push(...pkts);
    }
    return all;
  }

  /** Destinations inside `prefix` that wait: packets buffered, or a request in flight. */
  private bufferedKeysIn(prefix: EidPrefix): string[] {
    const out: string[] = [];
    for (const k of new Set([...this.resolver.inFlightKeys(), ...this.buffer.keys()])) {
      if (this.covers(prefix, k)) out.push(k);
    }
    return out;
  }

  private covers(prefix: EidPrefix, key: string): boolean {
    const slash = key.lastIndexOf('/');
    const address = key.slice(0, slash);
    const len = Number(key.slice(slash + 1));
    if (afiOf(address) !== prefix.afi || len < prefix.maskLen) return false;
    return prefixOf(prefix.iid, prefix.afi, address, prefix.maskLen).address === prefix.address;
  }

  private prefixFromKey(key: string): EidPrefix {
    const slash = key.lastIndexOf('/');
    const address = key.slice(0, slash);
    return prefixOf(this.config.instanceId, afiOf(address), address, Number(key.slice(slash + 1)));
  }

  private isOwn(prefix: EidPrefix): boolean {
    return this.config.eidPrefixes.some((e) => {
      const own = prefixOf(this.config.instanceId, e.prefix.family === 4 ? 'ipv4' : 'ipv6', e.prefix.address, e.prefix.length);
      if (own.afi !== prefix.afi) return false;
      const len = Math.min(own.maskLen, prefix.maskLen);
      return prefixOf(prefix.iid, prefix.afi, own.address, len).address === prefixOf(prefix.iid, prefix.afi, prefix.address, len).address;
    });
  }

  // --- pushed Map-Notifies ----------------------------------------------------------------------

  /**
   * Handles a pushed mapping; resolves when its acknowledgement may go: as soon as WireGuard holds
   * the peer (the requester's first handshake, which waits for the Ack, will find it), or once
   * handling ended without a new peer. The route goes in while the Ack travels: it only carries
   * our answers, which the requester's first packets must reach us before they need.
   */
  private takePush(e: MappingEvent, what: string): Promise<void> {
    return new Promise<void>((ackable) => {
      this.onPushedMapping(e, ackable)
        .catch((err: unknown) => this.fault(what, err))
        .finally(ackable);
    });
  }

  private async onPushedMapping(e: MappingEvent, onPeerSet?: () => void): Promise<void> {
    if (this.stopping) return;
    const text = prefixText(e.prefix);
    this.events.emit('map-notify-received', { prefix: text, from: e.from.address, key: e.key ? keyToBase64(e.key) : null }, e.t);
    if (e.prefix.iid !== this.config.instanceId) return this.count('map-notify-other-instance');
    if (!e.key) return this.count('map-notify-without-key');
    const ttlMs = e.record.ttl === FOREVER_TTL ? Infinity : e.record.ttl * 60_000;
    await this.applyMapping(e.prefix, e.record, e.key, ttlMs, 'map-notify', undefined, onPeerSet);
  }

  private async onWithdrawn(e: WithdrawnEvent): Promise<void> {
    if (this.stopping) return;
    const text = prefixText(e.prefix);
    this.events.emit('revoked', { prefix: text, key: e.key ? keyToBase64(e.key) : null, from: e.from.address }, e.t);
    const removed = new Set<string>();
    for (const entry of [...this.cache.entries()]) {
      if (entry.value.kind === 'positive' && (this.covers(e.prefix, prefixText(entry.prefix)) || (e.key && Buffer.compare(Buffer.from(entry.value.key), Buffer.from(e.key)) === 0))) {
        removed.add(prefixText(entry.prefix));
        await this.removePrefix(entry.prefix, 'revoked');
      }
    }
    if (e.key) for (const p of await this.installer.removePeer(e.key)) removed.add(p);
    this.count('withdrawals');
    if (removed.size === 0) this.log.info('a withdrawal for nothing we hold', { prefix: text });
  }

  private async removePrefix(prefix: EidPrefix, why: string): Promise<void> {
    const text = prefixText(prefix);
    this.cache.delete(prefix);
    const peer = await this.installer.remove(text);
    if (peer) {
      this.events.emit('peer-removed', { prefix: text, why, publicKey: keyToBase64(peer.publicKey), peerGone: peer.prefixes.size === 0 });
      if (peer.prefixes.size === 0) this.activity.delete(keyToHex(peer.publicKey));
    }
  }

  // --- upkeep: expiry, idle peers, silent peers -------------------------------------------------

  private async upkeep(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      this.buffer.expire();
      const now = performance.now();
      const t = this.config.timers;
      let stats: WgPeerStatus[] = [];
      if (this.installer.size() > 0) stats = await this.data.peers();
      const byKey = new Map(stats.map((s) => [keyToHex(s.publicKey), s]));
      for (const peer of [...this.installer.all()]) {
        const id = keyToHex(peer.publicKey);
        const s = byKey.get(id);
        if (!s) continue;
        let a = this.activity.get(id);
        if (!a) {
          a = { rx: s.rxBytes, tx: s.txBytes, activeAt: now, rxAt: now, pushedAt: 0, probeAt: 0, probeBackoff: t.peerSilenceMs };
          this.activity.set(id, a);
          continue;
        }
        const rxMoved = s.rxBytes !== a.rx;
        const txMoved = s.txBytes !== a.tx;
        a.rx = s.rxBytes;
        a.tx = s.txBytes;
        if (rxMoved || txMoved) a.activeAt = now;
        if (rxMoved) {
          a.rxAt = now;
          a.probeBackoff = t.peerSilenceMs;
        }
        const handshakeAge = s.lastHandshake ? Date.now() - s.lastHandshake.getTime() : Infinity;
        // double jump: we keep sending, nothing comes back, no handshake completes
        if (txMoved && now - a.rxAt >= t.peerSilenceMs && handshakeAge >= t.peerSilenceMs && now >= a.probeAt) {
          a.probeAt = now + a.probeBackoff;
          a.probeBackoff = Math.min(a.probeBackoff * 2, MAX_PROBE_BACKOFF_MS);
          this.events.emit('peer-silent', { publicKey: keyToBase64(peer.publicKey), prefixes: [...peer.prefixes], silentMs: Math.round(now - a.rxAt) });
          for (const p of peer.prefixes) this.refresh(p, 'silent');
        }
        if (now - Math.max(a.activeAt, a.pushedAt) >= t.idleTimeoutMs) {
          this.events.emit('peer-idle', { publicKey: keyToBase64(peer.publicKey), prefixes: [...peer.prefixes], idleS: Math.round((now - a.activeAt) / 1000) });
          for (const p of [...peer.prefixes]) await this.removePrefix(this.prefixFromKey(p), 'idle');
        }
      }
      // expiry: refresh what is in use shortly before it expires, drop the rest when it does
      for (const peer of [...this.installer.all()]) {
        const a = this.activity.get(keyToHex(peer.publicKey));
        for (const p of [...peer.prefixes]) {
          const prefix = this.prefixFromKey(p);
          const entry = this.cache.get(prefix);
          if (!entry) {
            this.events.emit('entry-expired', { prefix: p });
            await this.removePrefix(prefix, 'expired');
            continue;
          }
          const v = entry.value;
          // in use = traffic inside the refresh window, not merely since the entry was installed
          if (v.kind === 'positive' && !v.refreshing && refreshDue(entry, a?.activeAt, now, t.refreshBeforeExpiryMs)) this.refresh(p, 'expiry');
        }
      }
      for (const gone of this.cache.expire()) if (gone.value.kind === 'positive') await this.removePrefix(gone.prefix, 'expired');
    } catch (e) {
      this.fault('upkeep', e);
    } finally {
      this.ticking = false;
    }
  }

  /** Re-resolves an installed prefix (before expiry, or because its peer went silent). */
  private refresh(prefix: string, why: 'expiry' | 'silent'): void {
    const v = this.cache.get(this.prefixFromKey(prefix))?.value;
    if (v?.kind === 'positive') v.refreshing = why;
    this.events.emit('entry-refresh', { prefix, why });
    this.resolver.resolve(prefix);
  }

  // --- admin, status ----------------------------------------------------------------------------

  private async onAdmin(cmd: string): Promise<unknown> {
    if (cmd === 'show') return this.status();
    if (cmd === 'flush') return this.flush();
    throw new LispwgError('ADMIN_UNKNOWN', `unknown command '${cmd}' (show, flush)`);
  }

  /** Forgets every mapping: peers, routes, map-cache, buffered packets (a cold start, for experiments). */
  async flush(): Promise<{ removed: number }> {
    let removed = 0;
    for (const entry of [...this.cache.entries()]) {
      if (entry.value.kind === 'positive') removed++;
      await this.removePrefix(entry.prefix, 'flush');
    }
    for (const p of [...this.installer.all()]) await this.installer.removePeer(p.publicKey);
    this.cache.clear();
    this.activity.clear();
    for (const t of this.handshakeWatch.values()) clearTimeout(t);
    this.handshakeWatch.clear();
    for (const k of this.buffer.keys()) this.buffer.discard(k, 'unresolved');
    this.resolver.close();
    return { removed };
  }

  async status(): Promise<AgentStatus> {
    const now = performance.now();
    const stats = this.installer.size() > 0 ? await this.data.peers() : [];
    const byKey = new Map(stats.map((s) => [keyToHex(s.publicKey), s]));
    const peers: PeerStatus[] = [...this.installer.all()].map((p) => {
      const s = byKey.get(keyToHex(p.publicKey));
      const ep = s?.endpoint ?? (p.rloc ? { address: p.rloc, port: this.config.data.port } : undefined);
      return {
        publicKey: keyToBase64(p.publicKey),
        eidPrefixes: [...p.prefixes],
        ...(ep ? { endpoint: ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}` } : {}),
        ...(s?.lastHandshake ? { latestHandshakeS: (Date.now() - s.lastHandshake.getTime()) / 1000 } : {}),
        rxBytes: s?.rxBytes ?? 0,
        txBytes: s?.txBytes ?? 0,
        source: p.source,
        installedAgoS: (Date.now() - p.installedAt) / 1000,
      };
    });
    const mapCache: MapCacheStatus[] = [...this.cache.entries()].map((e) => ({
      prefix: prefixText(e.prefix),
      instanceId: e.prefix.iid,
      kind: e.value.kind,
      rlocs: e.value.kind === 'positive' ? e.value.rlocs : [],
      ...(e.value.kind === 'positive' ? { publicKey: keyToBase64(e.value.key) } : { action: ACTIONS[e.value.action] ?? String(e.value.action) }),
      expiresInS: Number.isFinite(e.expiresAt) ? Math.max(0, (e.expiresAt - now) / 1000) : Infinity,
      source: e.value.source,
    }));
    const b = this.buffer.stats();
    const r = this.resolver.stats();
    return {
      name: this.config.name,
      mode: this.config.mode,
      pid: process.pid,
      instanceId: this.config.instanceId,
      uptimeS: (now - this.started) / 1000,
      wireguardBackend: this.data.backend,
      missPolicy: this.config.missPolicy,
      interfaces: {
        control: this.config.control.interface,
        data: this.config.data.interface,
        tun: this.config.tun.interface,
        dataPort: this.config.data.port,
        publicKey: keyToBase64(this.keys.data.publicKey),
        controlPublicKey: keyToBase64(this.keys.control.publicKey),
      },
      registration: {
        mapServer: `${this.config.mapServer.controlAddress} via ${this.config.mapServer.address}:${this.config.mapServer.port}`,
        state: this.registeredAt !== undefined ? 'registered' : 'registering',
        ...(this.registeredAt !== undefined ? { lastRegisteredAgoS: (now - this.registeredAt) / 1000 } : {}),
        eidPrefixes: this.config.eidPrefixes.map((e) => e.prefix.text),
        rlocs: this.rlocs,
      },
      mapCache,
      peers,
      buffer: { buffered: b.buffered, destinations: b.destinations, released: b.released, dropped: b.dropped },
      resolver: resolverStatus(r, this.counters['negative-replies'] ?? 0, this.missToInstalled),
      counters: { ...this.counters, ...prefixed('control-drop-', this.client.drops), ...(this.events.writeErrors ? { 'event-log-write-errors': this.events.writeErrors } : {}) },
    };
  }

  // --- shutdown ---------------------------------------------------------------------------------

  /** Removes every peer, route and interface the agent made; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (what: string, f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
        this.log.warn(`shutdown: ${what} failed`, { error: (e as Error).message });
      }
    };
    clearInterval(this.tick);
    for (const t of this.handshakeWatch.values()) clearTimeout(t);
    this.handshakeWatch.clear();
    this.resolver.close();
    this.monitor?.close();
    if (this.admin) await attempt('closing the admin socket', () => new Promise<void>((r) => this.admin!.close(() => r())));
    rmSync(this.config.adminSocket, { force: true });
    if (this.client) await attempt('closing the control client', () => this.client.close());
    this.grpc?.close();
    if (this.installer) await attempt('removing peers and routes', async () => {
      const errs = await this.installer.clear();
      if (errs.length) throw errs[0];
    });
    if (this.tun) await attempt('closing the TUN', () => this.tun.close());
    if (this.data) await attempt('removing the data interface', () => this.data.close());
    if (this.control) await attempt('removing the control interface', () => this.control.close());
    for (const s of this.state.state.sysctls) await attempt(`restoring ${s.path}`, () => restoreSysctl(s.path, s.previous));
    this.rt.close();
    this.events.emit('agent-stopped', { errors: errors.length });
    await this.events.close();
    if (errors.length === 0) this.state.remove();
    this.log.info('agent stopped', { errors: errors.length });
  }

  // --- helpers ----------------------------------------------------------------------------------


  private count(what: string): void {
    this.counters[what] = (this.counters[what] ?? 0) + 1;
  }

  private fault(where: string, e: unknown): void {
    this.count('faults');
    this.log.error(`error in ${where}`, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

/** The usable RLOCs of a record, best first: lowest priority, then highest weight (255: unusable). */
function usableRlocs(record: MappingRecord): string[] {
  return record.locators
    .filter((l) => l.priority !== 255 && l.reachable && (l.address.afi === 'ipv4' || l.address.afi === 'ipv6'))
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
    .map((l) => (l.address as { address: string }).address);
}

function restoreSysctl(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

function prefixed(prefix: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));
}

/**
 * Undoes what a previous run that did not stop cleanly left behind (interfaces, processes,
 * sysctls, socket files), as its state file lists. Refuses to start next to a live agent.
 */
export function cleanupLeftovers(stateFile: string, rt: Rtnetlink, log: Logger): void {
  const old = StateFile.read(stateFile);
  if (!old) return;
  if (old.pid !== process.pid && processMatches(old.pid, 'xtr')) {
    throw new LispwgError('AGENT_RUNNING', `an agent with this name already runs (pid ${old.pid}, state ${stateFile}): stop it first`);
  }
  log.warn('cleaning what a previous run left behind', { pid: old.pid, interfaces: old.interfaces });
  if (old.netns === currentNetns()) {
    for (const name of old.interfaces) {
      try {
        if (rt.link(name)) rt.deleteLink(name);
      } catch (e) {
        log.warn('cannot remove a leftover interface', { name, error: (e as Error).message });
      }
    }
    for (const s of old.sysctls) restoreSysctl(s.path, s.previous);
  } else if (old.interfaces.length) {
    log.warn('the previous run lived in another network namespace: its interfaces are not reachable from here', { interfaces: old.interfaces });
  }
  for (const f of old.files) rmSync(f, { force: true });
  for (const name of old.interfaces) rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
  rmSync(stateFile, { force: true });
}

/** `lispwg xtr`: runs until SIGINT/SIGTERM, then removes everything it made. */
export async function runAgent(config: AgentConfig): Promise<number> {
  const log = createLogger({ component: 'xtr', agent: config.name });
  const agent = await Agent.start(config, log);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info('stopping', { signal: sig });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await agent.stop();
  return 0;
}
