/**
 * The agent with `data-plane: lisp`: a plain LISP tunnel router / mobile node, as OOR is (the
 * paper's baseline). The same control plane as the LISP+WireGuard agent (control tunnel to the
 * same Map-Server, Map-Register, Map-Request over LISP or gRPC, pushed Map-Notifies), but
 * records carry no key and the data plane is LispDataPlane: packets routed into the TUN are
 * encapsulated in userspace to the RLOC of their map-cache entry (UDP 4341).
 *
 * Map-cache: a resolved record becomes a data-plane mapping (its best RLOC) for its TTL; a
 * negative reply a negative entry (dropped without asking again until it expires). Misses come
 * from the data plane's worker; `miss-policy` is its policy (drop as OOR, or buffer).
 *
 * Mobility (RFC 9301 section 6.1): when our RLOC changes we re-register at once and, once the
 * Map-Server acknowledges, send a Solicit-Map-Request to every RLOC in our map-cache; an SMR
 * received makes us ask the Map-Server again for its source EID (never trusting the SMR itself).
 */
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { eidOf, type MappingRecord } from '../../lisp/index.js';
import { prefixOf } from '../../mapping/database.js';
import { familyBits, type EidPrefix } from '../../mapping/eid.js';
import { MapCache } from '../../mapping/map-cache.js';
import { Rtnetlink, monitorAddresses, type AddressMonitor } from '../../net/rtnetlink.js';
import { LispwgError } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/log.js';
import type { WgDevice } from '../../wg/wireguard.js';
import { keyToBase64 } from '../../wg/keys.js';
import { cleanupLeftovers } from '../../xtr/agent.js';
import { serveAdmin } from '../../xtr/admin.js';
import type { AgentConfig } from '../../xtr/config.js';
import type { ControlClient, MappingEvent, Resolution, WithdrawnEvent } from '../../control/client.js';
import { EventLog } from '../../xtr/events.js';
import { loadOrCreateKey } from '../../xtr/key-source.js';
import { makePlan } from '../../xtr/plan.js';
import { openControlChannel, openControlTunnel, readRlocs, repointMapServer, sameRlocs, siteRecords, type Rloc } from '../../xtr/site.js';
import { Resolver } from '../../xtr/resolver.js';
import { resolverStatus, type AgentStatus, type MapCacheStatus } from '../../xtr/show.js';
import { StateFile } from '../../xtr/state.js';
import type { GrpcControlClient } from '../../grpc/client.js';
import { TunDevice } from '../tun/tun.js';
import { LispDataPlane } from './dataplane.js';
import { ENCAP_OVERHEAD_IPV4, ENCAP_OVERHEAD_IPV6 } from './packet.js';
import { SmrEndpoint } from './smr.js';

type Entry = { kind: 'positive'; rlocs: string[]; source: 'map-reply' | 'map-notify' } | { kind: 'negative'; action: number };

const ACTIONS = ['no-action', 'natively-forward', 'send-map-request', 'drop'];
const FOREVER_TTL = 0xffffffff;
const prefixText = (p: EidPrefix): string => `${p.address}/${p.maskLen}`;
const afiOf = (address: string) => (address.includes(':') ? ('ipv6' as const) : ('ipv4' as const));
const round = (v: number) => Math.round(v * 1000) / 1000;

/** The usable locators of a record (priority 255 and unreachable ones left out). */
function usable(record: MappingRecord): Array<{ address: string; priority: number; weight: number }> {
  return record.locators
    .filter((l) => l.priority !== 255 && l.reachable && (l.address.afi === 'ipv4' || l.address.afi === 'ipv6'))
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
    .map((l) => ({ address: (l.address as { address: string }).address, priority: l.priority, weight: l.weight }));
}

export class LispXtr {
  private readonly cache = new MapCache<Entry>();
  private readonly counters: Record<string, number> = {};
  private readonly missToInstalled: number[] = [];
  /** Mappings sent to the data plane and not yet reported usable by it, by prefix. */
  private readonly installing = new Map<string, { rloc: string; source: 'map-reply' | 'map-notify'; missAt?: number }>();
  private readonly started = performance.now();
  private rlocs: Rloc[] = [];
  private registeredAt: number | undefined;
  /** The RLOCs of the last registration. */
  private registeredRlocs: string[] = [];
  private rlocWork: Promise<void> = Promise.resolve();
  private readonly resolver: Resolver;
  private readonly ownEids: Partial<Record<'ipv4' | 'ipv6', string>> = {};
  private control!: WgDevice;
  private tun!: TunDevice;
  private dp!: LispDataPlane;
  private client!: ControlClient;
  private grpc: GrpcControlClient | undefined;
  private smr!: SmrEndpoint;
  private smrTimer: NodeJS.Timeout | undefined;
  private monitor: AddressMonitor | undefined;
  private admin: Server | undefined;
  private tick: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private controlPublicKey = '';

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    readonly events: EventLog,
    private readonly state: StateFile,
    private readonly rt: Rtnetlink,
  ) {
    this.resolver = new Resolver(config.timers.resolve, {
      send: (dest, attempt) => this.sendMapRequest(dest, attempt),
      giveUp: (dest, attempts) => this.events.emit('resolve-gave-up', { eid: dest, attempts }),
    });
    for (const e of config.eidPrefixes) this.ownEids[e.prefix.family === 4 ? 'ipv4' : 'ipv6'] ??= e.address ?? e.prefix.address;
  }

  static async start(config: AgentConfig, log: Logger = createLogger({ component: 'xtr', agent: config.name, dataPlane: 'lisp' })): Promise<LispXtr> {
    const rt = Rtnetlink.open();
    cleanupLeftovers(config.stateFile, rt, log);
    const state = new StateFile(config.stateFile);
    state.save();
    const events = new EventLog(config.eventLog, { agent: config.name });
    const x = new LispXtr(config, log, events, state, rt);
    try {
      await x.bringUp();
      return x;
    } catch (e) {
      await x.stop();
      throw e;
    }
  }

  private async bringUp(): Promise<void> {
    const c = this.config;
    const p = makePlan(c);

    // the control tunnel to the Map-Server, as the LISP+WireGuard agent has it
    const key = await loadOrCreateKey(c.control.privateKey, 'control');
    this.controlPublicKey = keyToBase64(key.publicKey);
    this.control = await openControlTunnel(c, p, key.privateKey, this.state, this.rt, this.log);

    // the TUN holds the EID space (and, on a mobile node, its EIDs); what enters it is encapsulated
    this.state.addInterface(c.tun.interface);
    this.tun = TunDevice.open(c.tun.interface);
    this.rt.setMtu(c.tun.interface, 1500 - (c.mapServer.address.includes(':') ? ENCAP_OVERHEAD_IPV6 : ENCAP_OVERHEAD_IPV4));
    for (const s of p.sysctls) this.state.setSysctl(s.key, s.value, c.tun.interface);
    if (c.mode === 'mn') for (const e of c.eidPrefixes) if (e.address) this.rt.addAddress(c.tun.interface, `${e.address}/${e.prefix.family === 4 ? 32 : 128}`, { noDad: true });
    this.rt.setLinkUp(c.tun.interface);
    for (const r of p.routes.slice(1)) this.rt.replaceRoute(r);
    this.dp = await LispDataPlane.start({
      tun: this.tun,
      instanceId: c.instanceId,
      missPolicy: c.missPolicy,
      buffer: { maxPackets: c.missBuffer.packets, maxBytes: c.missBuffer.bytes, maxDestinations: c.missBuffer.destinations, maxAgeMs: c.missBuffer.maxAgeMs },
      onMiss: (dst) => this.onMiss(dst),
      onMapped: (prefix, rloc, at) => this.onMapped(prefix, rloc, at),
      onError: (e) => this.fault('data plane', e),
      log: this.log,
    });

    const channel = await openControlChannel(c, this.log, this.events, {
      onPush: async (evs) => {
        for (const e of evs) if ('record' in e) this.onPushed(e);
        else this.onWithdrawn(e);
      },
      onGrpcPush: (e) => this.onPushed(e),
      onRegistered: (t) => (this.registeredAt = t),
      count: (what) => this.count(what),
    });
    this.client = channel.client;
    this.grpc = channel.grpc;

    this.smr = await SmrEndpoint.open({ log: this.log });
    this.smr.onSmr((e) => this.onSmr(e.eid, e.from.address));

    this.monitor = monitorAddresses((e) => (e.type === 'route' ? this.client.hurryRegistration() : this.refreshRlocs('address change')), { routes: true });
    this.refreshRlocs('start');
    this.tick = setInterval(() => this.expire(), 1000);
    this.admin = await serveAdmin(c.adminSocket, (cmd) => this.onAdmin(cmd));
    this.state.addFile(c.adminSocket);
    this.events.emit('agent-started', { mode: c.mode, instanceId: c.instanceId, dataPlane: 'lisp', controlChannel: c.controlChannel.protocol, pid: process.pid });
    this.log.info('plain LISP agent up', { mode: c.mode, control: p.interfaces.find((i) => i.role === 'control')!.name, tun: c.tun.interface, controlChannel: c.controlChannel.protocol });
  }

  // --- registration and mobility ----------------------------------------------------------------

  private refreshRlocs(why: string): void {
    if (this.stopping) return;
    let next: Rloc[];
    try {
      next = readRlocs(this.config, this.rt);
    } catch (e) {
      return this.fault('reading the RLOC addresses', e);
    }
    if (sameRlocs(next, this.rlocs)) return;
    const before = this.rlocs.map((r) => r.address);
    this.rlocs = next;
    this.events.emit('rloc-changed', { why, from: before, to: next.map((r) => r.address) });
    if (next.length === 0) return; // between two networks: register when the next address comes
    // moved: we had registered another RLOC before (possibly with no address in between)
    const moved = this.registeredRlocs.length > 0;
    this.registeredRlocs = next.map((r) => r.address);
    this.rlocWork = this.rlocWork
      .then(async () => {
        if (moved) {
          this.dp.localRlocChanged();
          await repointMapServer(this.control, this.config);
        }
        await this.register();
        if (!moved) return;
        // OOR holds its SMRs back (4 s compiled in); a move meanwhile restarts the wait
        clearTimeout(this.smrTimer);
        const hold = this.config.timers.smrHoldDownMs;
        if (hold > 0) this.smrTimer = setTimeout(() => this.solicit(), hold);
        else this.solicit();
      })
      .catch((e: unknown) => this.fault('registering after an RLOC change', e));
  }

  /** Map-Register of our EID prefixes, plain records (no key), with the current RLOCs; resolves on the Map-Notify. */
  private async register(): Promise<void> {
    this.events.emit('register-sent', { rlocs: this.rlocs.map((r) => r.address), eidPrefixes: this.config.eidPrefixes.map((e) => e.prefix.text) });
    await this.client.register(siteRecords(this.config, this.rlocs));
  }

  /** SMRs to every RLOC in the map-cache, from each of our EIDs (RFC 9301 6.1). */
  private solicit(): void {
    const rloc = this.rlocs[0]?.address;
    if (!rloc) return;
    const peers: Array<{ rloc: string; prefix: EidPrefix }> = [];
    for (const e of this.cache.entries()) if (e.value.kind === 'positive') for (const r of e.value.rlocs.slice(0, 1)) peers.push({ rloc: r, prefix: e.prefix });
    for (const eid of Object.values(this.ownEids)) {
      const n = this.smr.solicit(peers.filter((p) => afiOf(p.rloc) === afiOf(rloc)), eid, this.config.instanceId, rloc);
      if (n) this.events.emit('smr-sent', { eid, to: peers.map((p) => p.rloc), rloc });
    }
  }

  /** An SMR: ask the Map-Server again for its source EID, if we cache a mapping for it. */
  private onSmr(eid: string, from: string): void {
    const afi = afiOf(eid);
    const entry = this.cache.lookup(this.config.instanceId, afi, eid);
    this.events.emit('smr-received', { eid, from, cached: entry !== undefined });
    if (!entry) return this.count('smr-for-uncached-eid');
    this.resolver.resolve(`${eid}/${familyBits(afi)}`);
  }

  // --- resolution ----------------------------------------------------------------------------------

  private onMiss(dst: string): void {
    const afi = afiOf(dst);
    const key = `${dst}/${familyBits(afi)}`;
    if (this.resolver.pending(key)) return;
    this.count('misses');
    this.events.emit('miss', { eid: dst });
    this.resolver.resolve(key);
  }

  private sendMapRequest(dest: string, attempt: number): void {
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const r = this.config.timers.resolve;
    const sourceEid = this.ownEids[afiOf(address)];
    this.events.emit('map-request-sent', { eid: dest, attempt, ...(this.grpc ? { channel: 'grpc' } : {}) });
    const answered = (res: Resolution) => this.onResolution(dest, res);
    const reply = this.grpc
      ? this.grpc.resolve(address, { instanceId: this.config.instanceId, ...(sourceEid ? { sourceEid } : {}) }).then((res) => ({ ...res, nonce: 0n, attempts: 1, elapsedMs: res.rttMs }))
      : this.client.resolve(address, { iid: this.config.instanceId, ...(sourceEid ? { sourceEid } : {}), retries: 0, timeoutMs: r.firstTimeoutMs * r.attempts + r.maxTimeoutMs * r.attempts });
    reply.then(answered, () => undefined).catch((e: unknown) => this.fault('Map-Reply', e)); // a lost attempt: the resolver retries
  }

  private onResolution(dest: string, res: Resolution): void {
    if (this.stopping) return;
    const missAt = this.resolver.startedAt(dest);
    if (this.resolver.answered(dest) === undefined) return; // another attempt answered first
    this.events.emit('map-reply-received', { eid: dest, rttMs: round(res.rttMs), attempts: res.attempts, records: res.records.length }, res.t);
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const afi = afiOf(address);
    const iid = this.config.instanceId;
    const record = res.records.find((r) => {
      const e = eidOf(r.eid);
      return e && e.family === afi && e.instanceId === iid && r.maskLen <= familyBits(afi) && prefixOf(iid, afi, e.address, r.maskLen).address === prefixOf(iid, afi, address, r.maskLen).address;
    });
    if (!record) return this.install(prefixOf(iid, afi, address, familyBits(afi)), undefined, this.config.timers.resolve.negativeTtlMs, 'map-reply');
    const e = eidOf(record.eid)!;
    const ttlMs = record.ttl === FOREVER_TTL ? Infinity : record.ttl * 60_000 || this.config.timers.resolve.negativeTtlMs;
    this.install(prefixOf(e.instanceId, e.family, e.address, record.maskLen), record, ttlMs, 'map-reply', missAt);
  }

  /** Puts a mapping into the map-cache and the data plane (no record or no locators: negative). */
  private install(prefix: EidPrefix, record: MappingRecord | undefined, ttlMs: number, source: 'map-reply' | 'map-notify', missAt?: number): void {
    const text = prefixText(prefix);
    if (this.isOwn(prefix)) return this.count('mapping-for-own-eid');
    const locators = record ? usable(record) : [];
    if (locators.length === 0) {
      this.count('negative-replies');
      const action = record?.action ?? 0;
      this.events.emit('negative-reply', { prefix: text, action: ACTIONS[action] ?? action, ttlS: ttlMs / 1000 });
      this.cache.set(prefix, { kind: 'negative', action }, ttlMs);
      this.dp.setMapping(prefix, []);
      return;
    }
    this.cache.set(prefix, { kind: 'positive', rlocs: locators.map((l) => l.address), source }, ttlMs);
    const rloc = this.dp.setMapping(prefix, locators);
    // 'mapping-installed' when the worker has it in its table (onMapped), not when it was sent there
    if (rloc) this.installing.set(text, { rloc: rloc.address, source, ...(missAt !== undefined ? { missAt } : {}) });
  }

  private unmap(prefix: EidPrefix): void {
    this.installing.delete(prefixText(prefix));
    this.dp.deleteMapping(prefix);
  }

  /** The data plane has a mapping in its forwarding table: usable from `at` (performance.now() scale). */
  private onMapped(prefix: EidPrefix, rloc: string, at: number): void {
    const text = prefixText(prefix);
    const p = this.installing.get(text);
    if (!p || p.rloc !== rloc) return; // a tunnel reconnected (our RLOC changed): nothing new installed
    this.installing.delete(text);
    this.events.emit('mapping-installed', { prefix: text, rloc, source: p.source }, at);
    if (p.missAt !== undefined) {
      this.missToInstalled.push(at - p.missAt);
      if (this.missToInstalled.length > 1024) this.missToInstalled.shift();
    }
  }

  private onPushed(e: MappingEvent): void {
    this.events.emit('map-notify-received', { prefix: prefixText(e.prefix), from: e.from.address, key: null }, e.t);
    if (e.prefix.iid !== this.config.instanceId) return this.count('map-notify-other-instance');
    const ttlMs = e.record.ttl === FOREVER_TTL ? Infinity : e.record.ttl * 60_000;
    this.install(e.prefix, e.record, ttlMs, 'map-notify');
  }

  private onWithdrawn(e: WithdrawnEvent): void {
    this.events.emit('revoked', { prefix: prefixText(e.prefix), from: e.from.address });
    for (const entry of [...this.cache.entries()]) {
      const p = entry.prefix;
      if (p.afi === e.prefix.afi && p.maskLen >= e.prefix.maskLen && prefixOf(p.iid, p.afi, p.address, e.prefix.maskLen).address === e.prefix.address) {
        this.cache.delete(p);
        this.unmap(p);
      }
    }
  }

  private expire(): void {
    for (const gone of this.cache.expire()) {
      this.unmap(gone.prefix);
      this.events.emit('entry-expired', { prefix: prefixText(gone.prefix) });
    }
  }

  private isOwn(prefix: EidPrefix): boolean {
    return this.config.eidPrefixes.some((e) => {
      const afi = e.prefix.family === 4 ? 'ipv4' : 'ipv6';
      if (afi !== prefix.afi) return false;
      const len = Math.min(e.prefix.length, prefix.maskLen);
      return prefixOf(prefix.iid, afi, e.prefix.address, len).address === prefixOf(prefix.iid, afi, prefix.address, len).address;
    });
  }

  // --- admin, status ---------------------------------------------------------------------------------

  private onAdmin(cmd: string): unknown {
    if (cmd === 'show') return this.status();
    if (cmd === 'flush') {
      let removed = 0;
      for (const e of [...this.cache.entries()]) {
        if (e.value.kind === 'positive') removed++;
        this.unmap(e.prefix);
      }
      this.cache.clear();
      this.resolver.close();
      return { removed };
    }
    throw new LispwgError('ADMIN_UNKNOWN', `unknown command '${cmd}' (show, flush)`);
  }

  status(): AgentStatus {
    const now = performance.now();
    const c = this.config;
    const dp = this.dp.counters();
    const mapCache: MapCacheStatus[] = [...this.cache.entries()].map((e) => ({
      prefix: prefixText(e.prefix),
      instanceId: e.prefix.iid,
      kind: e.value.kind,
      rlocs: e.value.kind === 'positive' ? e.value.rlocs : [],
      ...(e.value.kind === 'negative' ? { action: ACTIONS[e.value.action] ?? String(e.value.action) } : {}),
      expiresInS: Number.isFinite(e.expiresAt) ? Math.max(0, (e.expiresAt - now) / 1000) : Infinity,
      source: e.value.kind === 'positive' ? e.value.source : 'map-reply',
    }));
    const r = this.resolver.stats();
    return {
      name: c.name,
      mode: c.mode,
      pid: process.pid,
      instanceId: c.instanceId,
      uptimeS: (now - this.started) / 1000,
      wireguardBackend: `none (plain LISP data plane; control tunnel ${this.control.backend})`,
      missPolicy: c.missPolicy,
      interfaces: { control: c.control.interface, data: `${c.tun.interface} (LISP, UDP ${this.dp.port})`, tun: c.tun.interface, dataPort: this.dp.port, publicKey: '', controlPublicKey: this.controlPublicKey },
      registration: {
        mapServer: `${c.mapServer.controlAddress} via ${c.mapServer.address}:${c.mapServer.port}`,
        state: this.registeredAt !== undefined ? 'registered' : 'registering',
        ...(this.registeredAt !== undefined ? { lastRegisteredAgoS: (now - this.registeredAt) / 1000 } : {}),
        eidPrefixes: c.eidPrefixes.map((e) => e.prefix.text),
        rlocs: this.rlocs,
      },
      mapCache,
      peers: [],
      buffer: { buffered: dp.missBuffered - dp.bufferReleased - dp.bufferDropped, destinations: 0, released: dp.bufferReleased, dropped: { policy: dp.missDropped, unresolved: dp.bufferDropped, negative: dp.negativeDropped } },
      resolver: resolverStatus(r, this.counters['negative-replies'] ?? 0, this.missToInstalled),
      counters: { ...this.counters, ...Object.fromEntries(Object.entries(dp).map(([k, v]) => [`dataplane-${k}`, v])), ...Object.fromEntries(Object.entries(this.smr.stats).map(([k, v]) => [`smr-${k}`, v])), ...(this.events.writeErrors ? { 'event-log-write-errors': this.events.writeErrors } : {}) },
    };
  }

  // --- shutdown ----------------------------------------------------------------------------------------

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    let errors = 0;
    const attempt = async (what: string, f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors++;
        this.log.warn(`shutdown: ${what} failed`, { error: (e as Error).message });
      }
    };
    clearInterval(this.tick);
    this.resolver.close();
    this.monitor?.close();
    if (this.admin) await attempt('closing the admin socket', () => new Promise<void>((r) => this.admin!.close(() => r())));
    rmSync(this.config.adminSocket, { force: true });
    clearTimeout(this.smrTimer);
    this.smr?.close();
    this.grpc?.close();
    if (this.client) await attempt('closing the control client', () => this.client.close());
    if (this.dp) await attempt('stopping the data plane', () => this.dp.close());
    if (this.tun) await attempt('closing the TUN', () => this.tun.close());
    if (this.control) await attempt('removing the control interface', () => this.control.close());
    for (const s of this.state.state.sysctls) await attempt(`restoring ${s.path}`, () => writeFileSync(s.path, s.previous));
    this.rt.close();
    this.events.emit('agent-stopped', { errors });
    await this.events.close();
    if (errors === 0) this.state.remove();
    this.log.info('plain LISP agent stopped', { errors });
  }


  private count(what: string): void {
    this.counters[what] = (this.counters[what] ?? 0) + 1;
  }

  private fault(where: string, e: unknown): void {
    this.count('faults');
    this.log.error(`error in ${where}`, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

/** `lispwg xtr` with `data-plane: lisp`: runs until SIGINT/SIGTERM, then removes everything it made. */
export async function runLispXtr(config: AgentConfig): Promise<number> {
  const log = createLogger({ component: 'xtr', agent: config.name, dataPlane: 'lisp' });
  const x = await LispXtr.start(config, log);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  await x.stop();
  return 0;
}
