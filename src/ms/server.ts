/**
 * MapServer: the Map-Server / Map-Resolver of the paper, in proxy-reply mode.
 *
 * - Map-Register: the HMAC is verified (with the key of the site that owns the first record's
 *   prefix, or of the site whose control address sent it) before anything is looked at or
 *   stored; each record must lie in a prefix of that site; a record with TTL 0 deregisters.
 *   A Map-Notify answers when the M bit asks. Registrations expire after `registration-ttl`.
 * - Map-Request (in an ECM, or bare): longest-prefix match per instance ID; a Map-Reply with the
 *   record (and its WireGuard key) or a negative Map-Reply. An ECM's reply goes to the ITR-RLOC
 *   at the inner UDP source port (as OOR's Map-Server does: OOR's xTRs put 4342 there; lig-lispmob
 *   listens on 4342 whatever it puts there, so it needs `-p 4342`); a bare request's to its UDP
 *   source.
 * - Push: when the source EID of a request belongs to a registered site, the destination site
 *   gets a Map-Notify with the requester's record, signed with the destination's key and
 *   retransmitted until its Map-Notify-Ack. `push.order` puts it before the reply (default: the
 *   reply waits for the Ack, at most `push.wait`, so the destination knows the requester's key
 *   before the requester's first WireGuard handshake can reach it), after it, or beside it.
 * - Subscriptions: requester and destination are subscribed to each other's mapping for its TTL,
 *   and notified when it changes or is withdrawn. On a change, each subscriber that is a site
 *   with a key is first pushed back to the changed site (which may have lost its keys).
 * - Withdrawal (expiry, TTL-0 deregistration, a site or WireGuard key removed from the config):
 *   subscribers get a Map-Notify whose record has no locators, ACT = drop, TTL 0 and, when the
 *   mapping carried a WireGuard key, that key in a Security Key LCAF with the R (revoke) bit.
 *
 * Negative replies name the widest prefix around the EID that holds no registered or configured
 * prefix (so they never hide a registered more-specific). Outside every site: ACT
 * natively-forward, TTL `negative-ttl` (15 min), as RFC 9301 and OOR do: the address is not in
 * the overlay. Inside a configured site with nothing registered there: ACT send-map-request, TTL
 * `unregistered-ttl` (1 min): the EID belongs to the overlay, so the ITR must not forward it in
 * the clear and should ask again soon (the site may come up).
 *
 * Every packet that is dropped is counted by reason; nothing an unauthenticated packet carries
 * changes state; lengths come from the codec, which bounds them by the datagram.
 */
import type dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  Action,
  Afi,
  LcafType,
  LispAuthError,
  LispDecodeError,
  decodeMessage,
  eidAddress,
  eidOf,
  encodeMessage,
  recordKey,
  signMessage,
  verifyMessage,
  plainRecord,
  wrapWireguardKey,
  type Address,
  type Ecm,
  type MapNotifyAck,
  type MapRegister,
  type MapRequest,
  type MappingRecord,
} from '../lisp/index.js';
import { prefixOf } from '../mapping/database.js';
import { formatEidPrefix, type EidPrefix } from '../mapping/eid.js';
import { familyBits, type IpFamily } from '../ip/ip.js';
import { createLogger, type Logger } from '../util/log.js';
import { LispwgError } from '../util/errors.js';
import type { MsConfig, StaticMappingConfig } from './config.js';
import { Notifier, type NotifyKind } from './notifier.js';
import { RateLimiter } from './rate-limit.js';
import { MAP_REPLY_NONCE_OFFSET, MAP_REPLY_RECORDS_OFFSET, Registry, encodeReply, type Endpoint, type Registration, type UpsertResult } from './registry.js';
import { SiteTable, type Site } from './sites.js';
import { Counters, Histogram } from './stats.js';
import { Subscriptions } from './subscriptions.js';
import { keyToBase64, parseKey } from '../wg/keys.js';
import { openUdpSocket } from '../net/udp.js';
import { KeyBindings } from './key-bindings.js';
import { RegisterReplay } from './replay.js';
import { SiteAddresses } from './site-addresses.js';
import { MemoryStore, type RegistrationStore, type StoreSource, type StoredRegistration, type StoredSubscription } from './store.js';

/** EID records answered per Map-Request at most (the rest are counted and ignored). */
const MAX_RECORDS_PER_REQUEST = 8;


/** A Map-Request's sender that is a site's xTR: through the tunnel (that site), or a plain site's address. */
interface Sender {
  tunnel?: Site;
  address: string;
}

export interface Histograms {
  /** Datagram in -> Map-Reply sent (the send syscall returned), for replies sent at once. */
  mapRequest: Histogram;
  /** Datagram in -> Map-Reply ready to send: the same without the kernel's send path. */
  mapRequestCompute: Histogram;
  /** Datagram in -> Map-Reply sent, when the reply waited for a push's Ack (push-then-reply). */
  mapRequestPushed: Histogram;
  /** Datagram in -> processing done (Map-Notify sent when asked). */
  mapRegister: Histogram;
}

const RECV_BUFFER_BYTES = 4 << 20;

export class MapServer {
  readonly counters = new Counters();
  readonly histograms: Histograms = { mapRequest: new Histogram(), mapRequestCompute: new Histogram(), mapRequestPushed: new Histogram(), mapRegister: new Histogram() };
  readonly registry: Registry;
  private config: MsConfig;
  private sites: SiteTable;
  private readonly subscriptions: Subscriptions;
  private readonly notifier: Notifier;
  private rateLimiter: RateLimiter;
  private readonly sockets: dgram.Socket[] = [];
  private readonly families = new Map<dgram.Socket, IpFamily>();
  /** Each socket's bound address (as configured: sendTo matches an Endpoint's `via` against it). */
  private readonly localAddress = new Map<dgram.Socket, string>();
  /** The socket bound to the control tunnel's interface: what it reads, WireGuard authenticated. */
  private readonly tunnelSockets = new Set<dgram.Socket>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  /** Pushes in flight, by destination prefix + requester prefix, so retransmitted requests share one. */
  private readonly pushesInFlight = new Map<string, bigint>();
  /** Changed registrations whose subscribers are told once the pushes to them are acknowledged. */
  private readonly tellsPending = new Set<Registration>();
  private readonly keyBindings = new KeyBindings();
  private readonly replay: RegisterReplay;
  /** Underlay addresses of the plain sites' registrations (who speaks for a plain site). */
  private readonly plainAddresses = new SiteAddresses();
  /** Where registrations and key bindings outlive the process (store.ts); never read on a Map-Request. */
  readonly store: RegistrationStore;
  /** Applying what the store holds or another replica changed: nothing is written back. */
  private remote = false;

  /** `store`: default a MemoryStore (nothing survives); the daemon gives the configured one. */
  constructor(config: MsConfig, opts: { logger?: Logger; store?: RegistrationStore } = {}) {
    this.config = config;
    this.log = opts.logger ?? createLogger({ component: 'ms' });
    this.sites = new SiteTable(config.sites);
    this.registry = new Registry(config.registrationTtl * 1000);
    this.subscriptions = new Subscriptions(config.subscriptions.max);
    this.rateLimiter = new RateLimiter(config.rateLimit);
    this.notifier = new Notifier((bytes, to) => this.sendTo(bytes, to), {
      retries: (k: NotifyKind) => (k === 'push' ? this.config.push.retries : this.config.subscriptions.retries),
      retryMs: (k: NotifyKind) => (k === 'push' ? this.config.push.retryMs : this.config.subscriptions.retryMs),
    }, this.counters);
    this.replay = new RegisterReplay(config.replayWindowMs);
    this.keyBindings.configure(this.sites.all());
    this.applyStatic([], config.static);
    this.store = opts.store ?? new MemoryStore();
    this.keyBindings.hooks = { bound: (key, site) => this.remote || this.store.bind(key, site), unbound: (key) => this.remote || this.store.unbind(key) };
    this.restore();
  }

  /**
   * Puts back what the store kept (before any socket listens: a restarted Map-Server answers
   * from its first packet). What the configuration no longer allows (site gone, prefix or key no
   * longer the site's, over a bound) is dropped, and removed from a store of its own (a shared
   * store keeps it: the other replicas judge it by their configuration). A shared store then
   * tells of the other replicas' changes (applyRemote...).
   */
  private restore(): void {
    const t0 = performance.now();
    const state = this.store.load();
    const shared = this.store.kind === 'etcd';
    this.remote = true; // what the store holds already: nothing is written back
    for (const [key, site] of state.bindings) {
      if (this.sites.byName(site) && (this.keyBindings.ownerOf(key) ?? site) === site) this.keyBindings.restore(site, key);
    }
    const now = Date.now();
    let loaded = 0;
    let refused = 0;
    for (const r of state.registrations) {
      const ok = !this.registry.get(r.prefix) && this.admit(r);
      if (!ok) {
        refused++;
        if (!shared) this.store.remove(r.prefix);
        continue;
      }
      this.putBack(ok, this.registry.restore(r.prefix, r.siteName, r.reply, r.source, r.registeredAt, r.refreshedAt, r.expiresAt - now), 'new');
      loaded++;
    }
    for (const sub of state.subscriptions ?? []) this.applyRemoteSubscription(sub);
    this.remote = false;
    this.counters.inc('store-loaded', loaded);
    this.counters.inc('store-expired-at-load', state.expired);
    this.counters.inc('store-refused-at-load', refused);
    if (this.store.kind !== 'memory') {
      this.log.info('registrations loaded from the store', { loaded, expired: state.expired, refused, bindings: state.bindings.size, subscriptions: state.subscriptions?.length ?? 0, ms: Math.round(performance.now() - t0), ...this.store.stats() });
    }
    this.store.follow?.({
      registered: (r) => this.asRemote(() => this.applyRemoteRegistration(r)),
      withdrawn: (prefix, at) => this.asRemote(() => this.applyRemoteWithdrawal(prefix, at)),
      bound: (key, site) => this.asRemote(() => this.applyRemoteBinding(key, site)),
      unbound: (key) => this.asRemote(() => this.keyBindings.forget(key)),
      subscribed: (sub) => this.asRemote(() => this.applyRemoteSubscription(sub)),
    });
  }

  /**
   * Whether a stored registration (a restart's, another replica's) may be held: the same checks
   * as a Map-Register's, by this replica's configuration. Binds its key. Returns what putBack needs.
   */
  private admit(r: StoredRegistration): { site: Site; rec: MappingRecord; key: string | undefined } | undefined {
    const site = this.sites.byName(r.siteName);
    const rec = replyRecord(r.reply);
    const wg = rec && recordKey(rec);
    const key = wg ? keyToBase64(wg) : undefined;
    let owner: Site | undefined;
    try {
      owner = this.sites.ownerOf(r.prefix)?.site;
    } catch {
      return undefined; // a prefix that does not parse
    }
    const held = this.registry.get(r.prefix);
    const ok =
      site &&
      rec &&
      owner === site &&
      recordPrefix(rec) !== undefined &&
      formatEidPrefix(recordPrefix(rec)!) === formatEidPrefix(r.prefix) &&
      (!site.wireguardKeys || (key !== undefined && site.wireguardKeys.has(key))) &&
      (held?.siteName === site.name || (this.registry.countOf(site.name) < site.maxRegistrations && this.registry.size < this.config.limits.registrations)) &&
      (!key || this.keyBindings.bind(site.name, key, site.maxRegistrations) === 'ok');
    return ok ? { site, rec, key } : undefined;
  }

  /** What a registration put back from a store holds besides the registry: its key's use, a plain site's addresses. */
  private putBack(a: NonNullable<ReturnType<MapServer['admit']>>, reg: Registration, result: UpsertResult, before?: Buffer): void {
    if (result === 'refreshed') return;
    if (a.key) this.keyBindings.use(a.key);
    const was = before && replyKey(before);
    if (was) this.keyBindings.release(was);
    if (!a.site.controlAddresses.size && reg.source) this.plainAddresses.set(reg.prefix, a.site.name, [reg.source.address, ...rlocAddresses(a.rec)]);
  }

  private asRemote(f: () => unknown): void {
    this.remote = true;
    try {
      f();
    } catch (e) {
      this.counters.inc('store-remote-errors');
      this.log.error('internal error applying another replica\'s change', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    } finally {
      this.remote = false;
    }
  }

  /**
   * Another replica's new, changed or refreshed registration. Where this replica heard the site
   * itself (a source on one of its own sockets), that source stays: its Map-Notifies leave from
   * here. A change is told to this replica's subscribers of it like a change made here: so a
   * subscriber hears of a change made through any replica, at most once from each replica
   * (a refresh, an echo or a second replica's write of the same record tells nobody).
   */
  private applyRemoteRegistration(r: StoredRegistration): void {
    const a = this.admit(r);
    if (!a) {
      this.counters.inc('store-remote-refused');
      return;
    }
    const held = this.registry.get(r.prefix);
    if (held?.siteName === r.siteName && r.refreshedAt < held.refreshedAt && !this.registry.replyEquals(held, r.reply)) return this.keepNewer(held, 'an older registration');
    const mine = (e: Endpoint | undefined) => e?.via !== undefined && [...this.localAddress.values()].includes(e.via);
    const source = held?.siteName === r.siteName && mine(held.source) ? held.source : r.source && !mine(r.source) ? { address: r.source.address, port: r.source.port } : r.source;
    const { reg, result, before } = this.registry.upsert(r.prefix, r.siteName, r.reply, source, r.expiresAt - Date.now(), r.refreshedAt);
    this.putBack(a, reg, result, before);
    this.counters.inc(`store-remote-${result}`);
    if (result !== 'refreshed') {
      this.log.info(result === 'new' ? 'registered through another replica' : 'registration changed through another replica', { site: r.siteName, prefix: formatEidPrefix(r.prefix) });
      this.onSiteMappingChanged(reg);
    }
  }

  /**
   * Another replica withdrew a registration. Where this replica heard the site after that, the
   * withdrawal is older than what it holds (a tombstone that waited in a replica's queue): kept.
   */
  private applyRemoteWithdrawal(prefix: EidPrefix, at: number | undefined): void {
    const held = this.registry.get(prefix);
    if (held && at !== undefined && held.refreshedAt > at) return this.keepNewer(held, 'an older withdrawal');
    this.withdraw(prefix, 'withdrawn through another replica');
  }

  /**
   * Another replica's change is older than what this one heard of the site (its write waited, say
   * while its etcd member was down, and landed after a newer one): applying it would take a site
   * back to an RLOC or key it has left, and push that to its subscribers. The newer registration
   * stays, and is written again so that etcd, and every replica through it, ends with the newest.
   * The order is the replicas' wall clocks (in sync to far less than a site's registration interval).
   */
  private keepNewer(held: Registration, what: string): void {
    this.counters.inc('store-remote-stale');
    this.log.info(`kept a registration newer than ${what} from another replica`, { site: held.siteName, prefix: formatEidPrefix(held.prefix) });
    this.store.put(this.stored(held));
  }

  /**
   * Another replica bound a key. A binding is written to etcd only where the key is not bound yet,
   * so what arrives is the key's first binding: when two sites registered one key at once through
   * two replicas, the one etcd took first owns it on every replica. The other site's registrations
   * here that carry the key are withdrawn (subscribers told). A key this replica's configuration
   * lists for a site stays that site's.
   */
  private applyRemoteBinding(key: string, site: string): void {
    if (!this.sites.byName(site)) return;
    const owner = this.keyBindings.ownerOf(key);
    if (owner === undefined || owner === site) return this.keyBindings.restore(site, key);
    this.counters.inc('store-binding-conflicts');
    if (this.keyBindings.listed(key)) {
      this.log.warn('another replica bound a WireGuard key that this one\'s configuration lists for another site: kept here', { key, site, listedFor: owner });
      return;
    }
    const doomed = [...this.registry.all()].filter((reg) => reg.siteName === owner && replyKey(this.registry.replyOf(reg)) === key);
    // written as ours (a tombstone): the registration this replica took went to etcd, and must leave it
    this.remote = false;
    try {
      for (const reg of doomed) this.withdraw(reg.prefix, 'its WireGuard key was bound to another site first');
    } finally {
      this.remote = true;
    }
    this.keyBindings.forget(key);
    this.keyBindings.restore(site, key);
    this.log.warn('a WireGuard key registered by two sites at once through two replicas: the first binding holds', { key, site, loser: owner, withdrawn: doomed.length });
  }

  private applyRemoteSubscription(s: StoredSubscription): void {
    const left = s.expiresAt - Date.now();
    if (left <= 0 || !this.config.subscriptions.enabled) return;
    const { result, evicted } = this.subscriptions.add(s.publisher, s.subscriber, left, true);
    if (result === 'added') this.counters.inc('subscriptions-added');
    if (evicted) this.counters.inc('subscriptions-evicted');
  }

  /** What a store compaction reads: the live dynamic registrations, the key bindings. */
  storeSource(): StoreSource {
    const regs = this.registry.dynamic();
    return {
      registrations: () => ({
        next: () => {
          const r = regs.next();
          if (r.done) return { done: true, value: undefined };
          const reg = r.value;
          return { done: false, value: this.registry.get(reg.prefix) === reg ? this.stored(reg) : undefined };
        },
      }),
      bindings: () => this.keyBindings.entries(),
      subscriptions: () => {
        const now = Date.now();
        const it = this.subscriptions.live();
        return { next: () => {
          const r = it.next();
          return r.done ? { done: true, value: undefined } : { done: false, value: { publisher: r.value.publisher, subscriber: r.value.subscriber, expiresAt: now + r.value.leftMs } };
        } };
      },
    };
  }

  private stored(reg: Registration): StoredRegistration {
    return {
      prefix: reg.prefix,
      siteName: reg.siteName!,
      reply: this.registry.replyOf(reg),
      source: reg.source,
      registeredAt: reg.registeredAt,
      refreshedAt: reg.refreshedAt,
      expiresAt: this.registry.wallExpiry(reg),
    };
  }

  // --- life cycle -------------------------------------------------------------------------------

  /**
   * Binds the sockets: the control address bound to the tunnel's interface (when configured),
   * then every underlay address. Resolves with the bound addresses.
   */
  async start(): Promise<Endpoint[]> {
    const listeners: Array<{ address: string; device?: string }> = [
      ...(this.config.controlListen ? [this.config.controlListen] : []),
      ...this.config.listen.map((address) => ({ address })),
    ];
    for (const l of listeners) {
      let socket: dgram.Socket;
      try {
        // a deep receive queue (the kernel caps it at net.core.rmem_max) rides out floods, so
        // legitimate requests that arrive amid one are still read, then judged like the rest
        socket = await openUdpSocket({ address: l.address, port: this.config.port, ...(l.device ? { device: l.device } : {}), recvBufferSize: RECV_BUFFER_BYTES });
      } catch (e) {
        if (!l.device && this.config.listenDefault && isIPv6(l.address)) {
          this.log.warn('IPv6 unavailable, listening on IPv4 only', { address: l.address, error: (e as Error).message });
          continue;
        }
        throw new LispwgError('MS_BIND', `cannot listen on [${l.address}]:${this.config.port}${l.device ? ` (interface ${l.device})` : ''}: ${(e as Error).message}`);
      }
      socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo, socket));
      // send errors arrive here (sends take no callback: one less closure per reply)
      socket.on('error', (e) => {
        this.counters.inc('send-errors');
        this.log.debug('socket error', { address: l.address, error: e.message });
      });
      this.sockets.push(socket);
      if (l.device) this.tunnelSockets.add(socket);
      this.families.set(socket, isIPv6(l.address) ? 'ipv6' : 'ipv4');
      this.localAddress.set(socket, socket.address().address);
    }
    if (!this.sockets.length) throw new LispwgError('MS_BIND', 'the Map-Server listens on no address');
    const sweepMs = Math.max(50, Math.min(1000, this.config.registrationTtl * 100));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
    const bound = this.addresses();
    this.log.info('map-server listening', { addresses: bound.map((b) => `${b.address}:${b.port}`), sites: this.sites.size, static: this.config.static.length });
    return bound;
  }

  addresses(): Endpoint[] {
    return this.sockets.map((s) => {
      const a = s.address();
      return { address: a.address, port: a.port };
    });
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.notifier.close();
    await Promise.all(this.sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.sockets.length = 0;
    this.families.clear();
    this.localAddress.clear();
    this.tunnelSockets.clear();
    await this.store.close();
  }

  // --- datagram dispatch ------------------------------------------------------------------------

  /** Handles one datagram; never throws (a daemon survives every packet). */
  onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket): void {
    const t0 = process.hrtime.bigint();
    this.counters.inc('rx');
    const isSite = this.isSiteAddress(rinfo.address, this.tunnelSockets.has(socket));
    const verdict = this.rateLimiter.check(rinfo.address, isSite, RateLimiter.cost(buf.length));
    if (verdict !== 'pass') {
      this.counters.inc(`drop-rate-limited-${verdict}`);
      return;
    }
    if (!isSite) this.counters.inc('rx-stranger');
    try {
      let msg;
      try {
        msg = decodeMessage(buf);
      } catch (e) {
        if (e instanceof LispDecodeError) {
          this.counters.inc(e.code === 'BAD_CHECKSUM' ? 'drop-bad-checksum' : 'drop-malformed');
          return;
        }
        throw e;
      }
      switch (msg.type) {
        case 'map-request':
          this.counters.inc('rx-map-request');
          this.onMapRequest(msg, undefined, buf.length, rinfo, socket, t0);
          return;
        case 'ecm':
          this.counters.inc('rx-ecm');
          if (msg.message.type !== 'map-request') {
            this.counters.inc('drop-unexpected-type');
            return;
          }
          this.counters.inc('rx-map-request');
          this.onMapRequest(msg.message, msg, buf.length, rinfo, socket, t0);
          return;
        case 'map-register':
          this.counters.inc('rx-map-register');
          this.onMapRegister(buf, msg, rinfo, socket, t0);
          return;
        case 'map-notify-ack':
          this.counters.inc('rx-map-notify-ack');
          this.onMapNotifyAck(buf, msg);
          return;
        default:
          this.counters.inc('drop-unexpected-type');
      }
    } catch (e) {
      // a bug, not a packet problem: log it and carry on serving
      this.counters.inc('drop-malformed');
      this.log.error('internal error while handling a datagram', { from: rinfo.address, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  }

  /**
   * Whether `address` is a site's: through the tunnel, a configured control address (WireGuard
   * authenticated it); on the underlay, an address a plain site registered from or names as RLOC.
   * Such a sender has a rate-limit bucket of its own, and may speak for its site (senderOf).
   */
  private isSiteAddress(address: string, tunnel: boolean): boolean {
    return tunnel ? this.sites.bySource(address) !== undefined : this.plainAddresses.known(address);
  }

  private send(socket: dgram.Socket, bytes: Uint8Array, address: string, port: number): void {
    socket.send(bytes, port, address);
  }

  /** Sends from the socket the destination registered through (`via`), else from one of its family. */
  private sendTo(bytes: Uint8Array, to: Endpoint): void {
    const family = isIPv6(to.address) ? 'ipv6' : 'ipv4';
    const socket = (to.via !== undefined && this.sockets.find((s) => this.localAddress.get(s) === to.via)) || this.sockets.find((s) => this.families.get(s) === family);
    if (!socket) {
      this.counters.inc('send-errors');
      return;
    }
    this.send(socket, bytes, to.address, to.port);
  }

  // --- Map-Request ------------------------------------------------------------------------------

  /**
   * A Map-Request. Anyone may be answered (unless `public-resolution: false`), but only a site's
   * xTR changes anything: a push and subscriptions follow only when the source EID is a
   * registration of the sending site, and only a site's xTR may have its reply sent elsewhere
   * than to its own address (its ITR-RLOC). A stranger's reply goes to its UDP source, holds no
   * WireGuard key and is never longer than its request (no amplification).
   */
  private onMapRequest(req: MapRequest, ecm: Ecm | undefined, bytesIn: number, rinfo: dgram.RemoteInfo, socket: dgram.Socket, t0: bigint): void {
    if (req.probe || req.smr) {
      this.counters.inc('drop-unexpected-type'); // RLOC probes and SMRs are for xTRs, not for us
      return;
    }
    const sender = this.senderOf(rinfo, socket);
    if (!sender) {
      if (!this.config.publicResolution) {
        this.counters.inc('drop-not-a-site');
        return;
      }
      this.counters.inc('rx-map-request-stranger');
    }
    const to = sender ? this.replyAddress(req, rinfo, socket, sender) : rinfo.address;
    // keys only to a requester that uses them: OOR 1.3 dies on the Security Key LCAF (type 11)
    const keyed = !!sender && this.wireguardSender(sender);
    // as OOR's map_reply_fill_uconn: an ECM's reply goes to its inner UDP source port
    const port = ecm ? ecm.inner.sourcePort : rinfo.port;
    if (req.records.length > MAX_RECORDS_PER_REQUEST) this.counters.inc('drop-too-many-records');
    const n = Math.min(req.records.length, MAX_RECORDS_PER_REQUEST);
    // the requester's registration, when a push may follow (a site's xTR naming its own EID)
    const requester = sender && this.config.push.order !== 'off' ? this.requesterOf(req, sender) : undefined;
    let reply: Buffer | undefined;
    const found: Registration[] = [];
    if (n === 1 && !requester && sender && !this.sites.hasDelegations) {
      // the common case: one EID, no push: answered from the trie's index and the reply slab
      const eid = eidOf(req.records[0]!.eid);
      if (!eid) {
        this.counters.inc('drop-bad-record');
        return;
      }
      reply = this.registry.replyFor(eid.instanceId, eid.family, eid.address, req.nonce);
      if (reply && !keyed && carriesKey(reply)) {
        reply = encodeReply(plainRecord(replyRecord(reply)!));
        reply.writeBigUInt64BE(req.nonce, MAP_REPLY_NONCE_OFFSET);
      }
      if (!reply) {
        reply = this.negativeReply(eid.instanceId, eid.family, eid.address);
        reply.writeBigUInt64BE(req.nonce, MAP_REPLY_NONCE_OFFSET);
        this.counters.inc('tx-negative-map-reply');
      }
    } else {
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const eid = eidOf(req.records[i]!.eid);
        if (!eid) {
          this.counters.inc('drop-bad-record');
          continue;
        }
        const reg = this.lookupRegistration(eid.instanceId, eid.family, eid.address);
        if (reg) {
          const stored = this.registry.replyOf(reg);
          parts.push(keyed || !carriesKey(stored) ? stored : encodeReply(plainRecord(this.registry.recordOf(reg))));
          found.push(reg);
        } else {
          parts.push(this.negativeReply(eid.instanceId, eid.family, eid.address));
          this.counters.inc('tx-negative-map-reply');
        }
      }
      if (!sender) {
        // a stranger's source may be spoofed: what we send it is never more than what it sent
        let len = parts.reduce((a, p) => a + p.length - MAP_REPLY_RECORDS_OFFSET, MAP_REPLY_RECORDS_OFFSET);
        while (parts.length && len > bytesIn) {
          len -= parts.pop()!.length - MAP_REPLY_RECORDS_OFFSET;
          this.counters.inc('reply-records-cut-amplification');
        }
      }
      if (!parts.length) return;
      reply = assembleReply(parts, req.nonce);
    }
    const pushes = requester ? this.pushesFor(requester, found) : [];
    if (!pushes.length) {
      const ready = process.hrtime.bigint();
      this.send(socket, reply, to, port);
      this.histograms.mapRequest.record(Number(process.hrtime.bigint() - t0));
      this.histograms.mapRequestCompute.record(Number(ready - t0));
      this.counters.inc('tx-map-reply');
      return;
    }
    const sendReply = (waited: boolean) => {
      this.send(socket, reply, to, port);
      this.counters.inc('tx-map-reply');
      (waited ? this.histograms.mapRequestPushed : this.histograms.mapRequest).record(Number(process.hrtime.bigint() - t0));
    };
    switch (this.config.push.order) {
      case 'reply-then-push':
        sendReply(false);
        for (const p of pushes) this.push(p.dest, p.requester);
        return;
      case 'parallel':
        for (const p of pushes) this.push(p.dest, p.requester);
        sendReply(false);
        return;
      default: {
        // push-then-reply: the reply leaves on the last Ack or after push.wait, whichever is first
        let left = pushes.length;
        let done = false;
        let timer: NodeJS.Timeout | undefined;
        const finish = (timedOut: boolean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (timedOut) this.counters.inc('push-wait-timeouts');
          sendReply(true);
        };
        for (const p of pushes) this.push(p.dest, p.requester, () => --left === 0 && finish(false));
        if (!done) timer = setTimeout(() => finish(true), this.config.push.waitMs);
      }
    }
  }

  /**
   * Who sent this, as far as can be known: on the control tunnel's socket, the site of the
   * control address (WireGuard authenticated it); on the underlay, an address some plain site
   * registered from or names as RLOC (several sites may share one). Anyone else is a stranger.
   */
  private senderOf(rinfo: dgram.RemoteInfo, socket: dgram.Socket): Sender | undefined {
    if (this.tunnelSockets.has(socket)) {
      const site = this.sites.bySource(rinfo.address);
      return site && { tunnel: site, address: rinfo.address };
    }
    return this.isSiteAddress(rinfo.address, false) ? { address: rinfo.address } : undefined;
  }

  /** Whether `sender` speaks for site `name`. */
  private speaksFor(sender: Sender, name: string): boolean {
    if (sender.tunnel) return sender.tunnel.name === name;
    return this.plainAddresses.has(name, sender.address) && this.sites.byName(name)?.controlAddresses.size === 0;
  }

  /**
   * Where a site's xTR gets its reply: the first ITR-RLOC of the receiving socket's family that
   * is the sender itself or one of its site's addresses; else the UDP source. So not even a site
   * can aim replies at a third party.
   */
  private replyAddress(req: MapRequest, rinfo: dgram.RemoteInfo, socket: dgram.Socket, sender: Sender): string {
    const family = this.families.get(socket);
    for (const a of req.itrRlocs) {
      if (a.afi !== family) continue;
      if (a.address === rinfo.address || (sender.tunnel ? sender.tunnel.controlAddresses.has(a.address) : this.plainAddresses.shareSite(rinfo.address, a.address))) return a.address;
      this.counters.inc('itr-rloc-not-senders');
      break;
    }
    return rinfo.address;
  }

  /**
   * The registration of the request's source EID when it is the sending site's own (so a push and
   * subscriptions may follow); a source EID of another site is not believed (counted).
   */
  private requesterOf(req: MapRequest, sender: Sender): Registration | undefined {
    if (req.sourceEid.afi === 'none') return undefined;
    const src = eidOf(req.sourceEid);
    const reg = src && this.registry.lookup(src.instanceId, src.family, src.address);
    if (!reg || reg.siteName === undefined || !reg.source) return undefined;
    if (!this.speaksFor(sender, reg.siteName)) {
      this.counters.inc('source-eid-not-senders');
      return undefined;
    }
    return reg;
  }

  /**
   * The registration answering for an EID. Where a site prefix was delegated out of another
   * site's, the outer site's registration never answers for the inner prefix's EIDs (its owner
   * may simply not be registered yet).
   */
  private lookupRegistration(iid: number, afi: IpFamily, address: string): Registration | undefined {
    const reg = this.registry.lookup(iid, afi, address);
    if (!reg || !this.sites.hasDelegations || reg.siteName === undefined) return reg;
    const owner = this.sites.lookupAddress(iid, afi, address);
    return owner && owner.site.name !== reg.siteName && owner.sitePrefix.prefix.maskLen > reg.prefix.maskLen ? undefined : reg;
  }

  /** Pushes this request calls for: each registered destination gets the registered requester. */
  /**
   * Pushes this request calls for: each registered destination that speaks WireGuard gets the
   * registered requester. Only such sites are pushed to and subscribed: they acknowledge
   * Map-Notifies; an OOR site discards one it did not ask for, and a reply must not wait for it.
   */
  private pushesFor(requester: Registration, found: Registration[]): Array<{ dest: Registration; requester: Registration }> {
    const out: Array<{ dest: Registration; requester: Registration }> = [];
    const requesterListens = this.speaksWireguard(requester.siteName);
    for (const dest of found) {
      if (dest === requester) continue;
      const destListens = this.speaksWireguard(dest.siteName);
      if (this.config.subscriptions.enabled) {
        if (requesterListens) this.subscribe(dest, requester);
        if (destListens) this.subscribe(requester, dest);
      }
      if (destListens && dest.source) out.push({ dest, requester });
      else if (dest.siteName !== undefined) this.counters.inc('no-push-plain-site');
    }
    return out;
  }

  /**
   * Whether a site speaks WireGuard: it has a control tunnel, or its registrations carry
   * WireGuard keys. Those get keys in their replies, pushes and subscription notices; a plain
   * site (OOR) gets plain records and nothing it did not ask for.
   */
  private speaksWireguard(siteName: string | undefined): boolean {
    if (siteName === undefined) return false;
    const site = this.sites.byName(siteName);
    return !!site && (site.controlAddresses.size > 0 || this.keyBindings.holds(siteName));
  }

  /** Whether a sender speaks for a site that speaks WireGuard (it is then answered with keys). */
  private wireguardSender(sender: Sender): boolean {
    if (sender.tunnel) return true;
    for (const name of this.plainAddresses.sitesAt(sender.address)) if (this.keyBindings.holds(name)) return true;
    return false;
  }

  private subscribe(publisher: Registration, subscriber: Registration): void {
    const ttlMin = Math.min(this.registry.ttlOf(publisher), this.config.subscriptions.maxTtl);
    const { result, evicted, store } = this.subscriptions.add(publisher.prefix, subscriber.prefix, ttlMin * 60_000);
    // stored (and shared with the other replicas); one that subscribes in answer to another's change (a push back) leaves the writing to that one
    if (store && !this.remote) this.store.subscribe?.({ publisher: publisher.prefix, subscriber: subscriber.prefix, expiresAt: Date.now() + ttlMin * 60_000 });
    if (result === 'added') this.counters.inc('subscriptions-added');
    if (evicted) this.counters.inc('subscriptions-evicted');
  }

  /** Pushes `requester`'s record to `dest`'s xTR (one push in flight per pair). */
  private push(dest: Registration, requester: Registration, onAck?: () => void): void {
    const key = `${formatEidPrefix(dest.prefix)}|${formatEidPrefix(requester.prefix)}`;
    const inFlight = this.pushesInFlight.get(key);
    if (inFlight !== undefined && this.notifier.attach(inFlight, onAck ? { onAck } : {})) return;
    const site = this.sites.byName(dest.siteName!);
    if (!site || !dest.source) return;
    const forget = () => this.pushesInFlight.delete(key);
    const nonce = this.notifier.notify(
      { endpoint: dest.source, siteName: site.name, key: site.key, keyId: site.keyId },
      [this.registry.recordOf(requester)],
      'push',
      { onAck: () => (forget(), onAck?.()), onGiveUp: forget },
    );
    this.pushesInFlight.set(key, nonce);
    this.log.debug('push', { to: formatEidPrefix(dest.prefix), record: formatEidPrefix(requester.prefix) });
  }

  /** The negative record for an EID that no registration covers (see the top of this file). */
  negativeRecord(iid: number, afi: IpFamily, address: string): MappingRecord {
    const site = this.sites.lookupAddress(iid, afi, address);
    let len = Math.max(this.registry.holeLen(iid, afi, address), this.sites.holeLen(iid, afi, address));
    if (site) len = Math.max(len, site.sitePrefix.prefix.maskLen);
    len = Math.min(len, familyBits(afi));
    const p = prefixOf(iid, afi, address, len);
    return {
      ttl: site ? this.config.unregisteredTtl : this.config.negativeTtl,
      maskLen: len,
      action: site ? Action.SendMapRequest : Action.NativelyForward,
      authoritative: true,
      mapVersion: 0,
      eid: eidAddress(p.address, iid),
      locators: [],
    };
  }

  /** A negative Map-Reply (nonce 0). */
  private negativeReply(iid: number, afi: IpFamily, address: string): Buffer {
    return encodeMessage({ type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce: 0n, records: [this.negativeRecord(iid, afi, address)] });
  }

  /**
   * The registration covering an EID: its record and where its xTR registers from. For other
   * fronts on the same database (the gRPC control channel of the experiments).
   */
  lookupMapping(iid: number, afi: IpFamily, address: string): { record: MappingRecord; source: Endpoint | undefined } | undefined {
    const reg = this.lookupRegistration(iid, afi, address);
    return reg && { record: this.registry.recordOf(reg), source: reg.source };
  }

  /** What a registration leaving (withdrawn, expired) held: its key's use, its plain site's addresses. */
  private forget(reg: Registration): void {
    this.plainAddresses.delete(reg.prefix);
    if (reg.siteName === undefined) return;
    const key = replyKey(this.registry.replyOf(reg)); // readable until the next change
    if (key) this.keyBindings.release(key);
  }

  /** How long a reply waits for its push's Map-Notify-Ack (push.wait). */
  get pushWaitMs(): number {
    return this.config.push.waitMs;
  }

  // --- Map-Register -----------------------------------------------------------------------------

  private onMapRegister(bytes: Buffer, msg: MapRegister, rinfo: dgram.RemoteInfo, socket: dgram.Socket, t0: bigint): void {
    // 1. which site's key. Through the tunnel: the site of the control address WireGuard
    //    authenticated. On the underlay: the owner of the first record's prefix, which must be a
    //    plain site (a tunnel site is heard through its tunnel only). Read-only: nothing is stored
    //    before the HMAC verifies.
    const tunnel = this.tunnelSockets.has(socket);
    let site: Site | undefined;
    if (tunnel) {
      site = this.sites.bySource(rinfo.address);
    } else {
      const first = msg.records[0];
      const firstPrefix = first && recordPrefix(first);
      site = firstPrefix ? this.sites.ownerOf(firstPrefix)?.site : undefined;
      if (site?.controlAddresses.size) {
        this.counters.inc('drop-not-through-tunnel');
        this.log.debug('map-register for a tunnel site from the underlay', { site: site.name, from: rinfo.address });
        return;
      }
    }
    if (!site) {
      this.counters.inc('drop-unknown-site');
      this.log.debug('map-register from an unknown site', { from: rinfo.address });
      return;
    }
    // 2. authenticate
    try {
      verifyMessage(bytes, site.key);
    } catch (e) {
      if (!(e instanceof LispAuthError)) throw e;
      this.counters.inc(e.code === 'AUTH_MISMATCH' ? 'drop-bad-hmac' : 'drop-bad-key-id');
      this.log.debug('map-register refused', { site: site.name, from: rinfo.address, reason: e.code });
      return;
    }
    if (msg.keyId !== site.keyId) {
      this.counters.inc('drop-bad-key-id');
      return;
    }
    // 2b. a plain site's Map-Register must be new (a tunnel's replays die in WireGuard)
    if (!tunnel) {
      const sender = msg.xtrId ? Buffer.from(msg.xtrId).toString('hex') : rinfo.address;
      if (msg.nonce === 0n && site.replayProtection === 'nonce-cache') this.counters.inc('register-nonce-zero');
      else {
        const verdict = this.replay.check(site.replayProtection, site.name, sender, msg.nonce);
        if (verdict !== 'fresh') {
          this.counters.inc(verdict === 'replayed' ? 'drop-replayed' : 'drop-stale-nonce');
          this.log.info('map-register refused as a replay', { site: site.name, from: rinfo.address, verdict });
          return;
        }
        this.replay.accept(site.replayProtection, site.name, sender, msg.nonce);
      }
    }
    this.rateLimiter.charge(rinfo.address, msg.records.length); // storing costs per record
    // 3. store each record the site owns
    const source: Endpoint = { address: rinfo.address, port: rinfo.port, via: this.localAddress.get(socket) };
    const accepted: MappingRecord[] = [];
    for (const rec of msg.records) {
      const prefix = recordPrefix(rec);
      if (!prefix) {
        this.counters.inc('drop-bad-record');
        continue;
      }
      if (this.sites.ownerOf(prefix)?.site !== site) {
        this.counters.inc('drop-prefix-not-allowed');
        this.log.info('map-register for a prefix the site does not own', { site: site.name, prefix: formatEidPrefix(prefix) });
        continue;
      }
      // a prefix around another site's captures its EIDs; the site's own configured prefix may hold
      // a delegated one (lookupRegistration keeps the delegate's EIDs from being answered by it)
      const captured = this.sites.ownerOf(prefix)!.sitePrefix.prefix.maskLen === prefix.maskLen ? undefined : this.sites.foreignWithin(prefix, site);
      if (captured) {
        this.counters.inc('drop-covers-other-site');
        this.log.warn('map-register for a prefix around another site\'s', { site: site.name, prefix: formatEidPrefix(prefix), other: formatEidPrefix(captured) });
        continue;
      }
      let key: Uint8Array | undefined;
      try {
        key = recordKey(rec);
      } catch {
        this.counters.inc('drop-bad-record');
        continue;
      }
      if (site.wireguardKeys && (!key || !site.wireguardKeys.has(keyToBase64(key)))) {
        this.counters.inc('drop-key-not-allowed');
        this.log.info('map-register with a WireGuard key the site may not use', { site: site.name, prefix: formatEidPrefix(prefix) });
        continue;
      }
      const over = rec.ttl === 0 ? undefined : this.overLimit(site, prefix);
      if (over) {
        this.counters.inc(over);
        this.log.info(over === 'drop-site-quota' ? 'map-register over the site\'s max-registrations' : 'map-register over limits.registrations', { site: site.name, prefix: formatEidPrefix(prefix) });
        continue;
      }
      if (key && rec.ttl !== 0) {
        const bound = this.keyBindings.bind(site.name, keyToBase64(key), site.maxRegistrations);
        if (bound !== 'ok') {
          this.counters.inc(bound === 'other-site' ? 'drop-key-of-other-site' : 'drop-site-key-limit');
          this.log.warn(bound === 'other-site' ? 'map-register with another site\'s WireGuard key' : 'map-register with one WireGuard key too many for the site', {
            site: site.name,
            prefix: formatEidPrefix(prefix),
            ...(bound === 'other-site' ? { owner: this.keyBindings.ownerOf(keyToBase64(key)) } : {}),
          });
          continue;
        }
      }
      accepted.push(rec);
      if (rec.ttl === 0) {
        this.counters.inc('deregistrations');
        this.withdraw(prefix, 'deregistered');
        continue;
      }
      const { reg, result, before } = this.registry.upsert(prefix, site.name, encodeReply(rec), source);
      if (result === 'refreshed') this.store.refresh(this.stored(reg));
      else this.store.put(this.stored(reg));
      if (result !== 'refreshed') {
        if (key) this.keyBindings.use(keyToBase64(key));
        const was = before && replyKey(before);
        if (was) this.keyBindings.release(was);
      }
      if (!site.controlAddresses.size && result !== 'refreshed') this.plainAddresses.set(prefix, site.name, [rinfo.address, ...rlocAddresses(rec)]);
      if (result === 'refreshed') {
        this.counters.inc('registrations-refreshed');
        continue;
      }
      this.counters.inc(result === 'new' ? 'registrations-new' : 'registrations-changed');
      this.log.info(result === 'new' ? 'registered' : 'registration changed', {
        site: site.name,
        prefix: formatEidPrefix(prefix),
        rlocs: rec.locators.map((l) => (l.address.afi === 'ipv4' || l.address.afi === 'ipv6' ? l.address.address : l.address.afi)),
        from: `${rinfo.address}:${rinfo.port}`,
      });
      this.onSiteMappingChanged(reg);
    }
    // 4. Map-Notify when asked
    if (msg.wantMapNotify && accepted.length) {
      const notify = signMessage(
        {
          type: 'map-notify',
          nonce: msg.nonce,
          keyId: site.keyId,
          authData: new Uint8Array(0),
          records: accepted,
          ...(msg.xtrId ? { xtrId: msg.xtrId } : {}),
          ...(msg.siteId !== undefined ? { siteId: msg.siteId } : {}),
        },
        site.keyId,
        site.key,
      );
      this.send(socket, notify, rinfo.address, rinfo.port);
      this.counters.inc('tx-map-notify-register');
    }
    this.histograms.mapRegister.record(Number(process.hrtime.bigint() - t0));
  }

  /** Why a new registration of `prefix` by `site` would be refused (a refresh never is), or undefined. */
  private overLimit(site: Site, prefix: EidPrefix): 'drop-site-quota' | 'drop-global-limit' | undefined {
    if (this.registry.get(prefix)?.siteName === site.name) return undefined;
    if (this.registry.countOf(site.name) >= site.maxRegistrations) return 'drop-site-quota';
    if (this.registry.size >= this.config.limits.registrations) return 'drop-global-limit';
    return undefined;
  }

  private onMapNotifyAck(bytes: Buffer, msg: MapNotifyAck): void {
    const r = this.notifier.ack(bytes, msg);
    if (r === 'unknown-nonce') this.counters.inc('drop-unknown-nonce');
    else if (r === 'bad-hmac') this.counters.inc('drop-bad-hmac');
  }

  // --- changes, withdrawals, expiry -------------------------------------------------------------

  /**
   * A site's mapping is new or changed (RLOC, key): its subscribers are told, and each subscriber
   * that is a registered site with a WireGuard key is pushed to the changed site, which may have
   * lost their keys (an xTR restarted with a fresh key). With `push-then-reply` the subscribers
   * are told once those pushes are acknowledged, or after `push.wait` at most, so the changed
   * site holds a subscriber's key before that subscriber's first handshake to the new key
   * arrives; otherwise at once. One push per subscriber and change (pushes per pair are shared),
   * never in answer to a refresh, and a push changes no registration: nothing loops.
   */
  private onSiteMappingChanged(reg: Registration): void {
    if (this.tellsPending.has(reg)) return; // the pending telling reads the record when it leaves
    const tell = () => {
      this.tellsPending.delete(reg);
      // withdrawn or replaced meanwhile: that change told the subscribers itself
      if (this.registry.get(reg.prefix) === reg) this.notifySubscribers(reg.prefix, () => this.registry.recordOf(reg));
    };
    const peers = this.pushBackPeers(reg);
    if (!peers.length || this.config.push.order !== 'push-then-reply') {
      for (const peer of peers) this.push(reg, peer);
      if (peers.length) this.counters.inc('pushes-on-change', peers.length);
      tell();
      return;
    }
    this.tellsPending.add(reg);
    let left = peers.length;
    const timer = setTimeout(tell, this.config.push.waitMs);
    timer.unref();
    const acked = () => {
      if (--left === 0 && this.tellsPending.has(reg)) {
        clearTimeout(timer);
        tell();
      }
    };
    for (const peer of peers) this.push(reg, peer, acked);
    this.counters.inc('pushes-on-change', peers.length);
  }

  /** The subscribers of `reg` that are registered sites with a WireGuard key (none when pushes are off). */
  private pushBackPeers(reg: Registration): Registration[] {
    if (!this.config.subscriptions.enabled || this.config.push.order === 'off' || !reg.source) return [];
    const out: Registration[] = [];
    for (const sub of this.subscriptions.of(reg.prefix)) {
      const peer = this.registry.get(sub.subscriber);
      if (!peer || peer === reg || peer.siteName === undefined || !peer.source) continue;
      let key: Uint8Array | undefined;
      try {
        key = recordKey(this.registry.recordOf(peer));
      } catch {
        key = undefined;
      }
      if (!key) continue;
      this.subscribe(peer, reg); // the changed site now caches the peer: it hears of its changes
      out.push(peer);
    }
    return out;
  }

  /** Tells the subscribers of `prefix` its new record (built lazily: only when someone listens). */
  private notifySubscribers(prefix: EidPrefix, record: () => MappingRecord): void {
    if (!this.config.subscriptions.enabled) return;
    const subs = this.subscriptions.of(prefix);
    if (!subs.length) return;
    const rec = record();
    for (const sub of subs) {
      const reg = this.registry.get(sub.subscriber);
      const site = reg?.siteName !== undefined ? this.sites.byName(reg.siteName) : undefined;
      if (!reg?.source || !site) continue;
      this.counters.inc('subscriptions-notified');
      this.notifier.notify({ endpoint: reg.source, siteName: site.name, key: site.key, keyId: site.keyId }, [rec], 'subscription');
    }
  }

  /** Removes a registration and tells its subscribers it is gone. */
  private withdraw(prefix: EidPrefix, why: string): Registration | undefined {
    const reg = this.registry.remove(prefix);
    if (!reg) return undefined;
    if (reg.siteName !== undefined && !this.remote) this.store.remove(prefix);
    this.forget(reg);
    this.log.info('withdrawn', { prefix: formatEidPrefix(prefix), site: reg.siteName, why });
    this.notifySubscribers(prefix, () => withdrawalRecord(this.registry.recordOf(reg)));
    return reg;
  }

  private sweep(): void {
    for (const reg of this.registry.expire()) {
      this.forget(reg);
      this.counters.inc('registrations-expired');
      this.log.info('registration expired', { prefix: formatEidPrefix(reg.prefix), site: reg.siteName });
      this.notifySubscribers(reg.prefix, () => withdrawalRecord(this.registry.recordOf(reg)));
    }
    this.subscriptions.expire();
    this.rateLimiter.prune((a) => this.isSiteAddress(a, true) || this.isSiteAddress(a, false));
  }

  // --- configuration ----------------------------------------------------------------------------

  /**
   * Applies a new configuration: registrations of removed sites, of prefixes a site no longer
   * owns and with WireGuard keys no longer allowed are withdrawn at once (subscribers told);
   * static mappings follow the new list. Listening addresses and the control tunnel are not
   * changed by a reload.
   */
  reload(next: MsConfig): { withdrawn: number; sites: number; static: number } {
    const before = this.config;
    this.config = { ...next, listen: before.listen, listenDefault: before.listenDefault, port: before.port, ...(before.controlListen ? { controlListen: before.controlListen } : {}) };
    this.sites = new SiteTable(next.sites);
    this.registry.ttlMs = next.registrationTtl * 1000;
    this.rateLimiter = new RateLimiter(next.rateLimit);
    this.keyBindings.configure(this.sites.all());
    this.replay.retain(new Set(next.sites.map((x) => x.name)));
    let withdrawn = 0;
    const doomed: Array<[Registration, string]> = [];
    for (const reg of this.registry.all()) {
      if (reg.siteName === undefined) continue;
      const site = this.sites.byName(reg.siteName);
      if (!site) doomed.push([reg, 'site removed']);
      else if (this.sites.ownerOf(reg.prefix)?.site !== site) doomed.push([reg, 'prefix no longer the site\'s']);
      else if (site.wireguardKeys) {
        const key = recordKey(this.registry.recordOf(reg));
        if (!key || !site.wireguardKeys.has(keyToBase64(key))) doomed.push([reg, 'WireGuard key revoked']);
      }
    }
    for (const [reg, why] of doomed) if (this.withdraw(reg.prefix, why)) withdrawn++;
    withdrawn += this.applyStatic(before.static, next.static);
    this.counters.inc('registrations-withdrawn', withdrawn);
    this.log.info('configuration reloaded', { sites: this.sites.size, static: next.static.length, withdrawn });
    return { withdrawn, sites: this.sites.size, static: next.static.length };
  }

  /** Installs static mappings; withdraws the ones no longer listed. Returns the withdrawn count. */
  private applyStatic(before: StaticMappingConfig[], after: StaticMappingConfig[]): number {
    const keep = new Set(after.map((s) => formatEidPrefix(s.prefix)));
    let withdrawn = 0;
    for (const s of before) if (!keep.has(formatEidPrefix(s.prefix)) && this.withdraw(s.prefix, 'static mapping removed')) withdrawn++;
    for (const s of after) {
      const { reg, result } = this.registry.upsert(s.prefix, undefined, encodeReply(staticRecord(s)), undefined);
      if (result === 'changed') this.notifySubscribers(reg.prefix, () => this.registry.recordOf(reg));
    }
    return withdrawn;
  }

  // --- operations -------------------------------------------------------------------------------

  /** The sizes a metrics scrape reads (src/ms/metrics.ts): counts only, nothing listed or decoded. */
  gauges(): MsGauges {
    return {
      startedAt: this.startedAt,
      sites: [...this.sites.all()].map((s: Site) => ({ name: s.name, registrations: this.registry.countOf(s.name), maxRegistrations: s.maxRegistrations })),
      registrations: this.registry.size,
      registrationLimit: this.config.limits.registrations,
      keyBindings: this.keyBindings.size,
      plainSiteAddresses: this.plainAddresses.size,
      subscriptions: this.subscriptions.size,
      subscriptionLimit: this.config.subscriptions.max,
      pendingNotifies: this.notifier.size,
      pushesInFlight: this.pushesInFlight.size,
      rateLimiter: { siteSources: this.rateLimiter.size.sites, strangerSources: this.rateLimiter.size.strangers, tableSize: this.config.rateLimit.tableSize },
      store: this.store.stats(),
    };
  }

  /** Everything `lispwg ms show` prints (at most `limit` registrations listed). */
  snapshot(limit = 1000): MsSnapshot {
    const now = performance.now();
    const wall = Date.now();
    const regs: MsSnapshot['registrations'] = [];
    for (const reg of this.registry.all()) {
      if (regs.length >= limit) break;
      const rec = this.registry.recordOf(reg);
      let key: string | undefined;
      try {
        const k = recordKey(rec);
        key = k ? keyToBase64(k) : undefined;
      } catch {
        key = undefined;
      }
      regs.push({
        prefix: formatEidPrefix(reg.prefix),
        site: reg.siteName ?? null,
        rlocs: rec.locators.map((l) => ({ address: addressText(l.address), priority: l.priority, weight: l.weight })),
        wireguardKey: key ?? null,
        ttlMinutes: rec.ttl,
        ageSeconds: Math.round((wall - reg.registeredAt) / 100) / 10,
        refreshedSecondsAgo: Math.round((wall - reg.refreshedAt) / 100) / 10,
        expiresInSeconds: reg.expiresAt === Infinity ? null : Math.max(0, Math.round((reg.expiresAt - now) / 100) / 10),
        source: reg.source ? `${reg.source.address}:${reg.source.port}` : null,
      });
    }
    return {
      listen: this.addresses().map((a) => `${a.address}:${a.port}`),
      uptimeSeconds: Math.round((wall - this.startedAt) / 1000),
      config: this.config.file ?? null,
      pushOrder: this.config.push.order,
      sites: [...this.sites.all()].map((s: Site) => ({
        name: s.name,
        keyId: s.keyId,
        prefixes: s.prefixes.map((p) => formatEidPrefix(p.prefix) + (p.acceptMoreSpecifics ? ' (+more-specifics)' : '')),
        xtrs: [...s.controlAddresses],
        registrations: this.registry.countOf(s.name),
        maxRegistrations: s.maxRegistrations,
      })),
      registrationCount: this.registry.size,
      registrationLimit: this.config.limits.registrations,
      plainSiteAddresses: this.plainAddresses.size,
      registrations: regs,
      subscriptions: this.subscriptions.size,
      subscriptionLimit: this.config.subscriptions.max,
      pendingNotifies: this.notifier.size,
      rateLimiter: { siteSources: this.rateLimiter.size.sites, strangerSources: this.rateLimiter.size.strangers, tableSize: this.config.rateLimit.tableSize },
      store: this.store.stats(),
      heapUsedBytes: process.memoryUsage().heapUsed,
      counters: this.counters.toJSON(),
      latencyMicroseconds: {
        mapRequest: this.histograms.mapRequest.summary(),
        mapRequestCompute: this.histograms.mapRequestCompute.summary(),
        mapRequestPushed: this.histograms.mapRequestPushed.summary(),
        mapRegister: this.histograms.mapRegister.summary(),
      },
    };
  }
}

export interface MsGauges {
  /** Date.now() at construction. */
  startedAt: number;
  sites: Array<{ name: string; registrations: number; maxRegistrations: number }>;
  /** All registrations, static mappings included. */
  registrations: number;
  registrationLimit: number;
  keyBindings: number;
  plainSiteAddresses: number;
  subscriptions: number;
  subscriptionLimit: number;
  /** Map-Notifies awaiting their Ack (pushes, subscriptions). */
  pendingNotifies: number;
  pushesInFlight: number;
  rateLimiter: { siteSources: number; strangerSources: number; tableSize: number };
  store: Record<string, number | string>;
}

export interface MsSnapshot {
  listen: string[];
  uptimeSeconds: number;
  config: string | null;
  pushOrder: string;
  sites: Array<{ name: string; keyId: number; prefixes: string[]; xtrs: string[]; registrations: number; maxRegistrations: number }>;
  registrationCount: number;
  /** limits.registrations */
  registrationLimit: number;
  /** Underlay addresses of plain sites (registration sources and RLOCs). */
  plainSiteAddresses: number;
  registrations: Array<{
    prefix: string;
    site: string | null;
    rlocs: Array<{ address: string; priority: number; weight: number }>;
    wireguardKey: string | null;
    ttlMinutes: number;
    ageSeconds: number;
    refreshedSecondsAgo: number;
    expiresInSeconds: number | null;
    source: string | null;
  }>;
  subscriptions: number;
  subscriptionLimit: number;
  pendingNotifies: number;
  /** Rate-limit buckets held: site addresses, stranger sources (at most tableSize). */
  rateLimiter: { siteSources: number; strangerSources: number; tableSize: number };
  /** The registration store: kind, journal path and size, writes, compactions. */
  store: Record<string, number | string>;
  heapUsedBytes: number;
  counters: Record<string, number>;
  latencyMicroseconds: Record<string, ReturnType<Histogram['summary']>>;
}

// --- helpers ----------------------------------------------------------------------------------

/** One Map-Reply from encoded single-record Map-Replies: the first's header, every record, the nonce. */
function assembleReply(parts: Buffer[], nonce: bigint): Buffer {
  let out: Buffer;
  if (parts.length === 1) {
    out = Buffer.allocUnsafe(parts[0]!.length);
    parts[0]!.copy(out);
  } else {
    const records = parts.map((p) => p.subarray(MAP_REPLY_RECORDS_OFFSET));
    out = Buffer.concat([parts[0]!.subarray(0, MAP_REPLY_RECORDS_OFFSET), ...records]);
    out[3] = parts.length; // Record Count
  }
  out.writeBigUInt64BE(nonce, MAP_REPLY_NONCE_OFFSET);
  return out;
}

/** The WireGuard key (base64) of an encoded single-record Map-Reply, if it carries one. */
/** The record of a stored reply; undefined when it does not decode (a store written by another version). */
function replyRecord(reply: Uint8Array): MappingRecord | undefined {
  try {
    const m = decodeMessage(reply);
    const rec = m.type === 'map-reply' && m.records.length === 1 ? m.records[0] : undefined;
    if (rec) recordKey(rec); // a bad Security Key LCAF throws here, not later
    return rec;
  } catch {
    return undefined;
  }
}

function replyKey(reply: Buffer): string | undefined {
  const rec = replyRecord(reply);
  const k = rec && recordKey(rec);
  return k && keyToBase64(k);
}

/** The IP addresses among a record's locators. */
function rlocAddresses(rec: MappingRecord): string[] {
  return rec.locators.flatMap((l) => (l.address.afi === 'ipv4' || l.address.afi === 'ipv6' ? [l.address.address] : []));
}

/** The EID prefix a record names, or undefined when it names none (or a mask-len too long). */
function recordPrefix(rec: MappingRecord): EidPrefix | undefined {
  const eid = eidOf(rec.eid);
  if (!eid || rec.maskLen > familyBits(eid.family)) return undefined;
  return prefixOf(eid.instanceId, eid.family, eid.address, rec.maskLen);
}

/** Where a single-record Map-Reply holds its EID's AFI and, for an LCAF, the LCAF type. */
const REPLY_EID_AFI_OFFSET = MAP_REPLY_RECORDS_OFFSET + 10;
const REPLY_EID_LCAF_TYPE_OFFSET = REPLY_EID_AFI_OFFSET + 4;

/** Whether an encoded single-record Map-Reply's EID is wrapped in a Security Key LCAF (no decode). */
function carriesKey(reply: Buffer): boolean {
  return reply.length > REPLY_EID_LCAF_TYPE_OFFSET && reply.readUInt16BE(REPLY_EID_AFI_OFFSET) === Afi.Lcaf && reply[REPLY_EID_LCAF_TYPE_OFFSET] === LcafType.SecurityKey;
}


/** The record that withdraws a mapping: no locators, drop, TTL 0, the key (if any) revoked. */
function withdrawalRecord(rec: MappingRecord): MappingRecord {
  const eid: Address = rec.eid.afi === 'lcaf' && rec.eid.lcaf.type === 'security-key' ? { afi: 'lcaf', lcaf: { ...rec.eid.lcaf, revoke: true } } : rec.eid;
  return { ttl: 0, maskLen: rec.maskLen, action: Action.Drop, authoritative: true, mapVersion: 0, eid, locators: [] };
}

function staticRecord(s: StaticMappingConfig): MappingRecord {
  const eid = eidAddress(s.prefix.address, s.prefix.iid);
  return {
    ttl: s.ttl,
    maskLen: s.prefix.maskLen,
    action: Action.NoAction,
    authoritative: true,
    mapVersion: 0,
    eid: s.key ? wrapWireguardKey(eid, parseKey(s.key)) : eid,
    locators: s.rlocs.map((r) => ({
      priority: r.priority,
      weight: r.weight,
      mPriority: 255,
      mWeight: 0,
      local: false,
      probed: false,
      reachable: true,
      address: isIPv6(r.address) ? { afi: 'ipv6', address: r.address } : { afi: 'ipv4', address: r.address },
    })),
  };
}

function addressText(a: Address): string {
  if (a.afi === 'ipv4' || a.afi === 'ipv6') return a.address;
  const eid = eidOf(a);
  return eid ? eid.address : a.afi;
}
